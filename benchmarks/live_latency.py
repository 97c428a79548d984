"""A live camera's frame age and frame rate through ``run``, per engine backend, on a simulated camera.

    .venv/bin/python benchmarks/live_latency.py edge_runtime/models/camnet_int8_480x640_u8io.tflite \\
        --fps 30 --seconds 20 --out benchmarks/results/live_latency_camnet_vga.json

No camera is needed: ``SimulatedCamera`` delivers frames on a fixed clock (``--fps``) into a driver
queue of ``--buffers`` slots, as V4L2 does (a frame that finds the queue full is lost), and its
``read()`` blocks until a frame is queued, like ``cv2.VideoCapture.read``. Each frame carries its
number in its first pixels, so the sink knows when it was exposed. The real loop (``run`` with a
``LiveSource`` and its capture thread) runs it once per backend, the backends in turns for
``--rounds`` rounds, and the script reports:

- **frame age**: from exposure to the denoised frame reaching the sink (p50, p90, max), what a
  conveyor's reject gate waits for;
- **output FPS**, and the frames the camera delivered that the loop never took;
- **other threads during invoke**: the share of its idle speed that a second Python thread keeps while
  the model runs, 1.0 where invoke releases the GIL (the capture thread then drains the camera
  during invoke) and near 0 where it holds it.

Writes the JSON (every frame's age included) and, beside it, a PNG of each backend's frame ages.
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
STAMP_PIXELS = 8  # the frame number, little-endian, one byte in each of the first 8 pixels' channels


class SimulatedCamera:
    """cv2.VideoCapture's ``read()``/``release()`` for a camera exposing a frame every 1/fps s."""

    def __init__(self, frame_bgr: np.ndarray, fps: float, buffers: int = 4, clock=time.perf_counter):
        self.frame, self.period, self.buffers, self.clock = frame_bgr, 1.0 / fps, buffers, clock
        self.t0 = clock()
        self.queue: list[int] = []
        self.arrived = 0  # frames exposed so far (queued or lost)
        self.lost = 0  # frames that found the driver queue full

    def exposed_at(self, index: int) -> float:
        return self.t0 + (index + 1) * self.period

    def _collect(self) -> None:
        due = int((self.clock() - self.t0) / self.period)
        while self.arrived < due:
            if len(self.queue) < self.buffers:
                self.queue.append(self.arrived)
            else:
                self.lost += 1
            self.arrived += 1

    def read(self) -> tuple[bool, np.ndarray]:
        self._collect()
        while not self.queue:
            time.sleep(max(self.exposed_at(self.arrived) - self.clock(), 0.0))
            self._collect()
        index = self.queue.pop(0)
        frame = self.frame.copy()
        frame.reshape(-1)[:STAMP_PIXELS] = np.frombuffer(index.to_bytes(STAMP_PIXELS, "little"), np.uint8)
        return True, frame

    def release(self) -> None:
        pass


