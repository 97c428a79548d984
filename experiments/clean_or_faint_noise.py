"""Can one number per frame tell a clean frame from faint camera noise?

    .venv/bin/python experiments/clean_or_faint_noise.py --data DATA \
        --out benchmarks/results/camnet_level_trials/clean_or_faint_noise.json

camnet scores below the median filter on salt-and-pepper because it smooths what the impulse stage leaves, a
nearly clean frame, as it smooths any clean frame. A per-frame noise level (camnet's --level-input: the finest
diagonal Haar band, averaged) could let such frames through, if it told them from frames the network must
still clean. For each noise this reads that level on validation images at 128x128 (after the impulse stage, as
camnet sees them) and counts the frames that read as clean (below the 95th percentile of clean frames). It also
scores the impulse stage alone and the 3x3 median filter on salt-and-pepper, and the noisy input of each noise,
to show what letting frames through would win and lose. Prints a table and writes JSON.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
NOISES = ("gaussian:0", "saltpepper:0.05", "gaussian:0.005", "gaussian:0.01", "gaussian:0.02", "gaussian:0.05",
          "camera:1", "camera:4", "camera:16+jpeg:70", "jpeg:70", "poisson:100", "motionblur:9")
THRESHOLD = 0.1  # the impulse stage's threshold in the --level-input trials


def band_level(images: np.ndarray) -> np.ndarray:
    """Per image: the mean |a - b - c + d| / 2 over every 2x2 block and colour (camnet's level, unscaled)."""
    a, b = images[:, 0::2, 0::2], images[:, 0::2, 1::2]
    c, d = images[:, 1::2, 0::2], images[:, 1::2, 1::2]
    return np.abs(a - b - c + d).mean(axis=(1, 2, 3)) / 2.0


def mean_ssim(clean: np.ndarray, images: np.ndarray) -> float:
    from skimage.metrics import structural_similarity

    return float(np.mean([structural_similarity(c, x, channel_axis=-1, data_range=1.0) for c, x in zip(clean, images)]))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", required=True, help="the Pistachio Image Dataset")
    ap.add_argument("--count", type=int, default=100, help="validation images")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "camnet_level_trials" / "clean_or_faint_noise.json")
    args = ap.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import cv2

    from edge_runtime.atomic import write_json_atomic
    from edge_runtime.noise import parse_noise
    from train.data import load_images, make_manifest
    from train.layers import ImpulseReject

    files = make_manifest(args.data)["splits"]["val"][: args.count]
    clean = load_images(args.data, files, 128).astype(np.float32) / 255.0
    stage = ImpulseReject(THRESHOLD)
    levels, rows = {}, []
    for noise in NOISES:
        noisy = parse_noise(noise).apply(clean, np.random.default_rng(2)).astype(np.float32)
        levels[noise] = band_level(np.asarray(stage(noisy)))
        rows.append({"noise": noise, "noisy_input_ssim": mean_ssim(clean, noisy)})
    clean_p95 = float(np.percentile(levels["gaussian:0"], 95))
    print(f"{'noise':20} {'level p5':>9} {'median':>8} {'p95':>8} {'read as clean':>14} {'input SSIM':>11}")
    for row in rows:
        values = levels[row["noise"]]
        row.update(level_p5=float(np.percentile(values, 5)), level_median=float(np.median(values)),
                   level_p95=float(np.percentile(values, 95)), read_as_clean=float(np.mean(values <= clean_p95)))
        print(f"{row['noise']:20} {row['level_p5']:9.4f} {row['level_median']:8.4f} {row['level_p95']:8.4f} "
              f"{row['read_as_clean']:14.2f} {row['noisy_input_ssim']:11.4f}")
    noisy = parse_noise("saltpepper:0.05").apply(clean, np.random.default_rng(2)).astype(np.float32)
    median = np.stack([cv2.medianBlur(np.round(x * 255).astype(np.uint8), 3) for x in noisy]).astype(np.float32) / 255.0
    saltpepper = {"impulse_stage_alone": mean_ssim(clean, np.asarray(stage(noisy))), "median_3x3": mean_ssim(clean, median)}
    print(f"saltpepper:0.05: impulse stage alone (threshold {THRESHOLD}) {saltpepper['impulse_stage_alone']:.4f}, "
          f"3x3 median {saltpepper['median_3x3']:.4f}")
    write_json_atomic(args.out, {"question": __doc__.splitlines()[0], "split": "val", "count": len(clean), "size": 128,
                                 "impulse_threshold": THRESHOLD, "clean_p95": clean_p95, "rows": rows,
                                 "saltpepper_0.05": saltpepper})
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
