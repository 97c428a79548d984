"""The ``edge-denoise`` command: a thin Typer layer over the library.

Only typer and rich are imported at module level, so every ``--help`` answers at once and
never imports TensorFlow; each command imports its stage inside the function.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console

app = typer.Typer(
    name="edge-denoise",
    help="Train image denoisers, convert them to LiteRT, and run them on edge devices.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console()
err_console = Console(stderr=True)
_STATE = {"debug": False}


@app.callback()
def main(debug: Annotated[bool, typer.Option("--debug", help="Show full tracebacks for errors.")] = False) -> None:
    """Train image denoisers, convert them to LiteRT, and run them on edge devices."""
    _STATE["debug"] = debug


def _quiet_tensorflow() -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")


def _print_load_report(report) -> None:
    for rel, note in report.converted:
        err_console.print(f"[yellow]converted[/] {rel}: {note}", highlight=False)
    for rel, why in report.skipped:
        err_console.print(f"[yellow]skipped[/] {why}", highlight=False)
    if report.converted or report.skipped:
        err_console.print(f"{len(report.skipped)} file(s) skipped, {len(report.converted)} converted", highlight=False)


@app.command()
def train(
    model: Annotated[Optional[str], typer.Option(help="Model name: unet (default), autoencoder, fastnet (edge-efficient) or backbone_unet.")] = None,
    data: Annotated[Optional[Path], typer.Option(help="Folder of clean images (one subfolder per class, or flat). [default: $EDGE_DENOISE_DATA]")] = None,
    out: Annotated[Optional[Path], typer.Option(help="Run folder to write (default runs/MODEL).")] = None,
    noise: Annotated[Optional[str], typer.Option(help="Noise spec, e.g. gaussian:0.1, motionblur:7+gaussian:0.05, a weighted list gaussian:0-0.2@3,poisson:10-100@1 (one drawn per image) or the preset blind. [default: gaussian:0.1]")] = None,
    size: Annotated[Optional[int], typer.Option(help="Training image side in pixels. [default: 128]")] = None,
    crop: Annotated[Optional[int], typer.Option(help="Train on random crops of this side (faster; evaluation uses --size).")] = None,
    epochs: Annotated[Optional[int], typer.Option(help="Epochs to train. [default: 30]")] = None,
    batch_size: Annotated[Optional[int], typer.Option(help="Images per batch. [default: 16]")] = None,
    learning_rate: Annotated[Optional[float], typer.Option("--lr", help="Adam learning rate. [default: 1e-3]")] = None,
    width: Annotated[Optional[int], typer.Option(help="Filters at full resolution. [default: 32]")] = None,
    depth: Annotated[Optional[int], typer.Option(help="U-Net poolings. [default: 3]")] = None,
    loss: Annotated[Optional[str], typer.Option(help="l1 (= mae), l2 (= mse), ssim, mix (SSIM + L1) or mix_l2. [default: mix]")] = None,
    augment: Annotated[Optional[str], typer.Option(help="Augmentations: any of flip,rot90,light,jpeg, or all, or none. [default: none]")] = None,
    attention: Annotated[Optional[str], typer.Option(help="U-Net attention after every conv block: none, se or cbam. [default: none]")] = None,
    residual: Annotated[Optional[bool], typer.Option("--residual/--no-residual", help="Predict the noise and subtract it (unet, fastnet, backbone_unet). [default: residual]")] = None,
    separable: Annotated[Optional[bool], typer.Option("--separable/--no-separable", help="Depthwise-separable 3x3 convs (unet, fastnet). [default: no]")] = None,
    schedule: Annotated[Optional[str], typer.Option(help="Learning rate: constant or cosine (to 0 over the run). [default: constant]")] = None,
    blocks: Annotated[Optional[int], typer.Option(help="fastnet: residual blocks. [default: 4]")] = None,
    scale: Annotated[Optional[int], typer.Option(help="fastnet: pixel-unshuffle factor, 2 or 4. [default: 4]")] = None,
    unshuffle: Annotated[Optional[int], typer.Option(help="unet: run at 1/N resolution on pixel-unshuffled input (1, 2 or 4); 2 costs about 4x fewer MACs per pixel. [default: 1]")] = None,
    backbone: Annotated[Optional[str], typer.Option(help="backbone_unet encoder: mobilenetv3, efficientnet or resnet50. [default: mobilenetv3]")] = None,
    weights: Annotated[Optional[Path], typer.Option(help="backbone_unet: local pretrained encoder weights (.h5 / .weights.h5); ImageNet weights are not downloaded.")] = None,
    seed: Annotated[Optional[int], typer.Option(help="Random seed (weights, shuffling, noise). [default: 0]")] = None,
    init_from: Annotated[Optional[Path], typer.Option(help="Fine-tune: start from the weights of this trained .keras model (same architecture and options), e.g. a Gaussian run retrained blind.")] = None,
    background_margin: Annotated[Optional[float], typer.Option(help="fastnet: push the black background this far below 0 in training (e.g. 0.03), so int8 rounding cannot turn it grey. [default: 0]")] = None,
    precision: Annotated[Optional[str], typer.Option(help="float32, or bfloat16: compute in bfloat16 with float32 weights (about 2x on CPUs with AVX-512 BF16 or AMX; the saved model is float32). [default: float32]")] = None,
    quant_aware: Annotated[Optional[bool], typer.Option("--quant-aware/--no-quant-aware", help="fastnet, camnet: simulate int8 rounding of every activation while training (quantization-aware fine-tuning; use with --init-from). [default: off]")] = None,
    impulse_reject: Annotated[Optional[bool], typer.Option("--impulse-reject/--no-impulse-reject", help="fastnet, camnet: replace impulses (black or white values far from their 3x3 median: dead pixels, salt-and-pepper) by that median before the network; no weights, so --init-from a model without it works. [default: off]")] = None,
    config: Annotated[Optional[Path], typer.Option(help="Start from a JSON config (e.g. best.json from tune); options given here override it.")] = None,
    split_manifest: Annotated[Optional[Path], typer.Option(help="Reuse this split manifest.")] = None,
    max_images: Annotated[Optional[int], typer.Option(help="Use at most N images per split (quick tries).")] = None,
    resume: Annotated[bool, typer.Option(help="Continue an interrupted run in --out.")] = False,
    overwrite: Annotated[bool, typer.Option(help="Replace an existing run folder.")] = False,
    strategy: Annotated[Optional[str], typer.Option(help="auto, mirrored (every GPU of this machine) or multiworker (machines named by TF_CONFIG; docs/distributed.md). Batch size and --lr are per replica. [default: auto]")] = None,
    peer_timeout: Annotated[Optional[float], typer.Option(help="Seconds to wait for a multi-worker peer or collective op before failing. [default: 120]")] = None,
    local_workers: Annotated[Optional[int], typer.Option(help="Try multi-worker training: start N workers on 127.0.0.1 with a generated TF_CONFIG.")] = None,
    max_restarts: Annotated[int, typer.Option(help="--local-workers: restart the workers from the last backup up to N times when one dies.")] = 2,
) -> None:
    """Train a denoiser on clean images with fresh synthetic noise every epoch."""
    _quiet_tensorflow()
    import dataclasses

    from train.config import TrainConfig, load_config
    from train.training import train as run_training

    from edge_runtime.noise import parse_noise

    if noise:
        parse_noise(noise)
    base = load_config(config) if config else TrainConfig()
    base = base.replace(model=model)
    cfg = base.replace(
        data=str(data) if data else None, out=str(out or Path("runs") / base.model), noise=noise, size=size, crop=crop,
        epochs=epochs, batch_size=batch_size, learning_rate=learning_rate, width=width, depth=depth, loss=loss, seed=seed,
        split_manifest=str(split_manifest) if split_manifest else None, max_images=max_images,
        augment=augment, attention=attention, residual=residual, separable=separable, schedule=schedule, blocks=blocks, scale=scale,
        unshuffle=unshuffle,
        backbone=backbone, weights=str(weights) if weights else None, strategy=strategy, peer_timeout=peer_timeout,
        init_from=str(init_from) if init_from else None, background_margin=background_margin,
        quant_aware=quant_aware, impulse_reject=impulse_reject, precision=precision,
    )
    for name in ("augment", "attention"):  # "none" switches off what a --config turned on
        if str(getattr(cfg, name)).lower() == "none":
            cfg = dataclasses.replace(cfg, **{name: None})
    if notice := cfg.fine_tune_notice():
        err_console.print(f"[yellow]note[/]: {notice}", highlight=False)
    if local_workers is not None:
        from train.launcher import launch

        launched = launch(cfg, local_workers, resume=resume, overwrite=overwrite, max_restarts=max_restarts, console=err_console)
        console.print(f"run folder: {cfg.out} (chief exit code {launched.returncode}, {launched.restarts} restart(s), "
                      f"worker logs in {launched.log_dir})")
        raise typer.Exit(launched.returncode)
    verbose = 2 if os.environ.get("TF_CONFIG") else 1  # a worker's log is a file: one line per epoch, no progress bar
    result = run_training(cfg, resume=resume, overwrite=overwrite, console=err_console, verbose=verbose)
    _print_load_report(result.load_report)
    if result.interrupted:
        err_console.print(f"[yellow]interrupted[/]: best model so far in {result.run_dir}; continue with --resume --out {result.run_dir}")
    if result.metrics:
        m = result.metrics["model"]
        n = result.metrics["noisy_input"]
        console.print(f"test SSIM {m['ssim_mean']:.4f} ± {m['ssim_std']:.4f}, PSNR {m['psnr_mean']:.2f} dB "
                      f"(noisy input: SSIM {n['ssim_mean']:.4f}, PSNR {n['psnr_mean']:.2f} dB)")
    console.print(f"run folder: {result.run_dir}")
    if result.interrupted:
        raise typer.Exit(130)


@app.command()
def tune(
    model: Annotated[str, typer.Option(help="Model name (the search space is width, depth, learning rate).")] = "unet",
    data: Annotated[Optional[Path], typer.Option(help="Folder of clean images. [default: $EDGE_DENOISE_DATA]")] = None,
    out: Annotated[Path, typer.Option(help="Folder for best.json, trials.csv/.md and the tuner state.")] = Path("runs/tune"),
    noise: Annotated[str, typer.Option(help="Noise spec.")] = "gaussian:0.1",
    size: Annotated[int, typer.Option(help="Image side in pixels.")] = 128,
    crop: Annotated[Optional[int], typer.Option(help="Train on random crops of this side.")] = None,
    algorithm: Annotated[str, typer.Option(help="hyperband or bayesian.")] = "hyperband",
    max_trials: Annotated[int, typer.Option(help="Trial budget.")] = 12,
    max_epochs: Annotated[int, typer.Option(help="Epochs per trial (Hyperband's top rung).")] = 9,
    time_budget: Annotated[Optional[float], typer.Option(help="Start no new trial after this many seconds.")] = None,
    widths: Annotated[str, typer.Option(help="Comma-separated widths to try.")] = "16,24,32",
    depths: Annotated[str, typer.Option(help="Comma-separated depths to try.")] = "2,3",
    batch_size: Annotated[int, typer.Option(help="Images per batch.")] = 16,
    max_images: Annotated[Optional[int], typer.Option(help="Use at most N images per split.")] = None,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
) -> None:
    """Search width, depth and learning rate with KerasTuner; write best.json for train --config."""
    _quiet_tensorflow()
    from rich.table import Table

    from edge_runtime.errors import EdgeDenoiseError
    from edge_runtime.noise import parse_noise
    from train.config import TrainConfig
    from train.tune import TuneConfig
    from train.tune import tune as run_tune

    parse_noise(noise)

    def ints(text: str, name: str) -> tuple[int, ...]:
        try:
            values = tuple(int(v) for v in text.split(",") if v.strip())
        except ValueError:
            raise EdgeDenoiseError(f"--{name} {text}: expected comma-separated whole numbers, e.g. 16,24,32") from None
        if not values or min(values) <= 0:
            raise EdgeDenoiseError(f"--{name} {text}: expected positive whole numbers")
        return values

    base = TrainConfig(model=model, data=str(data) if data else None, out=str(out), noise=noise, size=size, crop=crop,
                       batch_size=batch_size, seed=seed, max_images=max_images)
    cfg = TuneConfig(base=base, out=str(out), algorithm=algorithm, max_trials=max_trials, max_epochs=max_epochs,
                     time_budget_s=time_budget, widths=ints(widths, "widths"), depths=ints(depths, "depths"))
    result = run_tune(cfg, console=err_console)
    table = Table(title=f"{len(result.trials)} trials, best first")
    for col in ("trial", "width", "depth", "learning rate", "epochs", "val SSIM"):
        table.add_column(col, justify="right")
    for t in result.trials:
        table.add_row(str(t["trial"]), str(t["width"]), str(t["depth"]), f"{t['learning_rate']:.2e}", str(t["epochs"]), f"{t['val_ssim']:.4f}")
    console.print(table)
    console.print(f"best config: {result.out / 'best.json'} (use: edge-denoise train --config {result.out / 'best.json'})")


@app.command("eval")
def eval_(
    model: Annotated[Path, typer.Argument(help="A .keras or .tflite model.")],
    data: Annotated[Optional[Path], typer.Option(help="Folder of clean images. [default: $EDGE_DENOISE_DATA]")] = None,
    split: Annotated[str, typer.Option(help="train, val, test or all.")] = "test",
    noise: Annotated[list[str], typer.Option(help="Noise spec; repeat for several.")] = ["gaussian:0.1"],  # noqa: B006
    suite: Annotated[bool, typer.Option("--suite", help="Score on the fixed noise suite (gaussian 0.05/0.1/0.2, poisson 30, speckle 0.2, salt-and-pepper 0.05, motion blur 9, motionblur:7+gaussian:0.05) instead of --noise.")] = False,
    size: Annotated[int, typer.Option(help="Image side in pixels.")] = 128,
    split_manifest: Annotated[Optional[Path], typer.Option(help="Split manifest (default: the model's run folder's).")] = None,
    max_images: Annotated[Optional[int], typer.Option(help="Use at most N images.")] = None,
    baselines: Annotated[bool, typer.Option(help="Also score the classical filters.")] = True,
    out: Annotated[Optional[Path], typer.Option(help="Folder for eval.json/.md/.png (default: eval/ or eval_suite/ next to the model).")] = None,
    seed: Annotated[int, typer.Option(help="Noise seed.")] = 2,
) -> None:
    """Score a model and classical filters (SSIM, PSNR) on the same noisy images."""
    _quiet_tensorflow()
    from rich.table import Table

    from edge_runtime.errors import EdgeDenoiseError
    from edge_runtime.noise import parse_noise
    from edge_runtime.splits import data_folder
    from train.data import LoadReport, load_images, make_manifest, read_manifest
    from train.evaluate import EVAL_SUITE, evaluate, write_eval

    noise = list(EVAL_SUITE) if suite else noise
    for n in noise:
        parse_noise(n)
    if size <= 0:
        raise EdgeDenoiseError(f"--size {size}: must be a positive number of pixels, e.g. 128")
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
    clean = load_images(data, files, size, report)
    _print_load_report(report)
    if len(clean) == 0:
        raise EdgeDenoiseError(f"{data}: no readable images in the {split} split")
    with console.status("evaluating"):
        result = evaluate(model, clean, noise, split=split, seed=seed, with_baselines=baselines)
    written = write_eval(result, out or Path(model).parent / ("eval_suite" if suite else "eval"))
    if suite:  # one row per noise, the model and every baseline side by side
        from train.evaluate import pivot

        methods, rows = pivot(result)
        table = Table(title=f"{model} on the noise suite, {result.count} {split} images at {size}x{size}: SSIM / PSNR dB")
        table.add_column("noise")
        for m in methods:
            table.add_column(m, justify="right", style="bold green" if m == "model" else None)
        for noise_text, row in rows.items():
            table.add_row(noise_text, *(f"{row[m]['ssim_mean']:.4f} / {row[m]['psnr_mean']:.2f}" for m in methods))
        console.print(table)
        console.print("wrote " + ", ".join(str(p) for p in written))
        return
    table = Table(title=f"{model} on {result.count} {split} images at {size}x{size}")
    for col in ("noise", "method", "SSIM", "PSNR dB", "ms/img"):
        table.add_column(col, justify="left" if col in ("noise", "method") else "right")
    for r in result.rows:
        style = "bold green" if r["method"] == "model" else None
        table.add_row(r["noise"], r["method"], f"{r['ssim_mean']:.4f} ± {r['ssim_std']:.3f}",
                      f"{r['psnr_mean']:.2f} ± {r['psnr_std']:.2f}", f"{r['ms_per_image']:.1f}", style=style)
    console.print(table)
    console.print("wrote " + ", ".join(str(p) for p in written))


# Commands of later stages live in their own modules and register themselves on ``app``.
from edge_denoise import bench_cmds, convert_cmds, device_cmds, runtime_cmds  # noqa: E402,F401
from edge_denoise.calibrate_cmd import calibrate as calibrate_cmd  # noqa: E402

app.command("calibrate")(calibrate_cmd)


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


if __name__ == "__main__":  # the stage modules register on edge_denoise.cli's app, not __main__'s
    from edge_denoise.cli import run as _run

    _run()
