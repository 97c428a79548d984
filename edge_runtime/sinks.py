"""Where denoised frames go: a video file, a folder of images, a window, or nowhere (headless).

Files are written atomically: a video goes to a temp file next to the target and is renamed on
``close()``; ``abort()`` (or an exception inside ``with``) removes it, so a crash never leaves half
a video under the real name.

For runs that last weeks, a folder sink rotates (``keep`` newest frames and/or ``max_bytes``), and
every saving sink sits behind a DiskGuard: when free space falls below a threshold it stops saving,
says so once, and the run keeps denoising.
"""

from __future__ import annotations

import errno
import os
import re
import shutil
import time
from collections import deque
from pathlib import Path

import numpy as np

from edge_runtime.errors import EdgeDenoiseError, WriteError
from edge_runtime.images import IMAGE_SUFFIXES
from edge_runtime.sources import VIDEO_SUFFIXES

FOURCC = {".avi": "MJPG", ".mkv": "MJPG"}  # everything else (.mp4, .mov, .m4v): mp4v


class FrameSink:
    """``write(denoised_rgb, noisy_rgb=None, status=None)``, ``close()``, ``abort()``, a context manager."""

    wants_stop = False  # a window sets this when the user presses q or Esc
    target: str | None = None

    def write(self, frame_rgb: np.ndarray, noisy_rgb: np.ndarray | None = None, status: str | None = None) -> None:
        pass

    def stats(self) -> dict:
        """Saving counters for metrics (saving, saved, save_errors, free_bytes); {} for sinks that save nothing."""
        return {}

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


def video_problem(path: str | Path, frames: int | None = None) -> str | None:
    """Why the video at ``path`` is not whole (unreadable, frames missing, last frame unreadable), or None.

    ``frames``: how many it must hold; None: at least one. A video cut short by a full disk or a
    power cut has no index (mp4's moov atom) or fewer frames than were written.
    """
    import cv2

    cap = cv2.VideoCapture(str(path))
    try:
        if not cap.isOpened():
            return "cannot be read back (no index: cut short?)"
        count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        if count <= 0 or (frames is not None and count != frames):
            return f"{count} of {frames if frames is not None else 'its'} frames readable"
        cap.set(cv2.CAP_PROP_POS_FRAMES, count - 1)
        ok, _ = cap.read()
        return None if ok else "its last frame is unreadable"
    finally:
        cap.release()


def _quiet_opencv_warnings() -> None:
    """OpenCV's own WARN lines ('write FFmpeg: Failed to write frame', one a frame on a full disk) are
    kept off the terminal: the video is checked when it is closed and a problem is said in one line."""
    import cv2

    logging = getattr(getattr(cv2, "utils", None), "logging", None)
    if logging is not None and logging.getLogLevel() == logging.LOG_LEVEL_WARNING:
        logging.setLogLevel(logging.LOG_LEVEL_ERROR)


def _discard(path: Path) -> None:
    """Remove a temp file if it is there; on a read-only file system even a missing one raises EROFS."""
    try:
        path.unlink(missing_ok=True)
    except OSError:
        pass


