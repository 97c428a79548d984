"""Tiny .tflite denoisers built once per test session: float32 I/O and full-int8 with uint8 I/O.

Built the robust Keras 3 way (export a SavedModel, then TFLiteConverter.from_saved_model), so the
files look like the ones the convert stage ships. Import the fixtures into a test module with
``from tflite_fixtures import float_model, uint8_model, gray_model  # noqa: F401``
(pytest puts tests/ on sys.path).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

SIZE = 64


def build_tflite(out: Path, precision: str = "float32", channels: int = 3, size: int = SIZE) -> Path:
    """Write ``out`` (.tflite) plus its JSON sidecar: Conv(4) -> Conv(channels, sigmoid) on size x size x channels."""
    import tensorflow as tf
    import keras

    keras.utils.set_random_seed(0)
    inp = keras.Input((size, size, channels))
    x = keras.layers.Conv2D(4, 3, activation="relu", padding="same")(inp)
    y = keras.layers.Conv2D(channels, 3, activation="sigmoid", padding="same")(x)
    model = keras.Model(inp, y)
    saved = out.parent / f"{out.stem}_saved"
    model.export(str(saved), format="tf_saved_model", verbose=False)
    conv = tf.lite.TFLiteConverter.from_saved_model(str(saved))
    if precision in ("int8", "uint8"):
        rng = np.random.default_rng(0)

        def representative():
            for _ in range(8):
                yield [rng.random((1, size, size, channels), dtype=np.float32)]

        conv.optimizations = [tf.lite.Optimize.DEFAULT]
        conv.representative_dataset = representative
        conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        conv.inference_input_type = tf.uint8 if precision == "uint8" else tf.int8
        conv.inference_output_type = tf.uint8 if precision == "uint8" else tf.int8
    out.write_bytes(conv.convert())
    meta = {"name": "tiny", "architecture": "conv2", "input_size": [size, size], "precision": precision,
            "io_dtype": "float32" if precision == "float32" else precision, "noise": "gaussian:0.1"}
    out.with_suffix(".json").write_text(json.dumps(meta))
    return out


@pytest.fixture(scope="session")
def tflite_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("tflite")


@pytest.fixture(scope="session")
def float_model(tflite_dir: Path) -> Path:
    """A 64x64 RGB model with float32 input and output."""
    return build_tflite(tflite_dir / "tiny_float32_64x64.tflite", "float32")


@pytest.fixture(scope="session")
def uint8_model(tflite_dir: Path) -> Path:
    """A 64x64 RGB full-int8 model with uint8 input and output."""
    return build_tflite(tflite_dir / "tiny_int8_64x64.tflite", "uint8")


@pytest.fixture(scope="session")
def gray_model(tflite_dir: Path) -> Path:
    """A wrong-shaped model: one channel instead of three."""
    return build_tflite(tflite_dir / "tiny_gray_64x64.tflite", "float32", channels=1)
