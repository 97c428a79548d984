"""The one frame source that needs no camera: the bundled sample photos as a clip.

    source = SyntheticSource((480, 640))                      # `run --demo`: one pass, each photo held 3 frames
    source = SyntheticSource((128, 128), hold=1, loop=True)  # doctor's smoke run and the soaks: never ends

The frames are made once, before the loop, so the source costs nothing per frame and a run on it
measures the model and the loop at full speed.
"""

from __future__ import annotations

import numpy as np

from edge_runtime.sources import SAMPLES_DIR, FrameSource


class SyntheticSource(FrameSource):
    """The bundled photos as uint8 RGB frames of ``size_hw`` (their own sizes if None), each ``hold`` times.

    One pass, or with ``loop`` round and round; ``limit`` stops after that many reads either way.
    """

    def __init__(self, size_hw: tuple[int, int] | None = None, *, hold: int = 3, loop: bool = False,
                 limit: int | None = None, uri: str = "demo://"):
        super().__init__(uri)
        import cv2

        from edge_runtime.images import list_images, read_image_rgb

        self.fps = 10.0  # what a saved video of the clip plays at
        photos = [read_image_rgb(p) for p in list_images(SAMPLES_DIR)] or [np.full((256, 256, 3), 128, np.uint8)]
        if size_hw:
            h, w = size_hw
            photos = [p if p.shape[:2] == (h, w) else cv2.resize(p, (w, h), interpolation=cv2.INTER_CUBIC)
                      for p in photos]
        self._frames = [np.ascontiguousarray(p) for p in photos for _ in range(hold)]
        self.loop = loop
        self.limit = limit

    def read(self) -> np.ndarray | None:
        n = self.frames_read
        if (self.limit is not None and n >= self.limit) or (not self.loop and n >= len(self._frames)):
            self.stop_reason = f"end of {self.uri} clip"
            return None
        self.frames_read += 1
        return self._frames[n % len(self._frames)]
