"""Beyond the seed models: blind noise mixtures, augmentation, U-Net options, the edge-efficient fastnet, a
pretrained-encoder U-Net, and the fixed evaluation suite."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from edge_runtime.errors import EdgeDenoiseError
from edge_runtime.noise import BLIND, add_noise, parse_noise
from train.config import TrainConfig, load_config
from train.data import AUGMENTATIONS, make_augment, parse_augment
from train.models import build_unet, create_model, size_multiple

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "edge_runtime" / "samples"
GRAY = np.full((64, 64, 3), 0.5, np.float32)


def cli(*args):
    return subprocess.run([sys.executable, "-m", "edge_denoise", *map(str, args)], capture_output=True, text=True,
                          cwd=ROOT, env={**os.environ, "COLUMNS": "200"})


# --- noise: weighted lists, the blind preset, jpeg ------------------------------------------------
def test_a_weighted_list_draws_one_alternative_per_image_in_proportion():
    spec = parse_noise("gaussian:0.2@3,saltpepper:0.5@1")
    out = spec.apply(np.full((400, 8, 8, 3), 0.5, np.float32), np.random.default_rng(0))
    salted = np.any((out == 0) | (out == 1), axis=(1, 2, 3)) & (np.abs(out - 0.5) < 1e-6).any(axis=(1, 2, 3))
    assert 0.18 < salted.mean() < 0.32, "about 1 in 4 images gets salt and pepper"
    assert len(spec.choices) == 2 and spec.steps == ()


def test_single_specs_are_parsed_as_before_and_mixtures_are_reproducible():
    assert parse_noise("motionblur:7+gaussian:0.05").choices == ()
    a = add_noise(np.stack([GRAY] * 6), "blind", rng=4)
    b = add_noise(np.stack([GRAY] * 6), "blind", rng=4)
    assert np.array_equal(a, b) and a.dtype == np.float32 and 0 <= a.min() and a.max() <= 1


def test_the_blind_preset_covers_every_farm_line_corruption():
    spec = parse_noise("blind")
    kinds = {step.kind for _, chain in spec.choices for step in chain.steps}
    assert kinds == {"gaussian", "poisson", "speckle", "saltpepper", "motionblur", "jpeg"}
    assert spec.text == "blind" and parse_noise(BLIND).choices == spec.choices


def test_jpeg_noise_gets_worse_as_quality_drops():
    from conftest import smooth_image

    clean = smooth_image(64, 64).astype(np.float32) / 255.0
    clean = add_noise(clean, "gaussian:0.05", rng=0)  # texture for the codec to lose
    err = {q: np.abs(add_noise(clean, f"jpeg:{q}", rng=0) - clean).mean() for q in (10, 50, 95)}
    assert err[10] > err[50] > err[95] > 0


@pytest.mark.parametrize("spec, says", [
    ("gaussian:0.1@0", "must be a positive number"),
    ("gaussian:0.1,,poisson:30", "empty alternative"),
    ("gaussian:0.1@x", "needs CHAIN@WEIGHT"),
    ("gaussian:0.1,gausian:0.2", "unknown kind 'gausian'"),
    ("gaussian:0.1@2,poisson:0", "out of range"),
])
def test_bad_weighted_lists_give_one_line_naming_the_whole_spec(spec, says):
    with pytest.raises(EdgeDenoiseError) as err:
        parse_noise(spec)
    assert says in str(err.value) and "\n" not in str(err.value) and f"'{spec}'" in str(err.value)


# --- augmentation ---------------------------------------------------------------------------------
@pytest.mark.parametrize("name", [*AUGMENTATIONS, "all"])
def test_each_augmentation_keeps_shape_and_dtype_changes_images_and_repeats_for_a_seed(name):
    from conftest import smooth_image

    batch = np.stack([smooth_image(32, 32, seed=i) for i in range(8)])
    hook = parse_augment(name)
    a, b = hook(batch, np.random.default_rng(1)), hook(batch, np.random.default_rng(1))
    assert a.shape == batch.shape and a.dtype == np.uint8
    assert np.array_equal(a, b), "deterministic for a seed"
    assert not np.array_equal(a, batch), "changes the images"


def test_half_turns_only_for_non_square_images():
    batch = np.random.default_rng(0).integers(0, 256, (6, 16, 24, 3), dtype=np.uint8)
    assert make_augment(rot90=True, flips=True)(batch, np.random.default_rng(0)).shape == batch.shape


def test_unknown_augmentations_list_the_known_ones():
    assert parse_augment(None) is None and parse_augment("none") is None
    with pytest.raises(EdgeDenoiseError, match="unknown augmentation 'blur'.*flip, rot90, light, jpeg or all"):
        parse_augment("flip,blur")


# --- models ---------------------------------------------------------------------------------------
UNET_DEPTH2 = [  # build_unet(width, depth=2) before its options existed: old runs must rebuild layer for layer
    ("noisy", "InputLayer"), ("down0_conv1", "Conv2D"), ("down0_conv2", "Conv2D"), ("pool0", "MaxPooling2D"),
    ("down1_conv1", "Conv2D"), ("down1_conv2", "Conv2D"), ("pool1", "MaxPooling2D"), ("bottom_conv1", "Conv2D"),
    ("bottom_conv2", "Conv2D"), ("up1", "Conv2DTranspose"), ("skip1", "Concatenate"), ("dec1_conv1", "Conv2D"),
    ("dec1_conv2", "Conv2D"), ("up0", "Conv2DTranspose"), ("skip0", "Concatenate"), ("dec0_conv1", "Conv2D"),
    ("dec0_conv2", "Conv2D"), ("noise_estimate", "Conv2D"), ("residual", "Add"), ("denoised", "ReLU"),
]


def test_default_unet_has_exactly_the_layers_of_old_runs():
    model = create_model("unet", **TrainConfig(width=4, depth=2).model_kwargs())
    assert [(layer.name, type(layer).__name__) for layer in model.layers] == UNET_DEPTH2


def test_old_config_files_load_with_every_new_option_off(tmp_path):
    old = {"model": "unet", "data": "d", "out": "runs/unet", "noise": "gaussian:0.1", "size": 128, "crop": 64,
           "epochs": 30, "batch_size": 16, "learning_rate": 0.001, "width": 24, "depth": 3, "residual": True,
           "loss": "mix", "seed": 0, "split_manifest": None, "max_images": None}
    (tmp_path / "config.json").write_text(json.dumps({"train": old}))
    cfg = load_config(tmp_path / "config.json")
    assert cfg.augment is None and cfg.attention is None and not cfg.separable and cfg.schedule == "constant"
    assert cfg.model_kwargs() == {"width": 24, "depth": 3, "residual": True, "attention": None, "separable": False}


@pytest.mark.parametrize("kwargs, present", [
    ({"attention": "se"}, "down0_se_scale"),
    ({"attention": "cbam"}, "dec0_sa_scale"),
    ({"separable": True}, "down1_conv1"),
    ({"unshuffle": 2}, "shuffle"),
])
def test_unet_options_keep_the_shape_and_load_in_safe_mode(kwargs, present, tmp_path):
    from train.evaluate import load_keras_model

    model = build_unet(width=4, depth=2, **kwargs)
    x = np.random.default_rng(0).random((1, 32, 48, 3), dtype=np.float32)
    assert np.asarray(model(x)).shape == x.shape
    assert present in [layer.name for layer in model.layers]
    model.save(tmp_path / "m.keras")
    again = load_keras_model(tmp_path / "m.keras")
    assert np.allclose(np.asarray(again(x)), np.asarray(model(x)), atol=1e-6)
    if kwargs.get("separable"):
        assert type(model.get_layer("down1_conv1")).__name__ == "SeparableConv2D"
        assert type(model.get_layer("down0_conv1")).__name__ == "Conv2D", "3 input channels: separable saves nothing"


def test_unknown_attention_is_one_line():
    with pytest.raises(EdgeDenoiseError, match="unknown attention 'sse'; choose one of: None, se, cbam"):
        build_unet(width=4, depth=2, attention="sse")


def _int8(model, size, tmp_path, name):
    from convert.fixed_shape import fixed_shape_model
    from convert.tflite import convert_to_tflite, op_names

    calib = np.random.default_rng(0).random((2, size, size, 3), dtype=np.float32)
    blob = convert_to_tflite(fixed_shape_model(model, (size, size)), "int8", calib=calib)
    path = tmp_path / f"{name}.tflite"
    path.write_bytes(blob)
    return path, op_names(blob)


BUILTINS_OK = {"ADD", "CONCATENATION", "CONV_2D", "DEPTHWISE_CONV_2D", "DEQUANTIZE", "MAX_POOL_2D", "MEAN", "REDUCE_MAX",
               "MINIMUM", "MUL", "LOGISTIC", "PACK", "QUANTIZE", "RELU", "SHAPE", "STRIDED_SLICE", "TRANSPOSE_CONV",
               "SPACE_TO_DEPTH", "DEPTH_TO_SPACE", "HARD_SWISH", "RESHAPE"}


def test_cbam_unet_converts_to_int8_with_builtin_ops_only(tmp_path):
    _, ops = _int8(build_unet(width=4, depth=2, attention="cbam", separable=True), 32, tmp_path, "cbam")
    assert ops <= BUILTINS_OK and {"MEAN", "REDUCE_MAX", "LOGISTIC", "DEPTHWISE_CONV_2D"} <= ops


def test_fastnet_has_3x_fewer_macs_per_pixel_than_the_unet_and_runs_int8_in_the_engine(tmp_path):
    from edge_runtime.engine import load_engine
    from edge_runtime.macs import count_macs

    size = 64  # MACs per pixel do not depend on the side: every conv is "same"
    unet_path, _ = _int8(build_unet(width=24, depth=3, residual=True), size, tmp_path, "unet")
    fast_path, ops = _int8(create_model("fastnet"), size, tmp_path, "fastnet")
    unet_px = count_macs(unet_path)["macs"] / size**2
    fast_px = count_macs(fast_path)["macs"] / size**2
    assert unet_px == 79344 and fast_px == 21888, (unet_px, fast_px)
    assert unet_px >= 3 * fast_px
    half_path, half_ops = _int8(build_unet(width=24, depth=3, unshuffle=2), size, tmp_path, "unet_u2")
    assert count_macs(half_path)["macs"] / size**2 == 20376, "the same U-Net at half resolution: 3.9x fewer"
    assert {"SPACE_TO_DEPTH", "DEPTH_TO_SPACE"} <= half_ops <= BUILTINS_OK
    assert {"SPACE_TO_DEPTH", "DEPTH_TO_SPACE"} <= ops <= BUILTINS_OK
    x = np.random.default_rng(1).random((1, size, size, 3), dtype=np.float32)
    y = load_engine(fast_path)(x)
    assert y.shape == x.shape and 0 <= y.min() and y.max() <= 1


def test_fastnet_loads_in_safe_mode_in_a_fresh_process_and_pads_odd_sizes(tmp_path):
    create_model("fastnet", width=8, blocks=1).save(tmp_path / "f.keras")
    code = ("import numpy as np; from train.evaluate import KerasDenoiser; d = KerasDenoiser(__import__('pathlib').Path("
            f"{str(tmp_path / 'f.keras')!r})); print(d.multiple, d(np.zeros((1, 30, 42, 3), np.float32)).shape)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split()[-5:] == ["4", "(1,", "30,", "42,", "3)"]
    assert size_multiple("fastnet") == 4 and size_multiple("fastnet", scale=2) == 2 and size_multiple("backbone_unet") == 32
    assert size_multiple("unet", 3, unshuffle=2) == 16


def test_backbone_unet_builds_with_random_weights_and_keeps_inputs_in_0_1():
    model = create_model("backbone_unet", backbone="mobilenetv3", weights=None, width=8)
    x = np.random.default_rng(0).random((1, 64, 64, 3), dtype=np.float32)
    y = np.asarray(model(x))
    assert y.shape == x.shape and 0 <= y.min() and y.max() <= 1
    assert model.get_layer("preprocess").get_config()["offset"] == -1.0, "[0, 1] -> MobileNetV3's [-1, 1] inside"


# --- training and evaluation ----------------------------------------------------------------------
def test_blind_fastnet_trains_with_augmentation_cosine_and_l1(tmp_path):
    from train.training import train

    cfg = TrainConfig(model="fastnet", data=str(SAMPLES), out=str(tmp_path / "run"), noise="blind", size=32,
                      batch_size=4, epochs=1, max_images=4, width=8, blocks=1, augment="all", schedule="cosine",
                      loss="l1")
    result = train(cfg, verbose=0)
    saved = json.loads((result.run_dir / "config.json").read_text())["train"]
    assert saved["augment"] == "all" and saved["schedule"] == "cosine" and saved["noise"] == "blind"
    assert load_config(result.run_dir / "config.json") == cfg and result.metrics["model"]["count"] > 0
    assert cli("eval", result.run_dir / "model.keras", "--data", SAMPLES, "--size", 32, "--max-images", 2,
               "--suite").returncode == 0
    report = json.loads((result.run_dir / "eval_suite" / "eval.json").read_text())
    from train.evaluate import EVAL_SUITE

    assert [r["noise"] for r in report["rows"] if r["method"] == "model"] == list(EVAL_SUITE)
    for noise in EVAL_SUITE:
        assert {"model", "noisy input", "median", "nlmeans"} <= {r["method"] for r in report["rows"] if r["noise"] == noise}
    assert len(list((result.run_dir / "eval_suite").glob("eval*.png"))) == len(EVAL_SUITE)
    assert "| motionblur:7+gaussian:0.05 |" in (result.run_dir / "eval_suite" / "eval.md").read_text()


@pytest.mark.parametrize("args, says", [
    (["--model", "backbone_unet", "--weights", "/no/such/file"], "--weights /no/such/file: no such weights file"),
    (["--attention", "sse"], "--attention sse: choose one of: none, se, cbam"),
    (["--schedule", "linear"], "--schedule linear: choose one of: constant, cosine"),
    (["--augment", "flip,blur"], "unknown augmentation 'blur'"),
    (["--noise", "gaussian:0.1@-1"], "needs CHAIN@WEIGHT"),
    (["--unshuffle", "3"], "--unshuffle 3: the U-Net takes 1, 2 or 4"),
    (["--model", "fastnet", "--unshuffle", "2"], "--unshuffle 2: the U-Net takes 1, 2 or 4 (other models: leave it at 1)"),
    (["--model", "unet", "--quant-aware"], "--quant-aware: only fastnet and camnet take it"),
    (["--model", "unet", "--impulse-reject"], "--impulse-reject: only fastnet and camnet take it"),
    (["--model", "unet", "--background-margin", "0.03"], "--background-margin 0.03: fastnet or camnet with --residual takes"),
    (["--model", "fastnet", "--background-margin", "-0.1"], "--background-margin -0.1: fastnet or camnet with --residual takes"),
])
def test_new_train_options_fail_in_one_line_before_any_work(args, says, tmp_path):
    result = cli("train", *args, "--data", SAMPLES, "--out", tmp_path / "x")
    assert result.returncode == 2 and says in result.stderr and "Traceback" not in result.stderr
    assert len([line for line in result.stderr.splitlines() if line.strip()]) == 1
    assert not (tmp_path / "x").exists()


def test_fastnet_clips_its_output_but_still_pulls_back_pixels_pushed_past_white():
    """A ReLU capped at 1 passes no gradient above 1: a blind fastnet trained that way brightened
    the nuts and never recovered. ClipToUnit clips forward and passes the gradient above 1 back."""
    import tensorflow as tf

    model = create_model("fastnet", width=8, blocks=1)
    head = model.get_layer("head")
    kernel, bias = head.get_weights()
    head.set_weights([np.zeros_like(kernel), np.full_like(bias, 0.5)])  # predicted "noise": +0.5 everywhere
    x = tf.constant(np.full((1, 8, 8, 3), 0.9, np.float32))
    with tf.GradientTape() as tape:
        y = model(x, training=True)
        loss = tf.reduce_mean(tf.abs(y - 0.9))
    assert np.allclose(y.numpy(), 1.0)  # clipped going forward
    grad_bias = tape.gradient(loss, head.trainable_weights)[1]
    assert float(tf.reduce_min(grad_bias)) > 0  # and told to come back down


def test_background_margin_pushes_the_black_background_below_zero_and_leaves_the_nut_to_the_main_loss():
    """int8 rounding in a fastnet's layers lifts a background parked just above 0 into grey
    (experiments/int8_background.py). With --background-margin M the output reaches the loss
    unfloored while training, and background pixels (clean below 5/255) pay until they are -M or lower."""
    import tensorflow as tf

    from train.losses import make_loss
    from train.training import pass_negative_output

    model = create_model("fastnet", width=8, blocks=1)
    head = model.get_layer("head")
    kernel, bias = head.get_weights()
    head.set_weights([np.zeros_like(kernel), np.full_like(bias, -0.3)])  # predicted "noise": -0.3 everywhere
    x = np.full((1, 8, 8, 3), 0.1, np.float32)
    assert np.allclose(model(x, training=True), 0.0)  # the floor hides how far below 0 the output is
    pass_negative_output(model)
    assert np.allclose(model(x, training=True), -0.2, atol=1e-6)  # now the loss sees it
    assert np.allclose(model(x, training=False), 0.0)  # and inference (so the exported file) still clips

    loss = make_loss("mix", background_margin=0.03)
    black, nut = np.zeros((1, 16, 16, 3), np.float32), np.full((1, 16, 16, 3), 0.5, np.float32)
    at = lambda y_true, value: float(loss(tf.constant(y_true), tf.constant(np.full_like(y_true, value)))[0])
    plain = make_loss("mix")
    assert at(black, -0.05) == pytest.approx(float(plain(black, np.zeros_like(black))[0]))  # below -M: no hinge
    assert at(black, 0.0) == pytest.approx(at(black, -0.05) + 0.03)  # at 0 the background still pays M
    assert at(nut, 0.5) == pytest.approx(float(plain(nut, nut)[0]))  # the nut is left to the main loss
    mse = make_loss("mse", background_margin=0.03)
    assert mse(tf.constant(black), tf.constant(black)).shape == (1,)  # per-image, like the function losses


def test_training_metrics_score_what_the_exported_file_gives_not_the_margin_below_zero():
    """With --background-margin the loss sees the background below 0; the metrics must not, or the training
    curve reads SSIM 0.66 where the same model validates at 0.95."""
    import tensorflow as tf

    from train.losses import psnr_metric, ssim_metric

    clean = np.zeros((2, 32, 32, 3), np.float32)
    clean[:, 8:24, 8:24] = 0.6  # a nut on a black background
    margin_output = np.where(clean > 0, clean, -0.05).astype(np.float32)
    assert float(ssim_metric(tf.constant(clean), tf.constant(margin_output))) == pytest.approx(1.0, abs=1e-6)
    off_on_the_nut = margin_output + 0.01 * (clean > 0)  # 0.01 on a quarter of the pixels: MSE 2.5e-5
    assert float(psnr_metric(tf.constant(clean), tf.constant(off_on_the_nut))) == pytest.approx(46.02, abs=0.05)


def test_fastnet_int8_export_has_only_builtin_ops(tmp_path):
    _, ops = _int8(create_model("fastnet", width=8, blocks=1), 32, tmp_path, "fastnet_small")
    assert ops <= BUILTINS_OK, ops - BUILTINS_OK


def test_init_from_copies_a_trained_model_names_a_misfit_in_one_line_and_lets_options_add_layers(tmp_path):
    from train.training import init_weights

    trained = create_model("fastnet", width=8, blocks=1)
    trained.save(tmp_path / "trained.keras")
    fresh = create_model("fastnet", width=8, blocks=1)
    init_weights(fresh, str(tmp_path / "trained.keras"))
    assert all(np.array_equal(a, b) for a, b in zip(fresh.get_weights(), trained.get_weights()))
    with pytest.raises(EdgeDenoiseError, match="do not fit this model") as info:
        init_weights(create_model("fastnet", width=16, blocks=1), str(tmp_path / "trained.keras"))
    assert "\n" not in str(info.value)
    with pytest.raises(EdgeDenoiseError, match="block0_conv1 has no match"):  # a layer the trained model needs is gone
        init_weights(create_model("fastnet", width=8, blocks=0), str(tmp_path / "trained.keras"))
    grown = create_model("fastnet", width=8, blocks=2)  # a layer the options add starts fresh, and is named
    assert init_weights(grown, str(tmp_path / "trained.keras")) == ["block1_conv1", "block1_conv2"]


def test_fine_tuning_at_the_from_scratch_learning_rate_gets_a_one_line_note():
    """--init-from at the default --lr 1e-3 wrecked the shipped fastnet in one epoch (docs/models.md): say so, once."""
    assert TrainConfig().fine_tune_notice() is None  # training from scratch
    notice = TrainConfig(init_from="train/pretrained/fastnet/model.keras").fine_tune_notice()
    assert "--lr 0.001" in notice and "5e-5" in notice and "\n" not in notice
    assert TrainConfig(init_from="m.keras", learning_rate=5e-5).fine_tune_notice() is None


def test_quant_aware_fastnet_rounds_to_int8_levels_in_training_only_and_fine_tunes_a_trained_one(tmp_path):
    """--quant-aware: every tensor the int8 file will hold is rounded to 256 levels while training
    (ranges: running min/max, as calibration takes them), so the weights learn to survive int8.
    Outside training nothing changes, and a plain trained fastnet's weights load into it."""
    from train.training import init_weights

    trained = create_model("fastnet", width=8, blocks=1)
    trained.save(tmp_path / "trained.keras")
    qat = create_model("fastnet", width=8, blocks=1, quant_aware=True)
    assert [l.name for l in qat.layers if l.name.endswith("_fq")] == [
        "stem_fq", "block0_conv1_fq", "block0_conv2_fq", "block0_add_fq", "head_fq", "residual_fq"]
    init_weights(qat, str(tmp_path / "trained.keras"))
    x = np.random.default_rng(0).random((2, 16, 16, 3), dtype=np.float32)
    assert np.array_equal(np.asarray(qat(x, training=False)), np.asarray(trained(x, training=False)))

    stem = qat.get_layer("stem_fq")
    probe = __import__("keras").Model(qat.inputs, stem.output)
    rounded = np.asarray(probe(x, training=True))
    low, high, _ = (float(w) for w in stem.get_weights())
    assert low <= 0.0 < high  # the first batch sets the range
    assert len(np.unique(rounded)) <= 256  # 8 bits
    step = (high - low) / 255
    assert np.allclose(np.round((rounded - low) / step), (rounded - low) / step, atol=1e-3)


