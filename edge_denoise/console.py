"""What every command shares: the two consoles, one-line notices, and TensorFlow kept quiet.

It imports no command and no stage, so the commands import it and ``cli.py`` imports the
commands: dependencies point one way.
"""

from __future__ import annotations

import os

from rich.console import Console

console = Console()  # results: tables, "wrote ..." lines
err_console = Console(stderr=True)  # progress, notices and errors, so stdout stays the result


def quiet_tensorflow() -> None:
    """Keep TensorFlow's C++ start-up chatter off the terminal (set before it is imported).

    oneDNN stays on (TensorFlow's default on x86): with it off, a camnet training step took many times
    longer on the 2-core Xeon (benchmarks/train_throughput.py, run with TF_ENABLE_ONEDNN_OPTS=0 and =1),
    for the same forward output and gradients within float rounding.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def notice(line: str) -> None:
    """One yellow line on stderr: something the user should know that is not an error."""
    err_console.print(f"[yellow]{line}[/]", highlight=False)


def print_load_report(report) -> None:
    """The images an image loader converted or skipped (train.data.LoadReport), one line each."""
    for rel, note in report.converted:
        err_console.print(f"[yellow]converted[/] {rel}: {note}", highlight=False)
    for rel, why in report.skipped:
        err_console.print(f"[yellow]skipped[/] {why}", highlight=False)
    if report.converted or report.skipped:
        err_console.print(f"{len(report.skipped)} file(s) skipped, {len(report.converted)} converted", highlight=False)
