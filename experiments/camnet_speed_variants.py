"""Where does camnet's int8 time at 480x640 go, and how far is it from this CPU's int8 ceiling?

    .venv/bin/python experiments/camnet_speed_variants.py --data DATA --rounds 20 \
        --out benchmarks/results/camnet_speed_variants.json

Builds camnet (train.camnet.build_camnet) as shipped and with one part changed at a time (no impulse
stage, no full-resolution stage, narrower), converts each with convert_run to int8 with uint8 I/O at 480x640
as the shipped file was made (quantization-aware, trained weights where the shape allows) and times them in
turns, beside the shipped file, with
benchmarks/paired_latency.py. Then times a wide plain stack (six 64 -> 64 3x3 convs at 120x160, int8)
the same way, alone, for the MACs per second this CPU reaches when XNNPACK is fed well. Prints a table
and writes JSON with each variant's MACs (edge_runtime.macs) and its rate.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
SHIPPED_KERAS = ROOT / "train" / "pretrained" / "camnet" / "model.keras"
SHIPPED_CONFIG = ROOT / "train" / "pretrained" / "camnet" / "config.json"
SHIPPED_FILE = ROOT / "edge_runtime" / "models" / "camnet_int8_480x640_u8io.tflite"  # trained, as convert made it
SHIPPED = {"width": 24, "full_res": 12, "impulse_reject": True}
VARIANTS = {
    "shipped": SHIPPED,
    "no_impulse_stage": {**SHIPPED, "impulse_reject": False},
    "no_full_res_stage": {**SHIPPED, "full_res": 0},
    "width_16_full_res_8": {**SHIPPED, "width": 16, "full_res": 8},
    "width_16_no_full_res": {**SHIPPED, "width": 16, "full_res": 0},
    "bottom_width_192": {**SHIPPED, "bottom_width": 192},  # twice the channels at 1/8
    "bottom_depth_2": {**SHIPPED, "bottom_depth": 2},  # one more 3x3 conv at 1/8
    "bottom_depth_3": {**SHIPPED, "bottom_depth": 3},
    "level_input": {**SHIPPED, "level_input": True},  # the noise level measured in the graph (train.camnet)
    # no 1/2 level (train.camnet start_scale=4): 2 x width at 1/4, 4 x width at 1/8
    "quarter_w32_full_res_4": {**SHIPPED, "start_scale": 4, "width": 32, "full_res": 4},
    "quarter_w32_full_res_4_no_impulse": {**SHIPPED, "start_scale": 4, "width": 32, "full_res": 4, "impulse_reject": False},
    "quarter_w32_no_full_res": {**SHIPPED, "start_scale": 4, "width": 32, "full_res": 0},
    "quarter_w32_no_full_res_no_impulse": {**SHIPPED, "start_scale": 4, "width": 32, "full_res": 0, "impulse_reject": False},
}


def ceiling_ms(tmp: Path, rounds: int, threads: int) -> tuple[float, int]:
    """(min ms, MACs) of six 64 -> 64 3x3 int8 convs at 120x160: this CPU's int8 rate with wide layers."""
    import keras

    from ai_edge_litert.interpreter import Interpreter

    from convert.tflite import convert_to_tflite

    x = inputs = keras.Input((120, 160, 64), batch_size=1)
    for i in range(6):
        x = keras.layers.Conv2D(64, 3, padding="same", activation="relu", name=f"conv{i}")(x)
    path = tmp / "ceiling_int8.tflite"
    calib = np.random.default_rng(0).random((4, 120, 160, 64), dtype=np.float32)
    path.write_bytes(convert_to_tflite(keras.Model(inputs, x), "int8", calib=calib))
    interpreter = Interpreter(model_path=str(path), num_threads=threads)  # XNNPACK on, as in run
    interpreter.allocate_tensors()
    detail = interpreter.get_input_details()[0]
    interpreter.set_tensor(detail["index"], np.zeros(detail["shape"], detail["dtype"]))
    times = []
    for _ in range(3 + rounds):
        start = time.perf_counter()
        interpreter.invoke()
        times.append((time.perf_counter() - start) * 1000)
    return min(times[3:]), 6 * 64 * 64 * 9 * 120 * 160


