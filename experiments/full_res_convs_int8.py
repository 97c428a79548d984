"""What do thin full-resolution convs cost an int8 camera model at 480x640?

    .venv/bin/python experiments/full_res_convs_int8.py --rounds 20 \
        --out benchmarks/results/full_res_convs_int8.json

Builds camnet-shaped U-Nets (3x3 convs 24/48/96 wide at 1/2, 1/4, 1/8, concat merges, pixel shuffle up,
one residual at the output) with and without a full-resolution stage (a 3 -> 12 conv at the input whose
features join the output conv, 18 -> 3, at full resolution), converts each to int8 with uint8 I/O at
480x640 (untrained weights, random calibration: speed does not depend on them) and times them in turns
against the old camera file with benchmarks/paired_latency.py. Prints its table and writes JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = ROOT / "edge_runtime" / "models" / "fastnet_dynamic_480x640.tflite"


def build(size: tuple[int, int], width: int = 24, full_res: bool = True):
    import keras
    from keras import layers

    from train.layers import ClipToUnit, PixelShuffle

    def conv(t, filters, strides=1, activation="relu6"):
        return layers.Conv2D(filters, 3, strides=strides, padding="same", activation=activation)(t)

    w1, w2, w3 = width, 2 * width, 4 * width
    inputs = keras.Input((*size, 3))
    if full_res:
        full = conv(inputs, 12)
        h2 = conv(full, w1, strides=2)
    else:
        h2 = conv(PixelShuffle(2, unshuffle=True)(inputs), w1)
    h2 = conv(h2, w1)
    h4 = conv(conv(h2, w2, strides=2), w2)
    h8 = conv(conv(h4, w3, strides=2), w3)
    u4 = conv(layers.Concatenate()([PixelShuffle(2)(h8), h4]), w2)
    u2 = conv(layers.Concatenate()([PixelShuffle(2)(u4), h2]), w1)
    if full_res:
        delta = conv(layers.Concatenate()([PixelShuffle(2)(u2), full]), 3, activation=None)
    else:
        delta = PixelShuffle(2)(conv(u2, 12, activation=None))
    return keras.Model(inputs, ClipToUnit()(layers.Add()([inputs, delta])))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=20)
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "full_res_convs_int8.json")
    args = ap.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    from convert.tflite import convert_to_tflite

    size = (480, 640)
    calib = np.random.default_rng(0).random((4, *size, 3), dtype=np.float32)
    with tempfile.TemporaryDirectory() as tmp:
        files = [REFERENCE]
        for name, full_res in (("with_full_res_stage", True), ("without", False)):
            path = Path(tmp) / f"{name}_int8_480x640.tflite"
            path.write_bytes(convert_to_tflite(build(size, full_res=full_res), "int8", io="uint8", calib=calib))
            files.append(path)
        timing = Path(tmp) / "paired.json"
        subprocess.run([sys.executable, str(ROOT / "benchmarks" / "paired_latency.py"), *map(str, files),
                        "--rounds", str(args.rounds), "--out", str(timing)], check=True)
        result = json.loads(timing.read_text())
    result["question"] = __doc__.splitlines()[0]
    from edge_runtime.atomic import write_json_atomic

    write_json_atomic(args.out, result)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
