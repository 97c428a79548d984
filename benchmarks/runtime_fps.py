"""End-to-end FPS vs invoke-only FPS of the device loop on a generated 640x480 video.

    .venv/bin/python benchmarks/runtime_fps.py --model edge_runtime/models/unet_int8_480x640_u8io.tflite

Reports end-to-end FPS (read, preprocess, invoke, postprocess, no output sink), invoke-only FPS
(the engine alone on one input), per-stage p50/p90/p99, peak RSS of the process that runs the
loop (the clip is encoded in a child process) and time to first frame. Prints a table and writes JSON to
benchmarks/results/. Needs the `edge` extra only (no TensorFlow).

The loop and the engine alone are timed in turns, ``--rounds`` times (the whole clip through ``run``, then as
many invokes alone): on a shared machine speed drifts by 10 % or more from one block to the next, and one
block of each, taken minutes apart, made end-to-end/invoke range from 0.82 to 1.06 over seven runs. The FPS
reported are the medians over rounds, and the ratio is the median of each round's own ratio. Drift-free,
within each loop: invoke's share of the loop's time (mean invoke ms x end-to-end FPS); the rest is capture,
conversion and the loop itself.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

RESULTS = ROOT / "benchmarks" / "results"


def make_video(path: Path, size=(640, 480), frames: int = 120, fps: int = 30) -> Path:
    """A VGA clip that pans across the bundled sample photos (so the decoder does real work)."""
    import cv2

    from edge_runtime.images import list_images, read_image_rgb
    from edge_runtime.sources import SAMPLES_DIR

    w, h = size
    photos = [cv2.resize(read_image_rgb(p), (h, h)) for p in list_images(SAMPLES_DIR)[:8]]
    strip = np.concatenate(photos, axis=1)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (w, h))
    step = max(1, (strip.shape[1] - w) // frames)
    for i in range(frames):
        x = (i * step) % (strip.shape[1] - w)
        writer.write(cv2.cvtColor(np.ascontiguousarray(strip[:, x:x + w]), cv2.COLOR_RGB2BGR))
    writer.release()
    return path


def make_video_elsewhere(path: Path, size=(640, 480), frames: int = 120) -> Path:
    """make_video in a child process: the encoder's memory would otherwise count in this process's
    peak RSS, which is meant to be the device loop's."""
    import multiprocessing

    with multiprocessing.get_context("spawn").Pool(1) as pool:
        return pool.apply(make_video, (path, size, frames))


def peak_rss_mb() -> float:
    """Peak resident memory of this process in MiB."""
    from edge_runtime.device_info import peak_rss_bytes

    return peak_rss_bytes() / 2**20


def cli_peak_rss_mb(model: str, video: Path, threads: int, tile: bool, frames: int) -> float:
    """Peak RSS of a real ``edge-denoise run`` process on the same clip: what a device user's process
    costs (typer, rich's status line and the CLI's imports included), read from the child's rusage."""
    import subprocess

    cmd = [sys.executable, "-m", "edge_denoise", "run", "--source", str(video), "--model", model,
           "--threads", str(threads), "--tile" if tile else "--no-tile", "--frames", str(frames)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    stderr = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)  # this child's own rusage, not the largest child's
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError(f"edge-denoise run failed ({proc.returncode}): {stderr.strip()[-500:]}")
    peak = usage.ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def invoke_only_fps(engine, n: int) -> dict:
    """The interpreter alone: the same input, ``n`` invokes after a warm-up."""
    engine.set_input_frame(np.full((*engine.input_hw, 3), 128, np.uint8))
    for _ in range(3):
        engine.invoke()
    times = []
    for _ in range(n):
        t = time.perf_counter()
        engine.invoke()
        times.append(time.perf_counter() - t)
    from edge_runtime.timing import percentiles_ms

    stats = percentiles_ms(times)
    return {"fps": 1000.0 / stats["mean_ms"], **stats}


