"""What `run`'s noise estimate costs per 640x480 frame, now and at an earlier commit, timed in turns.

    .venv/bin/python experiments/noise_estimate_cost.py --before dde5f7f \
        --out benchmarks/results/epyc/noise_estimate_cost.json

`run` estimates the noise of every 15th frame in the loop's own thread (edge_runtime.noise_level), so its time
divided by 15 is what each frame pays. Frames: the clip benchmarks/runtime_fps.py makes (the bundled photos
panned across a 640x480 frame). The earlier version is read with `git show COMMIT:edge_runtime/noise_level.py`;
each frame goes through both, in turns, five times. Needs the `edge` extra only.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--before", required=True, help="the commit whose estimate_noise to compare with")
    ap.add_argument("--frames", type=int, default=30)
    ap.add_argument("--passes", type=int, default=5)
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "noise_estimate_cost.json")
    args = ap.parse_args(argv)

    import cv2
    from runtime_fps import make_video

    from edge_runtime.atomic import write_json_atomic
    from edge_runtime.device_info import device_info
    from edge_runtime.noise_level import DEFAULT_EVERY, estimate_noise

    source = subprocess.run(["git", "show", f"{args.before}:edge_runtime/noise_level.py"], cwd=ROOT,
                            capture_output=True, text=True, check=True).stdout
    earlier: dict = {}
    exec(compile(source, f"{args.before}:edge_runtime/noise_level.py", "exec"), earlier)
    with tempfile.TemporaryDirectory() as tmp:
        capture = cv2.VideoCapture(str(make_video(Path(tmp) / "vga.mp4", frames=args.frames)))
        frames = []
        while (got := capture.read())[0]:
            frames.append(cv2.cvtColor(got[1], cv2.COLOR_BGR2RGB))
    versions = {args.before: earlier["estimate_noise"], "now": estimate_noise}
    times: dict = {name: [] for name in versions}
    for _ in range(args.passes):
        for frame in frames:
            for name, estimate in versions.items():
                t = time.perf_counter()
                estimate(frame)
                times[name].append(time.perf_counter() - t)
    rows = {name: {"p50_ms": 1000 * float(np.median(v)), "per_frame_ms": 1000 * float(np.median(v)) / DEFAULT_EVERY}
            for name, v in times.items()}
    for name, row in rows.items():
        print(f"{name:10s} {row['p50_ms']:.2f} ms per estimate, {row['per_frame_ms']:.3f} ms per frame (every {DEFAULT_EVERY}th)")
    write_json_atomic(args.out, {"question": __doc__.splitlines()[0], "command": " ".join(sys.argv),
                                 "when": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                                 "frames": len(frames), "passes": args.passes, "rows": rows, "device": device_info()})
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