def stamp_of(frame_rgb: np.ndarray) -> int:
    """The frame number written by ``SimulatedCamera`` (the capture's BGR->RGB swap moves bytes within a pixel)."""
    flat = frame_rgb.reshape(-1, 3)[: (STAMP_PIXELS + 2) // 3, ::-1].reshape(-1)[:STAMP_PIXELS]
    return int.from_bytes(flat.tobytes(), "little")


class AgeSink:
    """A sink that records each denoised frame's age, from its exposure to its arrival here."""

    wants_stop = False
    target = None

    def __init__(self, camera: SimulatedCamera):
        self.camera, self.ages_ms = camera, []

    def write(self, frame_rgb, noisy_rgb=None, status=None) -> None:
        now = self.camera.clock()
        self.ages_ms.append(1000.0 * (now - self.camera.exposed_at(stamp_of(noisy_rgb))))

    def stats(self) -> dict:
        return {}

    def close(self) -> None:
        pass

    def abort(self) -> None:
        pass


def others_share_during_invoke(engine, seconds: float = 0.3) -> float:
    """How much of its idle pace a second Python thread keeps while ``engine`` invokes back to back for
    ``seconds`` (1.0: invoke releases the GIL; a small model's share also counts the Python between invokes)."""
    counter, stop = [0], threading.Event()

    def spin() -> None:
        while not stop.is_set():
            counter[0] += 1

    thread = threading.Thread(target=spin, daemon=True)
    thread.start()
    time.sleep(0.2)
    n0, t0 = counter[0], time.perf_counter()
    time.sleep(0.3)  # the main thread sleeps: the spinner's own pace
    idle = (counter[0] - n0) / (time.perf_counter() - t0)
    n0, t0 = counter[0], time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        engine.invoke()
    busy = (counter[0] - n0) / (time.perf_counter() - t0)
    stop.set()
    thread.join()
    return busy / idle if idle else float("nan")


def one_run(model: Path, backend: str, frame_bgr: np.ndarray, args) -> dict:
    from edge_runtime.engine import load_engine
    from edge_runtime.pipeline import RunConfig, run
    from edge_runtime.sources import LiveSource

    engine = load_engine(model, threads=args.threads, backend=backend)
    engine.set_input_frame(np.zeros((*engine.input_hw, 3), np.uint8))
    for _ in range(3):
        engine.invoke()
    share = others_share_during_invoke(engine)
    camera = SimulatedCamera(frame_bgr, args.fps, args.buffers)
    source = LiveSource.from_capture("simulated://camera", camera, fps=args.fps)
    sink = AgeSink(camera)
    report = run(RunConfig(source="simulated://camera", model=str(model), threads=args.threads, backend=backend,
                           duration=args.seconds), source=source, engine=engine, sink=sink)
    source.close()
    ages = np.array(sink.ages_ms[args.warmup:])
    return {"requested": backend, "backend": engine.backend, "frames": report.frames, "fps": report.fps,
            "camera_frames": camera.arrived, "lost_in_driver": camera.lost, "dropped_by_grabber": report.dropped,
            "age_ms": {"p50": float(np.percentile(ages, 50)), "p90": float(np.percentile(ages, 90)),
                       "max": float(ages.max())},
            "invoke_p50_ms": report.stages_ms["invoke"]["p50_ms"], "capture_p50_ms": report.stages_ms["capture"]["p50_ms"],
            "others_share_during_invoke": share, "ages_ms": [round(a, 2) for a in ages.tolist()]}


def plot_ages(rows: list[dict], title: str, path: Path) -> None:
    """Each backend's frame ages (all rounds) as a histogram, its invoke p50 as a dashed line; written atomically."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from edge_runtime.atomic import atomic_path

    fig, ax = plt.subplots(figsize=(7, 3.6))
    backends = list(dict.fromkeys(r["backend"] for r in rows))
    top = max(max(r["ages_ms"]) for r in rows)
    bins = np.linspace(0, top * 1.02, 60)
    for backend, color in zip(backends, ("tab:red", "tab:blue", "tab:green", "tab:orange")):
        mine = [r for r in rows if r["backend"] == backend]
        ages = np.concatenate([r["ages_ms"] for r in mine])
        invoke = float(np.median([r["invoke_p50_ms"] for r in mine]))
        ax.hist(ages, bins=bins, histtype="step", lw=1.5, color=color,
                label=f"{backend}: p50 {np.percentile(ages, 50):.1f} ms, p90 {np.percentile(ages, 90):.1f} ms")
        ax.axvline(invoke, color=color, ls="--", lw=1, alpha=0.7)
    ax.set_xlabel("frame age at the sink, ms from exposure (dashed: invoke p50)")
    ax.set_ylabel("frames")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=120, bbox_inches="tight", format="png")
    plt.close(fig)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model", type=Path)
    ap.add_argument("--backends", nargs="+", default=["compiled", "interpreter"])
    ap.add_argument("--fps", type=float, default=30.0, help="the simulated camera's frame rate")
    ap.add_argument("--buffers", type=int, default=4, help="driver queue slots (V4L2 through OpenCV: 4)")
    ap.add_argument("--seconds", type=float, default=20.0, help="length of each run")
    ap.add_argument("--rounds", type=int, default=3, help="runs per backend, the backends in turns")
    ap.add_argument("--warmup", type=int, default=10, help="frames left out of the age figures")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "live_latency.json")
    args = ap.parse_args(argv)
    import cv2

    from edge_runtime.atomic import write_json_atomic
    from edge_runtime.device_info import device_info
    from edge_runtime.engine import load_engine
    from edge_runtime.sources import open_source

    demo = open_source("demo://")
    frame_rgb = demo.read()
    demo.close()
    h, w = load_engine(args.model, threads=args.threads).input_hw  # the camera delivers frames of the model's size
    frame_bgr = cv2.cvtColor(cv2.resize(frame_rgb, (w, h), interpolation=cv2.INTER_AREA), cv2.COLOR_RGB2BGR)
    rows = []
    for r in range(args.rounds):
        for backend in args.backends:
            row = one_run(args.model, backend, frame_bgr, args)
            row["round"] = r
            rows.append(row)
            print(f"round {r} {backend:12s} {row['fps']:5.1f} FPS  age p50 {row['age_ms']['p50']:5.1f} "
                  f"p90 {row['age_ms']['p90']:5.1f} ms  invoke p50 {row['invoke_p50_ms']:5.1f} ms  "
                  f"other threads during invoke {row['others_share_during_invoke']:.2f}", flush=True)
    summary = {}
    for backend in args.backends:
        mine = [r for r in rows if r["requested"] == backend]
        summary[backend] = {k: float(np.median([m[k] if not isinstance(m[k], dict) else m[k]["p50"] for m in mine]))
                            for k in ("fps", "age_ms", "invoke_p50_ms", "others_share_during_invoke")}
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"simulated {args.fps:g} FPS camera, {args.buffers} driver buffers, {args.seconds:g} s x "
                        f"{args.rounds} rounds, {args.threads} threads (medians of rounds)")
    for col in ("backend", "output FPS", "frame age p50 ms", "invoke p50 ms", "other threads during invoke"):
        table.add_column(col, justify="left" if col == "backend" else "right")
    for backend, s in summary.items():
        table.add_row(backend, f"{s['fps']:.1f}", f"{s['age_ms']:.1f}", f"{s['invoke_p50_ms']:.1f}",
                      f"{s['others_share_during_invoke']:.2f}")
    Console().print(table)
    picture = args.out.with_suffix(".png")
    plot_ages(rows, f"{args.model.name}: simulated {args.fps:g} FPS camera, {args.rounds} x {args.seconds:g} s per backend",
              picture)
    write_json_atomic(args.out, {
        "question": "Does the engine backend hold the GIL during invoke, and what does that cost a live camera's frames?",
        "when": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "command": "python benchmarks/live_latency.py " + " ".join(sys.argv[1:] if argv is None else argv),
        "model": str(args.model), "camera": {"fps": args.fps, "buffers": args.buffers}, "seconds": args.seconds,
        "threads": args.threads, "summary": summary, "rows": rows, "device": device_info()})
    print(f"wrote {args.out} and {picture.name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
