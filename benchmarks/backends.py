"""The engine's backends against each other: latency, interleaved in one process.

    .venv/bin/python benchmarks/backends.py edge_runtime/models/autoencoder_int8_480x640_u8io.tflite \\
        edge_runtime/models/fastnet_dynamic_480x640.tflite --runs 30 --out benchmarks/results/backends.json

Loads every file three ways: LiteRT's CompiledModel, the same with ``--low-memory`` (XNNPACK's transient
indirection buffers, rebuilt every run), and the classic Interpreter (what ``run`` picks by default).
Warms each up, then times ``--runs`` rounds in which every (file, backend) pair invokes once in turn, so
a shared machine's drift hits all pairs alike. Prints median and minimum ms per pair and writes JSON.
Memory per backend is in bench's and runtime_fps's rows.
"""

from __future__ import annotations

import argparse
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
BACKENDS = {"compiled": {"backend": "compiled"}, "compiled --low-memory": {"backend": "compiled", "low_memory": True},
            "interpreter": {"backend": "interpreter"}}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("models", nargs="+", type=Path)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "backends.json")
    args = ap.parse_args(argv)
    from edge_runtime.atomic import write_json_atomic
    from edge_runtime.device_info import device_info
    from edge_runtime.engine import load_engine

    engines = {(str(m), name): load_engine(m, threads=args.threads, **options) for m in args.models
               for name, options in BACKENDS.items()}
    rng = np.random.default_rng(0)
    for engine in engines.values():
        engine.set_input_frame(rng.integers(0, 256, (*engine.input_hw, 3)).astype(np.uint8))
        engine.invoke()
        engine.invoke()
    times: dict = {k: [] for k in engines}
    for _ in range(args.runs):
        for key, engine in engines.items():
            t = time.perf_counter()
            engine.invoke()
            times[key].append(time.perf_counter() - t)
    rows = [{"model": m, "backend": b, "median_ms": 1000 * float(np.median(v)), "min_ms": 1000 * min(v),
             "runs": len(v)} for (m, b), v in times.items()]
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"{args.runs} interleaved rounds, {args.threads} threads")
    for col in ("file", "backend", "median ms", "min ms"):
        table.add_column(col, justify="right" if "ms" in col else "left")
    for r in rows:
        table.add_row(Path(r["model"]).name, r["backend"], f"{r['median_ms']:.1f}", f"{r['min_ms']:.1f}")
    Console().print(table)
    import sys

    write_json_atomic(args.out, {"created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                                 "command": "python benchmarks/backends.py " + " ".join(sys.argv[1:] if argv is None else argv),
                                 "threads": args.threads, "rows": rows, "device": device_info()})
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