class VideoFileSink(FrameSink):
    """A video file (mp4v for .mp4/.mov, MJPG for .avi/.mkv) opened at the first frame's size.

    Written to ``.STEM.<pid>.tmp.SUFFIX`` and, on ``close()``, finalized, read back (frame count and
    last frame checked) and only then renamed: a video is whole or absent. Temp files that a killed
    earlier run left for the same target are removed when the sink is made.
    """

    def __init__(self, path: str | Path, fps: float | None = None):
        from edge_runtime.atomic import remove_stale_temps

        self.path = Path(path)
        self.target = str(self.path)
        self.fps = float(fps) if fps and fps > 0 else 30.0
        self.frames = 0
        self._writer = None
        self._tmp = self.path.with_name(f".{self.path.stem}.{os.getpid()}.tmp{self.path.suffix}")
        self._bgr = None
        remove_stale_temps(self.path)

    def _open(self, h: int, w: int) -> None:
        import cv2

        try:  # a folder we cannot write is a save error (the disk guard pauses saving), not a format problem
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open(self._tmp, "wb"):
                pass
        except OSError as exc:
            raise WriteError(f"{self.path}: cannot write ({exc.strerror or exc})", exc.errno) from None
        _quiet_opencv_warnings()
        fourcc = cv2.VideoWriter_fourcc(*FOURCC.get(self.path.suffix.lower(), "mp4v"))
        self._writer = cv2.VideoWriter(str(self._tmp), fourcc, self.fps, (w, h))
        if not self._writer.isOpened():
            self._writer = None
            _discard(self._tmp)
            raise EdgeDenoiseError(f"{self.path}: cannot write this video format (try .mp4 or .avi)")
        self._size = (h, w)
        self._bgr = np.empty((h, w, 3), np.uint8)

    def write(self, frame_rgb, noisy_rgb=None, status=None) -> None:
        import cv2

        if self._writer is None:
            self._open(*frame_rgb.shape[:2])
        if frame_rgb.shape[:2] != self._size:
            frame_rgb = cv2.resize(frame_rgb, (self._size[1], self._size[0]), interpolation=cv2.INTER_AREA)
        cv2.cvtColor(frame_rgb, cv2.COLOR_RGB2BGR, dst=self._bgr)
        self._writer.write(self._bgr)
        self.frames += 1

    def close(self) -> None:
        """Finalize, check and rename; a video that does not read back whole raises WriteError and is removed."""
        if self._writer is not None:
            self._writer.release()
            self._writer = None
            if self.frames:
                problem = video_problem(self._tmp, self.frames)
                if problem:
                    _discard(self._tmp)
                    raise WriteError(f"{self.path}: video not written completely ({problem}; a full disk?), "
                                     f"so nothing was kept under that name")
                os.replace(self._tmp, self.path)
        _discard(self._tmp)

    def abort(self) -> None:
        if self._writer is not None:
            self._writer.release()
            self._writer = None
        _discard(self._tmp)


FRAME_NAME = re.compile(r"^frame_(\d+)\.[A-Za-z0-9]+$")


class ImageFolderSink(FrameSink):
    """One numbered image per frame (frame_000000.png, ...), each written atomically.

    A second run into the same folder continues the numbering after the frames already there, so
    it never overwrites them. With ``keep`` (newest N frames) and/or ``max_bytes`` (total size) the
    folder rotates: the oldest frames are deleted as new ones arrive, and a restart (a service
    restarted by systemd) counts the frames already there against the limits.
    """

    def __init__(self, folder: str | Path, suffix: str = ".png", keep: int | None = None,
                 max_bytes: int | None = None):
        self.folder = Path(folder)
        self.target = str(self.folder)
        self.suffix = suffix
        self.keep, self.max_bytes = keep, max_bytes
        self.frames = 0
        self.deleted = 0
        self._next = 0
        self._kept: deque[tuple[Path, int]] = deque()
        self._kept_bytes = 0
        self._adopt_existing()

    @property
    def rotating(self) -> bool:
        return self.keep is not None or self.max_bytes is not None

    def _adopt_existing(self) -> None:
        if not self.folder.is_dir():
            return
        found = []
        for p in self.folder.iterdir():
            m = FRAME_NAME.match(p.name)
            if m and p.is_file():
                found.append((int(m.group(1)), p))
            elif p.name.startswith(".frame_") and ".tmp" in p.name:  # left by a power cut mid-write
                try:
                    p.unlink()
                except OSError:
                    pass
        self._next = max((n for n, _ in found), default=-1) + 1
        if not self.rotating:  # only the numbering matters; tracking every file would grow for weeks
            return
        for number, p in sorted(found):
            size = p.stat().st_size
            self._kept.append((p, size))
            self._kept_bytes += size
        self._rotate()

    def _rotate(self) -> None:
        while self._kept and ((self.keep is not None and len(self._kept) > self.keep)
                              or (self.max_bytes is not None and self._kept_bytes > self.max_bytes and len(self._kept) > 1)):
            path, size = self._kept.popleft()
            path.unlink(missing_ok=True)
            self._kept_bytes -= size
            self.deleted += 1

    def write(self, frame_rgb, noisy_rgb=None, status=None) -> None:
        from edge_runtime.images import write_image_rgb

        path = self.folder / f"frame_{self._next:06d}{self.suffix}"
        write_image_rgb(path, frame_rgb)
        self._next += 1
        self.frames += 1
        if self.rotating:
            size = path.stat().st_size
            self._kept.append((path, size))
            self._kept_bytes += size
            self._rotate()


