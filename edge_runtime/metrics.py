"""Image quality: SSIM and PSNR as scikit-image computes them (data_range 1, colour last)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def ssim(clean01: np.ndarray, test01: np.ndarray) -> float:
    """Structural similarity of two HxWx3 float images in [0, 1]."""
    from skimage.metrics import structural_similarity

    return float(structural_similarity(clean01, test01, data_range=1.0, channel_axis=-1))


def psnr(clean01: np.ndarray, test01: np.ndarray) -> float:
    """Peak signal-to-noise ratio in dB; capped at 100 dB for identical images."""
    mse = float(np.mean((np.asarray(clean01, np.float64) - np.asarray(test01, np.float64)) ** 2))
    return 100.0 if mse <= 1e-10 else float(10.0 * np.log10(1.0 / mse))


@dataclass(frozen=True)
class Score:
    """Mean and standard deviation of SSIM and PSNR over a set of images."""

    ssim_mean: float
    ssim_std: float
    psnr_mean: float
    psnr_std: float
    count: int

    def as_dict(self) -> dict[str, float | int]:
        return {"ssim_mean": self.ssim_mean, "ssim_std": self.ssim_std,
                "psnr_mean": self.psnr_mean, "psnr_std": self.psnr_std, "count": self.count}


def score(clean01: np.ndarray, test01: np.ndarray) -> Score:
    """Score a batch (NxHxWx3) image by image."""
    s = np.array([ssim(c, t) for c, t in zip(clean01, test01)])
    p = np.array([psnr(c, t) for c, t in zip(clean01, test01)])
    return Score(float(s.mean()), float(s.std()), float(p.mean()), float(p.std()), len(s))
