"""What fastnet's impulse stage costs on its own at VGA, before and after it lost its slow ops.

    .venv/bin/python experiments/impulse_stage_latency.py --out benchmarks/results/impulse_stage_latency.json

Converts five one-layer models at 480x640 to float32 and to int8 (the way `convert` does: the
stage's int8 ranges pinned) and times them in turns with benchmarks/paired_latency.py:

    none               a ReLU: the file's fixed cost (quantize and dequantize, for int8)
    median_mirror_pad  the 3x3 median over MIRROR_PAD, as at b4b27e2
    median_now         train.layers.median3x3: the same median over slices and concatenations
    before             the stage as it shipped at b4b27e2: that median, then comparisons, ABS and
                       SELECT_V2 for the mask (kept here as the baseline)
    now                train.layers.ImpulseReject: reflection by slices, an arithmetic mask

The difference to ``none`` is the stage's own cost; within a full model it can differ, where an op
XNNPACK does not take also splits the model's delegated graph.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def mirror_median(x):
    """The 3x3 median over MIRROR_PAD, as at b4b27e2."""
    from keras import ops

    from train.layers import median3x3_of_padded

    return median3x3_of_padded(ops.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)), mode="reflect"))


def stage_before(x, threshold: float = 0.5):
    """The stage as shipped at b4b27e2 (the baseline of this benchmark): MIRROR_PAD, a comparison mask."""
    from keras import ops

    med = mirror_median(x)
    extreme = ops.logical_or(x <= 0.5 / 255, x >= 1.0 - 0.5 / 255)
    return ops.where(ops.logical_and(extreme, ops.abs(x - med) > threshold), med, x)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", default="480x640")
    ap.add_argument("--rounds", type=int, default=40)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "impulse_stage_latency.json")
    args = ap.parse_args(argv)

    import keras

    sys.path.insert(0, str(ROOT / "benchmarks"))
    import paired_latency

    from convert.tflite import convert_to_tflite
    from edge_runtime.atomic import write_json_atomic
    from edge_runtime.noise import add_noise
    from train.layers import ImpulseReject, fake_quant_at_inference

    h, w = (int(v) for v in args.size.lower().split("x"))

    from train.layers import median3x3

    class Wrap(keras.layers.Layer):
        def __init__(self, fn, **kwargs):
            super().__init__(**kwargs)
            self.fn = fn

        def call(self, x):
            return self.fn(x)

    builders = {"none": keras.layers.ReLU, "median_mirror_pad": lambda: Wrap(mirror_median),
                "median_now": lambda: Wrap(median3x3), "before": lambda: Wrap(stage_before), "now": ImpulseReject}
    rng = np.random.default_rng(0)
    calib = np.stack([add_noise(rng.random((h, w, 3), dtype=np.float32), "saltpepper:0.05", rng) for _ in range(4)])
    with tempfile.TemporaryDirectory(prefix="edge-denoise-stage-") as tmp:
        results = {}
        for precision in ("fp32", "int8"):
            files = []
            for name, build in builders.items():
                inp = keras.Input((h, w, 3), batch_size=1)
                model = keras.Model(inp, build()(inp))
                fake_quant_at_inference(model, precision == "int8")
                path = Path(tmp) / f"stage_{name}_{precision}.tflite"
                path.write_bytes(convert_to_tflite(model, precision, calib=calib if precision == "int8" else None))
                files.append(str(path))
            out = Path(tmp) / f"{precision}.json"
            paired_latency.main([*files, "--rounds", str(args.rounds), "--threads", str(args.threads), "--out", str(out)])
            results[precision] = json.loads(out.read_text())
    for precision, result in results.items():
        for row in result["rows"]:
            row["file"] = Path(row["file"]).name
    write_json_atomic(args.out, {"size": [h, w], "threads": args.threads, "rounds": args.rounds,
                                 "precisions": results})
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