def free_bytes_at(path: str | Path) -> int:
    """Free bytes on the file system that holds ``path`` (or its nearest existing parent)."""
    p = Path(path).absolute()
    while not p.exists() and p != p.parent:
        p = p.parent
    return shutil.disk_usage(p).free


# Saving paused by a full disk resumes above twice --min-free-mb, and never below this (with --min-free-mb 0
# a full disk would otherwise pause and resume every second, a notice each time).
RESUME_FLOOR_BYTES = 16 * 2**20
# Errors after which every later write would fail too: saving stops (a folder resumes when space is back,
# or, after a read-only remount, when a quiet retry succeeds). Others (EACCES on one file) skip that frame.
STOP_SAVING_ERRNOS = (errno.ENOSPC, errno.EROFS, errno.EIO, errno.EDQUOT)


def _why(exc: BaseException, target: str | None) -> str:
    if isinstance(exc, OSError):
        return f"{exc.strerror or exc} writing to {target}"
    return str(exc)


class DiskGuard(FrameSink):
    """Saves through ``inner`` while free space at ``path`` stays above ``min_free_bytes``.

    Below it (or on a write that fails with a disk error) saving stops and ``on_notice`` is told
    once; frames keep flowing to the caller, so denoising and metrics go on. A video is closed at
    that moment, so the part already written is kept (if it reads back whole); a folder resumes once
    free space is back above twice the threshold. A file system remounted read-only pauses saving
    the same way, retried quietly every ``retry_after_error_s``; other write errors (no permission)
    skip the frame, said once. Free space is checked at most every
    ``check_every_s`` seconds.
    """

    def __init__(self, inner: FrameSink, path: str | Path, min_free_bytes: int, *, free_bytes=free_bytes_at,
                 check_every_s: float = 1.0, clock=time.monotonic, on_notice=None, retry_after_error_s: float = 60.0):
        self.inner, self.path, self.min_free_bytes = inner, Path(path), int(min_free_bytes)
        self.free_bytes, self.check_every_s, self.clock = free_bytes, check_every_s, clock
        self.retry_after_error_s = retry_after_error_s
        self.on_notice = on_notice or (lambda line: None)
        self.target = inner.target
        self.saving = True
        self.saved = 0
        self.save_errors = 0
        self.last_free: int | None = None
        self.notices: list[str] = []
        self._closed_inner = False
        self._next_check = 0.0
        self._error_pause = False  # paused by a write error (read-only, no permission), not by free space
        self._retry_at = 0.0
        self._probing = False

    def _notice(self, line: str) -> None:
        self.notices.append(line)
        self.on_notice(line)

    def _stop_saving(self, why: str) -> None:
        self.saving = False
        if isinstance(self.inner, ImageFolderSink):
            if self._probing:  # a quiet retry failed the same way: stay paused, say nothing new
                self._probing = False
                return
            when = (f"saving is retried every {self.retry_after_error_s:g} s" if self._error_pause
                    else "saving resumes when space is back")
            self._notice(f"saving paused: {why}; denoising goes on, {when}")
            return
        self._closed_inner = True
        try:
            self.inner.close()
        except EdgeDenoiseError as exc:  # the part written could not be finalized whole: it was removed
            self._notice(f"saving stopped: {why}; {exc}; denoising goes on")
            return
        kept = "keeps the frames written so far" if getattr(self.inner, "frames", 0) else "was not written"
        self._notice(f"saving stopped: {why}; {self.target} {kept}, denoising goes on")

    def _check_space(self) -> None:
        now = self.clock()
        if now < self._next_check:
            return
        self._next_check = now + self.check_every_s
        try:
            self.last_free = int(self.free_bytes(self.path))
        except OSError:
            return
        if not self.saving and self._error_pause and not self._closed_inner and now >= self._retry_at:
            self.saving = self._probing = True  # try the next frame quietly: a remount may have fixed it
            return
        if self.saving and self.last_free < self.min_free_bytes:
            self._stop_saving(f"{self.last_free / 2**20:.0f} MiB free at {self.path}, below the "
                              f"{self.min_free_bytes / 2**20:.0f} MiB threshold (--min-free-mb)")
        elif (not self.saving and not self._closed_inner and not self._error_pause
              and self.last_free >= max(2 * self.min_free_bytes, RESUME_FLOOR_BYTES)):
            self.saving = True
            self._notice(f"saving resumed: {self.last_free / 2**20:.0f} MiB free at {self.path}")

    def write(self, frame_rgb, noisy_rgb=None, status=None) -> None:
        self._check_space()
        if not self.saving:
            return
        try:
            self.inner.write(frame_rgb, noisy_rgb, status)
        except (OSError, WriteError) as exc:  # disk full, read-only remount, unplugged USB stick: keep denoising
            self.save_errors += 1
            if exc.errno in STOP_SAVING_ERRNOS:
                if exc.errno != errno.ENOSPC:  # free space will not bring these back: retry now and then
                    self._error_pause = True
                    self._retry_at = self.clock() + self.retry_after_error_s
                self._stop_saving(_why(exc, self.target))
            elif self.save_errors == 1:
                self._notice(f"cannot save a frame to {self.target} ({_why(exc, self.target)}); "
                             f"frames that fail are skipped")
            return
        if self._probing:
            self._probing = self._error_pause = False
            self._notice(f"saving resumed: {self.target} can be written again")
        self.saved += 1

    def stats(self) -> dict:
        return {"saving": self.saving, "saved": self.saved, "save_errors": self.save_errors,
                "free_bytes": self.last_free, "deleted": getattr(self.inner, "deleted", 0)}

    def close(self) -> None:
        """Close the saver; a video that cannot be finalized raises WriteError (it was removed)."""
        if not self._closed_inner:
            self._closed_inner = True
            self.inner.close()

    def abort(self) -> None:
        if not self._closed_inner:
            self.inner.abort()


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

    def stats(self) -> dict:
        merged: dict = {}
        for s in self.sinks:
            merged.update(s.stats())
        return merged

    def close(self) -> None:
        for s in self.sinks:
            s.close()

    def abort(self) -> None:
        for s in self.sinks:
            s.abort()


