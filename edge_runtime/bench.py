"""The device side of `edge-denoise bench`: one model, one thread count, timed in one fresh process.

    python -m edge_runtime.bench --worker JOB.json     # started by measure_file, never by hand

A fresh process per row means its peak RSS belongs to that row alone and a file that crashes the
interpreter fails its row, not the grid. Warm-up invokes (XNNPACK packs weights on the first) are not
timed; then at least ``min_runs`` timed invokes and at least ``seconds`` of them. Latency is the
engine's invoke alone; "I/O ms" is writing the uint8 frame in and reading it out. The grid around
it (frames, rows, ceiling, Pareto front, plots) is host tooling: edge_denoise.benchgrid.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from edge_runtime.device_info import peak_rss_bytes, rss_bytes
from edge_runtime.errors import EdgeDenoiseError

_RESULT_TAG = "EDGE_DENOISE_BENCH "


def time_engine(engine, frames: np.ndarray, warmup: int, min_runs: int, seconds: float, max_runs: int) -> dict:
    """Warm up, then time invokes (and the uint8 frame in/out separately) on ``frames`` in turn."""
    from edge_runtime.timing import percentiles_ms

    out = np.empty_like(frames[0])
    for i in range(max(warmup, 1)):
        engine.set_input_frame(frames[i % len(frames)])
        engine.invoke()
        engine.get_output_frame(out)
    clock = time.perf_counter
    invoke, frame_io = [], []
    t_end = clock() + seconds
    i = 0
    while i < min_runs or (clock() < t_end and i < max_runs):
        t0 = clock()
        engine.set_input_frame(frames[i % len(frames)])
        t1 = clock()
        engine.invoke()
        t2 = clock()
        engine.get_output_frame(out)
        t3 = clock()
        invoke.append(t2 - t1)
        frame_io.append((t1 - t0) + (t3 - t2))
        i += 1
    stats = percentiles_ms(invoke)
    io_ms = float(np.median(frame_io) * 1000.0)
    return {**stats, "runs": stats["count"], "io_ms": io_ms,
            "fps": 1000.0 / (stats["mean_ms"] + float(np.mean(frame_io)) * 1000.0)}


def _worker(job_path: str) -> dict:
    """Measure one (file, threads) job described by a JSON file; the parent reads the tagged line."""
    from edge_runtime.engine import find_runtime, load_engine

    job = json.loads(Path(job_path).read_text(encoding="utf-8"))
    runtime = find_runtime()
    frames = np.load(job["frames"])
    base_mb = rss_bytes() / 2**20  # python + numpy + runtime + frames: not the model's
    engine = load_engine(job["path"], threads=int(job["threads"]), backend=job.get("backend", "auto"))
    if frames.shape[1:3] != engine.input_hw:
        raise EdgeDenoiseError(f"internal: frames {frames.shape[1:3]} for a {engine.input_hw} model")
    stats = time_engine(engine, frames, job["warmup"], job["min_runs"], job["seconds"], job["max_runs"])
    if job.get("outputs"):
        outs = np.stack([engine.denoise_frame(f).copy() for f in frames])
        np.save(job["outputs"], outs)
    peak = peak_rss_bytes() / 2**20
    return {**stats, "peak_rss_mb": peak, "model_rss_mb": peak - base_mb, "input_hw": list(engine.input_hw),
            "input_dtype": str(engine.input_dtype), "runtime": f"{runtime.name} {runtime.version}",
            "zero_copy_input": engine.zero_copy_input, "backend": engine.backend}


def measure_file(path: str | Path, threads: int, frames_npy: Path, config, outputs_npy: Path | None = None) -> dict:
    """Run the worker for one file and thread count; a load error, crash or timeout is returned as {"error": ...}.

    ``config`` gives warmup, min_runs, seconds, max_runs, backend and worker_timeout_s (a BenchConfig).
    """
    job = {"path": str(path), "threads": int(threads), "frames": str(frames_npy), "warmup": config.warmup,
           "min_runs": config.min_runs, "seconds": config.seconds, "max_runs": config.max_runs,
           "outputs": str(outputs_npy) if outputs_npy else None, "backend": config.backend}
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as fh:
        json.dump(job, fh)
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    root = str(Path(__file__).resolve().parents[1])
    env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    try:
        proc = subprocess.run([sys.executable, "-m", "edge_runtime.bench", "--worker", fh.name], capture_output=True,
                              text=True, timeout=config.worker_timeout_s, env=env)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {config.worker_timeout_s:g} s"}
    finally:
        Path(fh.name).unlink(missing_ok=True)
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith(_RESULT_TAG):
            return json.loads(line[len(_RESULT_TAG):])
    if proc.returncode < 0:
        return {"error": f"the interpreter crashed (signal {-proc.returncode})"}
    tail = [ln for ln in proc.stderr.strip().splitlines() if ln.strip()]
    return {"error": (tail[-1] if tail else f"worker exited with {proc.returncode}")[:300]}


if __name__ == "__main__":  # the worker: python -m edge_runtime.bench --worker JOB.json
    if len(sys.argv) == 3 and sys.argv[1] == "--worker":
        try:
            print(_RESULT_TAG + json.dumps(_worker(sys.argv[2])), flush=True)
        except EdgeDenoiseError as exc:
            print(_RESULT_TAG + json.dumps({"error": str(exc)}), flush=True)
    else:
        sys.exit("usage: python -m edge_runtime.bench --worker JOB.json (use 'edge-denoise bench' instead)")
