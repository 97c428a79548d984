"""camnet, the camera model: int8 by construction, trainable in bfloat16, saved as float32."""

from pathlib import Path

import numpy as np
import pytest

from edge_runtime.errors import EdgeDenoiseError
from train.config import TrainConfig
from train.training import train

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "edge_runtime" / "samples"


def test_camnet_is_fully_convolutional_and_merges_by_concatenation_only():
    import keras

    from train.models import create_model, size_multiple

    model = create_model("camnet", width=8)
    out = model(np.random.default_rng(0).random((1, 48, 64, 3), dtype=np.float32))
    assert out.shape == (1, 48, 64, 3) and size_multiple("camnet") == 8
    kinds = {type(layer).__name__ for layer in model.layers}
    assert "Concatenate" in kinds
    adds = [layer.name for layer in model.layers if isinstance(layer, keras.layers.Add)]
    assert adds == ["residual"], "one image-space residual, at the output only"
    full_res_convs = [layer.name for layer in model.layers if isinstance(layer, keras.layers.Conv2D)
                      and layer.output.shape[1] is None and layer.strides == (1, 1)
                      and layer.input.shape[-1] == 3]
    assert not full_res_convs, "no conv reads the full-resolution image"


def test_full_res_adds_one_thin_conv_on_the_image_and_one_that_writes_the_correction():
    import keras

    from train.models import create_model

    model = create_model("camnet", width=8, full_res=4)
    frame = np.random.default_rng(0).random((1, 48, 64, 3), dtype=np.float32)
    probe = keras.Model(model.input, [model.get_layer("full").output, model.get_layer("correction").output])
    full, correction = probe(frame)
    assert full.shape == (1, 48, 64, 4) and correction.shape == (1, 48, 64, 3), "both at full resolution"
    assert model.get_layer("merge1").output.shape[-1] == 4 + 8 // 4, "the input's features beside the decoder's"
    assert [layer.name for layer in model.layers if isinstance(layer, keras.layers.Add)] == ["residual"]


def test_full_res_is_a_camnet_setting_kept_in_the_run_config():
    assert TrainConfig(model="camnet", full_res=12).model_kwargs()["full_res"] == 12
    assert "full_res" not in TrainConfig(model="camnet").model_kwargs(), "older runs rebuild unchanged"
    with pytest.raises(EdgeDenoiseError, match="--full-res 8: camnet takes"):
        train(TrainConfig(model="unet", full_res=8, data=str(SAMPLES)), verbose=0)


def test_start_scale_4_drops_the_half_resolution_level_and_full_res_meets_the_input_in_one_conv():
    """--start-scale 4: the first conv sees each 4x4 block as 48 channels at 1/4; with --full-res N the decoder's
    last features are shuffled up to N channels at full resolution, beside the input, for the one conv there."""
    import keras

    from train.models import create_model

    model = create_model("camnet", width=8, start_scale=4, full_res=2)
    frame = np.random.default_rng(0).random((1, 48, 64, 3), dtype=np.float32)
    probe = keras.Model(model.input, [model.get_layer(name).output for name in ("stem", "enc8", "correction")])
    stem, enc8, correction = probe(frame)
    assert stem.shape == (1, 12, 16, 16) and enc8.shape == (1, 6, 8, 32) and correction.shape == (1, 48, 64, 3)
    assert model.get_layer("stem").input.shape[-1] == 48
    assert model.get_layer("merge1").output.shape[-1] == 2 + 3, "N decoder channels beside the input"
    convs = {layer.name for layer in model.layers if isinstance(layer, keras.layers.Conv2D)}
    assert not {"enc2", "dec2", "full"} & convs, "no 1/2 level, no conv on the input alone"
    np.testing.assert_allclose(model(frame), frame, atol=1e-6, err_msg="an untrained one starts as the identity")