def open_sink(save: str | Path | None = None, *, display: bool = False, fps: float | None = None,
              keep: int | None = None, max_bytes: int | None = None, min_free_bytes: int | None = None,
              free_bytes=free_bytes_at, on_notice=None) -> FrameSink:
    """A sink for ``--save`` (video file or folder) and/or ``--display``; no arguments: headless.

    ``keep``/``max_bytes`` rotate a folder; ``min_free_bytes`` puts the saving sink behind a DiskGuard
    (``free_bytes(path)`` is injectable for tests).
    """
    sinks: list[FrameSink] = []
    if display:
        sinks.append(DisplaySink())
    for name, value in (("--keep", keep), ("--max-save-mb", max_bytes)):
        if value is not None and value <= 0:
            raise EdgeDenoiseError(f"{name} must be positive, got {value}")
    if save:
        suffix = Path(save).suffix.lower()
        if suffix in VIDEO_SUFFIXES:
            if keep is not None or max_bytes is not None:
                raise EdgeDenoiseError(f"--save {save}: --keep and --max-save-mb rotate a folder of frames; "
                                       f"give a folder (e.g. --save /var/lib/edge-denoise) instead of a video file")
            saver: FrameSink = VideoFileSink(save, fps)
        elif suffix in IMAGE_SUFFIXES:
            raise EdgeDenoiseError(f"--save {save}: give a video file (.mp4, .avi) or a folder, not one image")
        elif suffix and not Path(save).is_dir():
            raise EdgeDenoiseError(f"--save {save}: unknown video type '{suffix}' (use .mp4 or .avi, or a folder)")
        else:
            saver = ImageFolderSink(save, keep=keep, max_bytes=max_bytes)
        if min_free_bytes is not None:
            saver = DiskGuard(saver, save, min_free_bytes, free_bytes=free_bytes, on_notice=on_notice)
        sinks.append(saver)
    if not sinks:
        return FrameSink()
    return sinks[0] if len(sinks) == 1 else MultiSink(sinks)