def test_int8_export_of_a_quant_aware_fastnet_takes_the_ranges_training_learnt(tmp_path):
    """Calibrating anew would give the stem a range of its own; with the FakeQuant layers exported, the
    int8 file quantizes the stem's output on exactly the range training settled on."""
    from ai_edge_litert.interpreter import Interpreter

    from convert.fixed_shape import fixed_shape_model
    from convert.tflite import convert_to_tflite, op_names
    from train.layers import fake_quant_at_inference

    model = create_model("fastnet", width=8, blocks=1, quant_aware=True)
    model(np.zeros((1, 16, 16, 3), np.float32))  # build
    model.get_layer("stem_fq").set_weights([np.float32(0.0), np.float32(2.55), np.float32(1.0)])  # a step of 0.01
    fixed = fixed_shape_model(model, (32, 32))
    calib = np.random.default_rng(0).random((2, 32, 32, 3), dtype=np.float32)

    def scales(blob: bytes) -> set[float]:
        (tmp_path / "m.tflite").write_bytes(blob)
        return {round(float(d["quantization"][0]), 6) for d in Interpreter(str(tmp_path / "m.tflite")).get_tensor_details()}

    assert 0.01 not in scales(convert_to_tflite(fixed, "int8", calib=calib))  # calibrated anew
    fake_quant_at_inference(fixed, True)
    blob = convert_to_tflite(fixed, "int8", calib=calib)
    assert 0.01 in scales(blob) and op_names(blob) <= BUILTINS_OK


