"""camnet: the camera denoiser, built to be int8 from the start.

TFLite int8 gives every activation tensor one scale. A residual stream that carries the whole image
plus small corrections loses most there (fastnet lost 0.015-0.02 SSIM at 480x640 in its block adds
and second convs; docs/models.md). camnet avoids that by construction:

- merges are concatenations, never additions, and a ReLU6 follows every conv that feeds a merge,
  so each tensor holds features of one kind in a bounded range;
- there is one image-space residual, at the output only (noisy input + predicted correction, clipped);
- most MACs sit at 1/2 to 1/8 resolution in a U-Net of 3x3 convs (strided convs down, pixel shuffle up:
  DEPTH_TO_SPACE, no weights, exact in int8);
- ``full_res=0``: no conv runs at full resolution: a pixel unshuffle (SPACE_TO_DEPTH) turns each 2x2
  block into 12 channels, and the output conv predicts 12 channels that a pixel shuffle puts back.
  Such a network learns pixel-scale white noise slowly (docs/models.md, "A camera model");
- ``full_res=N``: a thin full-resolution stage: an N-wide 3x3 conv on the input (a strided conv takes it
  to 1/2), and the output conv runs at full resolution on those features concatenated with the decoder's
  pixel-shuffled ones (N + width/4 -> 3). With N = 12 it costs 36.2 against 30.4 ms per 480x640 int8
  frame (experiments/full_res_convs_int8.py, idle machine);
- ``start_scale=4``: no 1/2 level. Each 4x4 block of the input becomes 48 channels for the first conv, at
  1/4 (2 * width channels, 4 * width at 1/8), and with ``full_res=N`` a conv at 1/4 makes 16 * N channels that
  a pixel shuffle turns into N at full resolution, beside the input, for the one full-resolution conv (the
  output's). Narrow layers at 1/2 and full resolution run far below the CPU's int8 rate, so this trades them
  for wide ones (experiments/camnet_speed_variants.py, docs/models.md). Its correction conv starts at zero
  (the model starts as the identity): from the usual random start at --lr 2e-3 the first epochs pushed whole
  frames below 0, where the clip passes no gradient back, and most ReLUs died;
- ``bottom_width``: channels at 1/8 (default 4 * width), where layers are wide and cheap per pixel;
- ``bottom_depth``: 3x3 convs at 1/8 after the strided one (default 1). Each more adds 1.3k MACs per pixel at the
  default width, in layers that run near the CPU's int8 rate, and widens the view of the coarsest level (a 3x3 conv
  there sees 24 pixels across, the scale of the suite's motion blur). One more lifted the noise rows, not motion
  blur (docs/models.md, "More float epochs, one more conv at 1/8, ...");
- ``impulse_threshold``: how far from its 3x3 median a black or white value must be to count as an impulse
  (train.layers.ImpulseReject);
- ``global_gate``: the correction is scaled by one number per frame, a sigmoid of the 1/8 features averaged
  over the whole frame (GAP, two 1x1 convs). A blind network cannot tell fine texture from faint noise in a
  3x3 window and smooths a clean frame; the frame as a whole tells how noisy it is, so a clean frame (or one
  whose only noise the impulse stage already took out) can pass through. MEAN, two tiny convs, LOGISTIC and
  one MUL, which XNNPACK takes into its int8 partitions (no partition more than without the gate). Tried
  and not shipped: fine-tuned from the shipped float model, the gate settled at 0.8-0.95 on every kind of
  frame, clean ones included (experiments/camnet_gate.py, docs/models.md);
- ``level_input``: the noise level as an input, FFDNet-style, measured in the graph rather than learnt: a fixed
  2x2 stride-2 conv takes each colour's finest diagonal Haar band (a - b - c + d) / 2, which holds little of a
  natural image and all of white noise, ReLUs split it into its positive and negative halves (|band|, with
  ops int8 keeps), and the frame's mean of each is the estimate (the runtime's own haar-MAD estimator,
  edge_runtime.noise_level, reads the same band with a median). Two 1x1 convs turn those six numbers into a
  per-frame bias on the first conv at 1/2 (what FFDNet's constant noise-level map does to its first conv;
  starts at zero) and a per-frame gate on the correction (starts open, 0.95), so a clean frame, or one whose
  only noise the impulse stage already took out, can pass through. The global gate above learnt its number
  from pooled 1/8 features and never told a clean frame from light noise. Tried and not shipped: this gate
  follows the noise but does not close either, because faint camera noise reads like a clean frame
  (experiments/clean_or_faint_noise.py), and the branch costs 10 ms per VGA int8 frame (docs/models.md);
- ``quant_aware`` puts a FakeQuant after every tensor the int8 file holds, for quantization-aware
  training (train.layers.FakeQuant; identities outside training, so the float graph is the same).

At the default width (24 at 1/2, 48 at 1/4, 96 at 1/8) it costs about 10.4k MACs per pixel, and 10.5k
with ``full_res=12`` (edge_runtime.macs on the shipped file), a third of fastnet's 31k.
"""

