"""Training on another Keras backend: a GPU machine with JAX and no TensorFlow trains the same models.

On TensorFlow the training stage uses tf.data, tf.image.ssim and tf.nn.space_to_depth; elsewhere
keras.ops versions of the same maths. These tests hold the two to each other, then train a U-Net
on JAX in a child process and load its .keras file here on TensorFlow, where it must give the same
output.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from edge_runtime.noise import parse_noise
from train.data import noisy_batches

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "edge_runtime" / "samples"


@pytest.mark.parametrize("shape", [(3, 32, 32, 3), (2, 48, 64, 3), (2, 11, 16, 3)])
def test_keras_ops_ssim_is_tf_image_ssim(shape):
    import tensorflow as tf

    from train.losses import ssim_ops

    rng = np.random.default_rng(0)
    clean = rng.random(shape, dtype=np.float32)
    noisy = np.clip(clean + rng.normal(0, 0.1, shape), 0, 1).astype(np.float32)
    for pred in (noisy, clean, np.zeros_like(clean)):
        want = tf.image.ssim(clean, pred, max_val=1.0).numpy()
        assert np.allclose(np.asarray(ssim_ops(clean, pred)), want, atol=1e-5), (want, np.asarray(ssim_ops(clean, pred)))


@pytest.mark.parametrize("block", [2, 4])
def test_keras_ops_pixel_shuffles_put_channels_where_tensorflow_does(block):
    import tensorflow as tf

    from train.layers import pixel_shuffle

    x = np.random.default_rng(1).random((2, 8, 12, 3), dtype=np.float32)
    packed = np.asarray(pixel_shuffle(x, block, unshuffle=True))
    assert np.array_equal(packed, tf.nn.space_to_depth(x, block).numpy())
    assert np.array_equal(np.asarray(pixel_shuffle(packed, block)), x)


def test_worker_thread_batches_repeat_for_a_seed_and_reshuffle_every_epoch():
    clean = np.stack([np.full((16, 16, 3), 20 * i, np.uint8) for i in range(10)])
    batches = noisy_batches(clean, parse_noise("gaussian:0.1"), batch_size=4, seed=3, crop=8)
    assert len(batches) == 3
    noisy, target = batches[0]
    assert noisy.shape == target.shape == (4, 8, 8, 3) and noisy.dtype == np.float32
    assert np.array_equal(batches[0][0], noisy), "a batch is drawn from its own (seed, epoch, index) generator"
    first_epoch = [np.unique(batches[i][1][:, 0, 0, 0]) for i in range(3)]
    assert sorted(np.concatenate(first_epoch).round(4)) == sorted((np.arange(10) * 20 / 255).astype(np.float32).round(4))
    batches.on_epoch_end()
    assert not np.array_equal(batches[0][0], noisy), "fresh noise and a new order every epoch"


def test_a_unet_trained_on_jax_loads_on_tensorflow_and_gives_the_same_output(tmp_path):
    pytest.importorskip("jax")
    run = tmp_path / "run"
    x = np.random.default_rng(2).random((1, 32, 48, 3), dtype=np.float32)
    np.save(tmp_path / "x.npy", x)
    train_and_predict = (
        "import sys, numpy as np, keras\n"
        "from train.config import TrainConfig\n"
        "from train.training import train\n"
        "from train.evaluate import load_keras_model\n"
        "assert keras.backend.backend() == 'jax'\n"
        f"cfg = TrainConfig(model='unet', width=4, depth=1, unshuffle=2, data={str(SAMPLES)!r}, out={str(run)!r},\n"
        "                  noise='blind', augment='flip', size=32, batch_size=4, epochs=1, max_images=4, loss='mix')\n"
        "train(cfg, verbose=0)\n"
        f"y = load_keras_model({str(run / 'model.keras')!r})(np.load({str(tmp_path / 'x.npy')!r}))\n"
        f"np.save({str(tmp_path / 'y_jax.npy')!r}, np.asarray(y))\n"
    )
    env = {**os.environ, "KERAS_BACKEND": "jax", "JAX_PLATFORMS": "cpu"}
    done = subprocess.run([sys.executable, "-c", train_and_predict], capture_output=True, text=True, cwd=ROOT, env=env,
                          timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    saved = json.loads((run / "config.json").read_text())
    assert saved["keras_backend"] == "jax" and saved["train"]["unshuffle"] == 2
    assert (run / "metrics.json").exists() and (run / "history.csv").read_text().count("\n") == 2

    from train.evaluate import load_keras_model

    model = load_keras_model(run / "model.keras")
    assert np.allclose(np.asarray(model(x)), np.load(tmp_path / "y_jax.npy"), atol=1e-5)


def test_the_shipped_fastnet_gives_the_same_output_on_jax_and_fine_tunes_there_quantization_aware(tmp_path):
    """A GPU machine has JAX and no TensorFlow: the package's own Keras model, impulse stage and FakeQuant
    layers included, must run and fine-tune there as it does here."""
    pytest.importorskip("jax")
    from train.evaluate import load_keras_model
    from train.pretrained import pretrained_model

    shipped = pretrained_model("fastnet")
    x = np.random.default_rng(2).random((1, 64, 64, 3), dtype=np.float32)
    x[0, 10, 10] = 1.0  # an impulse for the stage to reject
    np.save(tmp_path / "x.npy", x)
    run = tmp_path / "run"
    predict_and_fine_tune = (
        "import numpy as np, keras\n"
        "from train.config import TrainConfig\n"
        "from train.training import train\n"
        "from train.evaluate import load_keras_model\n"
        "assert keras.backend.backend() == 'jax'\n"
        f"y = load_keras_model({str(shipped)!r})(np.load({str(tmp_path / 'x.npy')!r}))\n"
        f"np.save({str(tmp_path / 'y_jax.npy')!r}, np.asarray(y))\n"
        "cfg = TrainConfig(model='fastnet', width=40, blocks=4, scale=2, impulse_reject=True, quant_aware=True,\n"
        f"                  background_margin=0.03, learning_rate=5e-5, init_from={str(shipped)!r},\n"
        f"                  data={str(SAMPLES)!r}, out={str(run)!r}, noise='blind', augment='all', schedule='cosine',\n"
        "                  size=64, batch_size=4, epochs=1, max_images=8, loss='mix')\n"
        "train(cfg, verbose=0)\n"
    )
    env = {**os.environ, "KERAS_BACKEND": "jax", "JAX_PLATFORMS": "cpu"}
    done = subprocess.run([sys.executable, "-c", predict_and_fine_tune], capture_output=True, text=True, cwd=ROOT,
                          env=env, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert np.allclose(np.asarray(load_keras_model(shipped)(x)), np.load(tmp_path / "y_jax.npy"), atol=1e-5)
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["model"]["ssim_mean"] > 0.9, "one epoch at the fine-tuning rate keeps the model a denoiser"
    tuned = load_keras_model(run / "model.keras")
    assert [layer.name for layer in tuned.layers] == [layer.name for layer in load_keras_model(shipped).layers]


def test_every_gpu_variant_is_a_valid_training_config():
    """scripts/release/blind_gpu.py's variants are TrainConfig settings; a typo there would cost a lent GPU's minutes."""
    import dataclasses
    import importlib.util

    from train.config import TrainConfig

    spec = importlib.util.spec_from_file_location("blind_gpu", ROOT / "scripts" / "release" / "blind_gpu.py")
    blind_gpu = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(blind_gpu)
    fields = {f.name for f in dataclasses.fields(TrainConfig)}
    for name, settings in blind_gpu.VARIANTS.items():
        assert set(settings) <= fields, f"{name}: {set(settings) - fields}"
        if settings.get("init_from"):
            assert Path(settings["init_from"]).is_file(), name
    assert set(blind_gpu.ROUND1) | set(blind_gpu.ROUND3) <= set(blind_gpu.VARIANTS)


def test_strategies_other_than_auto_need_tensorflow(tmp_path):
    pytest.importorskip("jax")
    code = ("from train.distribute import make_placement\n"
            "from edge_runtime.errors import EdgeDenoiseError\n"
            "assert make_placement('auto').strategy is None\n"
            "try:\n    make_placement('mirrored')\nexcept EdgeDenoiseError as e:\n    print(e)\n")
    env = {**os.environ, "KERAS_BACKEND": "jax", "JAX_PLATFORMS": "cpu", "TF_CONFIG": ""}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, env=env, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == ("--strategy mirrored: needs the TensorFlow backend (KERAS_BACKEND is jax); "
                                   "train with --strategy auto on one device")
