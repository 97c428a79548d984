"""Latency of .tflite files measured in turns, for a busy machine: what one file costs more than another.

    .venv/bin/python benchmarks/paired_latency.py OLD.tflite NEW.tflite [MORE.tflite ...] --rounds 40 \
        --out benchmarks/results/paired_latency.json

`edge-denoise bench` times each row in a block of its own, so load that comes and goes between blocks
moves one row and not another (passes of one row differed by up to 32 % on this shared machine). Here
every round invokes each file once, in turn, on the same frame, so slow spells hit all files alike; the
median of the per-round differences to the first file is what each file costs more (or less). Same
engine, threads and XNNPACK as `run` (edge_runtime.engine.load_engine), and the same call: a uint8 RGB frame
through ``denoise_frame``, the file's own input and output conversions included. Until 2026-12-07 each call took
a float frame (``engine(batch)``) and paid its conversion to a uint8 frame and back, which ``run`` never does, for
every file alike (results written before then). Writes JSON and prints a table.
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("files", nargs="+", type=Path, help="two or more .tflite files of the same input size")
    ap.add_argument("--rounds", type=int, default=40)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "paired_latency.json")
    args = ap.parse_args(argv)

    from rich.console import Console
    from rich.table import Table

    from edge_runtime.atomic import write_json_atomic
    from edge_runtime.device_info import device_info
    from edge_runtime.engine import load_engine
    from edge_runtime.errors import EdgeDenoiseError

    if len(args.files) < 2:
        raise SystemExit("paired_latency: give two or more .tflite files")
    engines = [load_engine(f, threads=args.threads) for f in args.files]
    shapes = {tuple(e.input_hw) for e in engines}
    if len(shapes) != 1:
        raise EdgeDenoiseError(f"{', '.join(map(str, args.files))}: input sizes differ ({sorted(shapes)}); pair files of one size")
    h, w = shapes.pop()
    frame = np.random.default_rng(0).integers(0, 256, (h, w, 3), dtype=np.uint8)
    for engine in engines:
        for _ in range(args.warmup):
            engine.denoise_frame(frame)
    ms = np.zeros((args.rounds, len(engines)))
    for i in range(args.rounds):
        for j, engine in enumerate(engines):
            t0 = time.perf_counter()
            engine.denoise_frame(frame)
            ms[i, j] = (time.perf_counter() - t0) * 1000
    rows = []
    for j, path in enumerate(args.files):
        diff = ms[:, j] - ms[:, 0]
        rows.append({"file": str(path), "p50_ms": float(np.median(ms[:, j])), "min_ms": float(ms[:, j].min()),
                     "paired_diff_p50_ms": float(np.median(diff)),
                     "paired_diff_iqr_ms": [float(np.percentile(diff, 25)), float(np.percentile(diff, 75))]})
    table = Table(title=f"{args.rounds} rounds, each file once per round, {h}x{w}, {args.threads} threads")
    for col in ("file", "p50 ms", "min ms", "minus the first, p50 of rounds (IQR)"):
        table.add_column(col)
    for r in rows:
        lo, hi = r["paired_diff_iqr_ms"]
        table.add_row(Path(r["file"]).name, f"{r['p50_ms']:.1f}", f"{r['min_ms']:.1f}",
                      f"{r['paired_diff_p50_ms']:+.1f} ({lo:+.1f} to {hi:+.1f})")
    Console().print(table)
    write_json_atomic(args.out, {"when": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                                 "rounds": args.rounds, "threads": args.threads, "size": [h, w], "call": "denoise_frame(uint8)", "rows": rows,
                                 "device": device_info()})
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
