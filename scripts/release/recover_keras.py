"""Rebuild a fastnet Keras model from its shipped .tflite files, when the training run is gone.

    .venv/bin/python scripts/release/recover_keras.py edge_runtime/models/fastnet_fp16_128x128.tflite \
        --ranges edge_runtime/models/fastnet_int8_128x128.tflite --out train/pretrained/fastnet

The weights come from the fp16 file (float16-rounded, so the rebuilt model's output is the fp16 file's,
which passed its gate against the original with a drop of 0.00001 or less); the architecture from its
.json sidecar's ``model_kwargs``. With ``--ranges INT8_FILE`` the model is built quantization-aware and
each FakeQuant takes the range its tensor has in that int8 file, so ``convert --quant int8`` starts from
the ranges training (and --tune-ranges) gave. Writes ``model.keras`` and a ``config.json`` that names the
files it came from; the output folder is what ``edge-denoise convert`` takes as a run.

Why a script of our own: TFLite has no export back to Keras, and fastnet is ten convolutions, so the
mapping is a short list (convolutions and additions in graph order).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))


def _ops(path: Path):
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    # without XNNPACK, which would fold the ops into DELEGATE nodes
    interp = Interpreter(model_path=str(path), experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
    interp.allocate_tensors()
    return interp, interp._get_ops_details(), {t["index"]: t for t in interp.get_tensor_details()}


def conv_weights(fp16_file: Path) -> list[tuple[np.ndarray, np.ndarray]]:
    """(Keras kernel, bias) of every CONV_2D in graph order; fp16 constants are read through their DEQUANTIZE."""
    interp, ops, _ = _ops(fp16_file)
    source = {op["outputs"][0]: op["inputs"][0] for op in ops if op["op_name"] == "DEQUANTIZE"}

    def const(index: int) -> np.ndarray:
        return np.asarray(interp.get_tensor(source.get(index, index)), dtype=np.float32)

    out = []
    for op in ops:
        if op["op_name"] == "CONV_2D":
            kernel = const(op["inputs"][1]).transpose(1, 2, 3, 0)  # TFLite OHWI -> Keras HWIO
            out.append((kernel, const(op["inputs"][2])))
    return out


def int8_ranges(int8_file: Path) -> dict[str, list[tuple[float, float]]]:
    """The float range of each CONV_2D's and ADD's output tensor in an int8 file, in graph order."""
    _, ops, tensors = _ops(int8_file)
    out: dict[str, list[tuple[float, float]]] = {"CONV_2D": [], "ADD": []}
    for op in ops:
        if op["op_name"] in out:
            scale, zero = tensors[op["outputs"][0]]["quantization"]
            out[op["op_name"]].append(((-128 - zero) * scale, (127 - zero) * scale))
    return out


def recover(fp16_file: Path, ranges_file: Path | None, out_dir: Path) -> Path:
    from train.layers import FakeQuant
    from train.models import build_fastnet

    meta = json.loads(fp16_file.with_suffix(".json").read_text(encoding="utf-8"))
    if meta.get("architecture") != "fastnet":
        raise SystemExit(f"{fp16_file}: architecture {meta.get('architecture')!r}; this rebuilds fastnet only")
    kwargs = dict(meta["model_kwargs"])
    model = build_fastnet(**kwargs, quant_aware=ranges_file is not None)
    convs = [layer for layer in model.layers if layer.__class__.__name__ == "Conv2D"]
    weights = conv_weights(fp16_file)
    if len(weights) != len(convs):
        raise SystemExit(f"{fp16_file}: {len(weights)} convolutions, the model has {len(convs)}")
    for layer, (kernel, bias) in zip(convs, weights):
        if layer.kernel.shape != kernel.shape:
            raise SystemExit(f"{fp16_file}: {layer.name} kernel {kernel.shape}, expected {tuple(layer.kernel.shape)}")
        layer.set_weights([kernel, bias])
    if ranges_file is not None:
        ranges = int8_ranges(ranges_file)
        fq = {layer.name: layer for layer in model.layers if isinstance(layer, FakeQuant)}
        conv_fq = [fq[f"{layer.name}_fq"] for layer in convs]
        add_fq = [fq[name] for name in sorted(fq) if name.endswith("_add_fq")] + [fq["residual_fq"]]
        for layers, found, kind in ((conv_fq, ranges["CONV_2D"], "convolutions"), (add_fq, ranges["ADD"], "additions")):
            if len(found) < len(layers):
                raise SystemExit(f"{ranges_file}: {len(found)} int8 {kind}, the model has {len(layers)}")
            for layer, (low, high) in zip(layers, found[-len(layers):]):  # the network's ops come last
                layer.set_weights([np.float32(low), np.float32(high), np.float32(1.0)])
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "model.keras"
    tmp = out_dir / ".model.keras.tmp.keras"
    model.save(tmp)
    tmp.replace(path)
    config = {"train": {"model": "fastnet", "noise": meta.get("noise", "blind"), **kwargs,
                        "quant_aware": ranges_file is not None},
              "recovered_from": {"weights": fp16_file.name, "ranges": ranges_file.name if ranges_file else None,
                                 "weights_precision": "float16", "original_train_config_hash": meta.get("train_config_hash")}}
    from edge_runtime.atomic import write_json_atomic

    write_json_atomic(out_dir / "config.json", config)
    return path


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("fp16_file", type=Path, help="the model's fp16 .tflite (its .json sidecar beside it)")
    ap.add_argument("--ranges", type=Path, help="an int8 .tflite of the same model: FakeQuant ranges from it")
    ap.add_argument("--out", type=Path, required=True, help="folder for model.keras and config.json")
    args = ap.parse_args(argv)
    print(f"wrote {recover(args.fp16_file, args.ranges, args.out)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