def convert_variant(root: Path, name: str, kwargs: dict, data: str) -> Path:
    """The variant, quantization-aware, its layers trained where the shipped model has them (the rest fresh;
    speed does not depend on weights), converted by convert_run to int8 with uint8 I/O at 480x640, as the
    shipped file was (without range tuning, which moves ranges, not ops)."""
    from convert import ConvertConfig, convert_run
    from edge_runtime.errors import EdgeDenoiseError
    from train.camnet import build_camnet
    from train.training import init_weights

    run = root / name
    run.mkdir()
    model = build_camnet(quant_aware=True, **kwargs)
    try:
        init_weights(model, str(SHIPPED_KERAS))
    except EdgeDenoiseError:  # another shape: fresh weights, ranges calibrated by the converter
        pass
    model.save(run / "model.keras")
    train_cfg = {**json.loads(SHIPPED_CONFIG.read_text())["train"], **kwargs, "data": data}
    (run / "config.json").write_text(json.dumps({"train": train_cfg}))
    report = convert_run(ConvertConfig(model=str(run / "model.keras"), out=str(run / "tflite"), sizes=((480, 640),),
                                       precisions=("int8",), io="uint8", calib_count=8, gate_count=3, max_drop=1.0,
                                       noise="blind_camera", data=data))
    return Path(report.files[0]["file"])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", required=True, help="the Pistachio Image Dataset (calibration images)")
    ap.add_argument("--rounds", type=int, default=20)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--variants", nargs="+", choices=list(VARIANTS), default=None,
                    help="time only these variants (beside the shipped file); default: every one")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "camnet_speed_variants.json")
    args = ap.parse_args(argv)
    variants = {name: VARIANTS[name] for name in (args.variants or VARIANTS)}
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    from edge_runtime.atomic import write_json_atomic
    from edge_runtime.macs import count_macs

    size = (480, 640)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        files, macs = [SHIPPED_FILE], {}
        for name, kwargs in variants.items():
            path = convert_variant(tmp, name, kwargs, args.data)
            files.append(path)
            macs[name] = count_macs(path)["macs"]
        timing = tmp / "paired.json"
        subprocess.run([sys.executable, str(ROOT / "benchmarks" / "paired_latency.py"), *map(str, files),
                        "--rounds", str(args.rounds), "--threads", str(args.threads), "--out", str(timing)], check=True)
        result = json.loads(timing.read_text())
        wide_ms, wide_macs = ceiling_ms(tmp, args.rounds, args.threads)
    shipped_file = result["rows"][0]
    rows = [{"variant": "shipped file", "file": str(SHIPPED_FILE.relative_to(ROOT)), "macs_per_frame": count_macs(SHIPPED_FILE)["macs"],
             "p50_ms": shipped_file["p50_ms"], "min_ms": shipped_file["min_ms"], "paired_diff_p50_ms": 0.0}]
    rows[0]["macs_per_pixel"] = round(rows[0]["macs_per_frame"] / (size[0] * size[1]))
    rows[0]["gmac_per_s_at_min"] = rows[0]["macs_per_frame"] / rows[0]["min_ms"] / 1e6
    for (name, kwargs), row in zip(variants.items(), result["rows"][1:]):
        rows.append({"variant": name, "kwargs": kwargs, "macs_per_frame": macs[name],
                     "macs_per_pixel": round(macs[name] / (size[0] * size[1])),
                     "p50_ms": row["p50_ms"], "min_ms": row["min_ms"],
                     "paired_diff_p50_ms": row["paired_diff_p50_ms"],
                     "gmac_per_s_at_min": macs[name] / row["min_ms"] / 1e6})
    ceiling = {"layers": "6 x conv 3x3 64->64 at 120x160, int8", "macs": wide_macs, "min_ms": wide_ms,
               "gmac_per_s": wide_macs / wide_ms / 1e6}
    print(f"{'variant':24} {'MACs/px':>8} {'p50 ms':>8} {'min ms':>8} {'vs file':>11} {'GMAC/s':>7}")
    for r in rows:
        print(f"{r['variant']:24} {r['macs_per_pixel']:>8} {r['p50_ms']:8.1f} {r['min_ms']:8.1f} "
              f"{r['paired_diff_p50_ms']:+11.1f} {r['gmac_per_s_at_min']:7.0f}")
    print(f"{'wide 64-ch conv stack':24} {'':>8} {'':>8} {wide_ms:8.1f} {'':>11} {ceiling['gmac_per_s']:7.0f}")
    write_json_atomic(args.out, {"question": __doc__.splitlines()[0], "when": result["when"], "rounds": args.rounds,
                                 "threads": args.threads, "size": list(size), "rows": rows, "ceiling": ceiling,
                                 "device": result["device"]})
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
