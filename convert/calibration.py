"""Representative images for int8 calibration and for the quality gate.

Both use the training pipeline's own preprocessing (train.data.load_images: decode, centre
square, resize) and the run's own noise, because calibration data prepared differently from
training gives constant or garbage int8 output (TF#41840). A non-square HxW is a centre crop
of the max(H, W) square.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edge_runtime.errors import EdgeDenoiseError
from edge_runtime.images import list_images
from edge_runtime.noise import NoiseSpec


def load_clean(data_dir: str | Path, relpaths: list[str], size: tuple[int, int], count: int) -> np.ndarray:
    """Up to ``count`` readable images as N x H x W x 3 uint8 (unreadable files are skipped)."""
    from train.data import load_images

    data_dir = Path(data_dir)
    picked = list(relpaths)[: max(int(count), 0)]
    return load_images(data_dir, picked, size)


def calibration_images(folder: str | Path, size: tuple[int, int], spec: NoiseSpec, count: int = 200,
                       seed: int = 0, relpaths: list[str] | None = None) -> np.ndarray:
    """Noisy float32 N x H x W x 3 images for int8 calibration, from ``folder`` (all images, or ``relpaths``)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise EdgeDenoiseError(f"{folder}: calibration folder not found")
    if relpaths is None:
        relpaths = [p.relative_to(folder).as_posix() for p in list_images(folder)]
        # spread the pick over class folders instead of taking the first folder only
        relpaths = [relpaths[i] for i in np.random.default_rng(seed).permutation(len(relpaths))]
    clean = load_clean(folder, relpaths, size, count)
    if len(clean) == 0:
        raise EdgeDenoiseError(f"{folder}: no readable images for calibration")
    return spec.apply(clean.astype(np.float32) / 255.0, np.random.default_rng(seed))
