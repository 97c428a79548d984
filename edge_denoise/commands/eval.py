"""``edge-denoise eval``: score a model beside the classical filters (train.evaluate.evaluate)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from edge_denoise.console import console, print_load_report, quiet_tensorflow


def eval_(
    model: Annotated[Path, typer.Argument(help="A .keras or .tflite model.")],
    data: Annotated[Optional[Path], typer.Option(help="Folder of clean images. [default: $EDGE_DENOISE_DATA]")] = None,
    split: Annotated[str, typer.Option(help="train, val, test or all.")] = "test",
    noise: Annotated[list[str], typer.Option(help="Noise spec; repeat for several.")] = ["gaussian:0.1"],  # noqa: B006
    suite: Annotated[bool, typer.Option("--suite", help="Score on the fixed noise suite (gaussian 0.05/0.1/0.2, poisson 30, speckle 0.2, salt-and-pepper 0.05, motion blur 9, motionblur:7+gaussian:0.05, and a camera's own noise: camera:4 bright, camera:48 dim, camera:16+jpeg:70 compressed) instead of --noise.")] = False,
    size: Annotated[str, typer.Option(help="Image side in pixels, or HEIGHTxWIDTH: 480x640 scores at a camera frame's size (each photo's central square resized to 640, its central 480x640, as convert's gate).")] = "128",
    split_manifest: Annotated[Optional[Path], typer.Option(help="Split manifest (default: the model's run folder's).")] = None,
    max_images: Annotated[Optional[int], typer.Option(help="Use at most N images.")] = None,
    baselines: Annotated[bool, typer.Option(help="Also score the classical filters.")] = True,
    out: Annotated[Optional[Path], typer.Option(help="Folder for eval.json/.md/.png (default: eval/ or eval_suite/ next to the model).")] = None,
    seed: Annotated[int, typer.Option(help="Noise seed.")] = 2,
) -> None:
    """Score a model and classical filters (SSIM, PSNR) on the same noisy images."""
    quiet_tensorflow()
    from rich.table import Table

    from edge_runtime.errors import EdgeDenoiseError
    from edge_runtime.noise import parse_noise
    from edge_runtime.sizes import parse_size, size_text
    from edge_runtime.splits import data_folder
    from train.data import LoadReport, load_images, make_manifest, read_manifest
    from train.evaluate import EVAL_SUITE, evaluate, write_eval

    noise = list(EVAL_SUITE) if suite else noise
    for n in noise:
        parse_noise(n)
    hw = parse_size(size, "--size")
    if not Path(model).exists():
        raise EdgeDenoiseError(f"{model}: no such model file")
    if split not in ("train", "val", "test", "all"):
        raise EdgeDenoiseError(f"--split {split}: choose train, val, test or all")
    data = Path(data_folder(data))
    if not data.is_dir():
        raise EdgeDenoiseError(f"{data}: data folder not found")
    run_manifest = Path(model).parent / "manifest.json"
    if split_manifest:
        manifest = read_manifest(split_manifest)
    elif run_manifest.exists():
        manifest = read_manifest(run_manifest)
    else:
        manifest = make_manifest(data)
    files = sum(manifest["splits"].values(), []) if split == "all" else manifest["splits"][split]
    files = files[:max_images] if max_images else files
    report = LoadReport()
    clean = load_images(data, files, hw, report)
    print_load_report(report)
    if len(clean) == 0:
        raise EdgeDenoiseError(f"{data}: no readable images in the {split} split")
    with console.status("evaluating"):
        result = evaluate(model, clean, noise, split=split, seed=seed, with_baselines=baselines)
    written = write_eval(result, out or Path(model).parent / ("eval_suite" if suite else "eval"))
    if suite:  # one row per noise, the model and every baseline side by side
        from train.evaluate import pivot

        methods, rows = pivot(result)
        table = Table(title=f"{model} on the noise suite, {result.count} {split} images at {size_text(hw)}: SSIM / PSNR dB")
        table.add_column("noise")
        for m in methods:
            table.add_column(m, justify="right", style="bold green" if m == "model" else None)
        for noise_text, row in rows.items():
            table.add_row(noise_text, *(f"{row[m]['ssim_mean']:.4f} / {row[m]['psnr_mean']:.2f}" for m in methods))
        console.print(table)
        console.print("wrote " + ", ".join(str(p) for p in written))
        return
    table = Table(title=f"{model} on {result.count} {split} images at {size_text(hw)}")
    for col in ("noise", "method", "SSIM", "PSNR dB", "ms/img"):
        table.add_column(col, justify="left" if col in ("noise", "method") else "right")
    for r in result.rows:
        style = "bold green" if r["method"] == "model" else None
        table.add_row(r["noise"], r["method"], f"{r['ssim_mean']:.4f} ± {r['ssim_std']:.3f}",
                      f"{r['psnr_mean']:.2f} ± {r['psnr_std']:.2f}", f"{r['ms_per_image']:.1f}", style=style)
    console.print(table)
    console.print("wrote " + ", ".join(str(p) for p in written))
