"""Which output layer lets a blind fastnet learn? The same short training with four heads.

    .venv/bin/python experiments/output_heads.py --data DATA

Trains fastnet (scale 2, width 32, 4 blocks) on the blind mixture for ``--epochs`` on ``--max-images``
images per split, once per head, each in its own process, and records the last epoch's validation
SSIM and PSNR (from the run's history.csv). The head is swapped by replacing ``train.layers.ClipToUnit`` in the child before the
model is built: an experiment, not a model option.

- ``cliptounit``: the shipped head (ReLU floor with a dead gradient below 0, straight-through cap).
- ``relucap``: a ReLU capped at 1 (no gradient below 0 or above 1), the U-Net's head.
- ``linear``: no clip while training, a clip outside it.
- ``ste``: a clip going forward, an identity gradient on both sides.

Writes benchmarks/results/output_heads.json (or --out) and prints a table.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
HEADS = ("cliptounit", "relucap", "linear", "ste")

CHILD = r'''
import sys
import keras
from keras import ops
import train.layers

head = sys.argv[1]


class Head(keras.layers.Layer):
    def call(self, x, training=None):
        clipped = ops.clip(x, 0.0, 1.0)
        if head == "relucap":
            return ops.minimum(ops.relu(x), 1.0)
        if head == "linear":
            return x if training else clipped
        return x + ops.stop_gradient(clipped - x) if training else clipped  # ste


if head != "cliptounit":
    train.layers.ClipToUnit = Head
sys.argv = ["edge-denoise", *sys.argv[2:]]
from edge_denoise.cli import run
run()
'''


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", required=True, help="a folder of images in the data set's layout")
    ap.add_argument("--epochs", type=int, default=4)
    ap.add_argument("--max-images", type=int, default=300)
    ap.add_argument("--heads", nargs="+", default=list(HEADS), choices=HEADS)
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "output_heads.json"))
    args = ap.parse_args(argv)

    from rich.console import Console
    from rich.table import Table

    from edge_runtime.atomic import write_json_atomic

    console = Console()
    rows = []
    with tempfile.TemporaryDirectory(prefix="heads-") as tmp:
        for head in args.heads:
            run_dir = Path(tmp) / head
            cmd = [sys.executable, "-c", CHILD, head, "train", "--model", "fastnet", "--width", "32", "--blocks", "4",
                   "--scale", "2", "--noise", "blind", "--augment", "all", "--schedule", "cosine", "--epochs",
                   str(args.epochs), "--max-images", str(args.max_images), "--data", args.data, "--size", "128",
                   "--crop", "64", "--overwrite", "--out", str(run_dir)]
            console.print(f"training with the {head} head ...", highlight=False)
            proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
            history = run_dir / "history.csv"
            lines = history.read_text().splitlines() if history.is_file() else []
            if len(lines) < args.epochs + 1:
                console.print(f"[red]{head} failed[/]: {proc.stderr.strip()[-400:]}", highlight=False)
                rows.append({"head": head, "error": proc.stderr.strip()[-400:]})
                continue
            # Every epoch ran. The test-split score after training needs the saved model reloaded, which
            # the safe loader refuses for a swapped-in head (not a registered layer): that exit is expected.
            last = dict(zip(lines[0].split(","), lines[-1].split(",")))
            rows.append({"head": head, "epochs": len(lines) - 1, "val_ssim": float(last["val_ssim_metric"]),
                         "val_psnr_db": float(last["val_psnr_metric"]), "exit": proc.returncode})
    table = Table(title=f"fastnet s2 w32, blind, {args.epochs} epochs on {args.max_images} images: last validation epoch")
    for col in ("head", "val SSIM", "val PSNR dB"):
        table.add_column(col, justify="left" if col == "head" else "right")
    for r in rows:
        table.add_row(r["head"], f"{r['val_ssim']:.4f}" if "val_ssim" in r else "failed",
                      f"{r['val_psnr_db']:.2f}" if "val_psnr_db" in r else "")
    console.print(table)
    write_json_atomic(Path(args.out), {
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "command": "python experiments/output_heads.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "epochs": args.epochs, "max_images": args.max_images, "rows": rows})
    console.print(f"wrote {args.out}", highlight=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
