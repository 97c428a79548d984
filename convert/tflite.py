"""Keras model -> .tflite bytes, through a SavedModel (from_keras_model breaks on some Keras 3 models).

Precisions are named exactly (rf-detr PR#1364 shipped "int8" that was dynamic range):

    fp32     no quantization
    fp16     float16 weights, float32 compute on CPU
    dynamic  int8 weights, float activations (dynamic-range quantization)
    int8     full-integer: int8 weights and activations, calibrated on real noisy images;
             I/O float32 (quantize inside) or integer (``io="uint8"`` / ``"int8"``)
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from edge_runtime.errors import EdgeDenoiseError

PRECISIONS = ("fp32", "fp16", "dynamic", "int8")
IO_TYPES = ("float", "uint8", "int8")


def parse_precisions(text: str | Iterable[str]) -> tuple[str, ...]:
    """``"fp32,int8"`` (or a list of such) -> ("fp32", "int8"); unknown names are one clear line."""
    parts = [text] if isinstance(text, str) else list(text)
    out: list[str] = []
    for part in parts:
        for p in str(part).split(","):
            p = p.strip().lower()
            if not p:
                continue
            if p not in PRECISIONS:
                raise EdgeDenoiseError(f"unknown precision '{p}'; choose from {', '.join(PRECISIONS)}")
            if p not in out:
                out.append(p)
    if not out:
        raise EdgeDenoiseError(f"no precision given; choose from {', '.join(PRECISIONS)}")
    return tuple(out)


def convert_to_tflite(model, precision: str, io: str = "float", calib: np.ndarray | None = None) -> bytes:
    """Convert a fixed-shape Keras model; ``calib`` (N x H x W x 3 noisy float32) is needed for int8."""
    import tensorflow as tf

    if precision not in PRECISIONS:
        raise EdgeDenoiseError(f"unknown precision '{precision}'; choose from {', '.join(PRECISIONS)}")
    if io not in IO_TYPES:
        raise EdgeDenoiseError(f"unknown --io '{io}'; choose from {', '.join(IO_TYPES)}")
    if io != "float" and precision != "int8":
        raise EdgeDenoiseError(f"--io {io} needs --quant int8 (only full-integer files have integer I/O)")
    if precision == "int8" and (calib is None or len(calib) == 0):
        raise EdgeDenoiseError("int8 needs calibration images (--calib or the run's training split)")

    with tempfile.TemporaryDirectory(prefix="edge-denoise-export-") as tmp:
        saved = Path(tmp) / "saved_model"
        # A fully static signature (batch 1 included) lets the converter fold the SHAPE/STRIDED_SLICE/PACK
        # ops Keras emits for Conv2DTranspose's output shape; left in, they split the graph and keep
        # TRANSPOSE_CONV off XNNPACK (on the int8 U-Net: 5 delegate partitions instead of 2, ~20 % slower).
        shape = tuple(model.inputs[0].shape)
        signature = [tf.TensorSpec(shape, tf.float32)] if all(d is not None for d in shape) else None
        model.export(str(saved), format="tf_saved_model", verbose=False, input_signature=signature)
        converter = tf.lite.TFLiteConverter.from_saved_model(str(saved))
        if precision != "fp32":
            converter.optimizations = [tf.lite.Optimize.DEFAULT]
        if precision == "fp16":
            converter.target_spec.supported_types = [tf.float16]
        if precision == "int8":
            samples = np.asarray(calib, dtype=np.float32)

            def representative():
                for x in samples:
                    yield [x[None]]

            converter.representative_dataset = representative
            converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
            if io != "float":
                converter.inference_input_type = getattr(tf, io)
                converter.inference_output_type = getattr(tf, io)
        try:
            return bytes(converter.convert())
        except Exception as exc:  # the converter raises ConverterError, RuntimeError, ValueError...
            first = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else type(exc).__name__
            raise EdgeDenoiseError(f"TFLite converter failed for {precision}: {first}") from None


def convert_int8_selective(model, calib: np.ndarray, choose_float) -> tuple[bytes, list[str]]:
    """Full int8 except the nodes ``choose_float(interpreter)`` names from the plain int8 conversion, which stay
    float (TensorFlow's selective quantization: QuantizationDebugger with denylisted nodes). For the
    benchmarks' experiments; ``convert`` never writes such a file. A FakeQuant op still rounds in float, so
    a tensor meant to stay unrounded needs its FakeQuant layer off as well. Returns the file and the names."""
    import tensorflow as tf

    samples = np.asarray(calib, dtype=np.float32)
    with tempfile.TemporaryDirectory(prefix="edge-denoise-selective-") as tmp:
        model.export(f"{tmp}/sm", format="tf_saved_model", verbose=False,
                     input_signature=[tf.TensorSpec(tuple(model.inputs[0].shape), tf.float32)])
        converter = tf.lite.TFLiteConverter.from_saved_model(f"{tmp}/sm")
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = lambda: ([x[None]] for x in samples)
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8, tf.lite.OpsSet.TFLITE_BUILTINS]
        plain = bytes(converter.convert())
        names = list(choose_float(tf.lite.Interpreter(model_content=plain)))
        if not names:
            return plain, names
        options = tf.lite.experimental.QuantizationDebugOptions(denylisted_nodes=names)
        debugger = tf.lite.experimental.QuantizationDebugger(
            converter=converter, debug_dataset=lambda: ([x[None]] for x in samples[:4]), debug_options=options)
        return bytes(debugger.get_nondebug_quantized_model()), names


def op_names(blob: bytes) -> set[str]:
    """Builtin op names in a .tflite flatbuffer (empty if TensorFlow's schema module is unavailable)."""
    try:
        from tensorflow.lite.python import schema_py_generated as fb
    except ImportError:
        return set()
    model = fb.Model.GetRootAsModel(blob, 0)
    names = {v: k for k, v in vars(fb.BuiltinOperator).items() if not k.startswith("_")}
    codes = (model.OperatorCodes(i) for i in range(model.OperatorCodesLength()))
    return {names.get(max(c.BuiltinCode(), c.DeprecatedBuiltinCode()), "?") for c in codes}