from __future__ import annotations

GATE_HIDDEN = 16  # global_gate: channels between the pooled features and the gate
GATE_BIAS = 0.0  # global_gate: the gate starts half open (sigmoid(0) = 0.5), where it learns fastest
LEVEL_SCALE = 16.0  # level_input: the band's gain, so that white noise of sigma 0.1 reads about 0.6 per half
LEVEL_GATE_BIAS = 3.0  # level_input: its gate starts open (sigmoid(3) = 0.95): it fine-tunes a trained model
MERGE_FILL = 0.9  # balance_full_res: the full-resolution features' trained range fills this much of ReLU6's


def balance_full_res(model, fill: float = MERGE_FILL) -> float | None:
    """Carry a quantization-aware camnet's full-resolution features on the scale of the decoder's, for int8.

    The last merge concatenates the decoder's features (ReLU6, trained range 0-6) with the full-resolution
    conv's (0-1.6 in the shipped model), and an int8 tensor has one scale, so those were rounded on a grid
    3.7x coarser than their own: most of the file's int8 loss (experiments/int8_layers.py). The float model is
    the same with the full conv's kernel and bias times g, the convs that read it (the strided stem and the
    correction conv's full-resolution inputs) divided by g, and its trained range times g; g makes that range
    fill ``fill`` of the merge's, so ReLU6's cap (6 / g of the old scale) stays above what training saw. Changes
    ``model`` in place and returns g; None (nothing changed) for a model without both trained ranges.
    """
    names = {layer.name for layer in model.layers}
    if not {"full", "stem", "correction", "full_fq", "merge1_fq"} <= names:
        return None
    full_fq, merge_fq = model.get_layer("full_fq"), model.get_layer("merge1_fq")
    full_high, merge_high = float(full_fq.high.numpy()), min(float(merge_fq.high.numpy()), 6.0)
    if full_high <= 0.0 or merge_high <= 0.0 or float(full_fq.low.numpy()) != 0.0:
        return None  # untrained ranges, or not the ReLU6 features this is written for
    gain = fill * merge_high / full_high
    if gain <= 1.0:
        return None
    full, stem, correction = (model.get_layer(name) for name in ("full", "stem", "correction"))
    kernel, bias = full.get_weights()
    full.set_weights([kernel * gain, bias * gain])
    kernel, bias = stem.get_weights()
    stem.set_weights([kernel / gain, bias])
    kernel, bias = correction.get_weights()  # merge1 = [the decoder's channels, the full-resolution ones]
    kernel = kernel.copy()
    kernel[:, :, -full.filters:, :] /= gain
    correction.set_weights([kernel, bias])
    full_fq.high.assign(full_high * gain)
    return gain


def haar_diagonal_kernel(channels: int = 3, scale: float = LEVEL_SCALE) -> "np.ndarray":  # noqa: F821
    """A 2x2 kernel, ``channels`` -> 2 * channels: + and - the diagonal Haar band of each channel, times ``scale``."""
    import numpy as np

    band = np.array([[0.5, -0.5], [-0.5, 0.5]], np.float32) * scale
    kernel = np.zeros((2, 2, channels, 2 * channels), np.float32)
    for c in range(channels):
        kernel[:, :, c, 2 * c], kernel[:, :, c, 2 * c + 1] = band, -band
    return kernel


