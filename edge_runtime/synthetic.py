"""A frame source that needs no camera and never ends: for doctor's smoke run and soak tests.

    source = SyntheticSource((128, 128))   # a clip panning across a bundled sample photo, looped

The frames are made once, before the loop, so the source costs nothing per frame and a run on it
measures the model and the loop at full speed.
"""

from __future__ import annotations

import numpy as np

from edge_runtime.sources import SAMPLES_DIR, FrameSource


class SyntheticSource(FrameSource):
    """``frames`` different uint8 RGB frames of ``size_hw``, repeated forever (or ``limit`` reads)."""

    def __init__(self, size_hw: tuple[int, int], frames: int = 32, limit: int | None = None):
        super().__init__("synthetic://")
        import cv2

        from edge_runtime.images import list_images, read_image_rgb

        h, w = size_hw
        photos = list_images(SAMPLES_DIR)
        base = read_image_rgb(photos[0]) if photos else np.full((256, 256, 3), 128, np.uint8)
        big = cv2.resize(base, (w * 2, h * 2), interpolation=cv2.INTER_CUBIC)
        self._frames = [np.ascontiguousarray(big[(i * h) // frames: (i * h) // frames + h,
                                                 (i * w) // frames: (i * w) // frames + w]) for i in range(frames)]
        self.limit = limit

    def read(self) -> np.ndarray | None:
        if self.limit is not None and self.frames_read >= self.limit:
            self.stop_reason = "end of synthetic clip"
            return None
        frame = self._frames[self.frames_read % len(self._frames)]
        self.frames_read += 1
        return frame
