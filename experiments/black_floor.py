"""What a black floor on the output buys a trained model, with no retraining: SSIM per noise row, as it is and with
values below each level set to black (train.layers.BlackFloor's function, applied to the model's output).

    .venv/bin/python experiments/black_floor.py MODEL [MODEL ...] --data DATA --split val \
        --levels 0,0.03,0.04,0.05,0.06,0.08 --out benchmarks/results/camnet_floor_trial/floor_levels_128.json

MODEL is a .keras or .tflite file (an int8 file's uint8 output is floored as it comes out). The rows are the noise
suite (`eval --suite`) and two Gaussian+JPEG parts of `blind_camera`, on the first --count images of --split at
--size (seed 2, as eval). A level is chosen on the validation split, so the test split stays unseen by the choice.
Writes JSON and prints a table.
"""

from __future__ import annotations

import argparse
import sys
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

EXTRA_ROWS = ("gaussian:0.05+jpeg:40", "gaussian:0.1+jpeg:70")


def floored(out: np.ndarray, level: float) -> np.ndarray:
    """``out`` through train.layers.BlackFloor at ``level``, the layer the shipped model ends in."""
    from train.layers import BlackFloor

    return np.asarray(BlackFloor(level)(out))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("models", nargs="+", type=Path, help=".keras or .tflite files")
    ap.add_argument("--data", required=True, help="a folder of images in the data set's layout")
    ap.add_argument("--split", default="val")
    ap.add_argument("--size", default="128", help="N or HEIGHTxWIDTH")
    ap.add_argument("--count", type=int, default=0, help="images (0: the whole split)")
    ap.add_argument("--levels", default="0,0.03,0.04,0.05,0.06,0.08")
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()

    from edge_runtime.atomic import write_json_atomic
    from edge_runtime.metrics import ssim
    from edge_runtime.noise import parse_noise
    from edge_runtime.sizes import parse_size
    from train.data import load_images, make_manifest
    from train.evaluate import EVAL_SUITE, load_denoiser, run_denoiser

    levels = [float(v) for v in args.levels.split(",")]
    hw = parse_size(args.size)
    files = make_manifest(args.data)["splits"][args.split]
    files = files[: args.count] if args.count else files
    clean = load_images(args.data, files, hw).astype(np.float32) / 255.0
    rows = list(EVAL_SUITE) + list(EXTRA_ROWS)
    results: dict[str, dict[str, dict[str, float]]] = {}
    print(f"{len(clean)} {args.split} images at {hw[0]}x{hw[1]}; SSIM at black floor " + " ".join(f"{v:g}" for v in levels))
    for model in args.models:
        denoiser = load_denoiser(model)
        results[str(model)] = {}
        for row in rows:
            noisy = parse_noise(row).apply(clean, np.random.default_rng(2))
            out = run_denoiser(denoiser, noisy)
            scores = {f"{v:g}": float(np.mean([ssim(c, o) for c, o in zip(clean, floored(out, v) if v else out)]))
                      for v in levels}
            results[str(model)][row] = scores
            print(f"{model.parent.name}/{model.name} {row:28s} " + " ".join(f"{s:.4f}" for s in scores.values()), flush=True)
    write_json_atomic(args.out, {"created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                                 "split": args.split, "size": list(hw), "count": len(clean), "levels": levels,
                                 "seed": 2, "results": results})
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