def test_bottom_width_sets_the_channels_at_one_eighth_and_is_kept_in_the_run_config():
    from train.models import create_model

    model = create_model("camnet", width=8, bottom_width=48)
    assert model.get_layer("enc8").output.shape[-1] == 48, "instead of 4 x width"
    assert model.get_layer("merge4").output.shape[-1] == 48 // 4 + 16, "the 1/8 features shuffled up, beside the 1/4 ones"
    assert TrainConfig(model="camnet", bottom_width=48).model_kwargs()["bottom_width"] == 48
    assert "bottom_width" not in TrainConfig(model="camnet").model_kwargs(), "older runs rebuild unchanged"
    with pytest.raises(EdgeDenoiseError, match="--bottom-width 48: camnet takes"):
        train(TrainConfig(model="fastnet", bottom_width=48, data=str(SAMPLES)), verbose=0)


def test_bottom_depth_adds_convs_at_one_eighth_and_is_kept_in_the_run_config():
    from train.models import create_model

    model = create_model("camnet", width=8, bottom_depth=3)
    assert [model.get_layer(n).output.shape[-1] for n in ("enc8", "enc8_2", "enc8_3")] == [32, 32, 32]
    assert model.get_layer("enc8_2").strides == (1, 1), "at 1/8, after the strided conv"
    assert TrainConfig(model="camnet", bottom_depth=2).model_kwargs()["bottom_depth"] == 2
    assert "bottom_depth" not in TrainConfig(model="camnet").model_kwargs(), "older runs rebuild unchanged"
    with pytest.raises(EdgeDenoiseError, match="--bottom-depth 0: camnet takes"):
        train(TrainConfig(model="camnet", bottom_depth=0, data=str(SAMPLES)), verbose=0)


def test_the_black_floor_sets_dark_output_to_black_and_passes_the_rest_unchanged():
    from train.layers import BLACK_FLOOR_RAMP, BlackFloor

    x = np.linspace(0.0, 1.0, 1001, dtype=np.float32).reshape(1, 1, -1, 1)
    y = np.asarray(BlackFloor(0.05)(x)).ravel()
    x = x.ravel()
    assert np.all(y[x < 0.05] == 0), "below the floor: black"
    above = x > 0.05 + BLACK_FLOOR_RAMP
    np.testing.assert_allclose(y[above], x[above], atol=1e-6, err_msg="above floor and ramp: unchanged")
    assert np.all(np.diff(y) >= 0) and y.max() <= 1.0, "a ramp, not a step: monotone, still within [0, 1]"


def test_black_floor_ends_camnet_and_is_kept_in_the_run_config(tmp_path):
    from train.evaluate import load_keras_model
    from train.models import create_model

    model = create_model("camnet", width=8, black_floor=0.05)
    assert model.layers[-1].name == "black_floor"
    dark = np.full((1, 16, 16, 3), 0.02, dtype=np.float32)
    assert float(np.max(model(dark))) == 0.0, "the model starts as the identity, so a dark frame comes out black"
    model.save(tmp_path / "model.keras")
    assert load_keras_model(tmp_path / "model.keras").layers[-1].get_config()["level"] == 0.05
    assert TrainConfig(model="camnet", black_floor=0.05).model_kwargs()["black_floor"] == 0.05
    assert "black_floor" not in TrainConfig(model="camnet").model_kwargs(), "older runs rebuild unchanged"


@pytest.mark.parametrize("options, message", [
    ({"model": "fastnet"}, "--black-floor 0.05: camnet with --residual takes"),
    ({"model": "camnet", "black_floor": 0.6}, "--black-floor 0.6: camnet with --residual takes"),
    ({"model": "camnet", "background_margin": 0.03}, "--black-floor 0.05 with --background-margin 0.03: the floor"),
])
def test_a_black_floor_where_it_cannot_go_is_one_line(options, message):
    config = TrainConfig(data=str(SAMPLES), **{"black_floor": 0.05, **options})
    with pytest.raises(EdgeDenoiseError, match=message):
        train(config, verbose=0)


