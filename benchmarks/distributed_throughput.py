"""Training images/second with 1 and 2 local MultiWorkerMirroredStrategy workers (and MirroredStrategy on GPUs).

    .venv/bin/python benchmarks/distributed_throughput.py [--epochs 5] [--size 64] \
        [--out benchmarks/results/distributed_throughput.json]

The number is steady state: training images per second of wall clock between the ends of
epochs 1..N (the first epoch pays for tracing and cluster setup), read from when each row of
the chief's history.csv appears. Honest caveat, printed with the numbers: local workers share
this machine's CPU cores, so two of them on 2 cores measure the overhead of the collective
ops, not a speed-up; that needs a core budget (or a GPU) per worker. MirroredStrategy is
measured only where this machine has more than one GPU. Prints a table and writes JSON to --out.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def watch_epochs(history_csv: Path, stop: threading.Event) -> list[float]:
    """Times at which each new epoch row lands in history.csv (polled every 50 ms)."""
    times: list[float] = []

    def poll():
        while not stop.is_set():
            rows = max(0, len(history_csv.read_text().splitlines()) - 1) if history_csv.exists() else 0
            times.extend([time.perf_counter()] * (rows - len(times)))
            time.sleep(0.05)

    threading.Thread(target=poll, daemon=True).start()
    return times


def steady_images_per_second(times: list[float], images: int) -> float:
    return images / statistics.median(b - a for a, b in zip(times, times[1:]))


def measure(name: str, out: Path, images_of, run) -> dict:
    stop = threading.Event()
    times = watch_epochs(out / "history.csv", stop)
    run()
    time.sleep(0.2)
    stop.set()
    row = {"setup": name, "images_per_s": steady_images_per_second(times, images_of()),
           "epoch_ends_s": [t - times[0] for t in times]}
    print(f"{name}: {row['images_per_s']:.1f} images/s "
          f"(median over epochs 2..{len(times)}, epoch ends at {', '.join(f'{t:.1f}' for t in row['epoch_ends_s'])} s)")
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "distributed_throughput.json")
    args = parser.parse_args()

    from train.config import TrainConfig
    from train.launcher import launch
    from train.training import train

    tmp = Path(tempfile.mkdtemp(prefix="edge-denoise-bench-"))
    base = dict(model="unet", width=16, depth=2, size=args.size, epochs=args.epochs, data=str(ROOT / "edge_runtime" / "samples"))
    count = lambda run: json.loads((run / "config.json").read_text())["counts"]["train"]  # noqa: E731
    print(f"{os.cpu_count()} CPU cores; unet width 16 depth 2 at {args.size}px, global batch 8, {args.epochs} epochs, "
          "the bundled sample photos")
    rows = [measure("1 worker (no strategy)", tmp / "one", lambda: count(tmp / "one"),
            lambda: train(TrainConfig(out=str(tmp / "one"), batch_size=8, **base), verbose=0))]
    for workers in (1, 2):
        out = tmp / f"mw{workers}"
        result = []
        rows.append(measure(f"{workers} local worker(s), MultiWorkerMirroredStrategy on loopback", out, lambda: count(out),
                lambda: result.append(launch(TrainConfig(out=str(out), batch_size=8 // workers, **base), workers=workers,
                                             log_dir=tmp / f"logs{workers}"))))
        if result[0].returncode != 0:
            sys.exit(f"{workers} workers failed: see {tmp / f'logs{workers}'}")
    print(f"note: local workers share this machine's {os.cpu_count()} cores (and here a training job runs beside them), "
          "so 2 workers measure the cost of the collective ops, not a speed-up")
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    print(f"MirroredStrategy: not measured, {len(gpus)} GPU(s) on this machine" if len(gpus) < 2 else
          f"MirroredStrategy: {len(gpus)} GPUs here; run edge-denoise train --strategy mirrored and read its epoch times")
    print(f"\n{'setup':<58} {'images/s':>9}")
    for r in rows:
        print(f"{r['setup']:<58} {r['images_per_s']:>9.1f}")
    from edge_runtime.atomic import write_json_atomic

    write_json_atomic(args.out, {"created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                                 "cores": os.cpu_count(), "gpus": len(gpus), "epochs": args.epochs, "size": args.size,
                                 "rows": rows})
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
