"""The engine's frame path: uint8 frames in and out, zero-copy for uint8-I/O models, same result as image01."""

from __future__ import annotations

import numpy as np
import pytest
from tflite_fixtures import float_model, gray_model, tflite_dir, uint8_model  # noqa: F401

from edge_runtime.engine import load_engine
from edge_runtime.errors import EdgeDenoiseError
from edge_runtime.pipeline import FrameDenoiser


def frame(h=64, w=64, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3)).astype(np.uint8)


def test_uint8_model_takes_frames_zero_copy_and_matches_the_float_path(uint8_model):
    engine = load_engine(uint8_model, threads=2)
    assert engine.input_dtype == np.uint8 and engine.zero_copy_input
    f = frame()
    fast = engine.denoise_frame(f).copy()
    slow = np.rint(engine.denoise01(f.astype(np.float32) / 255.0) * 255.0)
    assert fast.dtype == np.uint8 and np.abs(fast - slow).max() <= 1


def test_float_model_takes_float32_in_0_1(float_model):
    engine = load_engine(float_model)
    assert engine.input_dtype == np.float32 and not engine.zero_copy_input
    f = frame()
    out = engine.denoise_frame(f)
    ref = np.rint(engine.denoise01(f.astype(np.float32) / 255.0) * 255.0)
    assert out.shape == f.shape and np.abs(out - ref).max() <= 1


def test_frame_path_reuses_its_output_buffer(uint8_model):
    engine = load_engine(uint8_model)
    a = engine.denoise_frame(frame(seed=1))
    b = engine.denoise_frame(frame(seed=2))
    assert a is b


@pytest.mark.parametrize("tile", [True, False])
@pytest.mark.parametrize("hw", [(64, 64), (120, 200), (40, 50)])
def test_frames_of_any_size_come_back_at_their_size(uint8_model, tile, hw):
    denoise = FrameDenoiser(load_engine(uint8_model), tile=tile, overlap=8)
    out = denoise(frame(*hw))
    assert out.shape == (*hw, 3) and out.dtype == np.uint8
    assert all(t >= 0 for t in denoise.times)


def test_tiled_frame_matches_per_tile_output_where_tiles_do_not_overlap(float_model):
    engine = load_engine(float_model)
    f = frame(64, 128)
    tiled = FrameDenoiser(engine, tile=True, overlap=0)(f).copy()
    left = engine.denoise_frame(np.ascontiguousarray(f[:, :64])).copy()
    assert np.abs(tiled[:, :64].astype(int) - left).max() <= 1


def test_wrong_shaped_model_is_one_clear_line(gray_model):
    with pytest.raises(EdgeDenoiseError) as info:
        load_engine(gray_model)
    assert "is not [1, H, W, 3]" in str(info.value) and "\n" not in str(info.value)


def test_corrupt_and_missing_model_files_are_one_line(tmp_path):
    bad = tmp_path / "bad.tflite"
    bad.write_bytes(b"not a model at all")
    for path, why in ((bad, "not a TFLite model"), (tmp_path / "none.tflite", "no such model file")):
        with pytest.raises(EdgeDenoiseError, match=why):
            load_engine(path)
