"""Camera-like noise from a clean sRGB image: unprocess to raw, add sensor noise, process back.

A real camera's noise is not white: it is shot noise (variance proportional to the signal) plus
read noise, added per pixel of a Bayer mosaic in linear raw space. Demosaicing then spreads it over
neighbours and colours, the colour correction mixes (and amplifies) it across channels, and the
tone curve makes it strongest in the shadows. This module follows "Unprocessing Images for Learned
Raw Denoising" (Brooks, Mildenhall, Xue, Chen, Sharlet, Barron; CVPR 2019) and its parameter ranges:

1. unprocess: inverse smoothstep tone curve, inverse gamma 2.2, sRGB -> camera colour space (a random
   colour matrix whose rows sum to 1), inverse white balance (red gain 1.9-2.4, blue gain 1.5-1.9,
   overall 1 / N(0.8, 0.1)), RGGB mosaic;
2. noise: shot level ``k`` and read variance ``r`` with log(r) = 2.18 log(k) + 1.20 + N(0, 0.26),
   the paper's joint fit over real sensors, so variance = k * x + r per raw pixel;
3. process back: white balance, edge-aware demosaic (OpenCV), camera -> sRGB, gamma, smoothstep.

The strength is one number, the sensor gain ``gain`` (think ISO / 100): ``k = SHOT_PER_GAIN * gain``.
``camera:1`` is a bright, clean scene; ``camera:100`` is the paper's noisiest level (k = 0.012),
a dim scene at high gain. Numpy and OpenCV only: the device side adds it with ``run --add-noise``.
"""

from __future__ import annotations

import numpy as np

# k = 1.2e-4 at gain 1 and 0.012 at gain 100: the ends of the paper's log-uniform shot-noise range
SHOT_PER_GAIN = 1.2e-4
READ_SLOPE, READ_INTERCEPT, READ_JITTER = 2.18, 1.20, 0.26


def smoothstep(x: np.ndarray) -> np.ndarray:
    return x * x * (3.0 - 2.0 * x)


def inverse_smoothstep(y: np.ndarray) -> np.ndarray:
    y = np.clip(y, 0.0, 1.0)
    return 0.5 - np.sin(np.arcsin(1.0 - 2.0 * y) / 3.0)


def random_rgb_to_cam(rng: np.random.Generator) -> np.ndarray:
    """A 3x3 sRGB -> camera matrix: overlapping colour filters (positive cross terms), rows summing to 1.

    Its inverse, the camera's colour correction, has negative cross terms: that is what turns
    independent raw noise into the colour-correlated noise of a processed frame.
    """
    cross = rng.uniform(0.05, 0.35, (3, 3))
    np.fill_diagonal(cross, 0.0)
    m = np.eye(3) + cross
    return (m / m.sum(axis=1, keepdims=True)).astype(np.float32)


def shot_read(gain: float, rng: np.random.Generator) -> tuple[float, float]:
    """(shot k, read variance r) of a sensor at ``gain``: variance = k * signal + r, in [0, 1] raw units."""
    k = SHOT_PER_GAIN * gain
    log_r = READ_SLOPE * np.log(k) + READ_INTERCEPT + rng.normal(0.0, READ_JITTER)
    return float(k), float(np.exp(log_r))


def mosaic(rgb: np.ndarray) -> np.ndarray:
    """HxWx3 -> HxW RGGB Bayer mosaic (H and W even)."""
    raw = np.empty(rgb.shape[:2], rgb.dtype)
    raw[0::2, 0::2] = rgb[0::2, 0::2, 0]
    raw[0::2, 1::2] = rgb[0::2, 1::2, 1]
    raw[1::2, 0::2] = rgb[1::2, 0::2, 1]
    raw[1::2, 1::2] = rgb[1::2, 1::2, 2]
    return raw


def demosaic(raw01: np.ndarray) -> np.ndarray:
    """HxW RGGB mosaic in [0, 1] -> HxWx3 RGB, OpenCV's edge-aware demosaic on 16 bits."""
    import cv2

    raw16 = np.clip(np.rint(raw01 * 65535.0), 0, 65535).astype(np.uint16)
    # OpenCV names a Bayer pattern by the second row's second and third pixels, so RGGB is its "BG"
    rgb = cv2.cvtColor(raw16, cv2.COLOR_BayerBG2RGB_EA)
    return rgb.astype(np.float32) / 65535.0


def camera_noise(image01: np.ndarray, gain: float, rng: np.random.Generator) -> np.ndarray:
    """Corrupt a clean HxWx3 sRGB image in [0, 1] as a camera at sensor ``gain`` would."""
    h, w = image01.shape[:2]
    hh, ww = h - h % 2, w - w % 2
    if hh < 2 or ww < 2:
        return image01.astype(np.float32)
    x = image01[:hh, :ww].astype(np.float32)
    rgb_to_cam = random_rgb_to_cam(rng)
    overall = 1.0 / max(rng.normal(0.8, 0.1), 0.3)
    wb = np.array([rng.uniform(1.9, 2.4), 1.0, rng.uniform(1.5, 1.9)], np.float32) * overall
    linear = np.maximum(inverse_smoothstep(x), 1e-8) ** 2.2
    cam = np.clip(linear @ rgb_to_cam.T, 0.0, 1.0) / wb  # inverse white balance (gains above 1 darken)
    raw = mosaic(cam)
    k, r = shot_read(gain, rng)
    raw = raw + rng.standard_normal(raw.shape, dtype=np.float32) * np.sqrt(np.float32(k) * np.maximum(raw, 0.0) + np.float32(r))
    cam = demosaic(np.clip(raw, 0.0, 1.0)) * wb
    rgb = np.clip(cam @ np.linalg.inv(rgb_to_cam).T.astype(np.float32), 0.0, 1.0)
    out = smoothstep(np.clip(rgb, 1e-8, 1.0) ** (1.0 / 2.2)).astype(np.float32)
    if (hh, ww) != (h, w):  # odd sides: the last row or column keeps its clean pixels
        full = image01.astype(np.float32).copy()
        full[:hh, :ww] = out
        return full
    return out