def test_tuning_ranges_narrows_a_too_wide_one_and_leaves_the_model_float_at_inference():
    """convert --tune-ranges: a range far wider than its tensor's values rounds them coarsely; scaling it
    down raises SSIM with int8 rounding simulated, and the model is the float one again afterwards."""
    import keras

    from convert.ranges import tune_ranges
    from train.layers import ClipToUnit, FakeQuant

    rng = np.random.default_rng(0)
    clean = np.repeat(np.linspace(0.1, 0.9, 32, dtype=np.float32)[None, :, None], 32, axis=0)[None].repeat(6, 0)
    clean = np.repeat(clean, 3, axis=-1) * rng.uniform(0.6, 1.0, (6, 1, 1, 3)).astype(np.float32)
    noisy = np.clip(clean + rng.normal(0, 0.05, clean.shape), 0, 1).astype(np.float32)
    # an identity chain (two 1x1 convs) with a range after each: nothing random, so only the ranges matter
    identity = {"kernel_initializer": keras.initializers.Constant(np.eye(3)[None, None]), "use_bias": False}
    inputs = keras.Input((None, None, 3))
    x = FakeQuant(name="stem_fq")(keras.layers.Conv2D(3, 1, **identity)(inputs))
    x = FakeQuant(name="out_fq")(keras.layers.Conv2D(3, 1, **identity)(x))
    model = keras.Model(inputs, ClipToUnit()(x))
    model(noisy, training=True)  # one training batch sets every range
    stem = model.get_layer("stem_fq")
    low, high, seen = stem.get_weights()
    stem.set_weights([low * 20, high * 20, seen])
    float_out = np.asarray(model(noisy, training=False))

    result = tune_ranges(model, noisy, clean, split="val", log=lambda s: None)
    assert result.drop_after < result.drop_before
    assert result.scaled["stem_fq"] < 1.0 and result.ranges["stem_fq"][1] < high * 20
    assert np.array_equal(np.asarray(model(noisy, training=False)), float_out)
    with pytest.raises(EdgeDenoiseError, match="needs a model trained with --quant-aware"):
        tune_ranges(create_model("fastnet", width=8, blocks=1), noisy, clean, log=lambda s: None)


