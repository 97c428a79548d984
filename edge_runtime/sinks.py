"""Where denoised frames go: a video file, a folder of images, a window, or nowhere (headless).

Files are written atomically: a video goes to a temp file next to the target and is renamed on
``close()``; ``abort()`` (or an exception inside ``with``) removes it, so a crash never leaves half
a video under the real name.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from edge_runtime.errors import EdgeDenoiseError
from edge_runtime.images import IMAGE_SUFFIXES
from edge_runtime.sources import VIDEO_SUFFIXES

FOURCC = {".avi": "MJPG", ".mkv": "MJPG"}  # everything else (.mp4, .mov, .m4v): mp4v


class FrameSink:
    """``write(denoised_rgb, noisy_rgb=None, status=None)``, ``close()``, ``abort()``, a context manager."""

    wants_stop = False  # a window sets this when the user presses q or Esc
    target: str | None = None

    def write(self, frame_rgb: np.ndarray, noisy_rgb: np.ndarray | None = None, status: str | None = None) -> None:
        pass

    def close(self) -> None:
        pass

    def abort(self) -> None:
        self.close()

    def __enter__(self):
        return self

    def __exit__(self, exc_type, *exc) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


class VideoFileSink(FrameSink):
    """A video file (mp4v for .mp4/.mov, MJPG for .avi/.mkv) opened at the first frame's size."""

    def __init__(self, path: str | Path, fps: float | None = None):
        self.path = Path(path)
        self.target = str(self.path)
        self.fps = float(fps) if fps and fps > 0 else 30.0
        self.frames = 0
        self._writer = None
        self._tmp = self.path.with_name(f".{self.path.stem}.{os.getpid()}.tmp{self.path.suffix}")
        self._bgr = None

    def write(self, frame_rgb, noisy_rgb=None, status=None) -> None:
        import cv2

        if self._writer is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            h, w = frame_rgb.shape[:2]
            fourcc = cv2.VideoWriter_fourcc(*FOURCC.get(self.path.suffix.lower(), "mp4v"))
            self._writer = cv2.VideoWriter(str(self._tmp), fourcc, self.fps, (w, h))
            if not self._writer.isOpened():
                self._writer = None
                raise EdgeDenoiseError(f"{self.path}: cannot write this video format (try .mp4 or .avi)")
            self._size = (h, w)
            self._bgr = np.empty((h, w, 3), np.uint8)
        if frame_rgb.shape[:2] != self._size:
            import cv2 as _cv2

            frame_rgb = _cv2.resize(frame_rgb, (self._size[1], self._size[0]), interpolation=_cv2.INTER_AREA)
        cv2.cvtColor(frame_rgb, cv2.COLOR_RGB2BGR, dst=self._bgr)
        self._writer.write(self._bgr)
        self.frames += 1

    def close(self) -> None:
        if self._writer is not None:
            self._writer.release()
            self._writer = None
            if self.frames:
                os.replace(self._tmp, self.path)
        self._tmp.unlink(missing_ok=True)

    def abort(self) -> None:
        if self._writer is not None:
            self._writer.release()
            self._writer = None
        self._tmp.unlink(missing_ok=True)


class ImageFolderSink(FrameSink):
    """One numbered image per frame (frame_000000.png, ...), each written atomically."""

    def __init__(self, folder: str | Path, suffix: str = ".png"):
        self.folder = Path(folder)
        self.target = str(self.folder)
        self.suffix = suffix
        self.frames = 0

    def write(self, frame_rgb, noisy_rgb=None, status=None) -> None:
        from edge_runtime.images import write_image_rgb

        write_image_rgb(self.folder / f"frame_{self.frames:06d}{self.suffix}", frame_rgb)
        self.frames += 1


def display_problem() -> str | None:
    """Why a window cannot open here, or None when it can."""
    import sys

    import cv2

    gui = next((line.split(":", 1)[1].strip() for line in cv2.getBuildInformation().splitlines()
                if line.strip().startswith("GUI:")), "")
    if gui.upper() in ("NONE", "NO", ""):
        return ("this OpenCV has no GUI support (opencv-python-headless): 'pip install opencv-python' for "
                "--display, or use --save out.mp4")
    if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        return "no display (DISPLAY and WAYLAND_DISPLAY are unset: headless or over ssh?): use --save out.mp4"
    return None


class DisplaySink(FrameSink):
    """A window showing noisy | denoised side by side with a status line; q or Esc asks to stop."""

    def __init__(self, title: str = "edge-denoise"):
        problem = display_problem()
        if problem:
            raise EdgeDenoiseError(f"--display: {problem}")
        self.title = title
        self._canvas = None

    def write(self, frame_rgb, noisy_rgb=None, status=None) -> None:
        import cv2

        left = noisy_rgb if noisy_rgb is not None else frame_rgb
        h, w = frame_rgb.shape[:2]
        if self._canvas is None or self._canvas.shape[:2] != (h, 2 * w):
            self._canvas = np.empty((h, 2 * w, 3), np.uint8)
        if left.shape != frame_rgb.shape:
            left = cv2.resize(left, (w, h), interpolation=cv2.INTER_AREA)
        self._canvas[:, :w] = left[..., ::-1]
        self._canvas[:, w:] = frame_rgb[..., ::-1]
        if status:
            cv2.putText(self._canvas, status, (8, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 3, cv2.LINE_AA)
            cv2.putText(self._canvas, status, (8, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 255), 1, cv2.LINE_AA)
        cv2.imshow(self.title, self._canvas)
        if cv2.waitKey(1) & 0xFF in (ord("q"), 27):
            self.wants_stop = True

    def close(self) -> None:
        import cv2

        cv2.destroyWindow(self.title)


class MultiSink(FrameSink):
    """Several sinks fed the same frames."""

    def __init__(self, sinks: list[FrameSink]):
        self.sinks = sinks
        self.target = ", ".join(s.target for s in sinks if s.target) or None

    @property
    def wants_stop(self) -> bool:  # type: ignore[override]
        return any(s.wants_stop for s in self.sinks)

    def write(self, frame_rgb, noisy_rgb=None, status=None) -> None:
        for s in self.sinks:
            s.write(frame_rgb, noisy_rgb, status)

    def close(self) -> None:
        for s in self.sinks:
            s.close()

    def abort(self) -> None:
        for s in self.sinks:
            s.abort()


def open_sink(save: str | Path | None = None, *, display: bool = False, fps: float | None = None) -> FrameSink:
    """A sink for ``--save`` (video file or folder) and/or ``--display``; no arguments: headless."""
    sinks: list[FrameSink] = []
    if display:
        sinks.append(DisplaySink())
    if save:
        suffix = Path(save).suffix.lower()
        if suffix in VIDEO_SUFFIXES:
            sinks.append(VideoFileSink(save, fps))
        elif suffix in IMAGE_SUFFIXES:
            raise EdgeDenoiseError(f"--save {save}: give a video file (.mp4, .avi) or a folder, not one image")
        elif suffix and not Path(save).is_dir():
            raise EdgeDenoiseError(f"--save {save}: unknown video type '{suffix}' (use .mp4 or .avi, or a folder)")
        else:
            sinks.append(ImageFolderSink(save))
    if not sinks:
        return FrameSink()
    return sinks[0] if len(sinks) == 1 else MultiSink(sinks)
