"""One small timer for every stage of the frame loop, and the percentiles reports quote."""

from __future__ import annotations

import time

import numpy as np

STAGES = ("capture", "preprocess", "invoke", "postprocess", "output")


def percentiles(values: np.ndarray, qs: tuple[float, ...]) -> list[float]:
    """``np.percentile(values, qs)`` with its default linear interpolation, for a non-empty 1-D array.

    Written out because np.percentile imports numpy.ma on first use, memory that a device process
    (whose report quotes these) has no other use for."""
    a = np.sort(np.asarray(values, np.float64).ravel())
    out = []
    for q in qs:
        pos = q / 100.0 * (a.size - 1)
        lo = int(pos)
        hi = min(lo + 1, a.size - 1)
        out.append(float(a[lo] + (a[hi] - a[lo]) * (pos - lo)))
    return out


def percentiles_ms(seconds: list[float] | np.ndarray) -> dict[str, float]:
    """count, mean, p50, p90, p99 and max of durations given in seconds, reported in milliseconds."""
    a = np.asarray(seconds, np.float64) * 1000.0
    if a.size == 0:
        return {"count": 0, "mean_ms": 0.0, "p50_ms": 0.0, "p90_ms": 0.0, "p99_ms": 0.0, "max_ms": 0.0}
    p50, p90, p99 = percentiles(a, (50, 90, 99))
    return {"count": int(a.size), "mean_ms": float(a.mean()), "p50_ms": float(p50), "p90_ms": float(p90),
            "p99_ms": float(p99), "max_ms": float(a.max())}


class StageTimer:
    """Lap timer: ``start()`` at the top of a frame, ``lap("invoke")`` after each stage.

    A lap records the time since the previous mark, so stages never overlap and their sum is the
    frame time. Stages not in ``stages`` (e.g. "metrics") are recorded too, after the main ones.
    """

    def __init__(self, stages: tuple[str, ...] = STAGES, clock=time.perf_counter):
        self.clock = clock
        self.samples: dict[str, list[float]] = {name: [] for name in stages}
        self._mark = clock()

    def start(self) -> None:
        self._mark = self.clock()

    def lap(self, stage: str) -> float:
        now = self.clock()
        dt = now - self._mark
        self._mark = now
        self.samples.setdefault(stage, []).append(dt)
        return dt

    def record(self, stage: str, seconds: float) -> None:
        """Record a duration measured elsewhere (e.g. the sum over a frame's tiles)."""
        self.samples.setdefault(stage, []).append(seconds)

    def last_ms(self, stage: str) -> float:
        s = self.samples.get(stage)
        return s[-1] * 1000.0 if s else 0.0

    def summary(self) -> dict[str, dict[str, float]]:
        """Per stage: count, mean_ms, p50_ms, p90_ms, p99_ms, max_ms."""
        return {name: percentiles_ms(values) for name, values in self.samples.items()}
