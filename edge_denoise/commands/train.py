"""``edge-denoise train``: train a denoiser (train.training.train)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Optional

import typer

from edge_denoise.console import console, err_console, print_load_report, quiet_tensorflow


def train(
    model: Annotated[Optional[str], typer.Option(help="Model name: unet (default), autoencoder, fastnet (edge-efficient) or backbone_unet.")] = None,
    data: Annotated[Optional[Path], typer.Option(help="Folder of clean images (one subfolder per class, or flat). [default: $EDGE_DENOISE_DATA]")] = None,
    out: Annotated[Optional[Path], typer.Option(help="Run folder to write (default runs/MODEL).")] = None,
    noise: Annotated[Optional[str], typer.Option(help="Noise spec, e.g. gaussian:0.1, motionblur:7+gaussian:0.05, a weighted list gaussian:0-0.2@3,poisson:10-100@1 (one drawn per image) or the preset blind. [default: gaussian:0.1]")] = None,
    size: Annotated[Optional[int], typer.Option(help="Training image side in pixels. [default: 128]")] = None,
    crop: Annotated[Optional[int], typer.Option(help="Train on random crops of this side (faster; evaluation uses --size).")] = None,
    max_side: Annotated[Optional[int], typer.Option(help="Also train at larger scales: each crop comes from the image resized to a side drawn between --size and this (a 480x640 camera frame shows a scene about 5x larger than a 128 image: e.g. 640; in the camnet trial in docs/models.md it did worse at both scales). [default: 0, off]")] = None,
    epochs: Annotated[Optional[int], typer.Option(help="Epochs to train; 0 with --init-from saves that model with this run's options and no training step (to add a part without weights: --black-floor, --impulse-reject). [default: 30]")] = None,
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
    impulse_threshold: Annotated[Optional[float], typer.Option(help="With --impulse-reject: how far (0-1) a black or white value must lie from its 3x3 median to be replaced. [default: 0.5]")] = None,
    black_floor: Annotated[Optional[float], typer.Option(help="camnet: output values below this (0-0.5) become black, for scenes on a black background (the default model: 0.05; docs/models.md, \"A black floor\"); it has no weights, so --init-from a model without it works. [default: 0, off]")] = None,
    global_gate: Annotated[Optional[bool], typer.Option("--global-gate/--no-global-gate", help="camnet: scale the correction by one number per frame, computed from the whole frame (meant to let clean frames through; in the trials in docs/models.md it did not learn to). [default: off]")] = None,
    level_input: Annotated[Optional[bool], typer.Option("--level-input/--no-level-input", help="camnet: measure the frame's noise level in the graph (a fixed Haar band, averaged) and give it to the network: a bias on its first conv and a gate on its correction (meant to let clean frames through; in the trials in docs/models.md it did not, and it costs about 10 ms per VGA int8 frame). [default: off]")] = None,
    full_res: Annotated[Optional[int], typer.Option(help="camnet: width of a thin full-resolution stage (an input conv whose features join the output conv); 0: none. [default: 0]")] = None,
    bottom_width: Annotated[Optional[int], typer.Option(help="camnet: channels at 1/8 resolution; 0: 4 x --width. [default: 0]")] = None,
    bottom_depth: Annotated[Optional[int], typer.Option(help="camnet: 3x3 convs at 1/8 resolution after the strided one (each more: about 1.3k MACs per pixel at --width 24). [default: 1]")] = None,
    start_scale: Annotated[Optional[int], typer.Option(help="camnet: resolution of the first level, 1/2 (2) or 1/4 (4: no 1/2 level; --full-res N then shuffles N decoder channels up to meet the input in one full-resolution conv). [default: 2]")] = None,
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
    quiet_tensorflow()
    import dataclasses

    from train.config import TrainConfig, load_config
    from train.training import train as run_training

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
        quant_aware=quant_aware, impulse_reject=impulse_reject, precision=precision, full_res=full_res,
        impulse_threshold=impulse_threshold, global_gate=global_gate, start_scale=start_scale,
        bottom_width=bottom_width, level_input=level_input, bottom_depth=bottom_depth, max_side=max_side,
        black_floor=black_floor,
    )
    for name in ("augment", "attention"):  # "none" switches off what a --config turned on
        if str(getattr(cfg, name)).lower() == "none":
            cfg = dataclasses.replace(cfg, **{name: None})
    if notice := cfg.fine_tune_notice():
        err_console.print(f"[yellow]note[/]: {notice}", highlight=False)
    if local_workers is not None:
        from edge_runtime.noise import parse_noise
        from train.launcher import launch

        parse_noise(cfg.noise)  # train() checks it first thing; here it is checked before the workers start

        launched = launch(cfg, local_workers, resume=resume, overwrite=overwrite, max_restarts=max_restarts, console=err_console)
        console.print(f"run folder: {cfg.out} (chief exit code {launched.returncode}, {launched.restarts} restart(s), "
                      f"worker logs in {launched.log_dir})")
        raise typer.Exit(launched.returncode)
    verbose = 2 if os.environ.get("TF_CONFIG") else 1  # a worker's log is a file: one line per epoch, no progress bar
    result = run_training(cfg, resume=resume, overwrite=overwrite, console=err_console, verbose=verbose)
    print_load_report(result.load_report)
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
