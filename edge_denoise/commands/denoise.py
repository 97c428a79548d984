"""``edge-denoise denoise``: image files, folders and videos into a folder (edge_runtime.batch.denoise_files)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from edge_denoise.console import console, err_console, notice
from edge_runtime.zoo import DEFAULT_MODEL


def denoise(
    inputs: Annotated[list[str], typer.Argument(help="Image files, folders, globs and videos.")],
    out: Annotated[Path, typer.Option(help="Folder for the denoised files (inputs are never overwritten).")],
    model: Annotated[str, typer.Option(help="A .tflite file, or a shipped model name: camnet (the default: trained on camera noise and the blind mixture, int8 at 480x640), fastnet (the previous default), autoencoder, unet.")] = DEFAULT_MODEL,
    precision: Annotated[str, typer.Option(help="Shipped model precision: int8, fp16 or dynamic (int8 falls back to dynamic where a model has no int8 file at that size).")] = "int8",
    model_size: Annotated[Optional[str], typer.Option(help="Shipped model size, HEIGHTxWIDTH or SIDE (default: 480x640 for cameras, else 128).")] = None,
    threads: Annotated[int, typer.Option(help="Interpreter threads.")] = 2,
    delegate: Annotated[Optional[str], typer.Option(help="External delegate library (.so) to load.")] = None,
    backend: Annotated[str, typer.Option(help="auto (the Interpreter, or LiteRT CompiledModel where --low-memory or --fp16-arith needs it), compiled or interpreter.")] = "auto",
    fp16_arith: Annotated[bool, typer.Option("--fp16-arith", help="Compute float operators in fp16 (XNNPACK FORCE_FP16): ARMv8.2-A CPUs only (Pi 5, Orin), compiled backend; refused elsewhere.")] = False,
    low_memory: Annotated[bool, typer.Option("--low-memory", help="Trade speed for memory: XNNPACK rebuilds its indirection buffers on every frame (compiled backend; about half the memory of a VGA U-Net, up to 1.7x slower on int8 VGA files).")] = False,
    tile: Annotated[bool, typer.Option("--tile/--no-tile", help="Full-resolution overlapping tiles, or resize to the model.")] = True,
    overlap: Annotated[int, typer.Option(help="Tile overlap in pixels.")] = 16,
    overwrite: Annotated[bool, typer.Option(help="Redo outputs that already exist.")] = False,
) -> None:
    """Denoise image files, folders and videos into --out (atomic writes; existing outputs skipped)."""
    from edge_runtime.batch import denoise_files
    from edge_runtime.engine import load_engine
    from edge_runtime.zoo import resolve_model

    engine = load_engine(resolve_model(model, precision, model_size, notice=notice), threads=threads,
                         delegate=delegate, backend=backend, fp16_arith=fp16_arith,
                         low_memory=low_memory)

    def on_item(status: str, path: str, note: str) -> None:
        if status == "failed":
            err_console.print(f"[yellow]skipped[/] {path}: {note}", highlight=False)

    written: list[str] = []

    def track(status: str, path: str, note: str) -> None:
        if status == "written":
            written.append(path)
        on_item(status, path, note)

    try:
        with err_console.status("denoising", spinner="dots"):
            result = denoise_files(inputs, out, engine, tile=tile, overlap=overlap, overwrite=overwrite, on_item=track)
    except KeyboardInterrupt:  # Ctrl-C or SIGTERM: finished outputs are whole, the one in progress is gone
        err_console.print(f"[yellow]interrupted[/]: {len(written)} file(s) written to {out}, all complete; "
                          "rerun the same command to continue", highlight=False)
        raise typer.Exit(130) from None
    summary = (f"{len(result.written)} written, {len(result.existing)} already there"
               f"{' (--overwrite to redo)' if result.existing else ''}, {len(result.failed)} skipped as unreadable or unusable; "
               f"{result.frames} frames in {result.seconds:.1f} s -> {out}")
    console.print(summary, highlight=False)
    if result.failed and not (result.written or result.existing):
        raise typer.Exit(1)
