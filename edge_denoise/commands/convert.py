"""``edge-denoise convert``: a trained model to gated .tflite files (convert.pipeline.convert_run)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from edge_denoise.console import console, err_console, quiet_tensorflow


def convert(
    model: Annotated[Path, typer.Argument(help="The trained model, e.g. runs/unet/model.keras, or a shipped one by name: fastnet (written to ./tflite unless --out).")],
    quant: Annotated[Optional[str], typer.Option(help="Precisions, comma-separated: fp32, fp16, dynamic (int8 weights), int8 (full integer). Default: all four (fp32 for --format onnx).")] = None,
    size: Annotated[list[str], typer.Option(help="Frame size, repeatable: SIDE (128 = 128x128) or HEIGHTxWIDTH (480x640 = 480 high, 640 wide). Multiples of the model's pooling factor.")] = ["128"],  # noqa: B006
    io: Annotated[str, typer.Option(help="int8 I/O: float (float32 in/out, quantize inside) or uint8 (integer in/out; file name ends _u8io).")] = "float",
    calib: Annotated[Optional[Path], typer.Option(help="Folder of clean images for int8 calibration (default: the run's training split).")] = None,
    calib_count: Annotated[int, typer.Option(help="Calibration images (noisy, with the run's noise).")] = 200,
    data: Annotated[Optional[Path], typer.Option(help="The run's data folder, for the gate's test split (default: from the run config).")] = None,
    noise: Annotated[Optional[str], typer.Option(help="Noise spec for calibration and gate (default: the run's training noise).")] = None,
    calib_noise: Annotated[Optional[str], typer.Option(help="int8: calibrate on this noise instead (e.g. gaussian:0.1 for a blind model: the mixture's salt-and-pepper widens every range); the gate keeps --noise.")] = None,
    tune_ranges: Annotated[int, typer.Option(help="int8 of a --quant-aware model: before export, scale each trained range where that raises simulated-int8 SSIM on this many validation images (0: off; it runs the model over them 8 times per int8 tensor, and the report records how long that took).")] = 0,
    gate_count: Annotated[int, typer.Option(help="Test images the quality gate runs on.")] = 64,
    max_drop: Annotated[float, typer.Option(help="Fail a file whose SSIM is more than this below Keras.")] = 0.01,
    name: Annotated[Optional[str], typer.Option(help="Model name in file names and metadata (default: the run folder's name).")] = None,
    out: Annotated[Optional[Path], typer.Option(help="Output folder (default: RUN/tflite).")] = None,
    format: Annotated[str, typer.Option("--format", help="tflite, or onnx (float32; needs the onnx extra: tf2onnx, onnxruntime).")] = "tflite",
    seed: Annotated[int, typer.Option(help="Seed for the calibration pick and noise.")] = 0,
) -> None:
    """Convert a trained .keras model to one gated .tflite per precision and size (+ JSON metadata).

    Every file is run by edge_runtime's engine on the run's test split beside the Keras model;
    a file whose SSIM drops more than --max-drop is not kept and the command fails.
    """
    quiet_tensorflow()
    from convert.pipeline import ConvertConfig, convert_run
    from convert.report import ConvertFailed
    from convert.tflite import parse_precisions
    from edge_runtime.sizes import parse_size

    precisions = parse_precisions(quant or ("fp32" if format == "onnx" else "fp32,fp16,dynamic,int8"))
    sizes = tuple(dict.fromkeys(parse_size(s) for s in size))
    cfg = ConvertConfig(
        model=str(model), out=str(out) if out else None, precisions=precisions, sizes=sizes, io=io, format=format,
        name=name, data=str(data) if data else None, calib=str(calib) if calib else None, calib_count=calib_count,
        noise=noise, calib_noise=calib_noise, tune_ranges=tune_ranges, gate_count=gate_count, max_drop=max_drop, seed=seed,
    )
    try:
        report = convert_run(cfg, log=lambda line: err_console.print(line, highlight=False))
    except ConvertFailed as exc:
        _print_report(exc.report)
        raise
    _print_report(report)
    console.print(f"report: {report.report_path}")


def _print_report(report) -> None:
    from rich.table import Table

    table = Table(title="converted files")
    for col in ("file", "precision", "I/O", "size", "SSIM", "Keras", "drop", "status"):
        table.add_column(col, justify="right" if col in ("SSIM", "Keras", "drop") else "left",
                         overflow="fold" if col == "file" else "ellipsis")
    for f in report.files:
        g = f.get("gate") or {}
        ok = f["status"] == "ok"
        table.add_row(Path(f["file"]).name, f["precision"], f["io"], f"{f['size'][0]}x{f['size'][1]}",
                      f"{g['tflite_ssim']:.4f}" if g else "-", f"{g['keras_ssim']:.4f}" if g else "-",
                      f"{g['drop']:+.4f}" if g else "-", "[green]ok[/]" if ok else "[red]failed[/]")
    console.print(table)
