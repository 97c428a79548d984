"""Denoisers as plain functions that return keras.Model, found by name in MODELS.

All are fully convolutional: input (None, None, 3) float32 in [0, 1], output the same shape
and range, so one trained model converts later for any frame size (a multiple of
2**depth pixels for the U-Net, of 2 for the autoencoder, of ``scale`` for fastnet and of 32
for backbone_unet). Every option defaults to off, so old runs rebuild layer for layer.
"""

from __future__ import annotations

from collections.abc import Callable

from train.camnet import build_camnet


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


def _conv_block(x, filters: int, name: str, separable: bool = False):
    from keras import layers

    # a depthwise-separable conv on 3 input channels saves nothing, so the first conv stays full
    conv1 = layers.SeparableConv2D if separable and x.shape[-1] > 3 else layers.Conv2D
    conv2 = layers.SeparableConv2D if separable else layers.Conv2D
    x = conv1(filters, 3, padding="same", activation="relu", name=f"{name}_conv1")(x)
    return conv2(filters, 3, padding="same", activation="relu", name=f"{name}_conv2")(x)


def squeeze_excite(x, name: str, ratio: int = 4):
    """SE (Hu et al. 2018): reweight channels from their global average. Builtins only: MEAN, CONV_2D, MUL.

    The two fully connected layers are 1x1 convs on the 1x1 pooled map: the same maths as Dense,
    but the converter emits a plain CONV_2D instead of a FULLY_CONNECTED wrapped in shape ops.
    """
    from keras import layers

    channels = x.shape[-1]
    s = layers.GlobalAveragePooling2D(keepdims=True, name=f"{name}_se_pool")(x)
    s = layers.Conv2D(max(channels // ratio, 4), 1, activation="relu", name=f"{name}_se_fc1")(s)
    s = layers.Conv2D(channels, 1, activation="sigmoid", name=f"{name}_se_fc2")(s)
    return layers.Multiply(name=f"{name}_se_scale")([x, s])


def cbam(x, name: str, ratio: int = 4, kernel: int = 7):
    """CBAM (Woo et al. 2018): channel attention from average and max pooling through a shared MLP,
    then spatial attention from a kernel x kernel conv.

    The paper pools mean and max across channels for the spatial map; keras has no layer for
    that without a Lambda, so a learned 1x1 conv to two maps takes its place (CONV_2D, int8).
    """
    from keras import layers

    channels = x.shape[-1]
    fc1 = layers.Conv2D(max(channels // ratio, 4), 1, activation="relu", name=f"{name}_ca_fc1")
    fc2 = layers.Conv2D(channels, 1, name=f"{name}_ca_fc2")
    avg = fc2(fc1(layers.GlobalAveragePooling2D(keepdims=True, name=f"{name}_ca_avg")(x)))
    mx = fc2(fc1(layers.GlobalMaxPooling2D(keepdims=True, name=f"{name}_ca_max")(x)))
    a = layers.Activation("sigmoid", name=f"{name}_ca_sigmoid")(layers.Add(name=f"{name}_ca_add")([avg, mx]))
    x = layers.Multiply(name=f"{name}_ca_scale")([x, a])
    m = layers.Conv2D(2, 1, name=f"{name}_sa_squeeze")(x)
    m = layers.Conv2D(1, kernel, padding="same", activation="sigmoid", name=f"{name}_sa_conv")(m)
    return layers.Multiply(name=f"{name}_sa_scale")([x, m])


ATTENTION = {"se": squeeze_excite, "cbam": cbam}


def _attend(x, attention: str | None, name: str):
    return ATTENTION[attention](x, name) if attention else x


def _check_choice(what: str, value, choices) -> None:
    from edge_runtime.errors import EdgeDenoiseError

    if value not in choices:
        shown = ", ".join(str(c) for c in choices)
        raise EdgeDenoiseError(f"unknown {what} '{value}'; choose one of: {shown}")


def build_unet(width: int = 32, depth: int = 3, residual: bool = True, attention: str | None = None,
               separable: bool = False, unshuffle: int = 1, **_ignored) -> "keras.Model":  # noqa: F821
    """A U-Net from scratch: ``depth`` poolings, widths width * 2**level, skip connections.

    With ``residual`` the network predicts the noise and subtracts it from its input (output
    clipped to [0, 1] by a ReLU capped at 1), which trains faster and keeps flat areas flat.
    ``attention`` ("se" or "cbam") follows every conv block; ``separable`` makes the 3x3 convs
    depthwise-separable (about 8x fewer MACs each at these widths). ``unshuffle`` 2 runs the
    whole U-Net at half resolution on pixel-unshuffled input (SPACE_TO_DEPTH, nothing lost) and
    shuffles the predicted noise back (DEPTH_TO_SPACE): about 4x fewer MACs per pixel, and no
    narrow full-resolution layer, which int8 kernels run far below their peak.
    """
    import keras
    from keras import layers

    from train.layers import PixelShuffle

    _check_choice("attention", attention, (None, *ATTENTION))
    _check_choice("unshuffle", unshuffle, (1, 2, 4))
    inputs = keras.Input((None, None, 3), name="noisy")
    x = PixelShuffle(unshuffle, unshuffle=True, name="unshuffle")(inputs) if unshuffle > 1 else inputs
    skips = []
    for level in range(depth):
        x = _attend(_conv_block(x, width * 2**level, f"down{level}", separable), attention, f"down{level}")
        skips.append(x)
        x = layers.MaxPooling2D(2, name=f"pool{level}")(x)
    x = _attend(_conv_block(x, width * 2**depth, "bottom", separable), attention, "bottom")
    for level in reversed(range(depth)):
        filters = width * 2**level
        x = layers.Conv2DTranspose(filters, 2, strides=2, padding="same", name=f"up{level}")(x)
        x = layers.Concatenate(name=f"skip{level}")([x, skips[level]])
        x = _attend(_conv_block(x, filters, f"dec{level}", separable), attention, f"dec{level}")
    outputs = _residual_head(inputs, x, residual, unshuffle)
    return keras.Model(inputs, outputs, name="unet")


def _residual_head(inputs, x, residual: bool, unshuffle: int = 1):
    from keras import layers

    from train.layers import PixelShuffle

    channels = 3 * unshuffle * unshuffle
    if residual:
        delta = layers.Conv2D(channels, 1, name="noise_estimate")(x)
        if unshuffle > 1:
            delta = PixelShuffle(unshuffle, name="shuffle")(delta)
        x = layers.Add(name="residual")([inputs, delta])
        return layers.ReLU(max_value=1.0, name="denoised")(x)
    if unshuffle > 1:
        x = layers.Conv2D(channels, 1, name="head")(x)
        return layers.Activation("sigmoid", name="denoised")(PixelShuffle(unshuffle, name="shuffle")(x))
    return layers.Conv2D(3, 1, activation="sigmoid", name="denoised")(x)


def build_fastnet(width: int = 64, blocks: int = 4, scale: int = 4, separable: bool = False,
                  residual: bool = True, quant_aware: bool = False, impulse_reject: bool = False,
                  impulse_threshold: float = 0.5,
                  **_ignored) -> "keras.Model":  # noqa: F821
    """An edge denoiser that does all its work at 1/scale resolution, where wide layers are cheap.

    Pixel unshuffle (SPACE_TO_DEPTH) turns every scale x scale block into channels without losing
    a pixel, ``blocks`` residual blocks of two wide 3x3 convs work on that, and pixel shuffle
    (DEPTH_TO_SPACE) puts the predicted noise back at full resolution, where it is subtracted
    from the input. At width 64, scale 4 this costs about 22k MACs per pixel, 3.6x fewer than
    the U-Net of width 24, depth 3 (79k), and the convs are 64 channels wide, which int8 kernels
    run near their peak; a full-resolution conv at width 24 runs far below it.

    ``quant_aware`` puts a FakeQuant after every tensor the int8 file will hold (quantization-aware
    training, for fine-tuning a trained fastnet with --init-from); the layers are identities outside
    training, so the exported graph is the same.

    ``impulse_reject`` puts a switching median (train.layers.ImpulseReject, no weights) in front:
    impulses are replaced by their 3x3 median before the network sees them, and the residual is
    added to that cleaned input, so the network only learns the noise that is left.
    """
    import keras
    from keras import layers

    from train.layers import ClipToUnit, FakeQuant, ImpulseReject, PixelShuffle

    _check_choice("fastnet scale", scale, (2, 4))
    conv = layers.SeparableConv2D if separable else layers.Conv2D

    def q(t, name: str):
        return FakeQuant(name=f"{name}_fq")(t) if quant_aware else t

    inputs = keras.Input((None, None, 3), name="noisy")
    source = ImpulseReject(impulse_threshold, name="impulse_reject")(inputs) if impulse_reject else inputs
    x = PixelShuffle(scale, unshuffle=True, name="unshuffle")(source)
    x = q(layers.Conv2D(width, 3, padding="same", activation="relu", name="stem")(x), "stem")
    for i in range(blocks):
        y = q(conv(width, 3, padding="same", activation="relu", name=f"block{i}_conv1")(x), f"block{i}_conv1")
        y = q(conv(width, 3, padding="same", name=f"block{i}_conv2")(y), f"block{i}_conv2")
        x = q(layers.Add(name=f"block{i}_add")([x, y]), f"block{i}_add")
    x = q(layers.Conv2D(3 * scale * scale, 3, padding="same", name="head")(x), "head")
    x = PixelShuffle(scale, name="shuffle")(x)
    if residual:
        x = q(layers.Add(name="residual")([source, x]), "residual")
        outputs = ClipToUnit(name="denoised")(x)  # not ReLU(max_value=1): see ClipToUnit
    else:
        outputs = layers.Activation("sigmoid", name="denoised")(x)
    return keras.Model(inputs, outputs, name="fastnet")


# backbone -> (keras.applications constructor name, extra kwargs, preprocessing from [0, 1])
BACKBONES = {
    "mobilenetv3": ("MobileNetV3Small", {"include_preprocessing": False}, "tf"),  # expects [-1, 1]
    "efficientnet": ("EfficientNetB0", {}, "torch"),  # has Rescaling(1/255) + Normalization inside
    "resnet50": ("ResNet50", {}, "caffe"),  # expects BGR 0..255 minus the ImageNet mean
}
_CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)


def _load_backbone(backbone: str, weights: str | None):
    """keras.applications encoder (no top, any input size), with local weights if given."""
    from pathlib import Path

    import keras

    from edge_runtime.errors import EdgeDenoiseError

    _check_choice("backbone", backbone, tuple(BACKBONES))
    ctor, extra, _ = BACKBONES[backbone]
    if weights is not None and not Path(weights).is_file():
        raise EdgeDenoiseError(f"--weights {weights}: no such weights file (ImageNet weights cannot be downloaded "
                               f"here; pass a local {ctor} no-top .h5 or .weights.h5 file)")
    net = getattr(keras.applications, ctor)(input_shape=(None, None, 3), include_top=False, weights=None, **extra)
    if weights is not None:
        try:
            if str(weights).endswith(".weights.h5"):
                net.load_weights(weights, skip_mismatch=True)
            else:  # the legacy no-top .h5 files keras.applications publishes
                net.load_weights(weights, by_name=True, skip_mismatch=True)
        except Exception as exc:  # h5py and keras raise many types for a wrong file
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
            raise EdgeDenoiseError(f"--weights {weights}: cannot load into {ctor} ({type(exc).__name__}: {first})") from None
    return net


def _skip_layers(net, probe: int = 64) -> list[str]:
    """Names of the last layer at 1/2, 1/4, 1/8, 1/16 and 1/32 resolution, found by running a probe.

    Names are looked up rather than listed because keras.applications leaves many layers to
    its global name counter (MobileNetV3's "activation_11" is another name in a second model).
    """
    import keras
    import numpy as np

    layers4d = [layer for layer in net.layers[1:] if len(layer.output.shape) == 4]
    probe_model = keras.Model(net.input, [layer.output for layer in layers4d])
    shapes = [o.shape[1] for o in probe_model(np.zeros((1, probe, probe, 3), np.float32))]
    last = {}
    for layer, side in zip(layers4d, shapes):
        last[side] = layer.name
    return [last[probe // 2**k] for k in range(1, 6)]


def build_backbone_unet(backbone: str = "mobilenetv3", weights: str | None = None, width: int = 32,
                        residual: bool = True, **_ignored) -> "keras.Model":  # noqa: F821
    """A U-Net whose encoder is a keras.applications classifier (pretrained when ``weights`` is given).

    Skips come from the last layer at each of 1/2 ... 1/32 resolution; the decoder upsamples
    with transposed convs and mixes each skip in with two 3x3 convs (width at full and 1/2
    resolution, doubling per level below). The ImageNet preprocessing is inside the model, so
    inputs stay [0, 1]. Frame sides must be multiples of 32.
    """
    import keras
    import numpy as np
    from keras import layers

    net = _load_backbone(backbone, weights)
    encoder = keras.Model(net.input, [net.get_layer(n).output for n in _skip_layers(net)], name=f"{backbone}_encoder")
    inputs = keras.Input((None, None, 3), name="noisy")
    style = BACKBONES[backbone][2]
    if style == "tf":
        x = layers.Rescaling(2.0, offset=-1.0, name="preprocess")(inputs)
    elif style == "torch":
        x = layers.Rescaling(255.0, name="preprocess")(inputs)
    else:  # caffe: RGB [0, 1] -> BGR 0..255 minus the mean, as a fixed 1x1 conv (one CONV_2D)
        caffe = layers.Conv2D(3, 1, trainable=False, name="preprocess")
        x = caffe(inputs)
        kernel = np.zeros((1, 1, 3, 3), np.float32)
        for c in range(3):
            kernel[0, 0, c, 2 - c] = 255.0
        caffe.set_weights([kernel, -np.array(_CAFFE_MEAN_BGR, np.float32)])
    feats = encoder(x)
    x = feats[-1]
    for level in reversed(range(5)):  # output at 1/2**level: 1/16 ... 1/1
        filters = width * 2 ** max(level - 1, 0)
        x = layers.Conv2DTranspose(filters, 2, strides=2, padding="same", name=f"up{level}")(x)
        skip = feats[level - 1] if level > 0 else inputs
        x = layers.Concatenate(name=f"skip{level}")([x, skip])
        x = _conv_block(x, filters, f"dec{level}")
    outputs = _residual_head(inputs, x, residual)
    return keras.Model(inputs, outputs, name="backbone_unet")


MODELS: dict[str, Callable[..., "keras.Model"]] = {  # noqa: F821
    "autoencoder": build_autoencoder,
    "unet": build_unet,
    "fastnet": build_fastnet,
    "camnet": build_camnet,
    "backbone_unet": build_backbone_unet,
}


def create_model(name: str, **kwargs) -> "keras.Model":  # noqa: F821
    """Build a registered model by name with its keyword options."""
    from edge_runtime.errors import EdgeDenoiseError

    if name not in MODELS:
        raise EdgeDenoiseError(f"unknown model '{name}'; choose one of: {', '.join(MODELS)}")
    return MODELS[name](**kwargs)


def size_multiple(name: str, depth: int = 3, scale: int | None = None, unshuffle: int = 1) -> int:
    """Frame sides must be a multiple of this for the model's poolings to line up.

    fastnet without its ``scale`` answers 4, which fits both scales it takes.
    """
    if name == "autoencoder":
        return 2
    if name == "fastnet":
        return int(scale or 4)
    if name == "backbone_unet":
        return 32
    if name == "camnet":
        return 8
    return 2**depth * int(unshuffle)
