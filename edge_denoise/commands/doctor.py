"""``edge-denoise doctor``: check this machine for running edge-denoise (edge_runtime.doctor.run_checks)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer

from edge_denoise.console import console

STYLE = {"ok": "green", "warn": "yellow", "fail": "bold red"}


def doctor(
    model: Annotated[Optional[str], typer.Option(help="A .tflite file, or a shipped model name, to load and smoke-run (default: the shipped default model, its int8 128x128 file).")] = None,
    out: Annotated[Optional[Path], typer.Option(help="Where outputs will go, for the free-disk check (default: /var/lib/edge-denoise if present, else here).")] = None,
    smoke_seconds: Annotated[float, typer.Option("--smoke-seconds", help="Length of the smoke run.")] = 2.0,
    threads: Annotated[Optional[int], typer.Option(help="Interpreter threads for the smoke run (default: min(4, cores)).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the checks as JSON (for scripts) instead of lines.")] = False,
) -> None:
    """Check this machine for running edge-denoise: one line per check, with the fix for each warn or fail.

    Exits 1 when any check fails, 0 otherwise (warnings included).
    """
    from edge_runtime.device_info import device_info
    from edge_runtime.doctor import run_checks, summarize
    from edge_runtime.engine import check_threads
    from edge_runtime.errors import EdgeDenoiseError

    if not smoke_seconds > 0:
        raise EdgeDenoiseError(f"--smoke-seconds must be positive, got {smoke_seconds}")
    if threads is not None:
        check_threads(threads)  # the engine's own rule: 1 to MAX_THREADS, in the same words as run's
    checks = run_checks(model=model, out_dir=out, smoke_s=smoke_seconds, threads=threads)
    summary = summarize(checks)
    if as_json:
        typer.echo(json.dumps({"summary": summary, "checks": [c.as_dict() for c in checks], "device": device_info()},
                              indent=2, default=str))
    else:
        width = max(len(c.name) for c in checks)
        for c in checks:
            console.print(f"[{STYLE[c.status]}]{c.status:<4}[/] {c.name:<{width}}  {c.detail}", highlight=False, soft_wrap=True)
            if c.fix and c.status != "ok":
                console.print(f"     {'':<{width}}  [dim]fix:[/] {c.fix}", highlight=False, soft_wrap=True)
        console.print(f"{summary['ok']} ok, {summary['warn']} warn, {summary['fail']} fail", highlight=False)
    if summary["fail"]:
        raise typer.Exit(1)
