"""The noise level of live frames, cheaply: a wavelet MAD on the flattest half of the image.

    sigma, brightness = estimate_noise(frame_rgb)      # white Gaussian noise of sigma s reads about s

The finest diagonal Haar band (a - b - c + d) / 2 of each 2x2 block holds little of a natural
image and all of white noise, at the noise's own sigma. Its median absolute value / 0.6745 (the
MAD) ignores the edges that remain; blocks are taken only where the horizontal and vertical bands
are quiet (the flattest half), so texture adds less still. Camera noise, correlated by
demosaicing, reads lower than its per-pixel sigma; what matters is that training noise and live
frames are read by the same estimator: ``noise_range`` records the range in a model's metadata,
``NoiseMonitor`` compares live frames with it in ``run``. A frame of VGA costs about a millisecond
and is read every ``DEFAULT_EVERY`` frames.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

ESTIMATOR = "haar-mad/1"  # recorded with a range: a range from another estimator is not compared
DEFAULT_EVERY = 15  # frames between two estimates
MAX_BLOCK_ROWS = 120  # rows of 2x2 blocks read per estimate (evenly spaced): bounds the cost of big frames
MARGIN = 1.25  # a live level this far outside the trained range (as a factor) is worth a warning
MAD_TO_SIGMA = 1.0 / 0.6745


def _median(values: np.ndarray) -> float:
    """The median without importing numpy.ma, as np.median does (memory a plain device run does not otherwise pay)."""
    values, n = values.reshape(-1), values.size
    if n % 2:
        return float(np.partition(values, n // 2)[n // 2])
    low, high = np.partition(values, (n // 2 - 1, n // 2))[n // 2 - 1 : n // 2 + 1]
    return (float(low) + float(high)) / 2.0


def estimate_noise(frame: np.ndarray) -> tuple[float, float]:
    """(noise sigma, mean brightness) of an HxWx3 uint8 frame or float image in [0, 1], both on the [0, 1] scale.

    A uint8 frame is worked on in int16, exactly (its Haar sums fit), and scaled at the end: the loop pays
    this every 15th frame, and float32 temporaries made it several ms at 640x480.
    """
    h, w = frame.shape[0] // 2 * 2, frame.shape[1] // 2 * 2
    if h < 2 or w < 2:
        return 0.0, float(np.mean(frame)) / (255.0 if frame.dtype == np.uint8 else 1.0)
    block_rows = np.arange(0, h // 2, max(1, (h // 2) // MAX_BLOCK_ROWS)) * 2
    integer = frame.dtype == np.uint8
    scale, top_value = (1.0 / 255.0, 255) if integer else (1.0, 1.0)
    raw_top, raw_bottom = frame[block_rows, :w], frame[block_rows + 1, :w]
    if raw_top.ndim == 2:
        raw_top, raw_bottom = raw_top[..., None], raw_bottom[..., None]
    top = raw_top.astype(np.int16 if integer else np.float32)
    bottom = raw_bottom.astype(top.dtype)
    a, b, c, d = top[:, 0::2], top[:, 1::2], bottom[:, 0::2], bottom[:, 1::2]
    top_sum, top_diff, bottom_sum, bottom_diff = a + b, a - b, c + d, c - d
    brightness = float((top_sum + bottom_sum).mean(dtype=np.float64)) * scale / 4.0
    diagonal = np.abs(top_diff - bottom_diff).reshape(-1, a.shape[2])
    activity = (np.abs(top_sum - bottom_sum) + np.abs(top_diff + bottom_diff)).sum(axis=-1).reshape(-1)
    # a block with a black or white sample is clipped: its noise is partly cut off (black backgrounds)
    blocks = (len(block_rows), w // 2, 2 * a.shape[2])
    clipped = (((raw_top <= 0) | (raw_top >= top_value)).reshape(blocks).any(axis=-1)
               | ((raw_bottom <= 0) | (raw_bottom >= top_value)).reshape(blocks).any(axis=-1)).reshape(-1)
    activity = activity[~clipped]
    if activity.size == 0:
        return 0.0, brightness
    flat = activity <= _median(activity)
    sigma = _median(diagonal[~clipped][flat].reshape(-1)) * scale * 0.5 * MAD_TO_SIGMA
    return sigma, brightness


def noise_range(noisy01: np.ndarray) -> dict:
    """What a model's metadata records about its training noise: the estimator's range over noisy images (NxHxWx3)."""
    sigmas = np.array([estimate_noise(im)[0] for im in noisy01])
    return {"sigma": [round(float(sigmas.min()), 5), round(float(sigmas.max()), 5)], "estimator": ESTIMATOR,
            "images": int(len(sigmas))}


def trained_range(metadata: dict | None) -> tuple[float, float] | None:
    """The (low, high) noise sigma a model was trained for, from its metadata; None for files without one."""
    entry = (metadata or {}).get("noise_range")
    if not isinstance(entry, dict) or entry.get("estimator") != ESTIMATOR:
        return None
    try:
        low, high = (float(v) for v in entry["sigma"])
    except (KeyError, TypeError, ValueError):
        return None
    return (low, high) if 0 <= low <= high else None


def status_text(snapshot: dict) -> str:
    """The status line's part: the level, marked with ! outside the model's trained range."""
    return f"noise {snapshot['sigma']:.4f}" + ("!" if snapshot["outside"] else "")


@dataclass
class NoiseMonitor:
    """Estimates the noise of every ``every``-th frame; says once when it leaves the model's trained range."""

    every: int = DEFAULT_EVERY
    trained: tuple[float, float] | None = None
    last: float | None = None
    brightness: float | None = None
    samples: int = 0
    total: float = 0.0
    low: float = float("inf")
    high: float = 0.0
    outside: int = 0
    warned: bool = False
    seconds: float = 0.0

    def observe(self, index: int, frame: np.ndarray) -> str | None:
        """Estimate frame ``index`` if it is due; return a warning line the first time the level leaves the range."""
        if index % self.every:
            return None
        t0 = time.perf_counter()
        sigma, self.brightness = estimate_noise(frame)
        self.seconds += time.perf_counter() - t0
        self.last, self.samples, self.total = sigma, self.samples + 1, self.total + sigma
        self.low, self.high = min(self.low, sigma), max(self.high, sigma)
        side = self.outside_range(sigma)
        if side is None:
            return None
        self.outside += 1
        if self.warned:
            return None
        self.warned = True
        low, high = self.trained
        why = ("darker scene or higher gain than in training (has the lighting failed?): expect noise left in the output"
               if side == "above" else "cleaner frames than in training: the model may smooth away fine detail")
        return (f"noise level {sigma:.4f} is {side} the range this model was trained for ({low:.4f}-{high:.4f}): "
                f"{why}; said once, the level stays in the metrics")

    def outside_range(self, sigma: float | None) -> str | None:
        if self.trained is None or sigma is None:
            return None
        low, high = self.trained
        if sigma > high * MARGIN:
            return "above"
        if sigma < low / MARGIN:
            return "below"
        return None

    def snapshot(self) -> dict | None:
        """The latest estimate for the status line and telemetry, or None before the first."""
        if self.last is None:
            return None
        return {"sigma": self.last, "brightness": self.brightness, "outside": self.outside_range(self.last) is not None}

    def summary(self) -> dict:
        """For the run report."""
        out = {"estimator": ESTIMATOR, "every": self.every, "samples": self.samples,
               "trained_range": list(self.trained) if self.trained else None}
        if self.samples:
            out.update(sigma_mean=round(self.total / self.samples, 5), sigma_min=round(self.low, 5),
                       sigma_max=round(self.high, 5), last=round(self.last, 5), outside_samples=self.outside,
                       ms_per_estimate=round(1000.0 * self.seconds / self.samples, 3))
        return out
