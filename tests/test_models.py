"""Models are plain functions found by name; all are fully convolutional RGB -> RGB in [0, 1]."""

import numpy as np
import pytest

from edge_runtime.errors import EdgeDenoiseError
from train.models import MODELS, build_autoencoder, build_unet, create_model, size_multiple


def test_autoencoder_is_the_seed_layout():
    model = build_autoencoder(width=8)
    kinds = [type(layer).__name__ for layer in model.layers]
    assert kinds == ["InputLayer", "Conv2D", "Conv2D", "MaxPooling2D", "UpSampling2D", "Conv2D"]


@pytest.mark.parametrize("name, kwargs", [("autoencoder", {"width": 4}), ("unet", {"width": 4, "depth": 2}),
                                          ("unet", {"width": 4, "depth": 3, "residual": False})])
@pytest.mark.parametrize("h, w", [(32, 32), (48, 64)])
def test_models_map_any_valid_size_to_the_same_size_in_range(name, kwargs, h, w):
    model = create_model(name, **kwargs)
    x = np.random.default_rng(0).random((2, h, w, 3), dtype=np.float32)
    y = np.asarray(model(x))
    assert y.shape == x.shape and y.min() >= 0 and y.max() <= 1
    assert model.input_shape == (None, None, None, 3)


def test_unet_has_skip_connections_and_depth_poolings():
    model = build_unet(width=4, depth=3)
    names = [layer.name for layer in model.layers]
    assert sum(n.startswith("skip") for n in names) == 3 and sum(n.startswith("pool") for n in names) == 3
    assert size_multiple("unet", 3) == 8 and size_multiple("autoencoder") == 2


def test_unknown_model_names_list_the_known_ones():
    with pytest.raises(EdgeDenoiseError, match="choose one of: " + ", ".join(MODELS)):
        create_model("resnet")


def test_keras_denoiser_pads_sides_that_do_not_fit_the_poolings(tmp_path):
    from train.evaluate import KerasDenoiser

    build_unet(width=4, depth=3).save(tmp_path / "m.keras")
    denoiser = KerasDenoiser(tmp_path / "m.keras")
    x = np.random.default_rng(0).random((1, 100, 100, 3), dtype=np.float32)
    assert denoiser.multiple == 8 and denoiser(x).shape == (1, 100, 100, 3)


def test_pixel_shuffle_is_one_layer_that_unshuffles_and_shuffles_back_and_survives_a_save(tmp_path):
    import keras

    from train.layers import PixelShuffle

    inputs = keras.Input((None, None, 3))
    packed = PixelShuffle(4, unshuffle=True, name="unshuffle")(inputs)
    model = keras.Model(inputs, PixelShuffle(4, name="shuffle")(packed))
    x = np.random.default_rng(0).random((1, 8, 12, 3), dtype=np.float32)
    assert packed.shape == (None, None, None, 48)
    assert np.array_equal(np.asarray(model(x)), x)
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras", safe_mode=True)
    assert [layer.unshuffle for layer in loaded.layers[1:]] == [True, False]


def test_the_shipped_fastnet_saved_under_the_old_layer_names_loads_as_pixel_shuffles():
    from train.evaluate import load_keras_model, model_size_multiple
    from train.layers import PixelShuffle
    from train.pretrained import pretrained_model

    model = load_keras_model(pretrained_model("fastnet"))
    shuffles = [layer for layer in model.layers if isinstance(layer, PixelShuffle)]
    assert [(s.name, s.block_size, s.unshuffle) for s in shuffles] == [("unshuffle", 2, True), ("shuffle", 2, False)]
    assert model_size_multiple(model) == 2
