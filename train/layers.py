"""The two Keras layers edge-denoise needs that Keras lacks: pixel unshuffle and pixel shuffle.

Keras has no SpaceToDepth layer and a Reshape cannot take two unknown sides, so a fully
convolutional (None, None, 3) model needs these. On TensorFlow they call tf.nn.space_to_depth
and tf.nn.depth_to_space, which the TFLite converter maps to the SPACE_TO_DEPTH and DEPTH_TO_SPACE
builtins (int8 included). On another Keras backend (JAX on a GPU machine without TensorFlow) they
reshape and transpose to the same channel order, so a model trained there loads and converts here
with the same weights. They are registered, so safe-mode loading finds them once this module
is imported (train.evaluate.load_keras_model does that).
"""

from __future__ import annotations

import keras


def space_to_depth(x, b: int):
    """tf.nn.space_to_depth in keras.ops: output channel (dy * b + dx) * C + c holds pixel (dy, dx), channel c."""
    from keras import ops

    _, h, w, c = ops.shape(x)
    x = ops.reshape(x, (-1, h // b, b, w // b, b, c))
    x = ops.transpose(x, (0, 1, 3, 2, 4, 5))
    return ops.reshape(x, (-1, h // b, w // b, b * b * c))


def depth_to_space(x, b: int):
    """tf.nn.depth_to_space in keras.ops: the inverse of ``space_to_depth``."""
    from keras import ops

    _, h, w, cbb = ops.shape(x)
    c = cbb // (b * b)
    x = ops.reshape(x, (-1, h, w, b, b, c))
    x = ops.transpose(x, (0, 1, 3, 2, 4, 5))
    return ops.reshape(x, (-1, h * b, w * b, c))


@keras.saving.register_keras_serializable(package="edge_denoise")
class SpaceToDepth(keras.layers.Layer):
    """(H, W, C) -> (H/b, W/b, C*b*b): every b x b block of pixels becomes channels, nothing lost."""

    def __init__(self, block_size: int = 2, **kwargs):
        super().__init__(**kwargs)
        self.block_size = int(block_size)

    def call(self, x):
        if keras.backend.backend() == "tensorflow":
            import tensorflow as tf

            return tf.nn.space_to_depth(x, self.block_size)
        return space_to_depth(x, self.block_size)

    def compute_output_shape(self, input_shape):
        b = self.block_size
        n, h, w, c = input_shape
        return (n, None if h is None else h // b, None if w is None else w // b, c * b * b)

    def get_config(self):
        return {**super().get_config(), "block_size": self.block_size}


@keras.saving.register_keras_serializable(package="edge_denoise")
class DepthToSpace(keras.layers.Layer):
    """(H, W, C*b*b) -> (H*b, W*b, C): the inverse of SpaceToDepth."""

    def __init__(self, block_size: int = 2, **kwargs):
        super().__init__(**kwargs)
        self.block_size = int(block_size)

    def call(self, x):
        if keras.backend.backend() == "tensorflow":
            import tensorflow as tf

            return tf.nn.depth_to_space(x, self.block_size)
        return depth_to_space(x, self.block_size)

    def compute_output_shape(self, input_shape):
        b = self.block_size
        n, h, w, c = input_shape
        return (n, None if h is None else h * b, None if w is None else w * b, c // (b * b))

    def get_config(self):
        return {**super().get_config(), "block_size": self.block_size}


@keras.saving.register_keras_serializable(package="edge_denoise")
class ClipToUnit(keras.layers.Layer):
    """Clip to [0, 1]: a ReLU below, and above a cap that passes its gradient through (straight-through).

    A ReLU capped at 1 gives no gradient to a pixel once it is above 1, so a pixel the model pushed
    past white stays there: a blind fastnet trained that way brightened the nuts and never recovered
    (its PSNR fell below the noisy input's on the suite; README, "Beyond the seed"). Here a pixel
    above 1 is shown to the loss as 1 but still pulled back. Below 0 the ReLU's dead gradient is kept
    on purpose: it lets the model park the black background at exactly 0, which is most of what a
    pistachio photo is (a straight-through floor as well learned far worse: benchmarks/output_heads.py).
    Outside training (so in the exported graph) it is a clip.
    """

    def call(self, x, training=None):
        from keras import ops

        floored = ops.relu(x)
        clipped = ops.minimum(floored, 1.0)
        if training:
            return floored + ops.stop_gradient(clipped - floored)
        return clipped
