"""Shared fixtures: the bundled sample photos and tiny images made on the fly."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "edge_runtime" / "samples"


@pytest.fixture
def samples_dir() -> Path:
    """The 24 downscaled pistachio photos shipped in the package (two class folders)."""
    return SAMPLES


@pytest.fixture
def tiny_data(tmp_path: Path) -> Path:
    """A copy of a few sample photos, in a folder whose name has spaces and parentheses."""
    import shutil

    root = tmp_path / "my data (copy)"
    for cls in ("Kirmizi_Pistachio", "Siirt_Pistachio"):
        (root / cls).mkdir(parents=True)
        for f in sorted((SAMPLES / cls).glob("*.jpg"))[:6]:
            shutil.copy(f, root / cls / f.name)
    return root


def smooth_image(h: int = 64, w: int = 64, seed: int = 0) -> np.ndarray:
    """A smooth random uint8 RGB image (blurred noise), quick to make and easy to denoise."""
    import cv2

    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (max(h // 8, 2), max(w // 8, 2), 3), dtype=np.uint8)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)
