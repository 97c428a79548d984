"""Does a gain folded into camnet's full-resolution conv cut what its int8 file loses at the last merge?

    .venv/bin/python experiments/camnet_merge_gain.py train/pretrained/camnet/model.keras --data DATA \
        --fills 0 0.55 0.8 0.9 0.95 --out benchmarks/results/camnet_merge_gain.json

TFLite gives a tensor one scale. camnet's last merge concatenates the decoder's features (ReLU6, range 0-6)
with the full-resolution conv's (range 0-1.6 in the shipped model), so the latter are rounded on a grid
3.7x coarser than their own; `experiments/int8_layers.py` puts most of the model's simulated int8 loss there.
The same float model can carry those features g times larger (train.camnet.balance_full_res, which convert
applies: g makes their trained range fill a given share of the merge's). This scores the quantization-aware
model with int8 rounding simulated on every tensor (trained ranges, as convert exports them) for each share
(0: unchanged), on the first --count test images under each --noise (seed 2, as eval and the gate),
against the float model. Prints a table and writes JSON.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model", type=Path, help="a quantization-aware camnet with --full-res (model.keras)")
    ap.add_argument("--data", required=True, help="the Pistachio Image Dataset")
    ap.add_argument("--fills", type=float, nargs="+", default=[0.0, 0.55, 0.8, 0.9, 0.95],
                    help="shares of the merge's range for the full-resolution features (0: unchanged)")
    ap.add_argument("--noise", nargs="+", default=["gaussian:0.2", "blind_camera"])
    ap.add_argument("--count", type=int, default=64)
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "camnet_merge_gain.json")
    args = ap.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    from skimage.metrics import structural_similarity

    from convert.fixed_shape import fixed_shape_model
    from edge_runtime.atomic import write_json_atomic
    from edge_runtime.noise import parse_noise
    from train.camnet import balance_full_res
    from train.data import load_images, make_manifest
    from train.evaluate import load_keras_model
    from train.layers import fake_quant_at_inference

    clean = load_images(args.data, make_manifest(args.data)["splits"]["test"][: args.count], 128).astype(np.float32) / 255.0
    noisy = {noise: parse_noise(noise).apply(clean, np.random.default_rng(2)) for noise in args.noise}

    def score(model, images, rounded: bool) -> float:
        fake_quant_at_inference(model, rounded)  # as convert exports it
        model.predict_function = None  # the flag is read when predict is traced
        out = model.predict(images, batch_size=16, verbose=0)
        return float(np.mean([structural_similarity(c, o, data_range=1.0, channel_axis=-1) for c, o in zip(clean, out)]))

    rows = []
    print(f"{'gain':>5} {'noise':14} {'float':>7} {'int8 (simulated)':>17} {'drop':>7} {'full range':>11}")
    for fill in args.fills:
        model = fixed_shape_model(load_keras_model(args.model), (128, 128))
        gain = (balance_full_res(model, fill) if fill > 0 else None) or 1.0
        fq = model.get_layer("full_fq")
        for noise, images in noisy.items():
            base, rounded = score(model, images, False), score(model, images, True)
            rows.append({"fill": fill, "gain": gain, "noise": noise, "float_ssim": base, "int8_ssim": rounded, "drop": base - rounded,
                         "full_range": [float(fq.low.numpy()), float(fq.high.numpy())]})
            print(f"{gain:5.2f} {noise:14} {base:7.4f} {rounded:17.4f} {base - rounded:7.4f} {float(fq.high.numpy()):11.3f}")
    write_json_atomic(args.out, {"question": __doc__.splitlines()[0], "model": str(args.model), "split": "test",
                                 "count": len(clean), "size": 128, "rows": rows})
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
