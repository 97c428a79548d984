"""What a switching median in front of a trained model buys, per suite row, and at which threshold.

    .venv/bin/python experiments/impulse_stage.py runs/fastnet2w40_margin03_qat2/model.keras \
        --data DATA --thresholds 0.2,0.3,0.4,0.5,0.6

Scores the model alone, then ``train.layers.ImpulseReject(threshold)`` followed by the same model
(no retraining), and the stage alone, on the noise suite of ``eval --suite`` (the same noisy images
for every row: seed 2). The images are the run's validation split, so the threshold is chosen on
images neither the training nor the test split scores. Also counts the fraction of values the stage
replaced. Writes benchmarks/results/impulse_stage.json (or --out) and prints a table.
"""

from __future__ import annotations

import argparse
import sys
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model", help="a trained .keras model")
    ap.add_argument("--data", required=True, help="a folder of images in the data set's layout")
    ap.add_argument("--split-manifest", help="default: the manifest.json next to the model")
    ap.add_argument("--split", default="val")
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--thresholds", default="0.2,0.3,0.4,0.5,0.6")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/impulse_stage.json")
    args = ap.parse_args(argv)

    import keras
    from rich.console import Console
    from rich.table import Table

    from edge_runtime.atomic import write_json_atomic
    from edge_runtime.metrics import score
    from edge_runtime.noise import parse_noise
    from train.data import LoadReport, load_images, read_manifest
    from train.evaluate import EVAL_SUITE, load_denoiser, run_denoiser
    from train.layers import ImpulseReject

    manifest = read_manifest(args.split_manifest or Path(args.model).parent / "manifest.json")
    clean = load_images(Path(args.data), manifest["splits"][args.split], args.size, LoadReport()).astype(np.float32) / 255
    model = load_denoiser(args.model)  # pads sides that are not a multiple of the model's
    thresholds = [float(t) for t in args.thresholds.split(",")]
    noisy = {spec: parse_noise(spec).apply(clean, np.random.default_rng(2)) for spec in EVAL_SUITE}
    console = Console(width=160)

    rows = []
    for t in [None, *thresholds]:
        stage = None if t is None else ImpulseReject(t)
        for spec, x in noisy.items():
            row = {"threshold": t, "noise": spec}
            if stage is None:
                row["model"] = score(clean, run_denoiser(model, x)).ssim_mean
            else:
                staged = np.asarray(stage(x))
                row["replaced"] = float((staged != x).mean())
                row["stage_alone"] = score(clean, np.clip(staged, 0, 1)).ssim_mean
                row["model"] = score(clean, run_denoiser(model, staged)).ssim_mean
            rows.append(row)
            console.print(row)
    off = {r["noise"]: r["model"] for r in rows if r["threshold"] is None}
    table = Table(title=f"{args.model}: SSIM on {len(clean)} {args.split} images at {args.size}, "
                        "model alone and after ImpulseReject(threshold)")
    table.add_column("noise")
    table.add_column("model")
    for t in thresholds:
        table.add_column(f"t={t:g}")
    for spec in EVAL_SUITE:
        cells = [f"{r['model']:.4f} ({r['model'] - off[spec]:+.4f})" for r in rows
                 if r["noise"] == spec and r["threshold"] is not None]
        table.add_row(spec, f"{off[spec]:.4f}", *cells)
    console.print(table)
    write_json_atomic(args.out, {
        "when": datetime.now(timezone.utc).isoformat(timespec="seconds"), "model": args.model,
        "split": args.split, "count": int(len(clean)), "size": args.size, "seed": 2,
        "keras": keras.__version__, "rows": rows,
    })
    console.print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
