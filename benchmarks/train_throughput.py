"""Training throughput: images per second of each recipe, and where a step's time goes.

    .venv/bin/python benchmarks/train_throughput.py --steps 30 \
        --out benchmarks/results/train_throughput.json

For each recipe (a TrainConfig: model, crops, batch, precision, noise) it measures, in one process:

- noise:    making one batch (crop, augment, noise) with numpy on one thread, as tf.data does per call;
- step:     one optimizer step on batches made beforehand (the model and the CPU alone);
- pipeline: ``model.fit`` over the real training dataset (tf.data, parallel noise, prefetch), which is
            what a training run gets; its images/s is the headline.

The share of the pipeline's time that the step alone would take says how much data and noise cost
(with noise made on parallel threads, both cores are shared between it and the step). The images are
the bundled samples resized to --size (speed does not depend on what they show), or --data.
Rows are timed one after another: run it on an idle machine. TensorFlow's oneDNN kernels are on or off
as TF_ENABLE_ONEDNN_OPTS says when the process starts (the JSON records it); compare the two by running
it twice, e.g. ``TF_ENABLE_ONEDNN_OPTS=0 ... --out .../train_throughput_onednn_off.json``.
"""

from __future__ import annotations

import argparse
import os
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]

# today's fastnet recipe (the shipped default's, scripts/release/) against camnet's (scripts/release/train_camnet.sh)
RECIPES = {
    "fastnet (shipped recipe)": dict(model="fastnet", width=40, scale=2, blocks=4, impulse_reject=True,
                                     quant_aware=True, background_margin=0.03, crop=64, batch_size=32,
                                     noise="blind", augment="all"),
    "camnet float32": dict(model="camnet", width=24, impulse_reject=True, background_margin=0.03, crop=64,
                           batch_size=32, noise="blind_camera", augment="all"),
    "camnet bfloat16": dict(model="camnet", width=24, impulse_reject=True, background_margin=0.03, crop=64,
                            batch_size=32, noise="blind_camera", augment="all", precision="bfloat16"),
    # the default's recipe as shipped: the full-resolution stage, float, then quantization-aware
    "camnet --full-res 12": dict(model="camnet", width=24, full_res=12, impulse_reject=True, background_margin=0.03,
                                 crop=64, batch_size=32, noise="blind_camera", augment="all"),
    "camnet --full-res 12 bfloat16": dict(model="camnet", width=24, full_res=12, impulse_reject=True,
                                          background_margin=0.03, crop=64, batch_size=32, noise="blind_camera",
                                          augment="all", precision="bfloat16"),
    "camnet --full-res 12 --quant-aware": dict(model="camnet", width=24, full_res=12, impulse_reject=True,
                                               background_margin=0.03, crop=64, batch_size=32, noise="blind_camera",
                                               augment="all", quant_aware=True),
}


def load_clean(data: Path | None, size: int, count: int) -> np.ndarray:
    from edge_runtime.images import read_image_rgb

    import cv2

    folder = data or ROOT / "edge_runtime" / "samples"
    files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in (".jpg", ".jpeg", ".png"))[:count]
    images = [cv2.resize(read_image_rgb(p), (size, size), interpolation=cv2.INTER_AREA) for p in files]
    reps = -(-count // len(images))
    return np.stack((images * reps)[:count])


def measure(name: str, recipe: dict, clean: np.ndarray, steps: int, size: int) -> dict:
    import keras

    from edge_runtime.noise import parse_noise
    from train.config import TrainConfig
    from train.data import corrupt_batch, parse_augment, train_dataset
    from train.training import compiled_model

    config = TrainConfig(size=size, **recipe)
    spec, augment = parse_noise(config.noise), parse_augment(config.augment)
    batch = config.batch_size
    rng = np.random.default_rng(0)
    t0 = time.perf_counter()
    batches = [corrupt_batch(clean[i * batch % len(clean):][:batch], spec, rng, augment, config.crop) for i in range(8)]
    noise_ms = (time.perf_counter() - t0) / len(batches) * 1e3

    keras.utils.set_random_seed(0)
    model, _ = compiled_model(config, steps_per_epoch=steps)
    for noisy, target in batches[:2]:  # compile and warm up
        model.train_on_batch(noisy, target)
    t0 = time.perf_counter()
    for i in range(steps):
        noisy, target = batches[i % len(batches)]
        model.train_on_batch(noisy, target)
    step_ms = (time.perf_counter() - t0) / steps * 1e3

    ds = train_dataset(clean, spec, batch, 0, augment=augment, crop=config.crop).repeat()
    model.fit(ds, steps_per_epoch=3, epochs=1, verbose=0)  # warm up the input pipeline
    t0 = time.perf_counter()
    model.fit(ds, steps_per_epoch=steps, epochs=1, verbose=0)
    pipeline_ms = (time.perf_counter() - t0) / steps * 1e3
    side = config.crop or size
    return {
        "recipe": name, "config": {k: v for k, v in config.to_dict().items() if k in recipe or k == "size"},
        "pixels_per_image": side * side, "batch": batch,
        "noise_ms_per_batch": round(noise_ms, 1), "step_ms": round(step_ms, 1), "pipeline_ms_per_step": round(pipeline_ms, 1),
        "images_per_s": round(batch / pipeline_ms * 1e3, 1), "step_images_per_s": round(batch / step_ms * 1e3, 1),
        "megapixels_per_s": round(batch * side * side / pipeline_ms / 1e3, 2),
        "step_share": round(step_ms / pipeline_ms, 3),
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=30, help="timed steps per measurement")
    ap.add_argument("--size", type=int, default=128, help="training image side (recipes without --crop use it whole)")
    ap.add_argument("--images", type=int, default=256)
    ap.add_argument("--data", type=Path, default=None, help="a folder of images (default: the bundled samples)")
    ap.add_argument("--recipe", action="append", choices=list(RECIPES), help="repeat to pick; default: all")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "train_throughput.json")
    args = ap.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

    from rich.console import Console
    from rich.table import Table

    from edge_runtime.atomic import write_json_atomic
    from edge_runtime.device_info import cpu_flags, cpu_model

    clean = load_clean(args.data, args.size, args.images)
    rows = []
    for name in args.recipe or list(RECIPES):
        rows.append(measure(name, RECIPES[name], clean, args.steps, args.size))
        print(f"{name}: {rows[-1]['images_per_s']} images/s", flush=True)
    base = rows[0]["megapixels_per_s"]
    for row in rows:
        row["pixel_speedup_vs_first"] = round(row["megapixels_per_s"] / base, 2)
    table = Table(title=f"training throughput, {args.steps} steps per row")
    for col in ("recipe", "images/s", "Mpx/s", "vs first (px)", "step ms", "noise ms/batch", "step share"):
        table.add_column(col, justify="left" if col == "recipe" else "right")
    for r in rows:
        table.add_row(r["recipe"], f"{r['images_per_s']}", f"{r['megapixels_per_s']}", f"{r['pixel_speedup_vs_first']}x",
                      f"{r['step_ms']}", f"{r['noise_ms_per_batch']}", f"{r['step_share']:.0%}")
    Console().print(table)
    write_json_atomic(args.out, {"created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                                 "cpu": cpu_model(), "cpu_flags": cpu_flags(), "cores": os.cpu_count(),
                                 "tf_enable_onednn_opts": os.environ.get("TF_ENABLE_ONEDNN_OPTS", "unset (on)"),
                                 "steps": args.steps, "size": args.size, "rows": rows})
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
