"""Losses and metrics for training (TensorFlow ops; the final scores use skimage)."""

from __future__ import annotations

LOSSES = ("mse", "mae", "ssim", "mix")


def ssim_metric(y_true, y_pred):
    """Mean SSIM over the batch (tf.image.ssim; 11x11 Gaussian window, close to but not equal to skimage)."""
    import tensorflow as tf

    return tf.reduce_mean(tf.image.ssim(y_true, y_pred, max_val=1.0))


def psnr_metric(y_true, y_pred):
    """Mean PSNR in dB over the batch."""
    import tensorflow as tf

    return tf.reduce_mean(tf.image.psnr(y_true, y_pred, max_val=1.0))


def make_loss(name: str):
    """mse, mae, ssim (1 - SSIM) or mix (0.84 * (1 - SSIM) + 0.16 * L1, after Zhao et al. 2017)."""
    import tensorflow as tf

    from edge_runtime.errors import EdgeDenoiseError

    def ssim_loss(y_true, y_pred):
        return 1.0 - tf.image.ssim(y_true, y_pred, max_val=1.0)

    def mix_loss(y_true, y_pred):
        l1 = tf.reduce_mean(tf.abs(y_true - y_pred), axis=[1, 2, 3])
        return 0.84 * ssim_loss(y_true, y_pred) + 0.16 * l1

    losses = {"mse": "mse", "mae": "mae", "ssim": ssim_loss, "mix": mix_loss}
    if name not in losses:
        raise EdgeDenoiseError(f"unknown loss '{name}'; choose one of: {', '.join(LOSSES)}")
    return losses[name]
