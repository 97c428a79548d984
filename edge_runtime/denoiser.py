"""One object for Python callers: a model found by name, any-size frames in, denoised frames out, timed.

    denoiser = Denoiser("fastnet")              # the shipped default, as `edge-denoise run` picks it
    frame_rgb = denoiser.denoise(frame_rgb)     # uint8 RGB HxWx3 in, the same size out
    print(denoiser.report())                    # frames, latency percentiles, FPS

Built on the pieces `edge-denoise run` uses (resolve_model, load_engine, FrameDenoiser, the stage
timer), so a script gets the same model choice, tiling and timing as the CLI, without the loop.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from edge_runtime.engine import load_engine
from edge_runtime.pipeline import FrameDenoiser, WindowedStageTimer
from edge_runtime.zoo import DEFAULT_MODEL, resolve_model

DENOISE_STAGES = ("preprocess", "invoke", "postprocess")


class Denoiser:
    """A shipped model by name (``fastnet``, ``autoencoder``, ``unet``) or any converted ``.tflite`` path.

    ``live=True`` picks what a camera gets (the 480x640 file, frames resized to it); otherwise the
    128x128 file, run in overlapping full-resolution tiles. ``tile`` overrides that choice.
    """

    def __init__(self, model: str | Path = DEFAULT_MODEL, *, precision: str = "int8",
                 size: tuple[int, int] | None = None, live: bool = False, tile: bool | None = None,
                 threads: int = 2, backend: str = "auto", on_notice: Callable[[str], None] | None = print):
        path = resolve_model(model, precision, size, live, on_notice)
        self.engine = load_engine(path, threads=threads, backend=backend)
        self._frames = FrameDenoiser(self.engine, tile=(not live) if tile is None else tile)
        self.timer = WindowedStageTimer(DENOISE_STAGES + ("frame",))

    @property
    def name(self) -> str:
        """The model file's name, e.g. ``fastnet_int8_128x128``."""
        return self.engine.path.stem

    def denoise(self, frame_rgb: np.ndarray) -> np.ndarray:
        """Denoise one uint8 RGB frame of any size; the result is reused by the next call (copy it to keep it)."""
        out = self._frames(frame_rgb)
        times = self._frames.times
        for stage, seconds in zip(DENOISE_STAGES, times):
            self.timer.record(stage, seconds)
        self.timer.record("frame", sum(times))
        return out

    def summary(self) -> dict[str, dict[str, float]]:
        """Per stage (preprocess, invoke, postprocess, frame): count, mean, p50, p90, p99 and max in ms."""
        return self.timer.summary()

    def report(self) -> str:
        """One line: the model, frames denoised, p50/p90 per frame and the invoke's share, FPS."""
        frame, invoke = self.summary()["frame"], self.summary()["invoke"]
        if not frame.get("count"):
            return f"{self.name}: no frames denoised"
        fps = 1000.0 / frame["mean_ms"] if frame["mean_ms"] else 0.0
        return (f"{self.name}: {frame['count']} frames, {frame['p50_ms']:.1f} ms p50 / {frame['p90_ms']:.1f} ms p90 "
                f"per frame (invoke {invoke['p50_ms']:.1f} ms p50), {fps:.1f} FPS")
