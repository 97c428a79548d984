"""Does decoding the next frame in a thread (``sources.ReadAhead``) bring `run`'s loop closer to invoke alone?

    .venv/bin/python experiments/read_ahead.py --model edge_runtime/models/camnet_int8_480x640_u8io.tflite \
        --rounds 5 --out benchmarks/results/read_ahead.json

The same 640x480 clip as benchmarks/runtime_fps.py goes through `run` twice per round, once from the plain
video source (each frame decoded after the previous invoke) and once read ahead, then the engine runs alone
as many invokes: all three in turns, so that a slow spell of a shared machine hits each alike. Reports each
loop's FPS and its ratio to invoke alone, median over rounds, and writes JSON. Needs the `edge` extra only.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=str(ROOT / "edge_runtime" / "models" / "camnet_int8_480x640_u8io.tflite"))
    ap.add_argument("--frames", type=int, default=120)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "read_ahead.json")
    args = ap.parse_args(argv)

    import cv2
    from rich.console import Console
    from rich.table import Table
    from runtime_fps import invoke_only_fps, make_video_elsewhere

    from edge_runtime.atomic import write_json_atomic
    from edge_runtime.device_info import device_info
    from edge_runtime.engine import load_engine
    from edge_runtime.pipeline import RunConfig, run
    from edge_runtime.sources import VideoFileSource, open_source

    rounds = []
    with tempfile.TemporaryDirectory() as tmp:
        video = make_video_elsewhere(Path(tmp) / "vga.mp4", (640, 480), args.frames)
        engine = load_engine(args.model, threads=args.threads)
        config = RunConfig(source=str(video), model=args.model, threads=args.threads, tile=False)
        for i in range(args.rounds):
            plain = run(config, engine=engine, source=VideoFileSource(str(video), cv2.VideoCapture(str(video))))
            ahead = run(config, engine=engine, source=open_source(str(video)))
            alone = invoke_only_fps(engine, args.frames)
            row = {"plain_fps": plain.fps, "read_ahead_fps": ahead.fps, "invoke_only_fps": alone["fps"],
                   "plain_ratio": plain.fps / alone["fps"], "read_ahead_ratio": ahead.fps / alone["fps"],
                   "plain_invoke_p50_ms": plain.stages_ms["invoke"]["p50_ms"],
                   "read_ahead_invoke_p50_ms": ahead.stages_ms["invoke"]["p50_ms"],
                   "plain_capture_p50_ms": plain.stages_ms["capture"]["p50_ms"],
                   "read_ahead_capture_p50_ms": ahead.stages_ms["capture"]["p50_ms"]}
            rounds.append(row)
            print(f"round {i}: plain {plain.fps:.1f} FPS, read ahead {ahead.fps:.1f}, invoke alone {alone['fps']:.1f}")
    keys = rounds[0].keys()
    median = {k: float(np.median([r[k] for r in rounds])) for k in keys}
    table = Table(title=f"{Path(args.model).name}, 640x480 clip of {args.frames} frames, {args.rounds} rounds in turns")
    for column in ("source", "FPS", "/ invoke alone (range)", "capture p50 ms", "invoke p50 ms"):
        table.add_column(column, justify="left" if column == "source" else "right")
    for name, key in (("plain", "plain"), ("read ahead", "read_ahead")):
        ratios = sorted(r[f"{key}_ratio"] for r in rounds)
        table.add_row(name, f"{median[f'{key}_fps']:.1f}", f"{median[f'{key}_ratio']:.3f} ({ratios[0]:.2f}-{ratios[-1]:.2f})",
                      f"{median[f'{key}_capture_p50_ms']:.2f}", f"{median[f'{key}_invoke_p50_ms']:.2f}")
    table.add_row("invoke alone", f"{median['invoke_only_fps']:.1f}", "", "", "")
    Console().print(table)
    write_json_atomic(args.out, {"question": __doc__.splitlines()[0], "command": " ".join(sys.argv),
                                 "when": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                                 "model": args.model, "rounds": rounds, "median": median, "device": device_info()})
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
