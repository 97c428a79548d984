"""Which tensors' int8 rounding costs a quantization-aware model its SSIM? Simulated in Keras, group by group.

    .venv/bin/python experiments/int8_layers.py --data DATA runs/fastnet2w40_margin03_qat/model.keras

For a model trained with --quant-aware, turns its FakeQuant layers on outside training (the ranges
training learnt, as convert exports them) for one group of tensors at a time (fastnet: all, stem, the first
and second conv of every block, the block adds, head, residual add; camnet: all, its full-resolution tensors,
the 1/2 level, the 1/4 and 1/8 levels) and scores the model on the
first --count test images with --noise (seed 2, as eval and the convert gate), against the float
model. With every group on, the drop is what the int8 file loses bar the weights' own rounding.
Writes JSON to --out (default benchmarks/results/int8_layers_<run>.json) and prints a table.
"""

from __future__ import annotations

import argparse
import sys
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

GROUPS = {  # per model: a group's name -> the ends of its FakeQuant layers' names
    "fastnet": {"all": ("_fq",), "stem": ("stem_fq",), "block conv1": ("_conv1_fq",), "block conv2": ("_conv2_fq",),
                "block adds": ("_add_fq",), "head": ("head_fq",), "residual add": ("residual_fq",)},
    "camnet": {"all": ("_fq",), "full resolution (input conv, merge, correction, residual)":
               ("full_fq", "merge1_fq", "correction_fq", "residual_fq"),
               "input conv": ("full_fq",), "merge1": ("merge1_fq",), "correction": ("correction_fq",),
               "residual (the uint8 output's own rounding)": ("residual_fq",),
               "1/2 (stem, enc2, merge2, dec2)": ("stem_fq", "enc2_fq", "merge2_fq", "dec2_fq"),
               "1/4 and 1/8": ("down4_fq", "enc4_fq", "down8_fq", "enc8_fq", "merge4_fq", "dec4_fq")},
}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model", type=Path, help="a --quant-aware run's model.keras")
    ap.add_argument("--data", required=True, help="a folder of images in the data set's layout")
    ap.add_argument("--noise", default="blind", help="noise on the test images (default: blind, as the gate)")
    ap.add_argument("--count", type=int, default=64)
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()

    from rich.console import Console
    from rich.table import Table
    from skimage.metrics import structural_similarity

    from convert.fixed_shape import fixed_shape_model
    from edge_runtime.atomic import write_json_atomic
    from edge_runtime.errors import EdgeDenoiseError
    from edge_runtime.noise import parse_noise
    from train.data import load_images, make_manifest
    from train.evaluate import load_keras_model
    from train.layers import FakeQuant

    console = Console()
    model = load_keras_model(args.model)
    groups = GROUPS.get(model.name, GROUPS["fastnet"])
    fixed = fixed_shape_model(model, (args.size, args.size))
    quant = [layer for layer in fixed.layers if isinstance(layer, FakeQuant)]
    if not quant:
        console.print(f"[red]error:[/] {args.model}: no FakeQuant layers (train it with --quant-aware)")
        return 2
    try:
        manifest = make_manifest(args.data)
    except EdgeDenoiseError as exc:
        console.print(f"[red]error:[/] {exc}")
        return 2
    clean = load_images(args.data, manifest["splits"]["test"][: args.count], args.size).astype(np.float32) / 255.0
    noisy = parse_noise(args.noise).apply(clean, np.random.default_rng(2))

    def score(suffixes: tuple[str, ...] | None) -> float:
        for layer in quant:
            layer.at_inference = suffixes is not None and layer.name.endswith(suffixes)
        fixed.predict_function = None  # the flag is read when predict is traced
        out = fixed.predict(noisy, batch_size=16, verbose=0)
        return float(np.mean([structural_similarity(c, o, data_range=1.0, channel_axis=-1) for c, o in zip(clean, out)]))

    base = score(None)
    rows = {name: {"ssim": (s := score(suffixes)), "drop": base - s} for name, suffixes in groups.items()}
    ranges = {layer.name: [round(float(layer.low.numpy()), 4), round(float(layer.high.numpy()), 4)] for layer in quant}
    table = Table(title=f"{args.model}: int8 rounding simulated per group ({len(clean)} test images, {args.noise})")
    for col in ("tensors rounded", "SSIM", "drop"):
        table.add_column(col, justify="left" if col == "tensors rounded" else "right")
    table.add_row("none (float)", f"{base:.4f}", "")
    for name, r in rows.items():
        table.add_row(name, f"{r['ssim']:.4f}", f"{r['drop']:.4f}")
    console.print(table)
    out = args.out or ROOT / "benchmarks" / "results" / f"int8_layers_{args.model.parent.name}.json"
    write_json_atomic(out, {"created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                            "command": "python experiments/int8_layers.py " + " ".join(sys.argv[1:]),
                            "model": str(args.model), "noise": args.noise, "images": len(clean), "size": args.size,
                            "float_ssim": base, "rows": rows, "trained_ranges": ranges})
    console.print(f"wrote {out}", highlight=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