def test_start_scale_is_a_camnet_setting_kept_in_the_run_config():
    assert TrainConfig(model="camnet", start_scale=4).model_kwargs()["start_scale"] == 4
    assert "start_scale" not in TrainConfig(model="camnet").model_kwargs(), "older runs rebuild unchanged"
    with pytest.raises(EdgeDenoiseError, match="--start-scale 3: camnet starts at 1/2"):
        train(TrainConfig(model="camnet", start_scale=3, data=str(SAMPLES)), verbose=0)
    with pytest.raises(EdgeDenoiseError, match="--start-scale 4: camnet starts"):
        train(TrainConfig(model="unet", start_scale=4, data=str(SAMPLES)), verbose=0)


def test_the_global_gate_scales_the_correction_by_one_number_per_frame_and_closed_lets_the_frame_through():
    """A blind network smooths a clean frame (it cannot tell fine texture from faint noise in a 3x3 window); the
    whole frame can tell. The gate is a sigmoid of the 1/8 features averaged over the frame, times the correction."""
    import keras

    from train.models import create_model

    model = create_model("camnet", width=8, full_res=4, global_gate=True)
    frame = np.random.default_rng(0).uniform(0.1, 0.9, (2, 48, 64, 3)).astype(np.float32)
    gate = keras.Model(model.input, model.get_layer("gate").output)(frame)
    assert gate.shape == (2, 1, 1, 1), "one number per frame"
    assert np.allclose(gate, 0.5, atol=0.05), "starts half open, where a sigmoid learns fastest"
    kernel, _ = model.get_layer("gate").get_weights()
    model.get_layer("gate").set_weights([kernel, np.array([-30.0], np.float32)])  # closed
    assert np.allclose(model(frame), frame, atol=1e-6), "a closed gate passes the frame through"


def test_gate_and_impulse_threshold_are_camnet_settings_kept_in_the_run_config():
    kwargs = TrainConfig(model="camnet", impulse_reject=True, impulse_threshold=0.1, global_gate=True).model_kwargs()
    assert kwargs["global_gate"] and kwargs["impulse_threshold"] == 0.1
    assert not {"global_gate", "impulse_threshold"} & set(TrainConfig(model="camnet", impulse_reject=True).model_kwargs())
    with pytest.raises(EdgeDenoiseError, match="--global-gate: only camnet takes it"):
        train(TrainConfig(model="unet", global_gate=True, data=str(SAMPLES)), verbose=0)
    with pytest.raises(EdgeDenoiseError, match="--impulse-threshold 0.1: .* with --impulse-reject"):
        train(TrainConfig(model="camnet", impulse_threshold=0.1, data=str(SAMPLES)), verbose=0)
    with pytest.raises(EdgeDenoiseError, match="--impulse-threshold 1.5: takes a distance between 0 and 1"):
        train(TrainConfig(model="camnet", impulse_reject=True, impulse_threshold=1.5, data=str(SAMPLES)), verbose=0)


def _sample_photo(size: int = 64) -> np.ndarray:
    import cv2

    path = sorted(SAMPLES.rglob("*.jpg"))[0]
    image = cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)
    return cv2.resize(image, (size, size), interpolation=cv2.INTER_AREA).astype(np.float32)[None] / 255.0