def test_tuning_sets_the_output_range_to_the_clips_and_leaves_it_alone():
    """The tensor right before the output's clip to [0, 1] gets exactly [0, 1]: every value the clip
    passes fits, at the finest step. Left to SSIM, tuning narrowed it at 480x640 and darkened the nut."""
    from convert.ranges import tune_ranges
    from train.layers import clipped_fake_quants

    rng = np.random.default_rng(1)
    clean = rng.uniform(0.2, 0.9, (4, 16, 16, 3)).astype(np.float32)
    noisy = np.clip(clean + rng.normal(0, 0.05, clean.shape), 0, 1).astype(np.float32)
    model = create_model("fastnet", width=8, blocks=1, quant_aware=True)
    model(noisy, training=True)
    assert [layer.name for layer in clipped_fake_quants(model)] == ["residual_fq"]
    model.get_layer("residual_fq").set_weights([np.float32(-0.2), np.float32(0.5), np.float32(1.0)])  # clips bright pixels

    result = tune_ranges(model, noisy, clean, split="val", passes=1, factors=(0.9,), log=lambda s: None)
    assert result.pinned == ["residual_fq"] and "residual_fq" not in result.scaled
    assert result.ranges["residual_fq"] == (0.0, 1.0)
    assert [float(w) for w in model.get_layer("residual_fq").get_weights()[:2]] == [0.0, 1.0]


