"""The Keras layers edge-denoise needs that Keras lacks: pixel unshuffle and pixel shuffle, a clip to
[0, 1] with a training-time gradient of our choosing, int8 rounding simulated in training, and a
switching median that rejects impulses (dead and stuck pixels) before a network sees them, and a
black floor on the output.

Keras has no pixel-shuffle layer and a Reshape cannot take two unknown sides, so a fully
convolutional (None, None, 3) model needs PixelShuffle. On TensorFlow it calls tf.nn.space_to_depth
or tf.nn.depth_to_space, which the TFLite converter maps to the SPACE_TO_DEPTH and DEPTH_TO_SPACE
builtins (int8 included). On another Keras backend (JAX on a GPU machine without TensorFlow) it
reshapes and transposes to the same channel order, so a model trained there loads and converts here
with the same weights. They are registered, so safe-mode loading finds them once this module
is imported (train.evaluate.load_keras_model does that).
"""

from __future__ import annotations

import math

import keras

BLACK_FLOOR_RAMP = 2 / 255  # BlackFloor: the ramp from the floor up to the identity, two uint8 steps


def pixel_shuffle(x, block_size: int, unshuffle: bool = False):
    """tf.nn.depth_to_space (or, with ``unshuffle``, tf.nn.space_to_depth) in keras.ops.

    Unshuffled, channel (dy * b + dx) * C + c holds pixel (dy, dx), channel c of every b x b block;
    shuffling puts it back. The same channel order as TensorFlow's, so weights move between backends.
    """
    from keras import ops

    b = block_size
    _, h, w, c = ops.shape(x)
    if unshuffle:
        x = ops.reshape(x, (-1, h // b, b, w // b, b, c))
        x = ops.transpose(x, (0, 1, 3, 2, 4, 5))
        return ops.reshape(x, (-1, h // b, w // b, b * b * c))
    x = ops.reshape(x, (-1, h, w, b, b, c // (b * b)))
    x = ops.transpose(x, (0, 1, 3, 2, 4, 5))
    return ops.reshape(x, (-1, h * b, w * b, c // (b * b)))


@keras.saving.register_keras_serializable(package="edge_denoise")
class PixelShuffle(keras.layers.Layer):
    """Pixel shuffle (H, W, C*b*b) -> (H*b, W*b, C), or with ``unshuffle`` its inverse, nothing lost.

    ``PixelShuffle(4, unshuffle=True)`` turns every 4 x 4 block of pixels into 48 channels (TFLite's
    SPACE_TO_DEPTH); ``PixelShuffle(4)`` puts them back (DEPTH_TO_SPACE).
    """

    def __init__(self, block_size: int = 2, unshuffle: bool = False, **kwargs):
        super().__init__(**kwargs)
        self.block_size = int(block_size)
        self.unshuffle = bool(unshuffle)

    def call(self, x):
        if keras.backend.backend() == "tensorflow":
            import tensorflow as tf

            op = tf.nn.space_to_depth if self.unshuffle else tf.nn.depth_to_space
            return op(x, self.block_size)
        return pixel_shuffle(x, self.block_size, self.unshuffle)

    def compute_output_shape(self, input_shape):
        b = self.block_size
        n, h, w, c = input_shape
        if self.unshuffle:
            return (n, None if h is None else h // b, None if w is None else w // b, c * b * b)
        return (n, None if h is None else h * b, None if w is None else w * b, c // (b * b))

    def get_config(self):
        return {**super().get_config(), "block_size": self.block_size, "unshuffle": self.unshuffle}


# The names models saved before PixelShuffle use (train/pretrained/fastnet is one): kept so they load.
@keras.saving.register_keras_serializable(package="edge_denoise")
class SpaceToDepth(PixelShuffle):
    """PixelShuffle(block_size, unshuffle=True) under the name older .keras files use."""

    def __init__(self, block_size: int = 2, **kwargs):
        kwargs.pop("unshuffle", None)
        super().__init__(block_size, unshuffle=True, **kwargs)


@keras.saving.register_keras_serializable(package="edge_denoise")
class DepthToSpace(PixelShuffle):
    """PixelShuffle(block_size) under the name older .keras files use."""

    def __init__(self, block_size: int = 2, **kwargs):
        kwargs.pop("unshuffle", None)
        super().__init__(block_size, unshuffle=False, **kwargs)


@keras.saving.register_keras_serializable(package="edge_denoise")
class ClipToUnit(keras.layers.Layer):
    """Clip to [0, 1]: a ReLU below, and above a cap that passes its gradient through (straight-through).

    A ReLU capped at 1 gives no gradient to a pixel once it is above 1, so a pixel the model pushed
    past white stays there: a blind fastnet trained that way brightened the nuts and never recovered
    (its PSNR fell below the noisy input's on the suite; docs/models.md). Here a pixel
    above 1 is shown to the loss as 1 but still pulled back. Below 0 the ReLU's dead gradient is kept
    on purpose: it lets the model park the black background at exactly 0, which is most of what a
    pistachio photo is (a straight-through floor as well learned far worse: experiments/output_heads.py).
    Outside training (so in the exported graph) it is a clip.

    ``pass_negative`` (training with ``--background-margin``) hands values below 0 to the loss as
    they are, so a margin loss (train.losses.make_loss) can push the background below 0 by a margin
    that int8 rounding in the layers before cannot undo; the loss floors them itself.
    """

    def __init__(self, pass_negative: bool = False, **kwargs):
        super().__init__(**kwargs)
        self.pass_negative = bool(pass_negative)

    def call(self, x, training=None):
        from keras import ops

        floored = ops.relu(x)
        clipped = ops.minimum(floored, 1.0)
        if training:
            below = ops.minimum(x, 0.0) if self.pass_negative else 0.0
            return floored + below + ops.stop_gradient(clipped - floored)
        return clipped

    def get_config(self):
        return {**super().get_config(), "pass_negative": self.pass_negative}


@keras.saving.register_keras_serializable(package="edge_denoise")
class BlackFloor(keras.layers.Layer):
    """A black floor on the output: values below ``level`` become 0, values above ``level + ramp`` pass unchanged,
    and a straight ramp joins the two (so int8 can hold it: one step of the uint8 output is 1/255).

    SSIM on a black background is decided by tiny offsets: camnets that leave JPEG blocks of clipped noise there at
    a mean of 0.006-0.015 against a clean 0.0004 score 0.74-0.38 on the background while they tie on the nut
    (experiments/int8_background.py, gaussian:0.05+jpeg:40). Below ``level`` there is nothing to keep in a photo on black, so the floor
    sets it to black (docs/models.md, "A black floor"). It is four elementwise int8 ops in the exported graph
    (SUB and MUL with their ReLUs fused, one MUL, one ADD): ``relu(x - level)`` plus ``level`` times
    ``clip((x - level) / ramp, 0, 1)``, written with ReLU6 so that the clip fuses into the MUL.
    """

    def __init__(self, level: float, ramp: float = BLACK_FLOOR_RAMP, **kwargs):
        super().__init__(**kwargs)
        self.level, self.ramp = float(level), float(ramp)

    def call(self, x):
        from keras import ops

        above = ops.relu(x - self.level)
        return above + ops.relu6(above * (6.0 / self.ramp)) * (self.level / 6.0)

    def get_config(self):
        return {**super().get_config(), "level": self.level, "ramp": self.ramp}


@keras.saving.register_keras_serializable(package="edge_denoise")
class FakeQuant(keras.layers.Layer):
    """Quantization-aware training: in training, round the tensor to the 256 levels int8 will give it.

    The range is a running min/max over the training batches (momentum ``momentum``), as the converter's
    calibration takes a min/max over its calibration images; the rounding passes its gradient
    straight through inside the range (keras.quantizers.fake_quant_with_min_max_vars). Outside
    training it returns its input untouched (the saved model's float output is the plain model's)
    unless ``at_inference`` is on: convert turns that on for int8 export, so the file uses the
    ranges training learnt (``fake_quant_at_inference``). The model learns weights whose output
    survives int8 rounding of every activation, which post-training quantization alone cannot give
    a model with wide ranges.
    """

    def __init__(self, momentum: float = 0.99, **kwargs):
        super().__init__(**kwargs)
        self.momentum = float(momentum)
        self.at_inference = False  # convert turns it on for int8 export (never saved)

    def build(self, input_shape):
        self.low = self.add_weight(name="low", shape=(), initializer="zeros", trainable=False)
        self.high = self.add_weight(name="high", shape=(), initializer="zeros", trainable=False)
        self.seen = self.add_weight(name="seen", shape=(), initializer="zeros", trainable=False)

    def call(self, x, training=None):
        from keras import ops

        if training:
            lo = ops.minimum(ops.min(ops.stop_gradient(x)), 0.0)  # int8 ranges always hold 0
            hi = ops.maximum(ops.max(ops.stop_gradient(x)), 0.0)
            keep = self.momentum * (1.0 - ops.cast(self.seen < 0.5, x.dtype))  # the first batch sets the range
            self.low.assign(keep * self.low + (1.0 - keep) * lo)
            self.high.assign(keep * self.high + (1.0 - keep) * hi)
            self.seen.assign(1.0)
        elif not self.at_inference:
            return x
        return keras.quantizers.fake_quant_with_min_max_vars(x, self.low, ops.maximum(self.high, self.low + 1e-6))

    def get_config(self):
        return {**super().get_config(), "momentum": self.momentum}


def trained_fake_quants(model) -> list:
    """The model's FakeQuant layers that have seen a training batch, so have a range (the ones int8 export uses)."""
    return [layer for layer in model.layers
            if isinstance(layer, FakeQuant) and layer.built and float(layer.seen.numpy()) > 0.5]


def clipped_fake_quants(model) -> list:
    """The FakeQuant layers whose tensor goes straight into a ClipToUnit: the model's output before its clip.

    Every value the clip lets through lies in [0, 1], so [0, 1] is the one range for them that loses
    nothing and rounds finest (convert --tune-ranges pins them there)."""
    sources = [layer.input._keras_history.operation for layer in model.layers if isinstance(layer, ClipToUnit)]
    return [layer for layer in sources if isinstance(layer, FakeQuant)]


def fake_quant_at_inference(model, on: bool, only_trained: bool = True) -> None:
    """Make a quantization-aware model's FakeQuant layers round outside training too (never saved).

    convert does it for int8 export: the layers become TensorFlow FakeQuant ops, whose ranges the
    TFLite converter takes for those tensors instead of calibrating them anew. Training does it for
    validation, so the model kept as best is the one that scores best once rounded (its first
    validation follows a training epoch, so every range is set by then: ``only_trained=False``).
    With ``only_trained`` a layer that has not seen a training batch has no range yet and stays an
    identity (the converter calibrates that tensor).
    """
    trained = {id(layer) for layer in trained_fake_quants(model)}
    for layer in model.layers:
        if isinstance(layer, FakeQuant):
            layer.at_inference = on and (id(layer) in trained or not only_trained)
        elif isinstance(layer, ImpulseReject):  # its ranges are fixed, never learnt
            layer.pin_int8 = on


def _median3(a, b, c):
    from keras import ops

    return ops.maximum(ops.minimum(a, b), ops.minimum(ops.maximum(a, b), c))


def reflect_pad1(x):
    """Pad height and width by one pixel, reflected (as ``ops.pad(..., mode="reflect")``), from slices and
    concatenations: TFLite's MIRROR_PAD has no XNNPACK kernel (experiments/impulse_stage_latency.py times
    the median over each)."""
    from keras import ops

    x = ops.concatenate([x[:, 1:2], x, x[:, -2:-1]], axis=1)
    return ops.concatenate([x[:, :, 1:2], x, x[:, :, -2:-1]], axis=2)


def median3x3(x):
    """Each channel's 3x3 median (edges reflected), from MINIMUM and MAXIMUM ops only: every TFLite
    precision runs them, and in int8 they are exact (a median is one of its inputs).

    Each column of three is sorted once (its min, median and max), and every window shares those of
    its three columns; the window's median is then the median of the largest of the three minima, the
    median of the three medians and the smallest of the three maxima: 20 MINIMUM/MAXIMUM ops per value
    where a median-of-9 sorting network takes 38. Checked against numpy's median on every 0/1 window,
    which covers every window by the 0-1 principle (tests/test_beyond.py).
    """
    return median3x3_of_padded(reflect_pad1(x))


def median3x3_of_padded(p):
    """median3x3 of a tensor already padded by one pixel on each side of height and width."""
    from keras import ops

    up, mid, down = p[:, :-2], p[:, 1:-1], p[:, 2:]
    lows = ops.minimum(ops.minimum(up, mid), down)
    meds = _median3(up, mid, down)
    highs = ops.maximum(ops.maximum(up, mid), down)

    def columns(t):
        return t[:, :, :-2], t[:, :, 1:-1], t[:, :, 2:]

    (l0, l1, l2), (m0, m1, m2), (h0, h1, h2) = columns(lows), columns(meds), columns(highs)
    return _median3(ops.maximum(ops.maximum(l0, l1), l2), _median3(m0, m1, m2), ops.minimum(ops.minimum(h0, h1), h2))


@keras.saving.register_keras_serializable(package="edge_denoise")
class ImpulseReject(keras.layers.Layer):
    """A switching median filter in front of the network: a value at black or white (0 or 1) that
    differs from its channel's 3x3 median by more than ``threshold`` is taken for an impulse (a
    dead or stuck pixel, salt-and-pepper noise) and replaced by that median; every other value
    passes untouched.

    A network smooths what is left of an impulse into a blot, and the median filter, which rejects
    impulses well, smooths every other pixel too; this rejects only the impulses. It has no
    weights. A dark background clipped to 0 stays: its median is near 0 too. The default threshold
    is the lowest that cost no row of the noise suite more than 0.0001 SSIM on validation images
    (experiments/impulse_stage.py); lower ones reject more impulses but start to bite into heavy
    Gaussian noise, whose clipped values then look like impulses. Black on a dark nut or white on a
    bright one is nearer its median than that and is left to the network.

    It is arithmetic (MAXIMUM/MINIMUM, SUB, MUL and clips, no comparison or select), so XNNPACK runs
    all of it in float and in int8. On 8-bit frames (values k/255) every decision is exact, in float
    and in an int8 file (see ``_pin``); for values off that grid each decision is a ramp 1/1020 wide
    inside the 8-bit step next to it.
    """

    def __init__(self, threshold: float = 0.5, **kwargs):
        super().__init__(**kwargs)
        self.threshold = float(threshold)
        self.pin_int8 = False  # convert turns it on for int8 export (never saved): see _pin

    def call(self, x):
        from keras import ops

        pin = self._pin
        x = pin(x, 0.0, 1.0)
        med = median3x3(x)
        edge = pin(ops.maximum(x, pin(1.0 - x, 0.0, 1.0)), 0.0, 1.0)  # 1 at black or white, <= 254/255 elsewhere
        extreme = self._at_least(pin(edge - 1.0, -1.0, 0.0))
        gap = pin(ops.maximum(x, med) - ops.minimum(x, med), 0.0, 1.0)  # |x - med|, kept on the 8-bit grid
        above = (math.floor(255.0 * self.threshold) + 1.0) / 255.0  # the least 8-bit gap past the threshold
        far = self._at_least(pin(gap - above, -above, 1.0 - above))
        mask = pin(extreme * far, 0.0, 1.0)
        return pin(pin(pin(1.0 - mask, 0.0, 1.0) * x, 0.0, 1.0) + pin(mask * med, 0.0, 1.0), 0.0, 1.0)

    def _at_least(self, v):
        """1 where v >= 0, 0 where v <= -1/255: a slope steep enough that an 8-bit v lands two units from
        the clip, so float rounding cannot leave the step short of 0 or 1. In int8 the pinned ranges
        saturate instead of a clip, and each op's input-to-output scale ratio stays small (2): XNNPACK's
        delegate refuses an int8 ADD or SUB past 256x (CheckTensorsInputOutputScale), which leaves the op
        to TFLite's reference kernel."""
        from keras import ops

        if self.pin_int8:
            return self._pin(self._pin(1020.0 * v, -2.0, 0.0) + 2.0, 0.0, 1.0)
        return ops.clip(1020.0 * v + 2.0, 0.0, 1.0)

    def _pin(self, t, low: float, high: float):
        """In int8 export, fix the tensor's range (a FakeQuant op, whose range the converter takes).

        Every value of the stage lies on a 1/255 grid those ranges hold exactly, so the int8 stage
        decides as the float one does, whatever the calibration images hold; a range calibrated on
        images without impulses would have no room for the mask's 1 and turn the stage off.
        Elsewhere (float files, training) it is the tensor itself.
        """
        if not self.pin_int8:
            return t
        import keras

        return keras.quantizers.fake_quant_with_min_max_vars(t, low, high)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "threshold": self.threshold}
