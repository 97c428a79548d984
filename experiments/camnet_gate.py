"""Does camnet's per-frame gate (--global-gate or --level-input) learn to close on clean frames?

    .venv/bin/python experiments/camnet_gate.py runs/camg/gate/model.keras [MORE.keras ...] --data DATA \
        --out benchmarks/results/camnet_gate_trials/gates.json

A blind model smooths a clean frame; the gate scales the correction by one number per frame, so it could
let a clean frame (or one whose only noise the impulse stage took out) through. This reads the gate's value
on test images under each noise: a gate that learnt the job is near 0 on clean and salt-and-pepper frames
and near 1 on noisy ones. Prints a table and writes JSON.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
NOISES = ("gaussian:0", "saltpepper:0.05", "camera:4", "gaussian:0.05", "gaussian:0.2", "motionblur:9")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("models", nargs="+", type=Path, help="camnet .keras files trained with --global-gate or --level-input")
    ap.add_argument("--data", required=True, help="the Pistachio Image Dataset")
    ap.add_argument("--count", type=int, default=40, help="test images")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "camnet_gate_trials" / "gates.json")
    args = ap.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import keras

    from edge_runtime.atomic import write_json_atomic
    from edge_runtime.noise import parse_noise
    from train.data import load_images, make_manifest
    from train.evaluate import load_keras_model

    files = make_manifest(args.data)["splits"]["test"][: args.count]
    clean = load_images(args.data, files, 128).astype(np.float32) / 255.0
    rows = []
    for path in args.models:
        model = load_keras_model(path)
        names = {layer.name for layer in model.layers}
        gate = keras.Model(model.input, model.get_layer("level_gate" if "level_gate" in names else "gate").output)
        for noise in NOISES:
            values = np.asarray(gate.predict(parse_noise(noise).apply(clean, np.random.default_rng(2)), verbose=0)).ravel()
            rows.append({"model": str(path), "noise": noise, "gate_mean": float(values.mean()),
                         "gate_min": float(values.min()), "gate_max": float(values.max())})
            print(f"{str(path):40} {noise:18} gate {values.mean():.3f} ({values.min():.3f} to {values.max():.3f})")
    write_json_atomic(args.out, {"question": __doc__.splitlines()[0], "count": len(clean), "size": 128, "rows": rows})
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