def main(argv=None) -> int:
    t_process = time.perf_counter()
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", required=True, help=".tflite model to measure")
    ap.add_argument("--frames", type=int, default=120, help="frames in the generated clip")
    ap.add_argument("--size", default="640x480", help="clip WIDTHxHEIGHT")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=5, help="loop and engine alone, timed in turns this many times")
    ap.add_argument("--tile", action=argparse.BooleanOptionalAction, default=False,
                    help="tile at full resolution instead of resizing to the model (default: resize)")
    ap.add_argument("--out", default=str(RESULTS), help="folder for the JSON result")
    args = ap.parse_args(argv)

    from rich.console import Console
    from rich.table import Table

    from edge_runtime.atomic import write_json_atomic
    from edge_runtime.engine import load_engine
    from edge_runtime.errors import EdgeDenoiseError
    from edge_runtime.pipeline import RunConfig, run

    console = Console()
    from edge_runtime.device_info import rss_bytes

    def current_rss_mb() -> float:
        return rss_bytes() / 2**20

    rss = {"imports": current_rss_mb()}  # where the peak comes from, stage by stage
    w, h = (int(v) for v in args.size.lower().split("x"))
    try:
        with tempfile.TemporaryDirectory() as tmp:
            video = make_video_elsewhere(Path(tmp) / "vga.mp4", (w, h), args.frames)
            t0 = time.perf_counter()
            engine = load_engine(args.model, threads=args.threads)
            load_s = time.perf_counter() - t0
            rss["model_loaded"] = current_rss_mb()
            rounds = []
            for _ in range(max(1, args.rounds)):
                loop = run(RunConfig(source=str(video), model=args.model, threads=args.threads, tile=args.tile), engine=engine)
                alone = invoke_only_fps(engine, max(20, args.frames))
                rounds.append({"end_to_end_fps": loop.fps, "invoke_only_fps": alone["fps"],
                               "ratio": loop.fps / alone["fps"], "loop_invoke_p50_ms": loop.stages_ms["invoke"]["p50_ms"],
                               "invoke_share_of_loop": loop.stages_ms["invoke"]["mean_ms"] * loop.fps / 1000.0,
                               "alone_invoke_p50_ms": alone["p50_ms"]})
                if len(rounds) == 1:
                    report, first_alone = loop, alone  # stages, percentiles, time to first frame: the first round's
            rss["after_run"] = current_rss_mb()
            cli_rss = cli_peak_rss_mb(args.model, video, args.threads, args.tile, min(args.frames, 30))
    except EdgeDenoiseError as exc:
        console.print(f"[bold red]error:[/] {exc}", highlight=False)
        return 2
    result = {
        "model": report.model, "clip": {"size": [w, h], "frames": args.frames}, "tile": args.tile,
        "threads": args.threads, "end_to_end_fps": float(np.median([r["end_to_end_fps"] for r in rounds])),
        "invoke_only_fps": float(np.median([r["invoke_only_fps"] for r in rounds])),
        "end_to_end_over_invoke": float(np.median([r["ratio"] for r in rounds])),
        "invoke_share_of_loop": float(np.median([r["invoke_share_of_loop"] for r in rounds])),
        "rounds": rounds,
        "invoke_only_ms": first_alone, "stages_ms": report.stages_ms, "frames": report.frames,
        "model_load_s": load_s, "time_to_first_frame_s": report.time_to_first_frame_s,
        "peak_rss_mb": peak_rss_mb(), "rss_mb_at": rss,
        "cli_peak_rss_mb": cli_rss, "device": report.device,
        "measured_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "note": "end-to-end = decode + preprocess + invoke + postprocess, no output sink; "
                "time to first frame counts from run() start (source open + first frame), model load separate",
    }
    table = Table(title=f"{Path(args.model).name} on a {w}x{h} clip, {args.threads} threads "
                        f"({'tiled' if args.tile else 'resized'}), {report.device.get('runtime')} {report.device.get('runtime_version')}")
    table.add_column("measure")
    table.add_column("value", justify="right")
    table.add_row(f"end-to-end FPS (median of {len(rounds)} rounds)", f"{result['end_to_end_fps']:.1f}")
    table.add_row("invoke-only FPS (in turns with it)", f"{result['invoke_only_fps']:.1f}")
    ratios = sorted(r["ratio"] for r in rounds)
    table.add_row("end-to-end / invoke, median of rounds (range)",
                  f"{result['end_to_end_over_invoke']:.2f} ({ratios[0]:.2f}-{ratios[-1]:.2f})")
    table.add_row("invoke's share of the loop's time, median of rounds", f"{result['invoke_share_of_loop']:.2f}")
    for stage, s in report.stages_ms.items():  # the first round's loop
        table.add_row(f"{stage} p50 / p90 / p99 ms", f"{s['p50_ms']:.2f} / {s['p90_ms']:.2f} / {s['p99_ms']:.2f}")
    table.add_row("model load s", f"{load_s:.3f}")
    table.add_row("time to first frame s", f"{report.time_to_first_frame_s:.3f}")
    table.add_row("peak RSS MiB (this loop / edge-denoise run)", f"{result['peak_rss_mb']:.0f} / {cli_rss:.0f}")
    table.add_row("RSS MiB after imports / model load / run",
                  f"{rss['imports']:.0f} / {rss['model_loaded']:.0f} / {rss['after_run']:.0f}")
    table.add_row("CPU", f"{report.device['cpu']} x{report.device['cores']}")
    console.print(table)
    out = Path(args.out) / f"runtime_fps_{Path(args.model).stem}_{w}x{h}.json"
    write_json_atomic(out, result)
    console.print(f"wrote {out} (total {time.perf_counter() - t_process:.1f} s)", highlight=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