# --- the ablation table ---------------------------------------------------------------------------
def _ablation_run(folder: Path, model: str, ssim: float, bench_rows: list[dict] | None = None, **train) -> Path:
    (folder / "eval_suite").mkdir(parents=True)
    rows = [{"noise": "gaussian:0.1", "method": "model", "ssim_mean": ssim},
            {"noise": "gaussian:0.1", "method": "noisy input", "ssim_mean": 0.2}]
    (folder / "eval_suite" / "eval.json").write_text(json.dumps({"rows": rows}))
    (folder / "config.json").write_text(json.dumps({"train": {"model": model, **train}}))
    if bench_rows is not None:
        (folder / "bench").mkdir()
        (folder / "bench" / "bench.json").write_text(json.dumps({"rows": bench_rows}))
    return folder


def _vga_row(model: str, ms: float, macs: int) -> dict:
    return {"kind": "tflite", "status": "ok", "size": "480x640", "precision": "int8", "threads": 2,
            "model": model, "p50_ms": ms, "macs": macs}


def test_ablation_latency_comes_from_the_runs_own_bench_row_of_its_architecture(tmp_path):
    """scripts/release/ablation_table.py, run as the release script runs it."""
    shared = [_vga_row("unet", 409.0, 79_000 * 480 * 640), _vga_row("fastnet", 150.0, 22_000 * 480 * 640)]
    (tmp_path / "shared_bench.json").write_text(json.dumps({"rows": shared}))
    # A run benched on its own (next to the U-Net, in one bench run) uses its own fastnet row...
    # (bench names a row converted from a run's .keras after the run folder)
    own = _ablation_run(tmp_path / "fastnet2", "fastnet", 0.9,
                        [_vga_row("unet", 420.0, 79_000 * 480 * 640), _vga_row("fastnet2", 120.0, 20_000 * 480 * 640)])
    unet = _ablation_run(tmp_path / "unet", "unet", 0.8)
    unet_u2 = _ablation_run(tmp_path / "unet_u2", "unet", 0.8, unshuffle=2)
    subprocess.run([sys.executable, str(ROOT / "scripts" / "release" / "ablation_table.py"),
                    "--run", f"fastnet2={own}", "--run", f"unet={unet}", "--run", f"unet_u2={unet_u2}",
                    "--bench", str(tmp_path / "shared_bench.json"), "--out", str(tmp_path / "ablation")],
                   check=True, capture_output=True, text=True)
    rows = {r["run"]: r for r in json.loads((tmp_path / "ablation.json").read_text())["rows"]}
    assert (rows["fastnet2"]["vga_int8_p50_ms"], rows["fastnet2"]["macs_per_pixel"]) == (120.0, 20_000)
    # ...one without its own bench takes its family's row from the shared bench.
    assert (rows["unet"]["vga_int8_p50_ms"], rows["unet"]["macs_per_pixel"]) == (409.0, 79_000)
    assert rows["unet"]["ssim"] == {"gaussian:0.1": 0.8} and rows["unet"]["noisy"] == {"gaussian:0.1": 0.2}
    # ...but a U-Net run at half resolution is another shape: no latency rather than the wrong one.
    assert (rows["unet_u2"]["vga_int8_p50_ms"], rows["unet_u2"]["macs_per_pixel"]) == (None, None)