def build_camnet(width: int = 24, impulse_reject: bool = False, quant_aware: bool = False, residual: bool = True,
                 full_res: int = 0, impulse_threshold: float = 0.5, global_gate: bool = False,
                 start_scale: int = 2, bottom_width: int = 0, level_input: bool = False, bottom_depth: int = 1,
                 black_floor: float = 0.0, **_ignored) -> "keras.Model":  # noqa: F821
    """The camera denoiser: ``width`` channels at 1/2 resolution, doubling at 1/4 and 1/8.

    ``start_scale=4`` drops the 1/2 level (2 * width channels at 1/4, 4 * width at 1/8): see the module's notes.
    ``bottom_width``: channels at 1/8 instead of 4 * width; ``bottom_depth``: 3x3 convs at 1/8 after the strided one.
    ``black_floor``: output values below it become black (train.layers.BlackFloor; with ``residual``)."""
    import keras
    from keras import layers

    from train.layers import BlackFloor, ClipToUnit, FakeQuant, ImpulseReject, PixelShuffle

    def q(t, name: str):
        return FakeQuant(name=f"{name}_fq", dtype="float32")(t) if quant_aware else t

    def conv(t, filters: int, name: str, strides: int = 1, activation: str | None = "relu6", init: str = "glorot_uniform"):
        out = layers.Conv2D(filters, 3, strides=strides, padding="same", activation=activation, name=name,
                            kernel_initializer=init)(t)
        return q(out, name)

    def conv1x1(t, filters: int, name: str, activation: str, bias: float = 0.0):
        out = layers.Conv2D(filters, 1, activation=activation, name=name,
                            bias_initializer=keras.initializers.Constant(bias))(t)
        return q(out, name)

    w1, w2, w3 = width, 2 * width, bottom_width or 4 * width
    inputs = keras.Input((None, None, 3), name="noisy")
    source = ImpulseReject(impulse_threshold, name="impulse_reject")(inputs) if impulse_reject else inputs
    level = None
    if level_input:  # the frame's noise level, from a fixed Haar band (see the module's notes): six numbers per frame
        if start_scale != 2:
            raise ValueError("level_input: camnet with start_scale 2 only")
        band = layers.Conv2D(6, 2, strides=2, use_bias=False, activation="relu", trainable=False, name="level_band",
                             kernel_initializer=keras.initializers.Constant(haar_diagonal_kernel()))(source)
        pooled = layers.GlobalAveragePooling2D(keepdims=True, name="level")(q(band, "level_band"))
        level = conv1x1(q(pooled, "level"), GATE_HIDDEN, "level_hidden", "relu6")
    if start_scale == 4:  # no 1/2 level: each 4x4 block of the input becomes 48 channels at 1/4
        h4 = conv(PixelShuffle(4, unshuffle=True, name="unshuffle")(source), w2, "stem")  # 1/4
    else:
        if full_res:
            full = conv(source, full_res, "full")                          # full resolution
            stem_input, stem_strides = full, 2
        else:
            stem_input, stem_strides = PixelShuffle(2, unshuffle=True, name="unshuffle")(source), 1
        if level is None:
            h2 = conv(stem_input, w1, "stem", strides=stem_strides)       # 1/2
        else:  # the level as a per-frame bias before the stem's ReLU6, as FFDNet's noise map enters its first conv
            bias = layers.Conv2D(w1, 1, name="level_bias", kernel_initializer="zeros")(level)
            pre = conv(stem_input, w1, "stem", strides=stem_strides, activation=None)
            h2 = layers.ReLU(6.0, name="stem_relu")(layers.Add(name="stem_level")([pre, q(bias, "level_bias")]))
            h2 = q(h2, "stem_level")
        h2 = conv(h2, w1, "enc2")
        h4 = conv(h2, w2, "down4", strides=2)                          # 1/4
    h4 = conv(h4, w2, "enc4")
    h8 = conv(h4, w3, "down8", strides=2)                              # 1/8
    h8 = conv(h8, w3, "enc8")
    for i in range(2, bottom_depth + 1):  # the first keeps its name, so models without more load as before
        h8 = conv(h8, w3, f"enc8_{i}")
    u4 = PixelShuffle(2, name="up4")(h8)                               # w3 / 4 channels at 1/4
    u4 = conv(q(layers.Concatenate(name="merge4")([u4, h4]), "merge4"), w2, "dec4")
    if start_scale == 4:
        if full_res:  # full_res decoder channels at full resolution, beside the (impulse-free) input
            up = PixelShuffle(4, name="up1")(conv(u4, 16 * full_res, "expand"))
            x = conv(q(layers.Concatenate(name="merge1")([up, source]), "merge1"), 3, "correction", activation=None,
                     init="zeros")
        else:
            x = PixelShuffle(4, name="shuffle")(conv(u4, 48, "correction", activation=None, init="zeros"))
    else:
        u2 = PixelShuffle(2, name="up2")(u4)                           # w2 / 4 at 1/2
        u2 = conv(q(layers.Concatenate(name="merge2")([u2, h2]), "merge2"), w1, "dec2")
        if full_res:  # w1 / 4 decoder channels at full resolution, beside the input's own features
            merged = q(layers.Concatenate(name="merge1")([PixelShuffle(2, name="up1")(u2), full]), "merge1")
            x = conv(merged, 3, "correction", activation=None)
        else:
            x = PixelShuffle(2, name="shuffle")(conv(u2, 12, "correction", activation=None))
    if global_gate:  # how much of the correction to apply, one number per frame, from the whole frame's 1/8 features
        pooled = layers.GlobalAveragePooling2D(keepdims=True, name="gate_pool")(h8)
        hidden = conv1x1(q(pooled, "gate_pool"), GATE_HIDDEN, "gate_hidden", "relu6")
        gate = conv1x1(hidden, 1, "gate", "sigmoid", bias=GATE_BIAS)
        x = q(layers.Multiply(name="gated")([x, gate]), "gated")
    if level is not None:  # how much of the correction to apply, from the measured level
        gate = conv1x1(level, 1, "level_gate", "sigmoid", bias=LEVEL_GATE_BIAS)
        x = q(layers.Multiply(name="level_gated")([x, gate]), "level_gated")
    if residual:
        x = q(layers.Add(name="residual")([source, x]), "residual")
        outputs = ClipToUnit(name="denoised", dtype="float32")(x)
        if black_floor:
            outputs = BlackFloor(black_floor, name="black_floor", dtype="float32")(outputs)
    else:
        outputs = layers.Activation("sigmoid", name="denoised", dtype="float32")(x)
    return keras.Model(inputs, outputs, name="camnet")
