"""What do thin full-resolution convs cost an int8 camera model at 480x640?

    .venv/bin/python experiments/full_res_convs_int8.py --rounds 20 \
        --out benchmarks/results/full_res_convs_int8.json

Builds camnet (train.camnet.build_camnet, width 24) with and without its full-resolution stage
(``full_res=12``: a 3 -> 12 conv at the input whose features join the output conv, 18 -> 3, at full
resolution), converts each to int8 with uint8 I/O at
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


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=20)
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "full_res_convs_int8.json")
    args = ap.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    from convert.fixed_shape import fixed_shape_model
    from convert.tflite import convert_to_tflite
    from train.camnet import build_camnet

    size = (480, 640)
    calib = np.random.default_rng(0).random((4, *size, 3), dtype=np.float32)
    with tempfile.TemporaryDirectory() as tmp:
        files = [REFERENCE]
        for name, full_res in (("with_full_res_stage", 12), ("without", 0)):
            path = Path(tmp) / f"{name}_int8_480x640.tflite"
            model = fixed_shape_model(build_camnet(width=24, full_res=full_res), size)
            path.write_bytes(convert_to_tflite(model, "int8", io="uint8", calib=calib))
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