def test_level_input_measures_the_noise_in_the_graph_and_its_gate_lets_a_frame_through():
    """The network is told how noisy the frame is (FFDNet's noise-level input), measured by fixed weights:
    the finest diagonal Haar band, averaged over the frame, rises with the noise; nothing learnt reads it."""
    import keras

    from train.camnet import LEVEL_GATE_BIAS
    from train.models import create_model

    model = create_model("camnet", width=8, full_res=4, impulse_reject=True, level_input=True)
    assert not model.get_layer("level_band").trainable_weights, "the estimate is fixed, not learnt"
    level = keras.Model(model.input, model.get_layer("level").output)
    clean = _sample_photo()
    rng = np.random.default_rng(0)
    readings = [float(np.sum(level(np.clip(clean + rng.normal(0, sigma, clean.shape), 0, 1).astype(np.float32))))
                for sigma in (0.0, 0.02, 0.05, 0.1, 0.2)]
    assert readings == sorted(readings) and readings[0] < readings[2] / 3, readings
    gate = keras.Model(model.input, model.get_layer("level_gate").output)(clean)
    assert gate.shape == (1, 1, 1, 1) and np.allclose(gate, 1 / (1 + np.exp(-LEVEL_GATE_BIAS)), atol=0.05), \
        "one number per frame, starting open: it fine-tunes a trained model"
    kernel, _ = model.get_layer("level_gate").get_weights()
    model.get_layer("level_gate").set_weights([kernel, np.array([-30.0], np.float32)])  # closed
    assert np.allclose(model(clean), clean, atol=1e-6), "a closed gate passes the frame through"


def test_level_input_is_a_camnet_setting_kept_in_the_run_config_and_fine_tunes_a_model_without_it(tmp_path):
    from train.models import create_model
    from train.training import init_weights

    assert TrainConfig(model="camnet", level_input=True).model_kwargs()["level_input"] is True
    assert "level_input" not in TrainConfig(model="camnet").model_kwargs()
    for wrong in ({"model": "unet"}, {"model": "camnet", "start_scale": 4}):
        with pytest.raises(EdgeDenoiseError, match="--level-input: only camnet takes it, with --start-scale 2"):
            train(TrainConfig(level_input=True, data=str(SAMPLES), **wrong), verbose=0)
    plain = create_model("camnet", width=8, full_res=4)
    plain.save(tmp_path / "plain.keras")
    fresh = init_weights(create_model("camnet", width=8, full_res=4, level_input=True), str(tmp_path / "plain.keras"))
    assert sorted(fresh) == ["level_bias", "level_gate", "level_hidden"], "only the parts the option adds start anew"


def test_balancing_the_full_resolution_features_keeps_the_float_model_and_fills_the_merge_range():
    """int8 gives the last merge one scale: the full-resolution features (range 0-1.6 in the shipped model) were
    rounded on the decoder's 0-6 grid. Carried g times larger, with the convs that read them divided by g, the
    float model is the same and their int8 grid is g times finer."""
    import keras

    from train.camnet import balance_full_res
    from train.models import create_model

    model = create_model("camnet", width=8, full_res=4, quant_aware=True)
    frame = _sample_photo()
    full_high = float(np.max(keras.Model(model.input, model.get_layer("full").output)(frame)))
    model.get_layer("full_fq").high.assign(full_high)  # as if trained on this frame
    model.get_layer("merge1_fq").high.assign(6.0)
    before = np.asarray(model(frame))
    gain = balance_full_res(model, fill=0.9)
    assert gain == pytest.approx(0.9 * 6.0 / full_high, rel=1e-5)
    assert float(model.get_layer("full_fq").high.numpy()) == pytest.approx(0.9 * 6.0, rel=1e-5)
    assert np.allclose(model(frame), before, atol=1e-5), "the same float model"
    assert balance_full_res(create_model("camnet", width=8, quant_aware=True)) is None, "no full-resolution stage"
    assert balance_full_res(create_model("camnet", width=8, full_res=4)) is None, "no trained ranges to balance"


def test_quant_aware_camnet_rounds_every_tensor_the_int8_file_holds():
    from train.layers import FakeQuant
    from train.models import create_model

    model = create_model("camnet", width=8, quant_aware=True)
    fq = [layer for layer in model.layers if isinstance(layer, FakeQuant)]
    convs = [layer for layer in model.layers if type(layer).__name__ == "Conv2D"]
    assert len(fq) >= len(convs) + 3  # every conv, every merge and the residual
    assert all(layer.dtype_policy.compute_dtype == "float32" for layer in fq)


