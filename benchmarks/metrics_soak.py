"""Soak test of a service-like run: does memory stay flat while the metrics endpoint is scraped?

    .venv/bin/python benchmarks/metrics_soak.py                         # 600 s, the default shipped model
    .venv/bin/python benchmarks/metrics_soak.py --model edge_runtime/models/fastnet_dynamic_480x640.tflite \
        --seconds 600 --out benchmarks/results/metrics_soak_fastnet_dynamic_vga_stage_10m.json   # the camera's file

Runs the device loop at full speed (no pacing) on a synthetic source for ``--seconds``, with what
the systemd unit turns on: --metrics-port (scraped every ``--scrape-every`` s like a Prometheus
server would), --log-json, --add-noise (live SSIM) and --save DIR --keep N (rotating). The loop runs
in a child process of its own, as a service would; this process scrapes it and samples the child's
resident memory every second from /proc, so the harness's own records never count. Reports the
growth after a warm-up (MiB per hour, by least squares), scrape latency, and whether the counters
only ever went up. Writes JSON to
benchmarks/results/metrics_soak.json (or --out). Model: --model FILE, else the default shipped model, else
the tiny test model built with TensorFlow (say which in the result).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import queue
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
RESULTS = ROOT / "benchmarks" / "results"
WARMUP_FRACTION = 0.15  # memory before this share of the run (allocator, caches, first histograms) is not growth


def find_model(arg: str | None, tmp: Path) -> tuple[Path, str]:
    from edge_runtime.errors import EdgeDenoiseError
    from edge_runtime.zoo import resolve_model

    if arg:
        return resolve_model(arg), "given"
    try:
        from edge_runtime.zoo import DEFAULT_MODEL

        return resolve_model(DEFAULT_MODEL), "shipped"
    except EdgeDenoiseError:
        pass
    # Built in a child process (it needs TensorFlow), so this process's memory is what a device's would be.
    path = tmp / "tiny_int8_128x128.tflite"
    code = ("import sys; from pathlib import Path; sys.path.insert(0, sys.argv[1]); "
            "from tflite_fixtures import build_tflite; build_tflite(Path(sys.argv[2]), 'uint8', size=128)")
    subprocess.run([sys.executable, "-c", code, str(ROOT / "tests"), str(path)], check=True,
                   capture_output=True, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    return path, "tiny test fixture (no shipped model)"


def scrape(url: str) -> tuple[dict[str, float], float]:
    t0 = time.perf_counter()
    text = urllib.request.urlopen(url, timeout=5).read().decode()
    seconds = time.perf_counter() - t0
    samples = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            key, _, value = line.rpartition(" ")
            samples[key] = float(value)
    return samples, seconds


def run_service(options: dict, messages) -> None:
    """The device loop as a service runs it (child process): metrics endpoint, --log-json, --add-noise,
    --save --keep, on a synthetic source at full speed. Sends ("notice", line) while it runs and one
    ("done", {...}) at the end: the run's report, device info and, with trace, the Python heap."""
    from dataclasses import asdict

    if options["trace"]:
        import tracemalloc

        tracemalloc.start(8)
    from edge_runtime.device_info import device_info
    from edge_runtime.engine import load_engine
    from edge_runtime.pipeline import RunConfig, run
    from edge_runtime.synthetic import SyntheticSource

    done: dict = {}
    try:
        engine = load_engine(options["model"], threads=options["threads"])
        config = RunConfig(source="synthetic://", model=options["model"], threads=options["threads"],
                           duration=options["seconds"], metrics_port=0 if options["metrics"] else None,
                           add_noise=options["add_noise"], log_json=options["log_json"], log_interval_s=10.0,
                           save=options["save"], keep=options["keep"])
        heap, snapshots, stop = [], {}, threading.Event()
        if options["trace"]:
            def sample_heap() -> None:  # only in --trace runs: its own samples count in this process
                t0 = time.monotonic()
                while not stop.wait(1.0):
                    heap.append((round(time.monotonic() - t0, 2), tracemalloc.get_traced_memory()[0] / 2**20))
                    if "warm" not in snapshots and heap[-1][0] >= options["warmup_s"]:
                        snapshots["warm"] = tracemalloc.take_snapshot()

            threading.Thread(target=sample_heap, daemon=True).start()
        report = run(config, source=SyntheticSource(engine.input_hw, hold=1, loop=True, uri="synthetic://"), engine=engine,
                     on_notice=lambda line: messages.put(("notice", line)))
        stop.set()
        done = {"report": asdict(report), "device": device_info(engine)}
        if options["trace"]:
            done["python_heap_mb"] = heap
            if "warm" in snapshots:
                diff = tracemalloc.take_snapshot().compare_to(snapshots["warm"], "traceback")[:10]
                done["python_growth_sites"] = [{"kib": round(st.size_diff / 1024, 1), "count": st.count_diff,
                                                "where": [str(f) for f in st.traceback[-4:]]} for st in diff]
    except BaseException as exc:  # reported by the parent
        done = {"error": repr(exc)}
    messages.put(("done", done))


