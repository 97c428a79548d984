"""Optional ONNX export (float32): SavedModel -> tf2onnx -> .onnx, gated against Keras with onnxruntime.

Needs the ``onnx`` extra (tf2onnx, onnxruntime). tf2onnx 1.17 converts TF 2.21 SavedModels when
run as ``python -m tf2onnx.convert`` (its in-process API is older than Keras 3's export).
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from edge_runtime.atomic import atomic_path, write_json_atomic
from edge_runtime.errors import EdgeDenoiseError

OPSET = 17


def export_onnx(model, path: Path, opset: int = OPSET) -> None:
    """Write a fixed-shape Keras model to ``path`` as ONNX (float32)."""
    try:
        import onnxruntime  # noqa: F401
        import tf2onnx  # noqa: F401
    except ImportError:
        raise EdgeDenoiseError("ONNX export needs tf2onnx and onnxruntime: pip install 'edge-denoise[onnx]'") from None
    with tempfile.TemporaryDirectory(prefix="edge-denoise-onnx-") as tmp:
        saved = Path(tmp) / "saved_model"
        model.export(str(saved), format="tf_saved_model", verbose=False)
        proc = subprocess.run([sys.executable, "-m", "tf2onnx.convert", "--saved-model", str(saved), "--output",
                               str(path), "--opset", str(opset)], capture_output=True, text=True)
        if proc.returncode != 0 or not path.exists():
            lines = [ln for ln in proc.stderr.splitlines() if "Error" in ln] or proc.stderr.strip().splitlines() or ["?"]
            raise EdgeDenoiseError(f"tf2onnx failed: {lines[-1][:300]}")


def onnx_denoiser(path: Path):
    """batch01 -> batch01 through onnxruntime (one image at a time: the input is fixed 1xHxWx3)."""
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    return lambda batch01: np.concatenate([session.run(None, {name: x[None].astype(np.float32)})[0] for x in batch01])


def convert_run_onnx(config, model, info, out_dir: Path, gate_dir, gate_rel, gate_split, spec, log):
    """One gated float32 .onnx per size, with a JSON sidecar and convert_report.json."""
    from convert.calibration import load_clean
    from convert.fixed_shape import fixed_shape_model
    from convert.gate import check_gate_count, keras_reference
    from convert.report import ConvertReport, finish_report
    from edge_runtime.metrics import score
    from train.evaluate import run_denoiser

    if tuple(config.precisions) != ("fp32",):
        raise EdgeDenoiseError("ONNX export is float32 only: use --quant fp32 with --format onnx")
    report = ConvertReport(config=config.to_dict())
    for size in config.sizes:
        clone = fixed_shape_model(model, size)
        log(f"{size[0]}x{size[1]}: input {list(clone.input_shape)} -> output {list(clone.output_shape)}")
        clean = load_clean(gate_dir, gate_rel, size, config.gate_count)
        check_gate_count(len(clean), gate_dir, gate_split)  # the same minimum as the .tflite gate
        log(f"{size[0]}x{size[1]}: quality gate on {len(clean)} {gate_split} images from {gate_dir}")
        ref = keras_reference(model, clean, spec, split=gate_split)
        path = out_dir / f"{info.name}_fp32_{size[0]}x{size[1]}.onnx"
        entry = {"file": str(path), "precision": "fp32", "io": "float", "size": list(size), "status": "ok"}
        t0 = time.perf_counter()
        try:
            with atomic_path(path) as tmp:
                export_onnx(clone, tmp)
                out = run_denoiser(onnx_denoiser(tmp), ref.noisy01)
                keras_out = np.asarray(model(ref.noisy01, training=False))
                ssim = score(ref.clean01, out).ssim_mean
                gate = {"keras_ssim": round(ref.keras_ssim, 6), "onnx_ssim": round(ssim, 6),
                        "drop": round(ref.keras_ssim - ssim, 6), "max_drop": config.max_drop,
                        "max_abs_diff": float(np.abs(np.clip(keras_out, 0, 1) - out).max()),
                        "images": len(out), "split": gate_split, "size": list(size)}
                entry["gate"] = {**gate, "tflite_ssim": gate["onnx_ssim"]}
                if gate["drop"] > config.max_drop:
                    raise EdgeDenoiseError(f"onnx at {size[0]}x{size[1]} loses {gate['drop']:.4f} SSIM against Keras; no file kept")
                write_json_atomic(path.with_suffix(".json"), {
                    "format": "edge-denoise-onnx/1", "name": info.name, "architecture": info.architecture,
                    "model_kwargs": info.model_kwargs, "input_size": list(size), "precision": "fp32",
                    "io_dtype": "float32", "noise": info.noise, "gate": gate, "opset": OPSET,
                    "train_config_hash": info.train_config_hash})
        except EdgeDenoiseError as exc:
            entry["status"], entry["error"] = "failed", str(exc)
        entry["seconds"] = round(time.perf_counter() - t0, 2)
        report.files.append(entry)
        log(f"{path.name}: {entry['status']}" + (f": {entry['error']}" if "error" in entry else ""))
    return finish_report(report, out_dir)