# --- impulse rejection: a switching median in front of fastnet --------------------------------------
def test_the_3x3_median_is_exact_on_every_0_1_window_and_so_on_every_window():
    """median3x3 is made of MINIMUM and MAXIMUM only, so it picks the median of every window if it does
    for every window of 0s and 1s (the 0-1 principle): all 512 are checked, then real values against numpy."""
    import itertools

    from train.layers import median3x3

    windows = np.array(list(itertools.product((0.0, 1.0), repeat=9)), np.float32).reshape(512, 3, 3, 1)
    centre = np.asarray(median3x3(windows))[:, 1, 1, 0]  # reflected edges: the centre sees exactly its 3x3 window
    assert np.array_equal(centre, np.median(windows.reshape(512, 9), axis=1))
    x = np.random.default_rng(0).random((2, 7, 9, 3), dtype=np.float32)
    p = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)), mode="reflect")
    stacked = np.stack([p[:, dy:dy + 7, dx:dx + 9] for dy in range(3) for dx in range(3)])
    assert np.array_equal(np.asarray(median3x3(x)), np.median(stacked, axis=0))


def _nut_on_black(seed: int = 0) -> np.ndarray:
    """A grey nut with sensor noise on a black background clipped to 0, as a 1x16x16x3 batch."""
    x = np.clip(0.35 + 0.03 * np.random.default_rng(seed).standard_normal((1, 16, 16, 3)), 0, 1).astype(np.float32)
    x[:, :, :5] = 0.0
    return x