def growth_per_hour(ts: list[float], values: list[float]) -> float:
    if len(ts) < 3:
        return 0.0
    slope = np.polyfit(np.asarray(ts), np.asarray(values), 1)[0]
    return float(slope * 3600.0)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=600.0)
    ap.add_argument("--model", help="a .tflite file or shipped model name (default: the default shipped model)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--scrape-every", type=float, default=2.0)
    ap.add_argument("--add-noise", default="gaussian:0.1", help="noise for live SSIM ('' to turn off)")
    ap.add_argument("--keep", type=int, default=200, help="--save DIR --keep N into a temp folder (0: no saving)")
    ap.add_argument("--no-metrics", action="store_true", help="no --metrics-port and no scrapes (to isolate a memory creep)")
    ap.add_argument("--no-log-json", action="store_true", help="no --log-json (to isolate a memory creep)")
    ap.add_argument("--out", type=Path, default=RESULTS / "metrics_soak.json")
    ap.add_argument("--trace", action="store_true",
                    help="also trace Python allocations (tracemalloc, slower): Python heap over time and the "
                         "lines whose memory grew between the end of warm-up and the end")
    args = ap.parse_args()
    from edge_runtime.atomic import write_json_atomic
    from edge_runtime.device_info import rss_bytes

    with tempfile.TemporaryDirectory(prefix="soak-") as tmp_name:
        tmp = Path(tmp_name)
        model, model_origin = find_model(args.model, tmp)
        options = {"model": str(model), "threads": args.threads, "seconds": args.seconds,
                   "metrics": not args.no_metrics, "add_noise": args.add_noise or None,
                   "log_json": None if args.no_log_json else str(tmp / "run.jsonl"),
                   "save": str(tmp / "frames") if args.keep else None, "keep": args.keep or None,
                   "trace": args.trace, "warmup_s": args.seconds * WARMUP_FRACTION}
        ctx = multiprocessing.get_context("spawn")
        messages = ctx.Queue()
        child = ctx.Process(target=run_service, args=(options, messages), name="soak-run")
        t_start = time.monotonic()
        child.start()
        notices: list[str] = []
        result: dict = {}

        def drain(block_s: float = 0.0) -> None:
            try:
                while True:
                    kind, payload = messages.get(timeout=block_s) if block_s else messages.get_nowait()
                    block_s = 0.0
                    if kind == "notice":
                        notices.append(payload)
                    else:
                        result.update(payload)
            except queue.Empty:
                pass

        while not args.no_metrics and not any(n.startswith("metrics: ") for n in notices) and child.is_alive():
            drain(0.05)
        url = next((n.split(" ", 1)[1] for n in notices if n.startswith("metrics: ")), None)
        rss, scrapes, problems = [], [], []
        late_failures = 0
        last_counters: dict[str, float] = {}
        next_scrape = time.monotonic()
        print(f"soak: {args.seconds:g} s on {model.name} ({model_origin}), metrics {url}, run in process {child.pid}",
              flush=True)
        while child.is_alive() and "report" not in result:
            now = time.monotonic()
            child_rss = rss_bytes(child.pid)
            if child_rss:
                rss.append((round(now - t_start, 2), child_rss / 2**20))
            if url and now >= next_scrape:
                next_scrape = now + args.scrape_every
                try:
                    samples, seconds = scrape(url)
                except OSError as exc:
                    if child.is_alive() and now - t_start < args.seconds:
                        problems.append(f"scrape failed at {now - t_start:.0f} s: {exc}")
                    else:  # the run reached --seconds and closed its endpoint while this scrape was in flight
                        late_failures += 1
                    continue
                counters = {k: v for k, v in samples.items() if k.startswith("edge_denoise_") and k.endswith("_total")}
                went_down = [k for k, v in counters.items() if v < last_counters.get(k, 0)]
                if went_down:
                    problems.append(f"counters went down at {now - t_start:.0f} s: {went_down}")
                last_counters = counters
                scrapes.append({"t": round(now - t_start, 2), "ms": round(seconds * 1000, 2),
                                "frames": samples.get("edge_denoise_frames_total", 0.0),
                                "fps": samples.get("edge_denoise_fps", 0.0),
                                "process_rss_mb": round(samples.get("process_resident_memory_bytes", 0.0) / 2**20, 1)})
                if len(scrapes) % 30 == 0:
                    print(f"  {now - t_start:6.0f} s  {scrapes[-1]['frames']:8.0f} frames  {scrapes[-1]['fps']:6.1f} FPS  "
                          f"RSS {rss[-1][1]:.1f} MiB", flush=True)
            drain(1.0 if not url else min(1.0, max(0.01, next_scrape - time.monotonic())))
        child.join(timeout=60)
        drain()
        if "error" in result:
            problems.append(f"run failed: {result['error']}")
        saved_files = len(list((tmp / "frames").glob("frame_*"))) if args.keep else 0
        log_lines = len((tmp / "run.jsonl").read_text().splitlines()) if (tmp / "run.jsonl").exists() else 0

    report = result.get("report")
    traced = result.get("python_heap_mb", [])
    warm = args.seconds * WARMUP_FRACTION
    after = [(t, v) for t, v in rss if t >= warm] or rss
    growth = growth_per_hour([t for t, _ in after], [v for _, v in after])
    rss_values = [v for _, v in rss]
    step = max(1, len(rss) // 600)
    scrape_ms = [s["ms"] for s in scrapes]
    summary = {
        "seconds": args.seconds, "frames": report["frames"] if report else None, "fps": report["fps"] if report else None,
        "stop_reason": report["stop_reason"] if report else result.get("error"),
        "rss_start_mb": round(after[0][1], 1) if after else None, "rss_end_mb": round(rss_values[-1], 1) if rss else None,
        "rss_peak_mb": round(max(rss_values), 1) if rss else None,
        "rss_growth_mb_per_hour_after_warmup": round(growth, 2), "warmup_s": warm,
        "scrapes": len(scrapes), "scrape_ms_p50": round(float(np.percentile(scrape_ms, 50)), 2) if scrape_ms else None,
        "scrape_ms_max": round(max(scrape_ms), 2) if scrape_ms else None,
        "last_scraped_frames": scrapes[-1]["frames"] if scrapes else None,
        "saved_files_at_end": saved_files, "keep": args.keep, "log_json_lines": log_lines,
        "problems": problems, "scrapes_refused_at_shutdown": late_failures,
    }
    if args.trace:
        after_t = [(t, v) for t, v in traced if t >= warm] or traced
        summary["python_heap_growth_mb_per_hour_after_warmup"] = round(
            growth_per_hour([t for t, _ in after_t], [v for _, v in after_t]), 2)
    data = {
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "command": "python benchmarks/metrics_soak.py " + " ".join(sys.argv[1:]),
        "allocator_env": {k: os.environ[k] for k in ("PYTHONMALLOC", "MALLOC_ARENA_MAX") if k in os.environ},
        "model": str(model), "model_origin": model_origin, "threads": args.threads, "add_noise": args.add_noise,
        "summary": summary,
        "stages_ms": report["stages_ms"] if report else None,
        "saving": report["saving"] if report else None,
        "rss_mb": [[t, round(v, 2)] for t, v in rss[::step]],
        "scrapes": scrapes[:: max(1, len(scrapes) // 300)],
        **({"python_heap_mb": [[t, round(v, 3)] for t, v in traced[::step]], "python_growth_sites": result.get("python_growth_sites", [])}
           if args.trace else {}),
        "device": result.get("device"),
        "measured": "resident memory of the process that runs the loop and serves /metrics, read from /proc/PID/statm by this harness process (which also scrapes), so the harness's own samples do not count",
    }
    write_json_atomic(args.out, data)
    width = max(map(len, summary))
    for key, value in summary.items():  # a two-column table: the figures the docs quote
        print(f"{key:<{width}}  {json.dumps(value)}")
    print(f"wrote {args.out}")
    ok = report is not None and not problems and (not args.keep or saved_files <= args.keep)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
