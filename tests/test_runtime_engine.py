"""The engine's frame path: uint8 frames in and out, zero-copy for uint8-I/O models; float images take the same path."""

from __future__ import annotations

import numpy as np
import pytest
from tflite_fixtures import float_model, gray_model, tflite_dir, uint8_model  # noqa: F401

from edge_runtime.engine import load_engine
from edge_runtime.errors import EdgeDenoiseError
from edge_runtime.pipeline import FrameDenoiser


def frame(h=64, w=64, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3)).astype(np.uint8)


def test_uint8_model_takes_frames_zero_copy(uint8_model):
    engine = load_engine(uint8_model, threads=2)
    assert engine.input_dtype == np.uint8 and engine.zero_copy_input
    f = frame()
    out = engine.denoise_frame(f)
    assert out.dtype == np.uint8 and out.shape == f.shape


def test_a_uint8_output_at_scale_1_over_255_is_copied_as_it_is():
    """camnet's files quantize the output at 1/255, zero point 0: the tensor is the frame, so no lookup table runs."""
    from edge_runtime.zoo import SHIPPED_DIR

    engine = load_engine(SHIPPED_DIR / "camnet_int8_128x128_u8io.tflite")
    assert engine.zero_copy_output
    f = frame(128, 128)
    copied = engine.denoise_frame(f).copy()
    engine.zero_copy_output = False  # the general path: the output's bytes through its lookup table
    assert np.array_equal(engine.denoise_frame(f), copied)


def test_float_model_takes_float32_in_0_1(float_model):
    engine = load_engine(float_model)
    assert engine.input_dtype == np.float32 and not engine.zero_copy_input
    f = frame()
    out = engine.denoise_frame(f)
    assert out.dtype == np.uint8 and out.shape == f.shape


@pytest.mark.parametrize("model", ["uint8_model", "float_model"])
def test_float_images_go_through_the_frame_path_as_on_a_device(model, request):
    """denoise01 (the gate's and eval's call) rounds to a uint8 frame, runs denoise_frame and reads uint8 back."""
    from edge_runtime.images import to_frame_rgb, to_image01

    engine = load_engine(request.getfixturevalue(model))
    x = np.random.default_rng(3).random((64, 64, 3), dtype=np.float32)  # not on the uint8 grid
    on_device = to_image01(engine.denoise_frame(to_frame_rgb(x)))
    assert np.array_equal(engine.denoise01(x), on_device)
    assert np.array_equal(engine(x[None])[0], on_device)


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


# --- backends: LiteRT's CompiledModel (default where it exists) and the classic Interpreter -----------
from edge_runtime.engine import Runtime, choose_backend, compiled_model_available  # noqa: E402

needs_compiled = pytest.mark.skipif(not compiled_model_available(), reason="this ai-edge-litert has no CompiledModel")


@needs_compiled
@pytest.mark.parametrize("model", ["uint8_model", "float_model"])
def test_compiled_and_interpreter_backends_give_the_same_frames(model, request):
    path = request.getfixturevalue(model)
    compiled, classic = load_engine(path, backend="compiled"), load_engine(path, backend="interpreter")
    assert (compiled.backend, classic.backend) == ("compiled", "interpreter")
    for seed in range(3):
        f = frame(seed=seed)
        assert np.array_equal(compiled.denoise_frame(f), classic.denoise_frame(f))
    x = frame(seed=9).astype(np.float32) / 255.0
    assert np.allclose(compiled.denoise01(x), classic.denoise01(x), atol=1e-6)


def test_auto_picks_the_interpreter(uint8_model):
    """Same kernels and speed as CompiledModel, less memory, and it releases the GIL during invoke, so a
    live camera's capture thread keeps draining the driver meanwhile (benchmarks/live_latency.py)."""
    engine = load_engine(uint8_model)
    assert engine.backend == "interpreter" and engine.describe()["backend"] == "interpreter"