def test_bfloat16_training_saves_a_float32_model(tmp_path):
    from train.evaluate import load_keras_model

    config = TrainConfig(model="camnet", width=8, data=str(SAMPLES), out=str(tmp_path / "run"), size=32,
                         batch_size=4, epochs=1, max_images=6, noise="camera:8-32", precision="bfloat16")
    result = train(config, verbose=0)
    model = load_keras_model(result.run_dir / "model.keras")
    assert {layer.dtype_policy.compute_dtype for layer in model.layers if layer.weights} == {"float32"}
    assert 0 < result.metrics["model"]["ssim_mean"] <= 1


def test_an_unknown_precision_is_one_line(tmp_path):
    config = TrainConfig(model="camnet", data=str(SAMPLES), out=str(tmp_path / "run"), precision="fp8")
    with pytest.raises(EdgeDenoiseError, match="--precision fp8: choose one of: float32, bfloat16"):
        train(config, verbose=0)


@pytest.mark.parametrize("options", [{"full_res": 0}, {"full_res": 4},
                                     {"full_res": 4, "global_gate": True, "impulse_threshold": 0.1},
                                     {"full_res": 4, "level_input": True},
                                     {"start_scale": 4, "full_res": 2}, {"full_res": 2, "bottom_width": 16},
                                     {"full_res": 2, "bottom_depth": 2}, {"full_res": 2, "black_floor": 0.05}])
def test_a_quant_aware_camnet_converts_to_int8_with_uint8_io_and_passes_its_gate(tmp_path, options):
    """The camera path's file: int8 inside, uint8 frames in and out, the training ranges kept."""
    from convert import ConvertConfig, convert_run
    from tests.test_convert import make_run

    from edge_runtime.engine import load_engine, read_metadata

    model = make_run(tmp_path / "run", "camnet", width=8, quant_aware=True, impulse_reject=True, **options)
    report = convert_run(ConvertConfig(model=str(model), out=str(tmp_path / "out"), sizes=((32, 32),),
                                       precisions=("int8",), io="uint8", calib_count=8, gate_count=4, max_drop=1.0))
    (row,) = report.files
    assert row["status"] == "ok", row
    path = Path(row["file"])
    frame = (np.random.default_rng(0).random((32, 32, 3)) * 255).astype(np.uint8)
    assert load_engine(path).denoise_frame(frame).shape == frame.shape
    meta = read_metadata(path)
    assert meta["precision"] == "int8" and meta["io_dtype"] == "uint8" and meta["architecture"] == "camnet"
    assert {k: meta["model_kwargs"].get(k, 0) for k in options} == options, "the sidecar rebuilds the same camnet"


def test_epochs_0_adds_the_black_floor_to_a_trained_camnet_without_a_training_step(tmp_path):
    """How a floor is put on a model already trained: its weights, this run's options, no step taken."""
    from train.evaluate import load_keras_model

    common = {"model": "camnet", "width": 8, "size": 32, "crop": 32, "batch_size": 4, "data": str(SAMPLES),
              "impulse_reject": True}
    train(TrainConfig(out=str(tmp_path / "plain"), epochs=1, **common), verbose=0)
    plain = tmp_path / "plain" / "model.keras"
    result = train(TrainConfig(out=str(tmp_path / "floor"), epochs=0, init_from=str(plain), black_floor=0.05, **common),
                   verbose=0)
    floored = load_keras_model(result.run_dir / "model.keras")
    assert floored.layers[-1].name == "black_floor" and 0 < result.metrics["model"]["ssim_mean"] <= 1
    before = load_keras_model(plain)
    for layer in before.layers:
        for mine, theirs in zip(floored.get_layer(layer.name).get_weights(), layer.get_weights()):
            np.testing.assert_array_equal(mine, theirs, err_msg=f"{layer.name}: no training step")
    with pytest.raises(EdgeDenoiseError, match="--epochs 0: takes 1 or more, or 0 with --init-from"):
        train(TrainConfig(out=str(tmp_path / "none"), epochs=0, **common), verbose=0)