def test_impulse_reject_replaces_dead_and_stuck_pixels_and_passes_everything_else_untouched():
    """Black or white values more than 0.5 from their 3x3 median are impulses; anything nearer is left
    for the network (the lowest threshold that cost no suite row more than 0.0001: experiments/impulse_stage.py)."""
    from train.layers import ImpulseReject

    x = _nut_on_black()
    x[0, 5, 9] = 1.0  # a stuck white pixel on the nut, every channel
    x[0, 11, 12, 1] = 1.0  # one stuck green value
    x[0, 8, 2] = 1.0  # a stuck white pixel on the black background
    x[0, 3, 2, 0] = 0.0  # black on black: no impulse at all
    x[0, 13, 7, 2] = 0.0  # black on a dark nut: 0.35 from its median, left for the network
    out = np.asarray(ImpulseReject()(x))
    changed = np.argwhere(out != x)[:, 1:].tolist()
    assert changed == [[5, 9, 0], [5, 9, 1], [5, 9, 2], [8, 2, 0], [8, 2, 1], [8, 2, 2], [11, 12, 1]]
    assert np.all(np.abs(out[0, 5, 9] - 0.35) < 0.1) and abs(out[0, 11, 12, 1] - 0.35) < 0.1
    assert np.all(out[0, 8, 2] == 0.0)
    bright = np.full((1, 8, 8, 3), 0.8, np.float32)
    bright[0, 2, 2] = 0.0  # a dead pixel on a bright nut: replaced
    bright[0, 5, 5] = 1.0  # white on a bright nut is nearer than the threshold: left
    out = np.asarray(ImpulseReject()(bright))
    assert np.allclose(out[0, 2, 2], 0.8) and np.array_equal(out[0, 5, 5], [1.0, 1.0, 1.0])


def test_fastnet_with_impulse_reject_fine_tunes_from_a_model_without_it_and_rejects_impulses_in_int8(tmp_path):
    """The stage has no weights, so --init-from a trained fastnet without it works; the residual is added
    to the cleaned input; on 8-bit frames the int8 stage gives exactly the float stage's output, even
    when calibrated on images without a single impulse."""
    import keras

    from convert.tflite import convert_to_tflite, op_names
    from edge_runtime.engine import load_engine
    from train.evaluate import load_keras_model
    from train.layers import ImpulseReject, fake_quant_at_inference
    from train.training import init_weights

    create_model("fastnet", width=8, blocks=1).save(tmp_path / "plain.keras")
    kwargs = TrainConfig(model="fastnet", width=8, blocks=1, impulse_reject=True).model_kwargs()
    assert "impulse_reject" not in TrainConfig(model="fastnet").model_kwargs()  # old runs rebuild unchanged
    model = create_model("fastnet", **kwargs)
    init_weights(model, str(tmp_path / "plain.keras"))
    model.save(tmp_path / "ir.keras")
    loaded = load_keras_model(tmp_path / "ir.keras")
    assert loaded.get_layer("impulse_reject").threshold == 0.5
    assert loaded.get_layer("residual").input[0].name == loaded.get_layer("impulse_reject").output.name

    # an 8-bit frame (values k/255) with salt and pepper; calibrated on clean frames, which hold no impulse
    grey = np.full((4, 32, 32, 3), 102 / 255, np.float32)
    x = np.round(add_noise(grey, "saltpepper:0.05", np.random.default_rng(3)) * 255) / 255
    stage = keras.Model(inp := keras.Input((32, 32, 3)), ImpulseReject()(inp))
    want = np.asarray(stage(x))
    fake_quant_at_inference(stage, True)  # what convert does for int8: the stage's ranges are pinned
    blob = convert_to_tflite(stage, "int8", io="uint8", calib=grey)
    path = tmp_path / "stage.tflite"
    path.write_bytes(blob)
    ops = op_names(blob)
    assert {"MINIMUM", "MAXIMUM"} <= ops and not ops & {"SELECT", "SELECT_V2", "MIRROR_PAD", "GREATER"}  # all XNNPACK's
    got = load_engine(path)(x)
    assert np.abs(got - want).max() < 1e-6  # every decision and every value the float stage's
    salt = x == 1.0  # 0.6 above the grey: replaced; pepper is 0.4 below it: left for the network
    assert salt.mean() > 0.02 and (want[salt] < 1.0).mean() > 0.95 and np.array_equal(want[x == 0.0], x[x == 0.0])


