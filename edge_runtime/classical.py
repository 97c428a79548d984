"""Classical denoisers as baselines: what a user would try before a learned model.

Each is blind like the learned models: its strength is set from the noise level that
skimage's wavelet estimator reads off the noisy image, not from the true sigma.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


def estimate_sigma(image01: np.ndarray) -> float:
    """Noise standard deviation estimated from the image alone (skimage, wavelet MAD)."""
    from skimage.restoration import estimate_sigma as _estimate

    return float(_estimate(image01, channel_axis=-1, average_sigmas=True))


def _u8(image01: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(image01 * 255.0), 0, 255).astype(np.uint8)


def median(image01: np.ndarray) -> np.ndarray:
    """3x3 median filter (strong against salt-and-pepper)."""
    import cv2

    return cv2.medianBlur(_u8(image01), 3).astype(np.float32) / 255.0


def gaussian_blur(image01: np.ndarray) -> np.ndarray:
    """Gaussian blur, sigma 1 px."""
    import cv2

    return cv2.GaussianBlur(image01.astype(np.float32), (5, 5), 1.0)


def bilateral(image01: np.ndarray) -> np.ndarray:
    """Edge-preserving bilateral filter, colour sigma twice the estimated noise."""
    import cv2

    sigma = max(estimate_sigma(image01), 0.01)
    return np.clip(cv2.bilateralFilter(image01.astype(np.float32), 5, 2.0 * sigma, 2.0), 0, 1)


def nlmeans(image01: np.ndarray) -> np.ndarray:
    """OpenCV fastNlMeansDenoisingColored with h set from the estimated noise."""
    import cv2

    h = max(estimate_sigma(image01) * 255.0, 1.0)
    out = cv2.fastNlMeansDenoisingColored(_u8(image01), None, h, h, 7, 21)
    return out.astype(np.float32) / 255.0


def bm3d(image01: np.ndarray) -> np.ndarray:
    """BM3D (optional 'bm3d' package), sigma from the estimate."""
    import bm3d as _bm3d

    sigma = max(estimate_sigma(image01), 0.005)
    return np.clip(_bm3d.bm3d_rgb(image01.astype(np.float32), sigma), 0, 1).astype(np.float32)


def baselines() -> dict[str, Callable[[np.ndarray], np.ndarray]]:
    """The classical filters available here, by name (bm3d only where it is installed)."""
    out: dict[str, Callable[[np.ndarray], np.ndarray]] = {
        "noisy input": lambda x: x, "median": median, "gaussian blur": gaussian_blur,
        "bilateral": bilateral, "nlmeans": nlmeans,
    }
    try:
        import bm3d as _unused  # noqa: F401

        out["bm3d"] = bm3d
    except ImportError:
        pass
    return out
