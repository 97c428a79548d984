"""Losses and metrics for training (the final scores use skimage).

On TensorFlow they are tf.image.ssim and tf.image.psnr. On another Keras backend (JAX on a GPU
machine that has no TensorFlow) the same formulas run in keras.ops: ``ssim_ops`` matches
tf.image.ssim (11x11 Gaussian window, sigma 1.5, k1 0.01, k2 0.03, valid padding), which
tests/test_backends.py checks on random images.
"""

from __future__ import annotations

LOSSES = ("mse", "mae", "l1", "l2", "ssim", "mix", "mix_l2")
SSIM_WINDOW, SSIM_SIGMA, SSIM_K1, SSIM_K2 = 11, 1.5, 0.01, 0.03


def _on_tensorflow() -> bool:
    import keras

    return keras.backend.backend() == "tensorflow"


def ssim_ops(y_true, y_pred, max_val: float = 1.0):
    """Per-image SSIM of two (N, H, W, C) batches in keras.ops, as tf.image.ssim computes it."""
    import numpy as np
    from keras import ops

    channels = y_true.shape[-1]
    side = min(SSIM_WINDOW, *(int(s) for s in y_true.shape[1:3] if s is not None))
    g = np.exp(-0.5 * ((np.arange(side) - (side - 1) / 2) / SSIM_SIGMA) ** 2)
    window = np.outer(g, g) / np.outer(g, g).sum()
    kernel = ops.convert_to_tensor(np.tile(window[:, :, None, None], (1, 1, channels, 1)).astype("float32"))
    y_true, y_pred = ops.cast(y_true, "float32"), ops.cast(y_pred, "float32")

    def blur(x):
        return ops.depthwise_conv(x, kernel, strides=1, padding="valid")

    c1, c2 = (SSIM_K1 * max_val) ** 2, (SSIM_K2 * max_val) ** 2
    mu_x, mu_y = blur(y_true), blur(y_pred)
    mu_xx, mu_yy, mu_xy = mu_x * mu_x, mu_y * mu_y, mu_x * mu_y
    var_x = blur(y_true * y_true) - mu_xx
    var_y = blur(y_pred * y_pred) - mu_yy
    cov = blur(y_true * y_pred) - mu_xy
    luminance = (2.0 * mu_xy + c1) / (mu_xx + mu_yy + c1)
    contrast_structure = (2.0 * cov + c2) / (var_x + var_y + c2)
    return ops.mean(luminance * contrast_structure, axis=(1, 2, 3))


def _ssim(y_true, y_pred):
    if _on_tensorflow():
        import tensorflow as tf

        return tf.image.ssim(y_true, y_pred, max_val=1.0)
    return ssim_ops(y_true, y_pred)


def ssim_metric(y_true, y_pred):
    """Mean SSIM over the batch (tf.image.ssim's; 11x11 Gaussian window, close to but not equal to skimage).

    Both metrics score the output clipped to [0, 1], what the exported graph gives: while training with
    ``--background-margin`` the model hands the loss its background below 0, and scored as it was the training
    curve read SSIM 0.66 where validation read 0.95.
    """
    from keras import ops

    return ops.mean(_ssim(y_true, ops.clip(y_pred, 0.0, 1.0)))


def psnr_metric(y_true, y_pred):
    """Mean PSNR in dB over the batch, of the output clipped to [0, 1] (see ssim_metric)."""
    from keras import ops

    y_pred = ops.clip(y_pred, 0.0, 1.0)
    if _on_tensorflow():
        import tensorflow as tf

        return tf.reduce_mean(tf.image.psnr(y_true, y_pred, max_val=1.0))
    mse = ops.mean(ops.square(ops.cast(y_true, "float32") - ops.cast(y_pred, "float32")), axis=(1, 2, 3))
    return ops.mean(-10.0 * ops.log(mse) / ops.log(10.0))


BACKGROUND_BELOW = 0.02  # clean pixels darker than this (5/255) are background for --background-margin


def make_loss(name: str, background_margin: float = 0.0, background_below: float = BACKGROUND_BELOW):
    """mse (= l2), mae (= l1), ssim (1 - SSIM), mix (0.84 * (1 - SSIM) + 0.16 * L1, after Zhao et al.
    2017) or mix_l2 (the same with L2).

    With ``background_margin`` M > 0 the model's output reaches the loss unfloored (ClipToUnit's
    ``pass_negative``): the loss above sees it floored at 0, and a hinge, the mean over pixels whose
    clean value is below ``background_below`` of max(0, output + M), pushes the black background to
    -M or lower. A fastnet with no margin parks it just above 0, where the int8 model's rounding
    lifts it into visible grey (experiments/int8_background.py).
    """
    import keras
    from keras import ops

    from edge_runtime.errors import EdgeDenoiseError

    def ssim_loss(y_true, y_pred):
        return 1.0 - _ssim(y_true, y_pred)

    def mix_loss(y_true, y_pred):
        l1 = ops.mean(ops.abs(y_true - y_pred), axis=(1, 2, 3))
        return 0.84 * ssim_loss(y_true, y_pred) + 0.16 * l1

    def mix_l2_loss(y_true, y_pred):
        l2 = ops.mean(ops.square(y_true - y_pred), axis=(1, 2, 3))
        return 0.84 * ssim_loss(y_true, y_pred) + 0.16 * l2

    losses = {"mse": "mse", "mae": "mae", "l1": "mae", "l2": "mse", "ssim": ssim_loss, "mix": mix_loss,
              "mix_l2": mix_l2_loss}
    if name not in losses:
        raise EdgeDenoiseError(f"unknown loss '{name}'; choose one of: {', '.join(LOSSES)}")
    if background_margin < 0:
        raise EdgeDenoiseError(f"--background-margin must be 0 or more, not {background_margin}")
    if not background_margin:
        return losses[name]
    base = keras.losses.get(losses[name]) if isinstance(losses[name], str) else losses[name]

    def margin_loss(y_true, y_pred):
        background = ops.cast(y_true < background_below, y_pred.dtype)
        hinge = ops.mean(background * ops.relu(y_pred + background_margin), axis=(1, 2, 3))
        main = base(y_true, ops.relu(y_pred))
        if len(main.shape) > 1:  # Keras's mse/mae average the last axis only
            main = ops.mean(main, axis=tuple(range(1, len(main.shape))))
        return main + hinge

    margin_loss.__name__ = f"{name}_background_margin"
    return margin_loss
