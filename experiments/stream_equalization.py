"""Does equalizing fastnet's residual stream per channel cut its int8 loss? (An experiment; not in convert.)

    .venv/bin/python experiments/stream_equalization.py --data DATA train/pretrained/fastnet/model.keras --size 640 \
        --save runs/fastnet_equalized --out benchmarks/results/stream_equalization_640.json

int8 gives each tensor one range, so in the residual stream (the stem, every block's second conv and
addition, which experiments/int8_layers.py finds costs most) a channel that spans a fifth of the widest
one gets a fifth of the 256 levels. Cross-layer equalization (Nagel et al., "Data-Free Quantization",
2019) rescales each stream channel by s > 0 and divides the weights that read it (every block's first
conv and the head) by s: the float model is unchanged (the stem's ReLU commutes with s > 0), and a
narrow channel scaled up gets more of its tensor's levels. One s per channel serves every stream
tensor, so s is the largest (at least 1, at most --cap) that keeps the channel's --percentile inside
each stream tensor's trained range, which stays as training set it.

Scores, on --count test images with blind noise (seed 2), the float model and int8 simulated in Keras
(every FakeQuant on) before and after; writes JSON, and with --save the equalized model as a run
folder for `edge-denoise convert`.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

STREAM = ["stem"] + [f"block{i}_{k}" for i in range(4) for k in ("conv2", "add")]


def stream_scales(model, images: np.ndarray, percentile: float, cap: float) -> np.ndarray:
    """Per stream channel, the largest scale in [1, cap] that keeps it inside every stream tensor's trained range."""
    import keras

    probe = keras.Model(model.input, [model.get_layer(n).output for n in STREAM])
    pos = {n: 0.0 for n in STREAM}
    neg = {n: 0.0 for n in STREAM}
    for i in range(0, len(images), 2):
        for n, a in zip(STREAM, probe(images[i:i + 2])):
            a = np.asarray(a).reshape(-1, a.shape[-1])
            pos[n] = np.maximum(pos[n], np.percentile(np.maximum(a, 0), percentile, axis=0))
            neg[n] = np.maximum(neg[n], np.percentile(np.maximum(-a, 0), percentile, axis=0))
    scales = np.full(np.shape(pos["stem"]), cap)
    for n in STREAM:
        low, high = (float(w) for w in model.get_layer(f"{n}_fq").get_weights()[:2])
        scales = np.minimum(scales, high / np.maximum(pos[n], 1e-6))
        if low < 0:
            scales = np.minimum(scales, -low / np.maximum(neg[n], 1e-6))
    return np.maximum(scales, 1.0)


def equalize(model, scales: np.ndarray) -> None:
    """Scale the stream's channels by ``scales`` and divide the weights that read the stream by them (float-exact)."""
    def rescale(name: str, out: bool):
        kernel, bias = model.get_layer(name).get_weights()
        if out:
            model.get_layer(name).set_weights([kernel * scales, bias * scales])
        else:
            model.get_layer(name).set_weights([kernel / scales[None, None, :, None], bias])

    rescale("stem", out=True)
    for i in range(sum(1 for layer in model.layers if layer.name.endswith("_conv2"))):
        rescale(f"block{i}_conv1", out=False)
        rescale(f"block{i}_conv2", out=True)
    rescale("head", out=False)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model", type=Path, help="a quant-aware fastnet's model.keras (e.g. train/pretrained/fastnet)")
    ap.add_argument("--data", required=True, help="a folder of images in the data set's layout")
    ap.add_argument("--size", type=int, default=640)
    ap.add_argument("--count", type=int, default=16)
    ap.add_argument("--percentile", type=float, default=99.9)
    ap.add_argument("--cap", type=float, default=8.0)
    ap.add_argument("--save", type=Path, help="write the equalized model here as a run folder")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "stream_equalization.json")
    args = ap.parse_args(argv)

    from skimage.metrics import structural_similarity

    from convert.calibration import load_clean
    from convert.fixed_shape import fixed_shape_model
    from edge_runtime.atomic import write_json_atomic
    from edge_runtime.noise import add_noise
    from train.data import make_manifest
    from train.evaluate import load_keras_model
    from train.layers import fake_quant_at_inference

    splits = make_manifest(args.data)["splits"]
    size = (args.size, args.size)

    def noisy(clean, seed):
        rng = np.random.default_rng(seed)
        return np.stack([add_noise(c, "blind", rng) for c in clean]).astype(np.float32)

    calib = noisy(load_clean(Path(args.data), splits["train"], size, args.count) / np.float32(255), 0)
    test_clean = load_clean(Path(args.data), splits["test"], size, args.count) / np.float32(255)
    test = noisy(test_clean, 2)

    def score(model, int8: bool) -> float:
        fake_quant_at_inference(model, int8)
        out = np.concatenate([np.asarray(model(test[i:i + 2])) for i in range(0, len(test), 2)])
        fake_quant_at_inference(model, False)
        return float(np.mean([structural_similarity(c, np.clip(o, 0, 1), channel_axis=-1, data_range=1.0)
                              for c, o in zip(test_clean, out)]))

    full = load_keras_model(args.model)
    fixed = fixed_shape_model(full, size)
    before = {"float": score(fixed, False), "int8_simulated": score(fixed, True)}
    scales = stream_scales(fixed, calib, args.percentile, args.cap)
    equalize(fixed, scales)
    equalize(full, scales)  # the fixed-shape clone has weights of its own
    after = {"float": score(fixed, False), "int8_simulated": score(fixed, True)}
    for d in (before, after):
        d["drop"] = d["float"] - d["int8_simulated"]
    print(f"scales {scales.min():.2f} .. {np.median(scales):.2f} (median) .. {scales.max():.2f}")
    print(f"before: float {before['float']:.4f}, int8 simulated {before['int8_simulated']:.4f} (drop {before['drop']:.4f})")
    print(f"after:  float {after['float']:.4f}, int8 simulated {after['int8_simulated']:.4f} (drop {after['drop']:.4f})")
    if args.save:
        args.save.mkdir(parents=True, exist_ok=True)
        full.save(args.save / "model.keras")
        if (args.model.parent / "config.json").exists():
            shutil.copy(args.model.parent / "config.json", args.save / "config.json")
    write_json_atomic(args.out, {"model": str(args.model), "size": args.size, "images": args.count, "noise": "blind",
                                 "percentile": args.percentile, "cap": args.cap, "scales": [round(float(s), 4) for s in scales],
                                 "before": before, "after": after})
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
