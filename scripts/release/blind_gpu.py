"""Blind-noise training on a GPU machine: train several blind denoisers side by side on one GPU within a time budget.

    KERAS_BACKEND=jax python3 scripts/release/blind_gpu.py --data DATA --out RUNS --minutes 7

For a lent GPU machine that has JAX but no TensorFlow (train/ runs on any Keras 3 backend: tf.data
gives way to a keras.utils.PyDataset and tf.image.ssim to train.losses.ssim_ops). Every variant is
``edge-denoise train`` with the same blind recipe (--noise blind --augment all --schedule cosine,
mix loss, 128x128 images); each runs in its own process with a share of the GPU's memory and stops
at --minutes keeping its best epoch (model.keras, history.csv, metrics.json as any run). The
.keras files then load, evaluate and convert with TensorFlow on a workstation (the layers are the
same on both backends; tests/test_backends.py). ``--only NAME`` runs one variant here, ``--list``
prints them.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

BLIND = {"noise": "blind", "augment": "all", "schedule": "cosine", "loss": "mix", "size": 128}
# name -> TrainConfig settings on top of BLIND
VARIANTS: dict[str, dict] = {
    "unet_u2w24_blind": {"model": "unet", "width": 24, "depth": 3, "unshuffle": 2},  # 20.4k MACs/px
    "unet_u2w32_blind": {"model": "unet", "width": 32, "depth": 3, "unshuffle": 2},  # 35.9k
    "fastnet2_blind_long": {"model": "fastnet", "width": 32, "blocks": 4, "scale": 2},  # 20.2k
    "unet_blind_scratch": {"model": "unet", "width": 24, "depth": 3},  # 79.3k, the training-stage U-Net
    # round 2 (--variants ... --epochs 300): fastnet2 was still improving after 100 epochs
    "fastnet2_blind_300": {"model": "fastnet", "width": 32, "blocks": 4, "scale": 2},  # 20.2k
    "fastnet2w40_blind_300": {"model": "fastnet", "width": 40, "blocks": 4, "scale": 2},  # 31.0k
    "fastnet4w64_blind_300": {"model": "fastnet", "width": 64, "blocks": 4, "scale": 4},  # 21.9k
    "unet_blind_scratch_150": {"model": "unet", "width": 24, "depth": 3, "epochs": 150},  # 79.3k
    # round 3, not run yet (--variants ROUND3 names --epochs 300): the shipped default's base run
    # (fastnet2w40_blind_300) was stopped at epoch 192 of its 300-epoch schedule while still rising, and 20
    # more quantization-aware epochs of the shipped model on 2 CPU cores (lr 5e-5 or 2e-4) moved its suite mean
    # by 0.0001 (benchmarks/results/fastnet_continued_cpu/). So: its recipe from scratch over the whole
    # schedule with the impulse stage and margin built in, beside a deeper, narrower fastnet of the same cost
    # (more receptive field for blur and heavy noise); either then fine-tunes --quant-aware as the shipped one did
    "fastnet2w40_ir_margin_300": {"model": "fastnet", "width": 40, "blocks": 4, "scale": 2, "impulse_reject": True,
                                  "background_margin": 0.03},  # 31.0k
    "fastnet2w32b6_ir_margin_300": {"model": "fastnet", "width": 32, "blocks": 6, "scale": 2, "impulse_reject": True,
                                    "background_margin": 0.03},  # 29.4k
}
ROUND1 = ("unet_u2w24_blind", "unet_u2w32_blind", "fastnet2_blind_long", "unet_blind_scratch")
ROUND3 = ("fastnet2w40_ir_margin_300", "fastnet2w32b6_ir_margin_300")


def time_limit(seconds: float):
    """A Keras callback that ends training after the epoch during which ``seconds`` ran out."""
    import keras

    class TimeLimit(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            self.t0 = time.monotonic()

        def on_epoch_end(self, epoch, logs=None):
            if time.monotonic() - self.t0 > seconds:
                print(f"time limit: stopping after epoch {epoch + 1}", flush=True)
                self.model.stop_training = True

    return TimeLimit()


def run_one(name: str, args) -> None:
    from train.config import TrainConfig
    from train.training import train

    settings = {"epochs": args.epochs, **BLIND, **VARIANTS[name]}
    config = TrainConfig(data=str(args.data), out=str(Path(args.out) / name),
                         batch_size=args.batch_size, max_images=args.max_images, **settings)
    t0 = time.monotonic()
    result = train(config, overwrite=True, callbacks=[time_limit(args.minutes * 60)], verbose=2)
    model = result.metrics.get("model", {})
    print(f"{name}: {time.monotonic() - t0:.0f} s, test SSIM {model.get('ssim_mean', float('nan')):.4f}", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, help="a folder of images in the data set's layout (required to train)")
    ap.add_argument("--out", type=Path, default=ROOT / "runs")
    ap.add_argument("--minutes", type=float, default=7.0, help="training time per variant (they run at once)")
    ap.add_argument("--epochs", type=int, default=80, help="the cosine schedule's length")
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--max-images", type=int)
    ap.add_argument("--only", choices=sorted(VARIANTS))
    ap.add_argument("--variants", default=",".join(ROUND1), help="comma-separated names to run side by side")
    ap.add_argument("--list", action="store_true")
    args = ap.parse_args()
    if args.list:
        for name, settings in VARIANTS.items():
            print(name, settings)
        return
    if args.data is None:
        ap.error("--data DIR is required: a folder of images in the Pistachio Image Dataset's layout")
    if args.only:
        run_one(args.only, args)
        return
    args.out.mkdir(parents=True, exist_ok=True)
    names = [n.strip() for n in args.variants.split(",") if n.strip()]
    unknown = [n for n in names if n not in VARIANTS]
    if unknown:
        sys.exit(f"--variants: unknown {', '.join(unknown)} (--list shows them)")
    env = {**os.environ, "XLA_PYTHON_CLIENT_MEM_FRACTION": f"{0.9 / len(names):.2f}", "PYTHONUNBUFFERED": "1"}
    argv = [sys.executable, __file__, "--data", str(args.data), "--out", str(args.out), "--minutes", str(args.minutes),
            "--epochs", str(args.epochs), "--batch-size", str(args.batch_size)]
    if args.max_images:
        argv += ["--max-images", str(args.max_images)]
    procs = {}
    for name in names:
        log = open(args.out / f"{name}.log", "w")
        procs[name] = subprocess.Popen([*argv, "--only", name], stdout=log, stderr=subprocess.STDOUT, env=env)
    failed = [name for name, p in procs.items() if p.wait() != 0]
    for name in names:
        lines = (args.out / f"{name}.log").read_text(errors="replace").strip().splitlines()
        print(f"{name}: {lines[-1] if lines else '(no output)'}")
    if failed:
        sys.exit(f"failed: {', '.join(failed)}")


if __name__ == "__main__":
    main()
