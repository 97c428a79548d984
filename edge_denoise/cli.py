"""The ``edge-denoise`` command: one Typer app composed of the commands in ``edge_denoise/commands/``.

Only typer and rich are imported at module level, so every ``--help`` answers at once and
never imports TensorFlow; each command imports its stage inside the function. Dependencies
point one way: this module imports the commands, the commands import ``edge_denoise.console``,
and nothing imports this module but the console script.
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from edge_denoise.commands.bench import bench
from edge_denoise.commands.calibrate import calibrate
from edge_denoise.commands.convert import convert
from edge_denoise.commands.denoise import denoise
from edge_denoise.commands.doctor import doctor
from edge_denoise.commands.eval import eval_
from edge_denoise.commands.models import models
from edge_denoise.commands.run import run_cmd
from edge_denoise.commands.train import train
from edge_denoise.commands.tune import tune
from edge_denoise.console import err_console

# (name, function) in pipeline order, which is also the order of --help
COMMANDS = (
    ("train", train), ("tune", tune), ("eval", eval_), ("convert", convert), ("models", models),
    ("run", run_cmd), ("denoise", denoise), ("calibrate", calibrate), ("doctor", doctor), ("bench", bench),
)

app = typer.Typer(
    name="edge-denoise",
    help="Train image denoisers, convert them to LiteRT, and run them on edge devices.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
for _name, _function in COMMANDS:
    app.command(_name)(_function)

_STATE = {"debug": False}  # set by --debug, read by run() after the command has returned or raised


@app.callback()
def main(debug: Annotated[bool, typer.Option("--debug", help="Show full tracebacks for errors.")] = False) -> None:
    """Train image denoisers, convert them to LiteRT, and run them on edge devices."""
    _STATE["debug"] = debug


def run() -> None:
    """Console-script entry: one red line for user errors, tracebacks only with --debug."""
    from edge_runtime.errors import EdgeDenoiseError

    try:
        app()  # standalone: usage errors print Typer's own message and exit 2
    except EdgeDenoiseError as exc:
        if _STATE["debug"]:
            raise
        err_console.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
        sys.exit(2)


if __name__ == "__main__":
    run()
