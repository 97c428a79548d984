"""``edge-denoise run``: denoise a live camera, stream, video or folder (edge_runtime.pipeline.run)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from edge_denoise.console import console, err_console, notice
from edge_runtime.zoo import DEFAULT_MODEL

DEMO_NOISE = "gaussian:0.1"
EXIT_SOURCE_LOST = 3  # a live camera or stream stopped by itself: non-zero so systemd's Restart=on-failure restarts us


def run_cmd(
    source: Annotated[Optional[str], typer.Option("--source", "-s", help="URI: 0, v4l2:///dev/video0, picamera2://0, csi://0, rtsp://..., clip.mp4, photos/, 'shots/*.jpg'.")] = None,
    camera: Annotated[Optional[int], typer.Option("--camera", help="Camera index (shortcut for --source N).")] = None,
    demo: Annotated[bool, typer.Option("--demo", help="Run on a clip of the bundled sample photos with noise added.")] = False,
    model: Annotated[str, typer.Option(help="A .tflite file, or a shipped model name: camnet (the default: trained on camera noise and the blind mixture, int8 at 480x640), fastnet (the previous default), autoencoder, unet.")] = DEFAULT_MODEL,
    precision: Annotated[str, typer.Option(help="Shipped model precision: int8, fp16 or dynamic (int8 falls back to dynamic where a model has no int8 file at that size).")] = "int8",
    model_size: Annotated[Optional[str], typer.Option(help="Shipped model size, HEIGHTxWIDTH or SIDE (default: 480x640 for cameras, else 128).")] = None,
    threads: Annotated[int, typer.Option(help="Interpreter threads (always passed to XNNPACK).")] = 2,
    delegate: Annotated[Optional[str], typer.Option(help="External delegate library (.so) to load.")] = None,
    backend: Annotated[str, typer.Option(help="auto (the Interpreter, or LiteRT CompiledModel where --low-memory or --fp16-arith needs it), compiled or interpreter.")] = "auto",
    fp16_arith: Annotated[bool, typer.Option("--fp16-arith", help="Compute float operators in fp16 (XNNPACK FORCE_FP16): ARMv8.2-A CPUs only (Pi 5, Orin), compiled backend; refused elsewhere.")] = False,
    low_memory: Annotated[bool, typer.Option("--low-memory", help="Trade speed for memory: XNNPACK rebuilds its indirection buffers on every frame (compiled backend; about half the memory of a VGA U-Net, up to 1.7x slower on int8 VGA files).")] = False,
    tile: Annotated[Optional[bool], typer.Option("--tile/--no-tile", help="Full-resolution overlapping tiles, or resize to the model (default: tile files, resize live).")] = None,
    overlap: Annotated[int, typer.Option(help="Tile overlap in pixels.")] = 16,
    add_noise: Annotated[Optional[str], typer.Option("--add-noise", help="Corrupt clean frames first and report live SSIM/PSNR, e.g. gaussian:0.1.")] = None,
    display: Annotated[bool, typer.Option("--display", help="Window with noisy | denoised side by side.")] = False,
    save: Annotated[Optional[str], typer.Option(help="Write denoised frames to a video (.mp4, .avi) or a folder.")] = None,
    report: Annotated[Optional[Path], typer.Option(help="Write the latency/FPS report as JSON.")] = None,
    frames: Annotated[Optional[int], typer.Option(help="Stop after N frames.")] = None,
    duration: Annotated[Optional[float], typer.Option(help="Stop after S seconds.")] = None,
    capture_size: Annotated[Optional[str], typer.Option(help="Camera size HEIGHTxWIDTH or SIDE, e.g. 480x640 (default: the model's input size).")] = None,
    reconnect: Annotated[float, typer.Option(help="Seconds to retry a camera that stops before giving up.")] = 3.0,
    metrics_port: Annotated[Optional[int], typer.Option("--metrics-port", help="Serve Prometheus metrics on this port (0: any free port).")] = None,
    metrics_host: Annotated[str, typer.Option("--metrics-host", help="Address the metrics endpoint binds (0.0.0.0 for other machines).")] = "127.0.0.1",
    log_json: Annotated[Optional[Path], typer.Option("--log-json", help="Append one JSON line of counters and latencies per --log-interval.")] = None,
    log_interval: Annotated[float, typer.Option("--log-interval", help="Seconds between --log-json lines.")] = 10.0,
    keep: Annotated[Optional[int], typer.Option(help="--save DIR: keep only the newest N frames (oldest deleted).")] = None,
    max_save_mb: Annotated[Optional[float], typer.Option("--max-save-mb", help="--save DIR: keep at most this many MiB of frames.")] = None,
    min_free_mb: Annotated[float, typer.Option("--min-free-mb", help="Stop saving (denoising goes on) when free disk falls below this.")] = 200.0,
) -> None:
    """Denoise a live camera, stream, video or folder; time every stage and report FPS."""
    from edge_runtime.errors import EdgeDenoiseError
    from edge_runtime.pipeline import RunConfig, run

    chosen = [name for name, given in (("--source", source is not None), ("--camera", camera is not None), ("--demo", demo)) if given]
    if len(chosen) > 1:
        raise EdgeDenoiseError(f"give one of --source, --camera, --demo (got {' and '.join(chosen)})")
    if demo:
        uri = "demo://"
        add_noise = add_noise or DEMO_NOISE
    elif camera is not None:
        uri = str(camera)
    elif source is not None:
        uri = source
    else:
        raise EdgeDenoiseError("no input: give --camera 0, --source URI, or --demo to try it without a camera")
    # RunConfig checks every value (its __post_init__), as it does for a Python caller of run()
    config = RunConfig(source=uri, model=model, precision=precision, model_size=model_size, threads=threads, delegate=delegate, backend=backend, tile=tile, overlap=overlap,
                       add_noise=add_noise, display=display, save=save, report=str(report) if report else None,
                       frames=frames, duration=duration, capture_size=capture_size, reconnect_s=reconnect,
                       metrics_port=metrics_port, metrics_host=metrics_host, log_json=str(log_json) if log_json else None,
                       log_interval_s=log_interval, keep=keep, max_save_mb=max_save_mb, min_free_mb=min_free_mb,
                       fp16_arith=fp16_arith, low_memory=low_memory)
    with err_console.status("starting", spinner="dots") as status:
        result = run(config, on_status=lambda line: status.update(line),
                     on_notice=notice)
    err_console.print(f"stopped: {result.stop_reason}", highlight=False)
    console.print(_stage_table(result))
    extra = f"dropped {result.dropped}, corrupt {result.corrupt}"
    if result.time_to_first_frame_s is not None:
        extra += f", first frame after {result.time_to_first_frame_s:.2f} s"
    console.print(extra, highlight=False)
    for line in result.skipped[:10]:
        err_console.print(f"[yellow]skipped[/] {line}", highlight=False)
    if result.quality:
        q = result.quality
        console.print(f"{q['noise']}: noisy SSIM {q['noisy_ssim_mean']:.4f} PSNR {q['noisy_psnr_mean']:.2f} dB -> "
                      f"denoised SSIM {q['denoised_ssim_mean']:.4f} PSNR {q['denoised_psnr_mean']:.2f} dB", highlight=False)
    if result.output and result.saving.get("saved", 1) == 0:  # saving paused from the first frame on
        err_console.print(f"[yellow]nothing saved[/] to {result.output} (see the notice above)", highlight=False)
    elif result.output:
        console.print(f"wrote {result.output}", highlight=False)
    if report:
        console.print(f"report: {report}", highlight=False)
    if result.stop_reason.startswith("interrupted"):
        raise typer.Exit(130)
    if result.source_lost:
        err_console.print(f"[bold red]source lost:[/] {result.stop_reason} (exit {EXIT_SOURCE_LOST}, so a service "
                          f"manager restarts the run)", highlight=False)
        raise typer.Exit(EXIT_SOURCE_LOST)


def _stage_table(report):
    from rich.table import Table

    table = Table(title=f"{report.frames} frames from {report.source} in {report.duration_s:.1f} s: "
                        f"{report.fps:.1f} FPS end to end, {report.invoke_fps:.1f} FPS invoke only")
    for col in ("stage", "p50 ms", "p90 ms", "p99 ms", "mean ms", "max ms"):
        table.add_column(col, justify="left" if col == "stage" else "right")
    for stage, s in report.stages_ms.items():
        if s["count"]:
            table.add_row(stage, f"{s['p50_ms']:.2f}", f"{s['p90_ms']:.2f}", f"{s['p99_ms']:.2f}",
                          f"{s['mean_ms']:.2f}", f"{s['max_ms']:.2f}")
    return table
