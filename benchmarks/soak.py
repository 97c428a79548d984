"""Soak test: many frames through the real run loop; does memory grow or latency drift?

    .venv/bin/python benchmarks/soak.py --model edge_runtime/models/unet_int8_128x128.tflite --frames 50000

edge_runtime.synthetic.SyntheticSource at the model's size (the bundled photos, cycled; no camera, no decoder) feeds
``edge_runtime.pipeline.run`` and a counting sink. Reports RSS growth from frame 1,000 to the end
(sampled every ``--rss-every`` frames with psutil), the p99 frame latency of the first 10 % vs the
last 10 % after warm-up, and the error count (must be 0). Prints the figures and writes
benchmarks/results/soak.json (or --out). Default model: the shipped unet int8 128x128 if this
install has it, else a tiny fixture model built with TensorFlow (a toy: say so when quoting).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

RESULTS = ROOT / "benchmarks" / "results"
WARMUP_FRAMES = 1000


def default_model(workdir: Path) -> tuple[Path, str]:
    """The shipped unet int8 128x128, or a tiny fixture model (needs TensorFlow) when it is missing."""
    from edge_runtime.errors import EdgeDenoiseError
    from edge_runtime.zoo import resolve_model

    try:
        return resolve_model("unet", "int8", (128, 128)), "shipped"
    except EdgeDenoiseError:
        pass
    sys.path.insert(0, str(ROOT / "tests"))
    from tflite_fixtures import build_tflite

    return build_tflite(workdir / "tiny_int8_128x128.tflite", "uint8", size=128), "tiny fixture (toy)"


def make_source(hw: tuple[int, int], frames: int):
    """``frames`` frames of the bundled photos at ``hw``, round and round, made before the loop."""
    from edge_runtime.synthetic import SyntheticSource

    return SyntheticSource(hw, hold=1, loop=True, limit=frames, uri="synthetic://soak")


def make_sink(rss_every: int):
    """A sink that timestamps every frame and samples RSS every ``rss_every`` frames."""
    import psutil

    from edge_runtime.sinks import FrameSink

    process = psutil.Process()

    class SoakSink(FrameSink):
        target = None

        def __init__(self):
            self.frames = 0
            self.stamps = np.empty(1 << 16, np.float64)  # grown by doubling: no per-frame Python objects
            self.rss: list[tuple[int, int]] = []

        def write(self, frame_rgb, noisy_rgb=None, status=None) -> None:
            if self.frames >= len(self.stamps):
                self.stamps = np.concatenate([self.stamps, np.empty_like(self.stamps)])
            self.stamps[self.frames] = time.perf_counter()
            self.frames += 1
            if self.frames % rss_every == 0 or self.frames == 1:
                self.rss.append((self.frames, process.memory_info().rss))

    return SoakSink()


def summarize(sink, frames: int, report) -> dict:
    """RSS growth after warm-up, p99 drift between the first and last 10 % after warm-up."""
    stamps = sink.stamps[: sink.frames]
    latency_ms = np.diff(stamps) * 1000.0  # frame-to-frame time of the whole loop
    warm = min(WARMUP_FRAMES, max(0, len(latency_ms) // 10))
    steady = latency_ms[warm:]
    tenth = max(1, len(steady) // 10)
    first, last = steady[:tenth], steady[-tenth:]
    rss = [(n, b) for n, b in sink.rss if n >= warm] or sink.rss
    start_mb, end_mb = rss[0][1] / 2**20, rss[-1][1] / 2**20
    span = max(1, rss[-1][0] - rss[0][0])
    return {
        "frames": int(sink.frames),
        "errors": int(frames - sink.frames) + int(report.corrupt),
        "stop_reason": report.stop_reason,
        "fps": round(report.fps, 1),
        "warmup_frames": int(warm),
        "rss_start_mb": round(start_mb, 2),
        "rss_end_mb": round(end_mb, 2),
        "rss_growth_mb": round(end_mb - start_mb, 2),
        "rss_growth_mb_per_10k_frames": round((end_mb - start_mb) * 10_000 / span, 3),
        "rss_samples": [[int(n), round(b / 2**20, 2)] for n, b in sink.rss],
        "p99_first_10pct_ms": round(float(np.percentile(first, 99)), 3),
        "p99_last_10pct_ms": round(float(np.percentile(last, 99)), 3),
        "p99_drift_ms": round(float(np.percentile(last, 99) - np.percentile(first, 99)), 3),
        "p50_ms": round(float(np.percentile(steady, 50)), 3),
    }


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, help="a .tflite model (default: shipped unet int8 128x128)")
    parser.add_argument("--frames", type=int, default=50_000)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rss-every", type=int, default=500, help="sample RSS every N frames")
    parser.add_argument("--out", type=Path, default=RESULTS / "soak.json")
    args = parser.parse_args(argv)

    from edge_runtime.engine import load_engine
    from edge_runtime.pipeline import RunConfig, run

    with tempfile.TemporaryDirectory() as tmp:
        model, origin = (args.model, "given") if args.model else default_model(Path(tmp))
        engine = load_engine(model, threads=args.threads)
        source = make_source(engine.input_hw, args.frames)
        sink = make_sink(args.rss_every)
        config = RunConfig(source=source.uri, model=str(model), threads=args.threads, tile=False)
        report = run(config, source=source, engine=engine, sink=sink)
    result = {
        "model": str(model), "model_origin": origin, "input_hw": list(engine.input_hw), "threads": args.threads,
        "runtime": f"{engine.runtime.name} {engine.runtime.version}",
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        **summarize(sink, args.frames, report),
    }
    print(f"{result['frames']} frames of {engine.input_hw[0]}x{engine.input_hw[1]} through run() "
          f"({origin} model {Path(str(model)).name}, {args.threads} threads) at {result['fps']} FPS, "
          f"{result['errors']} errors")
    print(f"RSS {result['rss_start_mb']} MB at frame {result['warmup_frames']} -> {result['rss_end_mb']} MB at the end: "
          f"{result['rss_growth_mb']:+} MB ({result['rss_growth_mb_per_10k_frames']:+} MB per 10k frames)")
    print(f"p99 frame latency: first 10 % {result['p99_first_10pct_ms']} ms, last 10 % {result['p99_last_10pct_ms']} ms "
          f"(drift {result['p99_drift_ms']:+} ms; p50 {result['p50_ms']} ms)")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    from edge_runtime.atomic import write_json_atomic

    write_json_atomic(args.out, result)
    print(f"wrote {args.out}")
    return result


if __name__ == "__main__":
    main()
