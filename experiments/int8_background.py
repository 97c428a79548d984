"""Where does int8 lose SSIM? Keras against its int8 conversion, on the black background and on the nut.

    .venv/bin/python experiments/int8_background.py --data DATA runs/fastnet2_blind_300/model.keras --noise gaussian:0.05

Converts the Keras model to int8 at --size (calibrated as `edge-denoise convert` does: --calib-noise on
the training split's images), and once more with the output head and everything after it kept in
float (selective quantization), runs all three on the first --count test images with --noise (seed
2, as eval), and splits skimage's SSIM map into background (clean pixel below 0.1 in every channel)
and nut. Also reports the mean output on the background and the int8 step of the head's output. Writes JSON to --out (default
benchmarks/results/int8_background_<run>.json) and prints a table.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def split_ssim(clean: np.ndarray, out: np.ndarray, background: float = 0.1) -> dict:
    from skimage.metrics import structural_similarity

    whole, bg, nut = [], [], []
    for c, o in zip(clean, out):
        s, smap = structural_similarity(c, o, data_range=1.0, channel_axis=-1, full=True)
        smap, mask = smap.mean(-1), c.max(-1) < background
        whole.append(s)
        bg.append(float(smap[mask].mean()))
        nut.append(float(smap[~mask].mean()))
    mask = clean.max(-1) < background
    return {"ssim": float(np.mean(whole)), "ssim_background": float(np.mean(bg)), "ssim_nut": float(np.mean(nut)),
            "background_share": float(mask.mean()), "mean_output_on_background": float(out[mask].mean()),
            "mean_clean_on_background": float(clean[mask].mean())}


HEAD_PARTS = ("/head", "/noise_estimate", "/shuffle", "/residual", "/denoised", "StatefulPartitionedCall")


def int8_head_in_float(fixed, calib: np.ndarray) -> bytes:
    """Full int8 except the output head and what follows it (pixel shuffle, residual add, clip): those stay
    float, by TensorFlow's selective quantization (convert.tflite.convert_int8_selective)."""
    from convert.tflite import convert_int8_selective

    def head_tensors(interpreter) -> list[str]:
        return [t["name"] for t in interpreter.get_tensor_details() if any(k in t["name"] for k in HEAD_PARTS)]

    return convert_int8_selective(fixed, calib, head_tensors)[0]


def head_steps(tflite: Path) -> dict[str, float]:
    """The int8 quantization step of the tensor(s) the output head writes (fastnet's head, the U-Net's noise_estimate)."""
    from edge_runtime.engine import find_runtime

    interp = find_runtime().interpreter_class(model_path=str(tflite))
    out = {}
    for t in interp.get_tensor_details():
        first = t["name"].split(";")[0]
        if ("/head" in first or "/noise_estimate" in first) and t["quantization"][0]:
            out[first] = float(t["quantization"][0])
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("model", type=Path, help="a run's model.keras")
    ap.add_argument("--data", required=True, help="a folder of images in the data set's layout")
    ap.add_argument("--noise", default="gaussian:0.05")
    ap.add_argument("--calib-noise", help="noise on the calibration images (default: the run's training noise)")
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--count", type=int, default=24)
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()

    from convert.calibration import calibration_images
    from convert.fixed_shape import fixed_shape_model
    from convert.tflite import convert_to_tflite
    from edge_runtime.engine import load_engine
    from edge_runtime.noise import parse_noise
    from train.data import load_images, make_manifest
    from train.evaluate import load_keras_model, run_denoiser
    from train.layers import fake_quant_at_inference

    run = args.model.parent
    config = json.loads((run / "config.json").read_text()) if (run / "config.json").is_file() else {}
    calib_noise = args.calib_noise or (config.get("train") or {}).get("noise") or "gaussian:0.1"
    keras_model = load_keras_model(args.model)
    fixed = fixed_shape_model(keras_model, (args.size, args.size))
    manifest = make_manifest(args.data)
    calib = calibration_images(args.data, (args.size, args.size), parse_noise(calib_noise), count=200,
                               relpaths=manifest["splits"]["train"])
    calib = np.asarray(calib, np.float32)
    tflite = run / f"int8_{args.size}_probe.tflite"
    mixed = run / f"int8_{args.size}_head_float_probe.tflite"
    fake_quant_at_inference(fixed, True)  # a --quant-aware model exports its trained ranges, as convert does
    tflite.write_bytes(convert_to_tflite(fixed, "int8", calib=calib))
    mixed.write_bytes(int8_head_in_float(fixed, calib))
    fake_quant_at_inference(fixed, False)  # the Keras row is the float model
    try:
        engine = load_engine(tflite, threads=2)
        clean = load_images(args.data, manifest["splits"]["test"][: args.count], args.size).astype(np.float32) / 255.0
        noisy = parse_noise(args.noise).apply(clean, np.random.default_rng(2))
        rows = {"keras": split_ssim(clean, np.asarray(fixed.predict(noisy, batch_size=8, verbose=0))),
                "int8": split_ssim(clean, run_denoiser(engine, noisy)),
                "int8, head in float": split_ssim(clean, run_denoiser(load_engine(mixed, threads=2), noisy))}
        heads = head_steps(tflite)
    finally:
        tflite.unlink(missing_ok=True)
        mixed.unlink(missing_ok=True)
    print(f"{'':20s} {'SSIM':>7s} {'background':>11s} {'nut':>7s} {'mean out on bg':>15s}")
    for name, r in rows.items():
        print(f"{name:20s} {r['ssim']:7.4f} {r['ssim_background']:11.4f} {r['ssim_nut']:7.4f} {r['mean_output_on_background']:15.5f}")
    for name, step in heads.items():
        print(f"int8 step of the output head's tensor {name}: {step:.5f} (range +-{step * 127.5:.2f})")
    first = rows["keras"]
    print(f"background: {first['background_share']:.0%} of pixels; clean mean there {first['mean_clean_on_background']:.5f}")
    out = args.out or ROOT / "benchmarks" / "results" / f"int8_background_{run.name}.json"
    from edge_runtime.atomic import write_json_atomic

    write_json_atomic(out, {"created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                            "command": "python " + " ".join(sys.argv), "model": str(args.model), "noise": args.noise,
                            "calib_noise": calib_noise, "size": args.size, "images": len(clean), "rows": rows,
                            "head_int8_step": heads})
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