@needs_compiled
def test_auto_picks_the_compiled_backend_for_its_options_and_keeps_litert_logs_off_the_terminal(uint8_model, capfd):
    engine = load_engine(uint8_model, low_memory=True)
    engine.denoise_frame(frame())
    assert engine.backend == "compiled" and engine.describe()["backend"] == "compiled"
    assert "accelerator" not in capfd.readouterr().err.lower()
    # the inspection Interpreter still lists the graph for doctor and the tests
    assert engine.interpreter.get_input_details()[0]["dtype"] == np.uint8


def test_backend_choice_follows_the_flag_then_the_environment(monkeypatch):
    litert = Runtime("ai-edge-litert", "2.3.0", object, object)
    old = Runtime("tflite-runtime", "2.14.0", object, object)
    monkeypatch.setenv("EDGE_DENOISE_BACKEND", "interpreter")
    assert choose_backend("auto", litert, None) == "interpreter"
    monkeypatch.delenv("EDGE_DENOISE_BACKEND")
    assert choose_backend("interpreter", litert, None) == "interpreter"
    assert choose_backend("auto", old, None) == "interpreter"  # tflite-runtime has no CompiledModel
    assert choose_backend("auto", litert, None) == "interpreter"  # same speed, releases the GIL, less memory
    assert choose_backend("auto", litert, None, needs_compiled=True) == "compiled"  # --low-memory, --fp16-arith
    assert choose_backend("auto", old, None, needs_compiled=True) == "interpreter"  # the engine then says why not
    assert choose_backend("auto", litert, "libedgetpu.so.1") == "interpreter"  # delegates plug into the Interpreter
    with pytest.raises(EdgeDenoiseError, match="not available here"):
        choose_backend("compiled", old, None)
    with pytest.raises(EdgeDenoiseError, match="unknown backend 'gpu'"):
        choose_backend("gpu", litert, None)


@needs_compiled
def test_a_file_litert_cannot_compile_is_one_line_when_the_compiled_backend_is_needed(uint8_model, monkeypatch):
    import edge_runtime.engine as engine_module

    def refuse(path, *args):
        raise EdgeDenoiseError(f"{path}: LiteRT cannot compile this model (op FOO)")

    monkeypatch.setattr(engine_module, "CompiledIO", refuse)
    assert load_engine(uint8_model).denoise_frame(frame()).shape == (64, 64, 3)  # the default never compiles
    for options in ({"backend": "compiled"}, {"low_memory": True}):
        with pytest.raises(EdgeDenoiseError, match="op FOO"):
            load_engine(uint8_model, **options)


def test_low_memory_is_the_users_trade_never_the_default(uint8_model, monkeypatch):  # noqa: F811
    """Transient indirection buffers save memory but rebuild XNNPACK's tables every run (up to 1.7x slower):
    the compiled backend keeps its tables unless --low-memory asks for the trade."""
    from edge_runtime import engine

    if not engine.compiled_model_available():
        pytest.skip("no LiteRT CompiledModel here")
    seen = []
    real = engine.CompiledIO.__init__

    def spy(self, *args, **kwargs):
        seen.append(args[5] if len(args) > 5 else kwargs["xnnpack_flags"])
        real(self, *args, **kwargs)

    monkeypatch.setattr(engine.CompiledIO, "__init__", spy)
    frame = np.full((*load_engine(uint8_model, backend="compiled").input_hw, 3), 128, np.uint8)
    fast = load_engine(uint8_model, backend="compiled")
    lean = load_engine(uint8_model, backend="compiled", low_memory=True)
    assert not seen[0] & engine.XNNPACK_TRANSIENT_INDIRECTION_BUFFER
    assert seen[-1] & engine.XNNPACK_TRANSIENT_INDIRECTION_BUFFER
    assert np.array_equal(fast.denoise_frame(frame), lean.denoise_frame(frame))
    assert lean.describe()["low_memory"] and not fast.describe()["low_memory"]


def test_low_memory_needs_the_compiled_backend(uint8_model):  # noqa: F811
    with pytest.raises(EdgeDenoiseError, match="--low-memory needs the compiled backend"):
        load_engine(uint8_model, backend="interpreter", low_memory=True)
