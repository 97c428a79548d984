"""Losses and metrics for training (TensorFlow ops; the final scores use skimage)."""

from __future__ import annotations

LOSSES = ("mse", "mae", "l1", "l2", "ssim", "mix", "mix_l2")


def ssim_metric(y_true, y_pred):
    """Mean SSIM over the batch (tf.image.ssim; 11x11 Gaussian window, close to but not equal to skimage)."""
    import tensorflow as tf

    return tf.reduce_mean(tf.image.ssim(y_true, y_pred, max_val=1.0))


def psnr_metric(y_true, y_pred):
    """Mean PSNR in dB over the batch."""
    import tensorflow as tf

    return tf.reduce_mean(tf.image.psnr(y_true, y_pred, max_val=1.0))


def make_loss(name: str):
    """mse (= l2), mae (= l1), ssim (1 - SSIM), mix (0.84 * (1 - SSIM) + 0.16 * L1, after Zhao et al.
    2017) or mix_l2 (the same with L2)."""
    import tensorflow as tf

    from edge_runtime.errors import EdgeDenoiseError

    def ssim_loss(y_true, y_pred):
        return 1.0 - tf.image.ssim(y_true, y_pred, max_val=1.0)

    def mix_loss(y_true, y_pred):
        l1 = tf.reduce_mean(tf.abs(y_true - y_pred), axis=[1, 2, 3])
        return 0.84 * ssim_loss(y_true, y_pred) + 0.16 * l1

    def mix_l2_loss(y_true, y_pred):
        l2 = tf.reduce_mean(tf.square(y_true - y_pred), axis=[1, 2, 3])
        return 0.84 * ssim_loss(y_true, y_pred) + 0.16 * l2

    losses = {"mse": "mse", "mae": "mae", "l1": "mae", "l2": "mse", "ssim": ssim_loss, "mix": mix_loss,
              "mix_l2": mix_l2_loss}
    if name not in losses:
        raise EdgeDenoiseError(f"unknown loss '{name}'; choose one of: {', '.join(LOSSES)}")
    return losses[name]
