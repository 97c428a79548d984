"""Denoisers as plain functions that return keras.Model, found by name in MODELS.

All are fully convolutional: input (None, None, 3) float32 in [0, 1], output the same shape
and range, so one trained model converts later for any frame size (a multiple of
2**depth pixels for the U-Net, of 2 for the autoencoder).
"""

from __future__ import annotations

from collections.abc import Callable


def build_autoencoder(width: int = 32, **_ignored) -> "keras.Model":  # noqa: F821
    """The seed's basic autoencoder: two Conv2D then MaxPooling2D to encode, UpSampling2D and Conv2D to decode."""
    import keras
    from keras import layers

    inputs = keras.Input((None, None, 3), name="noisy")
    x = layers.Conv2D(width, 3, padding="same", activation="relu")(inputs)
    x = layers.Conv2D(width, 3, padding="same", activation="relu")(x)
    x = layers.MaxPooling2D(2, padding="same")(x)
    x = layers.UpSampling2D(2)(x)
    outputs = layers.Conv2D(3, 3, padding="same", activation="sigmoid", name="denoised")(x)
    return keras.Model(inputs, outputs, name="autoencoder")


def _conv_block(x, filters: int, name: str):
    from keras import layers

    x = layers.Conv2D(filters, 3, padding="same", activation="relu", name=f"{name}_conv1")(x)
    return layers.Conv2D(filters, 3, padding="same", activation="relu", name=f"{name}_conv2")(x)


def build_unet(width: int = 32, depth: int = 3, residual: bool = True, **_ignored) -> "keras.Model":  # noqa: F821
    """A U-Net from scratch: ``depth`` poolings, widths width * 2**level, skip connections.

    With ``residual`` the network predicts the noise and subtracts it from its input (output
    clipped to [0, 1] by a ReLU capped at 1), which trains faster and keeps flat areas flat.
    """
    import keras
    from keras import layers

    inputs = keras.Input((None, None, 3), name="noisy")
    x = inputs
    skips = []
    for level in range(depth):
        x = _conv_block(x, width * 2**level, f"down{level}")
        skips.append(x)
        x = layers.MaxPooling2D(2, name=f"pool{level}")(x)
    x = _conv_block(x, width * 2**depth, "bottom")
    for level in reversed(range(depth)):
        filters = width * 2**level
        x = layers.Conv2DTranspose(filters, 2, strides=2, padding="same", name=f"up{level}")(x)
        x = layers.Concatenate(name=f"skip{level}")([x, skips[level]])
        x = _conv_block(x, filters, f"dec{level}")
    if residual:
        delta = layers.Conv2D(3, 1, name="noise_estimate")(x)
        x = layers.Add(name="residual")([inputs, delta])
        outputs = layers.ReLU(max_value=1.0, name="denoised")(x)
    else:
        outputs = layers.Conv2D(3, 1, activation="sigmoid", name="denoised")(x)
    return keras.Model(inputs, outputs, name="unet")


MODELS: dict[str, Callable[..., "keras.Model"]] = {  # noqa: F821
    "autoencoder": build_autoencoder,
    "unet": build_unet,
}


def create_model(name: str, **kwargs) -> "keras.Model":  # noqa: F821
    """Build a registered model by name with its keyword options."""
    from edge_runtime.errors import EdgeDenoiseError

    if name not in MODELS:
        raise EdgeDenoiseError(f"unknown model '{name}'; choose one of: {', '.join(MODELS)}")
    return MODELS[name](**kwargs)


def size_multiple(name: str, depth: int = 3) -> int:
    """Frame sides must be a multiple of this for the model's poolings to line up."""
    return 2 if name == "autoencoder" else 2**depth
