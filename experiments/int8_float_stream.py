"""Does keeping fastnet's residual stream in float rescue its int8 file at the camera's frame size? (An experiment.)

    .venv/bin/python experiments/int8_float_stream.py --data DATA fastnet --size 480x640 \
        --ranges benchmarks/results/convert_fastnet_recovered_480x640_tuned.json \
        --reference edge_runtime/models/fastnet_dynamic_480x640.tflite --out benchmarks/results/int8_float_stream_480x640.json

experiments/int8_layers.py puts most of the int8 loss at 480x640 in the residual stream: the blocks'
second convs and additions. TensorFlow's selective quantization (QuantizationDebugger with
denylisted nodes) can leave chosen ops in float inside an otherwise int8 file, so this builds:

    int8        every op int8, the ranges from --ranges (what `convert --tune-ranges` gave)
    float_adds  the four block additions in float: the stream's skip path stays float, while each
                block's first conv still reads an int8 copy of it (an int8 conv has int8 input)
    float_adds_conv2  the additions and the blocks' second convs in float
    float_skip  the additions in float, their tuned FakeQuant kept only on the path into the convs
                (the model rebuilt from the same layers, float_skip_model): the convs read the stream
                at its tuned int8 range, as in the int8 file, and the skip path never rounds

A tensor left in float must also lose its FakeQuant (a FakeQuant op rounds in float too, so the
denylist alone changes nothing); the converter then calibrates, min/max on --calib-count images,
the QUANTIZE it puts where an int8 op reads that tensor. Each file is scored by the convert gate
(edge_runtime's engine on --gate-count test images, blind noise, seed 2, against the float Keras
model) and timed with 2 threads by benchmarks/paired_latency.py (each file once per round, --rounds),
beside any --reference file (the shipped dynamic file, say). Prints a table and writes JSON.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

# variant -> (the block ops, by name part, kept in float; whether it is float_skip_model, whose addition
# FakeQuant layers stay on for the convs; elsewhere those ops' FakeQuant layers are turned off)
VARIANTS: dict[str, tuple[tuple[str, ...], bool]] = {
    "int8": ((), False), "float_adds": (("_add",), False), "float_adds_conv2": (("_add", "_conv2"), False),
    "float_skip": (("_add",), True)}


def set_ranges(model, report: Path, size: tuple[int, int]) -> dict:
    """Give the model's FakeQuant layers the ranges a convert report's --tune-ranges left at ``size``."""
    ranges = json.loads(report.read_text())["range_tuning"][f"{size[0]}x{size[1]}"]["ranges"]
    for name, (low, high) in ranges.items():
        layer = model.get_layer(name)
        layer.low.assign(low)
        layer.high.assign(high)
    return ranges


def float_skip_model(model, size: tuple[int, int]):
    """``model`` at a fixed size, rebuilt from its own layers so that each block addition's FakeQuant feeds
    only the convolutions that read the stream; the next addition reads the unrounded sum."""
    import keras

    from train.layers import FakeQuant

    inp = keras.Input((*size, 3), batch_size=1, name="noisy")
    new = {id(model.inputs[0]): inp}  # original KerasTensor -> rebuilt one
    unrounded = {}  # an addition FakeQuant's original output -> the sum before it
    for layer in model.layers[1:]:
        node = layer._inbound_nodes[0]
        args, out = node.arguments.args[0], node.output_tensors[0]
        if isinstance(layer, FakeQuant) and layer.name.startswith("block") and layer.name.endswith("_add_fq"):
            unrounded[id(out)] = new[id(args)]
        if isinstance(layer, keras.layers.Add):
            x = [unrounded.get(id(t), new[id(t)]) for t in args]
        else:
            x = keras.tree.map_structure(lambda t: new[id(t)], args)
        new[id(out)] = layer(x)
    return keras.Model(inp, new[id(model.outputs[0])], name=f"{model.name}_float_skip")


def convert_variant(fixed, calib: np.ndarray, float_parts: tuple[str, ...], keep_fake_quant: bool = False
                    ) -> tuple[bytes, int]:
    """int8 with the block ops named by ``float_parts`` left in float (their FakeQuant layers off unless
    ``keep_fake_quant``); returns the file and how many ops stayed float."""
    import re

    from convert.tflite import convert_int8_selective
    from train.layers import FakeQuant, fake_quant_at_inference

    fake_quant_at_inference(fixed, True)
    for layer in fixed.layers:
        if (isinstance(layer, FakeQuant) and layer.name.startswith("block") and any(p in layer.name for p in float_parts)
                and not keep_fake_quant):
            layer.at_inference = False
    pattern = re.compile(r"/block\d+(" + "|".join(float_parts) + r")(_\d+)?/") if float_parts else None

    def block_ops(interpreter) -> list[str]:  # the output tensor of each op in float_parts
        outputs = [interpreter._get_tensor_details(op["outputs"][0], 0)["name"] for op in interpreter._get_ops_details()]
        return [n for n in outputs if pattern and pattern.search(n.split(";")[0])]

    blob, names = convert_int8_selective(fixed, calib, block_ops)
    return blob, len(names)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("model", help="a quant-aware fastnet's model.keras, or a shipped name (fastnet)")
    ap.add_argument("--size", default="480x640")
    ap.add_argument("--ranges", type=Path, help="a convert report with range_tuning at --size (default: the trained ranges)")
    ap.add_argument("--data", required=True, help="a folder of images in the data set's layout")
    ap.add_argument("--gate-count", type=int, default=32)
    ap.add_argument("--calib-count", type=int, default=100)
    ap.add_argument("--rounds", type=int, default=40)
    ap.add_argument("--reference", type=Path, action="append", default=[],
                    help="a .tflite file at --size to gate and time beside them (e.g. the shipped dynamic file); repeatable")
    ap.add_argument("--variants", default=",".join(VARIANTS), help="comma-separated, from " + ", ".join(VARIANTS))
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "int8_float_stream.json")
    args = ap.parse_args()

    sys.path.insert(0, str(ROOT / "benchmarks"))
    import paired_latency

    from convert.calibration import calibration_images, load_clean
    from convert.fixed_shape import fixed_shape_model
    from edge_runtime.sizes import parse_size
    from convert.gate import keras_reference, run_gate
    from edge_runtime.atomic import write_json_atomic
    from edge_runtime.noise import parse_noise
    from train.data import make_manifest
    from train.evaluate import load_keras_model
    from train.pretrained import pretrained_model

    size = parse_size(args.size)
    path = Path(args.model) if Path(args.model).exists() else pretrained_model(args.model)
    model = load_keras_model(path)
    ranges = set_ranges(model, args.ranges, size) if args.ranges else None
    spec = parse_noise("blind")
    clean = load_clean(args.data, make_manifest(args.data)["splits"]["test"], size, args.gate_count)
    ref = keras_reference(model, clean, spec, split="test")  # FakeQuant off: the float model
    calib = np.asarray(calibration_images(args.data, size, spec, args.calib_count, seed=0), np.float32)
    fixed = fixed_shape_model(model, size)
    skip = float_skip_model(model, size)

    def gate_row(file: Path, float_ops: int | None) -> dict:
        gate, _ = run_gate(file, ref)
        print(f"{file.name}: drop {gate.drop:.4f}", flush=True)
        return {"file": file.name, "float_ops": float_ops, "kib": round(file.stat().st_size / 1024, 1),
                "keras_ssim": gate.keras_ssim, "tflite_ssim": gate.tflite_ssim, "drop": gate.drop,
                "passes_gate": gate.passed}

    rows, files = {}, []
    with tempfile.TemporaryDirectory(prefix="float-stream-files-") as tmp:
        for name in [v.strip() for v in args.variants.split(",") if v.strip()]:
            parts, rebuilt = VARIANTS[name]
            blob, float_ops = convert_variant(skip if rebuilt else fixed, calib, parts, keep_fake_quant=rebuilt)
            file = Path(tmp) / f"{name}.tflite"
            file.write_bytes(blob)
            rows[name] = gate_row(file, float_ops)
            files.append(file)
        for file in args.reference:
            rows[file.name] = gate_row(file, None)
            files.append(file)
        timing = Path(tmp) / "paired.json"
        paired_latency.main([*map(str, files), "--rounds", str(args.rounds), "--threads", "2", "--out", str(timing)])
        for name, timed in zip(rows, json.loads(timing.read_text())["rows"]):
            rows[name]["p50_ms"] = round(timed["p50_ms"], 2)
            rows[name]["paired_diff_p50_ms"] = round(timed["paired_diff_p50_ms"], 2)

    print(f"\n{'variant':32} {'float ops':>9} {'SSIM':>7} {'drop':>7} {'p50 ms':>7}")
    for name, r in rows.items():
        ops = "" if r["float_ops"] is None else r["float_ops"]
        print(f"{name:32} {ops:>9} {r['tflite_ssim']:7.4f} {r['drop']:7.4f} {r['p50_ms']:7.1f}")
    write_json_atomic(args.out, {
        "model": str(path), "size": list(size), "ranges_from": str(args.ranges) if args.ranges else None,
        "ranges": ranges, "references": [str(f) for f in args.reference], "gate_images": len(clean),
        "calib_images": len(calib), "threads": 2, "rounds": args.rounds, "variants": rows,
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds")})
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
