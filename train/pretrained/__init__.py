"""Keras models shipped with the package, each in a run folder of its own (model.keras + config.json).

``camnet`` is the default denoiser and ``fastnet`` the previous one; their .tflite files ship in
edge_runtime/models. With a Keras model a user converts it at their camera's own frame size
(``edge-denoise convert camnet --quant int8 --io uint8 --size 720x1280 ...``) or fine-tunes it on their own
images or their camera's measured noise (``train --init-from``).
"""

from __future__ import annotations

from pathlib import Path

FOLDER = Path(__file__).resolve().parent


def names() -> list[str]:
    """The shipped Keras models' names."""
    return sorted(p.parent.name for p in FOLDER.glob("*/model.keras"))


def pretrained_model(name: str) -> Path | None:
    """The shipped model.keras called ``name``, or None."""
    path = FOLDER / name / "model.keras"
    return path if name in names() else None
