"""``edge-denoise models``: the shipped and local converted models (edge_runtime.zoo.list_models)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from edge_denoise.console import console


def models(
    paths: Annotated[Optional[list[Path]], typer.Argument(help="Folders or .tflite files to list besides the shipped models.")] = None,
) -> None:
    """List shipped and local converted models with their metadata (no TensorFlow needed)."""
    from rich.table import Table

    from edge_runtime.zoo import SHIPPED_DIR, list_models

    found = list_models(paths or [])
    if not found:
        console.print(f"no models found (shipped folder: {SHIPPED_DIR})")
        return
    table = Table(title=f"{len(found)} model(s)")
    for col in ("name", "arch", "precision", "I/O", "size", "SSIM", "drop", "KiB", "source", "path"):
        table.add_column(col, justify="right" if col in ("SSIM", "drop", "KiB") else "left")
    for m in found:
        size = f"{m['input_size'][0]}x{m['input_size'][1]}" if m["input_size"] else "?"
        table.add_row(m["name"], m["architecture"] or "?", m["precision"] or "?", m["io_dtype"] or "?", size,
                      f"{m['tflite_ssim']:.4f}" if m["tflite_ssim"] is not None else "-",
                      f"{m['drop']:+.4f}" if m["drop"] is not None else "-", f"{m['bytes'] / 1024:.0f}",
                      m["source"], m["path"] + (f" ({m['note']})" if m["note"] else ""))
    console.print(table)
    try:
        from train.pretrained import names  # a folder listing, no TensorFlow; absent where train is not installed
    except ImportError:
        return
    if keras_models := names():
        from edge_runtime.zoo import DEFAULT_MODEL

        example = DEFAULT_MODEL if DEFAULT_MODEL in keras_models else keras_models[0]
        console.print(f"Keras models shipped, to convert at another frame size (train extra): {', '.join(keras_models)} "
                      f"(edge-denoise convert {example} --size HxW --data DIR)", highlight=False)
