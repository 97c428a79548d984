"""Fixed-shape clones of a fully convolutional model: one per frame size.

LiteRT files with a dynamic (None, None, 3) input can be silently converted to 1x1 (TF#58622)
and resizing after conversion fails for some graphs (TF#29590), so every file is built from a
clone whose input is exactly (1, H, W, 3), sharing the trained weights.
"""

from __future__ import annotations

from edge_runtime.errors import EdgeDenoiseError


def size_multiple_of(model, architecture: str | None = None, model_kwargs: dict | None = None) -> int:
    """Frame sides must be a multiple of this, read from the model's own layers (poolings, pixel unshuffles).

    ``architecture`` and ``model_kwargs`` are accepted for callers that pass a run's config; the layers
    already say everything they would.
    """
    from train.evaluate import model_size_multiple

    return model_size_multiple(model)


def check_size(size: tuple[int, int], multiple: int, label: str = "model") -> None:
    """One clear line when H or W is not a multiple of the model's pooling factor."""
    h, w = size
    if h % multiple or w % multiple:
        def near(v: int) -> int:
            return max(multiple, round(v / multiple) * multiple)

        raise EdgeDenoiseError(
            f"size {h}x{w} does not fit the {label}: height and width must be multiples of {multiple} "
            f"(e.g. {near(h)}x{near(w)})"
        )


def fixed_shape_model(model, size: tuple[int, int]):
    """A clone of ``model`` with input (1, H, W, 3) and the same weights."""
    import keras

    h, w = size
    inputs = keras.Input((h, w, 3), batch_size=1, name=model.inputs[0].name.split(":")[0] or "noisy")
    clone = keras.models.clone_model(model, input_tensors=inputs)
    clone.set_weights(model.get_weights())
    return clone