# --- the default's own Keras model ships, so a user can convert it at their camera's size -------------
@pytest.mark.parametrize("name, noise", [("camnet", "blind_camera"), ("fastnet", "blind")])
def test_a_shipped_keras_model_converts_by_name_at_a_new_size_and_passes_the_gate(tmp_path, samples_dir, monkeypatch,
                                                                                  name, noise):
    """train/pretrained holds the default (camnet) and the previous one (fastnet) as run folders: `convert NAME`
    takes one as it takes a run of one's own, here at a size no shipped file has, and writes to ./tflite, not
    into the package."""
    from convert.pipeline import ConvertConfig, convert_run
    from train.pretrained import names

    assert names() == ["camnet", "fastnet"]
    monkeypatch.chdir(tmp_path)
    report = convert_run(ConvertConfig(model=name, precisions=("fp16",), sizes=[(96, 160)], data=str(samples_dir),
                                       gate_count=4), log=lambda _: None)
    (entry,) = report.files
    assert entry["status"] == "ok" and abs(entry["gate"]["drop"]) < 0.001
    assert Path(entry["file"]).resolve() == tmp_path / "tflite" / f"{name}_fp16_96x160.tflite"
    meta = json.loads(Path(entry["file"]).with_suffix(".json").read_text())
    assert meta["model_kwargs"]["impulse_reject"] and meta["noise"] == noise


def test_recover_keras_rebuilds_a_fastnet_from_its_fp16_file_and_int8_ranges(tmp_path):
    """scripts/release/recover_keras.py (how train/pretrained/fastnet was made when its run folder was lost):
    the weights of the fp16 file, each FakeQuant's range from the int8 file."""
    from convert.tflite import convert_to_tflite
    from train.layers import FakeQuant, fake_quant_at_inference

    kwargs = {"width": 8, "blocks": 1, "scale": 2, "residual": True, "separable": False, "impulse_reject": True}
    model = create_model("fastnet", **kwargs, quant_aware=True)
    x = np.random.default_rng(0).random((2, 32, 32, 3), dtype=np.float32)
    model(x, training=True)  # sets every FakeQuant's range
    import keras

    fixed = keras.Model(inp := keras.Input((32, 32, 3), batch_size=1), model(inp))
    (tmp_path / "f_fp16.tflite").write_bytes(convert_to_tflite(fixed, "fp16"))
    (tmp_path / "f_fp16.json").write_text(json.dumps({"architecture": "fastnet", "model_kwargs": kwargs, "noise": "blind"}))
    fake_quant_at_inference(model, True)
    (tmp_path / "f_int8.tflite").write_bytes(convert_to_tflite(fixed, "int8", calib=x))
    fake_quant_at_inference(model, False)

    subprocess.run([sys.executable, str(ROOT / "scripts" / "release" / "recover_keras.py"), str(tmp_path / "f_fp16.tflite"),
                    "--ranges", str(tmp_path / "f_int8.tflite"), "--out", str(tmp_path / "run")],
                   check=True, capture_output=True, text=True)
    path = tmp_path / "run" / "model.keras"
    from train.evaluate import load_keras_model

    rebuilt = load_keras_model(path)
    assert np.abs(np.asarray(rebuilt(x)) - np.asarray(model(x))).max() < 2e-3  # float16 weights
    ranges = {layer.name: [float(w) for w in layer.get_weights()[:2]] for layer in model.layers if isinstance(layer, FakeQuant)}
    ranges["residual_fq"] = [0.0, 1.0]  # int8 fuses the clip after the residual addition into it
    for layer in rebuilt.layers:
        if isinstance(layer, FakeQuant):  # int8 ranges hold zero and are nudged onto their grid
            low, high = ranges[layer.name]
            assert np.allclose(layer.get_weights()[:2], [low, high], atol=(high - low) / 100), layer.name
    assert json.loads((tmp_path / "run" / "config.json").read_text())["train"]["impulse_reject"] is True
