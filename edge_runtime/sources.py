"""Every frame source as a URI, behind one small object (jetson-inference's videoSource, in Python).

    open_source(0)                      USB camera 0 through OpenCV V4L2 (same as "v4l2:///dev/video0")
    open_source("picamera2://0")        Raspberry Pi camera through picamera2
    open_source("csi://0")              Jetson CSI camera through GStreamer nvarguscamerasrc
    open_source("rtsp://host/stream")   network stream through FFmpeg, with open/read timeouts
    open_source("clip.mp4")             every frame of a video file, in order
    open_source("photos/"), open_source("shots/*.jpg"), open_source("one.png")
    open_source("demo://")              the bundled pistachio photos as a short clip

``read()`` returns the next uint8 RGB frame, or None when the source has ended (``stop_reason``
says why). Live sources run a capture thread that keeps only the newest frame, so the model never
works on a stale buffered frame; frames it replaced are counted in ``dropped``. Unreadable frames
and files are skipped and counted in ``corrupt`` (and named in ``skipped``).
"""

from __future__ import annotations

import atexit
import glob as globlib
import os
import sys
import threading
import time
import weakref
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edge_runtime.errors import EdgeDenoiseError
from edge_runtime.images import IMAGE_SUFFIXES

VIDEO_SUFFIXES = (".mp4", ".avi", ".mkv", ".mov", ".m4v", ".webm", ".mpg", ".mpeg", ".wmv", ".flv", ".mjpeg", ".h264")
STREAM_SCHEMES = ("rtsp", "rtsps", "rtmp", "http", "https", "udp", "tcp")
LIVE_KINDS = ("camera", "picamera2", "csi", "stream")
SAMPLES_DIR = Path(__file__).resolve().parent / "samples"
STREAM_TIMEOUT_MS = 5000
# FFmpeg's own log lines ("moov atom not found") would add a cryptic second line to our one-line errors.
os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")


@dataclass(frozen=True)
class SourceURI:
    """A parsed source: ``kind`` is camera, picamera2, csi, stream, video, image, folder, glob or demo."""

    kind: str
    location: str
    index: int | None = None

    @property
    def live(self) -> bool:
        return self.kind in LIVE_KINDS


def parse_uri(uri: str | int | Path) -> SourceURI:
    """Classify a source URI without touching the file system or any device."""
    if isinstance(uri, bool):
        raise EdgeDenoiseError(f"bad source {uri!r}")
    if isinstance(uri, int):
        if uri < 0:
            raise EdgeDenoiseError(f"bad source {uri}: a camera index is 0 or more")
        return SourceURI("camera", f"/dev/video{uri}", uri)
    text = str(uri).strip()
    if not text:
        raise EdgeDenoiseError("empty source: give a camera index, a URI, a file, a folder or a glob")
    if "\x00" in text:
        raise EdgeDenoiseError(f"bad source {text!r}: contains a NUL character")
    if _is_index(text):
        return SourceURI("camera", f"/dev/video{int(text)}", int(text))
    scheme, sep, rest = text.partition("://")
    if sep:
        scheme = scheme.lower()
        if scheme == "v4l2":
            device = rest if rest.startswith("/") else (f"/dev/video{rest}" if _is_index(rest) else rest)
            digits = device[len("/dev/video"):] if device.startswith("/dev/video") else ""
            return SourceURI("camera", device, int(digits) if _is_index(digits) else None)
        if scheme in ("picamera2", "csi"):
            index = rest.strip("/") or "0"
            if not _is_index(index):
                raise EdgeDenoiseError(f"bad source '{text}': {scheme}://N takes a camera number, e.g. {scheme}://0")
            return SourceURI(scheme, index, int(index))
        if scheme in STREAM_SCHEMES:
            return SourceURI("stream", text)
        if scheme == "demo":
            return SourceURI("demo", str(SAMPLES_DIR))
        if scheme == "file":
            text = rest
        else:
            raise EdgeDenoiseError(
                f"bad source '{text}': unknown scheme '{scheme}://'; use a camera index, v4l2://, picamera2://, "
                f"csi://, rtsp://, http(s)://, file://, demo:// or a path"
            )
    if any(c in text for c in "*?["):
        return SourceURI("glob", text)
    suffix = Path(text).suffix.lower()
    if suffix in VIDEO_SUFFIXES:
        return SourceURI("video", text)
    if suffix in IMAGE_SUFFIXES:
        return SourceURI("image", text)
    if suffix and not text.endswith(("/", os.sep)):
        raise EdgeDenoiseError(
            f"bad source '{text}': '{suffix}' is neither an image ({', '.join(IMAGE_SUFFIXES)}) "
            f"nor a video ({', '.join(VIDEO_SUFFIXES[:5])}, ...)"
        )
    return SourceURI("folder", text)


def _is_index(text: str) -> bool:
    """ASCII digits only, and short: '²'.isdigit() is True but int('²') fails."""
    return text.isascii() and text.isdigit() and len(text) <= 6


def as_frame_rgb(raw, bgr: bool = True) -> np.ndarray | None:
    """A captured array as contiguous uint8 RGB HxWx3, or None when it is not a usable frame."""
    import cv2

    if not isinstance(raw, np.ndarray) or raw.size == 0 or raw.dtype != np.uint8:
        return None
    if raw.ndim == 2:
        return cv2.cvtColor(raw, cv2.COLOR_GRAY2RGB)
    if raw.ndim != 3 or raw.shape[2] not in (3, 4) or raw.shape[0] < 2 or raw.shape[1] < 2:
        return None
    if raw.shape[2] == 4:
        return cv2.cvtColor(raw, cv2.COLOR_BGRA2RGB if bgr else cv2.COLOR_RGBA2RGB)
    return cv2.cvtColor(raw, cv2.COLOR_BGR2RGB) if bgr else np.ascontiguousarray(raw)


class FrameSource:
    """What every source offers: ``read() -> frame_rgb | None``, ``close()``, counters, a context manager."""

    live = False

    def __init__(self, uri: str):
        self.uri = uri
        self.frames_read = 0
        self.dropped = 0
        self.corrupt = 0
        self.skipped: list[str] = []
        self.stop_reason: str | None = None
        self.fps: float | None = None
        self.current_name: str | None = None

    def read(self) -> np.ndarray | None:
        raise NotImplementedError

    def close(self) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __iter__(self):
        while (frame := self.read()) is not None:
            yield frame


# --- files ----------------------------------------------------------------------------------------
class ImageFilesSource(FrameSource):
    """Image files in order; an unreadable one is skipped, named and counted."""

    def __init__(self, uri: str, paths: list[Path]):
        super().__init__(uri)
        self.paths = list(paths)
        self._next = 0

    def read(self) -> np.ndarray | None:
        from edge_runtime.images import read_image_rgb

        while self._next < len(self.paths):
            path = self.paths[self._next]
            self._next += 1
            try:
                frame = read_image_rgb(path)
            except EdgeDenoiseError as exc:
                self.corrupt += 1
                self.skipped.append(str(exc))
                continue
            self.frames_read += 1
            self.current_name = str(path)
            return frame
        if self.frames_read == 0 and self.skipped:
            # Nothing usable at all is the user's to fix, not a normal end of input.
            more = f" (and {len(self.skipped) - 1} more unreadable)" if len(self.skipped) > 1 else ""
            raise EdgeDenoiseError(self.skipped[0] + more)
        self.stop_reason = self.stop_reason or "end of input"
        return None


class VideoFileSource(FrameSource):
    """Every frame of a video file, in order (no real-time pacing, no drops)."""

    MAX_BAD_IN_A_ROW = 5

    def __init__(self, uri: str, capture):
        super().__init__(uri)
        import cv2

        self.capture = capture
        fps = float(capture.get(cv2.CAP_PROP_FPS) or 0.0)
        self.fps = fps if 0 < fps < 1000 else None
        self.frame_count = int(capture.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        self._bgr = None
        self.current_name = uri

    def read(self) -> np.ndarray | None:
        import cv2

        bad = 0
        while True:
            ok, raw = self.capture.read(self._bgr) if self._bgr is not None else self.capture.read()
            if ok:
                frame = as_frame_rgb(raw, bgr=True)
                if frame is not None:
                    self._bgr = raw if raw.ndim == 3 and raw.shape[2] == 3 else None
                    self.frames_read += 1
                    return frame
            # A failed read before the advertised end is a bad frame; after it, the end of the file.
            position = int(self.capture.get(cv2.CAP_PROP_POS_FRAMES) or 0)
            if (not ok and position >= self.frame_count - 1) or bad >= self.MAX_BAD_IN_A_ROW:
                if self.frames_read == 0:
                    raise EdgeDenoiseError(f"{self.uri}: no readable frames (empty, truncated or corrupt video)")
                self.stop_reason = self.stop_reason or "end of video"
                return None
            bad += 1
            self.corrupt += 1
            self.skipped.append(f"{self.uri}: unreadable frame near {position}")
            self._bgr = None

    def close(self) -> None:
        self.capture.release()


# --- live sources ---------------------------------------------------------------------------------
class LatestFrameGrabber:
    """A capture thread that keeps only the newest frame.

    ``read_raw()`` returns ``(ok, array)`` like cv2.VideoCapture.read. A failed read is retried with
    exponential backoff (calling ``reopen`` when given) for ``reconnect_s`` seconds before the
    source ends; a frame replaced before anyone took it counts as dropped; a frame that does not
    change for ``freeze_s`` seconds (a camera that stopped but keeps returning its last frame)
    counts as a failure too.
    """

    def __init__(self, read_raw, *, bgr: bool = True, reconnect_s: float = 3.0, reopen=None,
                 freeze_s: float | None = None, backoff_s: float = 0.05, clock=time.monotonic):
        self.read_raw, self.bgr, self.reopen = read_raw, bgr, reopen
        self.reconnect_s, self.freeze_s, self.backoff_s, self.clock = reconnect_s, freeze_s, backoff_s, clock
        self.grabbed = self.dropped = self.corrupt = self.reconnects = 0
        self.ended: str | None = None
        self._cond = threading.Condition()
        self._latest: np.ndarray | None = None
        self._fresh = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="frame-grabber", daemon=True)

    def start(self) -> LatestFrameGrabber:
        _RUNNING.add(self)
        self._thread.start()
        return self

    def _end(self, reason: str) -> None:
        with self._cond:
            self.ended = self.ended or reason
            self._cond.notify_all()

    def _loop(self) -> None:
        failing_since: float | None = None
        frozen_since: float | None = None
        previous = None
        delay = self.backoff_s
        while not self._stop.is_set():
            try:
                ok, raw = self.read_raw()
            except Exception:  # a driver error is a failed read like any other
                ok, raw = False, None
            now = self.clock()
            if not ok:
                failing_since = failing_since or now
                if now - failing_since >= self.reconnect_s:
                    self._end(f"camera stopped delivering frames for {self.reconnect_s:g} s (unplugged?)")
                    return
                self._stop.wait(delay)
                delay = min(delay * 2, 1.0)
                if self.reopen is not None and not self._stop.is_set():
                    self.reconnects += 1
                    try:
                        self.reopen()
                    except Exception:
                        pass
                continue
            failing_since, delay = None, self.backoff_s
            frame = as_frame_rgb(raw, self.bgr)
            if frame is None:
                with self._cond:
                    self.corrupt += 1
                continue
            if self.freeze_s is not None:
                probe = frame[::16, ::16]
                if previous is not None and np.array_equal(probe, previous):
                    frozen_since = frozen_since or now
                    if now - frozen_since >= self.freeze_s:
                        self._end(f"camera frozen: the same frame for {self.freeze_s:g} s (unplugged?)")
                        return
                else:
                    frozen_since = None
                previous = probe.copy()
            with self._cond:
                if self._fresh:
                    self.dropped += 1
                self._latest, self._fresh = frame, True
                self.grabbed += 1
                self._cond.notify_all()

    def get(self, timeout: float) -> np.ndarray | None:
        """The newest frame not yet taken; None when the source ended or nothing came for ``timeout`` s."""
        with self._cond:
            if not self._cond.wait_for(lambda: self._fresh or self.ended is not None, timeout):
                return None
            if not self._fresh:
                return None
            self._fresh = False
            return self._latest

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout=2.0)
        _RUNNING.discard(self)


# Grabbers still running at interpreter exit are stopped first: a daemon thread killed inside a
# C++ capture call during finalization aborts the process ("FATAL: exception not rethrown").
_RUNNING: weakref.WeakSet[LatestFrameGrabber] = weakref.WeakSet()


@atexit.register
def _stop_all_grabbers() -> None:
    for grabber in list(_RUNNING):
        grabber.stop()


class LiveSource(FrameSource):
    """A live camera or stream: the newest frame from a LatestFrameGrabber; stale frames are dropped."""

    live = True

    def __init__(self, uri: str, read_raw, release=None, *, bgr: bool = True, reconnect_s: float = 3.0,
                 reopen=None, freeze_s: float | None = None, fps: float | None = None, stall_s: float | None = None):
        super().__init__(uri)
        self.fps = fps
        self._release = release
        self.stall_s = stall_s if stall_s is not None else reconnect_s + 2.0
        self.grabber = LatestFrameGrabber(read_raw, bgr=bgr, reconnect_s=reconnect_s, reopen=reopen,
                                          freeze_s=freeze_s).start()
        self.should_stop = None  # optional callable: read() gives up early when it returns True

    @classmethod
    def from_capture(cls, uri: str, capture, **kwargs) -> LiveSource:
        """Wrap any object with cv2.VideoCapture's read()/release() (a real capture or a scripted fake)."""
        return cls(uri, capture.read, capture.release, **kwargs)

    def read(self) -> np.ndarray | None:
        waited = 0.0
        while True:
            frame = self.grabber.get(timeout=0.1)
            self.dropped, self.corrupt = self.grabber.dropped, self.grabber.corrupt
            if frame is not None:
                self.frames_read += 1
                return frame
            if self.grabber.ended:
                self.stop_reason = self.grabber.ended
                return None
            waited += 0.1
            if self.should_stop is not None and self.should_stop():
                return None
            if waited >= self.stall_s:  # the capture call itself is stuck (RTSP after a reconnect)
                self.stop_reason = f"no frame for {self.stall_s:g} s (capture stalled)"
                return None

    def close(self) -> None:
        self.grabber.stop()
        if self._release is not None:
            try:
                self._release()
            except Exception:
                pass


# --- opening ----------------------------------------------------------------------------------------
def existing_cameras() -> list[str]:
    """The V4L2 device nodes present, e.g. ['/dev/video0', '/dev/video2']."""
    def number(p: str) -> int:
        tail = p[len("/dev/video"):]
        return int(tail) if tail.isdigit() else 1 << 30

    return sorted(globlib.glob("/dev/video*"), key=number)


def _camera_not_found(what: str) -> EdgeDenoiseError:
    cams = existing_cameras()
    listing = ", ".join(cams) if cams else "none (no /dev/video* devices)"
    return EdgeDenoiseError(f"camera {what} not found; cameras present: {listing}")


def gstreamer_available() -> bool:
    """Whether this OpenCV was built with GStreamer (pip wheels are not)."""
    import cv2

    for line in cv2.getBuildInformation().splitlines():
        if line.strip().startswith("GStreamer:"):
            return "YES" in line
    return False


def csi_pipeline(index: int, width: int = 1280, height: int = 720, fps: int = 30) -> str:
    """The nvarguscamerasrc GStreamer pipeline for a Jetson CSI camera, ending in BGR appsink."""
    return (
        f"nvarguscamerasrc sensor-id={index} ! video/x-raw(memory:NVMM), width={width}, height={height}, "
        f"framerate={fps}/1, format=NV12 ! nvvidconv ! video/x-raw, width={width}, height={height}, format=BGRx ! "
        f"videoconvert ! video/x-raw, format=BGR ! appsink drop=true max-buffers=1 sync=false"
    )


def _open_v4l2(spec: SourceURI, size, fps, reconnect_s) -> LiveSource:
    import cv2

    if sys.platform.startswith("linux") and not os.path.exists(spec.location):
        raise _camera_not_found(spec.location if spec.index is None else f"{spec.index} ({spec.location})")
    target = spec.index if spec.index is not None else spec.location
    api = cv2.CAP_V4L2 if sys.platform.startswith("linux") else cv2.CAP_ANY

    def configure(cap) -> None:
        cap.set(cv2.CAP_PROP_BUFFERSIZE, 1)
        # FOURCC first, then size: some drivers ignore MJPG when it comes after the size (CV#12404).
        cap.set(cv2.CAP_PROP_FOURCC, cv2.VideoWriter_fourcc(*"MJPG"))
        if size:
            cap.set(cv2.CAP_PROP_FRAME_WIDTH, size[1])
            cap.set(cv2.CAP_PROP_FRAME_HEIGHT, size[0])
        if fps:
            cap.set(cv2.CAP_PROP_FPS, fps)

    cap = cv2.VideoCapture(target, api)
    if not cap.isOpened():
        raise _camera_not_found(str(spec.location))
    configure(cap)
    state = {"cap": cap}

    def reopen() -> None:
        state["cap"].release()
        new = cv2.VideoCapture(target, api)
        configure(new)
        state["cap"] = new

    got_fps = float(cap.get(cv2.CAP_PROP_FPS) or 0) or None
    source = LiveSource(f"v4l2://{spec.location}", lambda: state["cap"].read(), lambda: state["cap"].release(),
                        reconnect_s=reconnect_s, reopen=reopen, freeze_s=reconnect_s, fps=got_fps)
    fourcc = int(cap.get(cv2.CAP_PROP_FOURCC) or 0)
    source.format = "".join(chr((fourcc >> 8 * i) & 0xFF) for i in range(4)) if fourcc else "?"
    return source


def _open_picamera2(spec: SourceURI, size, fps, reconnect_s) -> LiveSource:
    try:
        from picamera2 import Picamera2
    except ImportError:
        raise EdgeDenoiseError(
            "picamera2 is not installed: on Raspberry Pi OS run 'sudo apt install python3-picamera2' "
            "(and create the venv with --system-site-packages)"
        ) from None
    cameras = Picamera2.global_camera_info()
    if spec.index >= len(cameras):
        found = ", ".join(f"picamera2://{i} ({c.get('Model', '?')})" for i, c in enumerate(cameras)) or "none"
        raise EdgeDenoiseError(f"camera picamera2://{spec.index} not found; Pi cameras present: {found}")
    cam = Picamera2(spec.index)
    height, width = size or (480, 640)
    # Configure the stream at the size the model needs (capture_array copies; big frames halve the rate),
    # few buffers and queue=False so a capture never returns a frame taken before the call.
    controls = {"FrameRate": float(fps)} if fps else {}
    config = cam.create_video_configuration(main={"size": (int(width), int(height)), "format": "RGB888"},
                                            buffer_count=2, queue=False, controls=controls)
    cam.configure(config)
    cam.start()

    def read_raw():
        return True, cam.capture_array("main")

    def release():
        cam.stop()
        cam.close()

    # picamera2's "RGB888" is B, G, R in memory order (PC2#848): bgr=True converts it to RGB.
    return LiveSource(f"picamera2://{spec.index}", read_raw, release, bgr=True, reconnect_s=reconnect_s, fps=fps)


def _open_csi(spec: SourceURI, size, fps, reconnect_s) -> LiveSource:
    import cv2

    if not gstreamer_available():
        raise EdgeDenoiseError(
            "csi:// needs OpenCV with GStreamer, and this one (pip's opencv-python) has none: on Jetson, "
            "'pip uninstall opencv-python opencv-python-headless' and use JetPack's OpenCV "
            "('sudo apt install python3-opencv', venv with --system-site-packages)"
        )
    height, width = size or (720, 1280)
    cap = cv2.VideoCapture(csi_pipeline(spec.index, width, height, int(fps or 30)), cv2.CAP_GSTREAMER)
    if not cap.isOpened():
        raise EdgeDenoiseError(f"camera csi://{spec.index} not found (nvarguscamerasrc could not open sensor-id={spec.index})")
    return LiveSource.from_capture(f"csi://{spec.index}", cap, reconnect_s=reconnect_s, fps=fps)


def _open_stream(spec: SourceURI, reconnect_s) -> LiveSource:
    import cv2

    params = [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, STREAM_TIMEOUT_MS, cv2.CAP_PROP_READ_TIMEOUT_MSEC, STREAM_TIMEOUT_MS]

    def open_cap():
        return cv2.VideoCapture(spec.location, cv2.CAP_FFMPEG, params)

    cap = open_cap()
    if not cap.isOpened():
        raise EdgeDenoiseError(f"{spec.location}: cannot open stream (no answer within {STREAM_TIMEOUT_MS // 1000} s)")
    state = {"cap": cap}

    def reopen() -> None:
        state["cap"].release()
        state["cap"] = open_cap()

    fps = float(cap.get(cv2.CAP_PROP_FPS) or 0) or None
    return LiveSource(spec.location, lambda: state["cap"].read(), lambda: state["cap"].release(),
                      reconnect_s=reconnect_s, reopen=reopen, fps=fps)


def _outside(paths: list[Path], exclude: str | Path | None) -> list[Path]:
    """``paths`` without those inside ``exclude`` (a run's --save folder: its frames are outputs, not inputs)."""
    if exclude is None:
        return paths
    root = Path(exclude).resolve()
    return [p for p in paths if not (p.resolve() == root or root in p.resolve().parents)]


def open_source(uri: str | int | Path, *, size: tuple[int, int] | None = None, fps: float | None = None,
                reconnect_s: float = 3.0, exclude: str | Path | None = None) -> FrameSource:
    """Open any source URI (see the module docstring); ``size`` is (height, width) for cameras and the demo.

    ``exclude``: a folder whose images a folder or glob source never reads (where the run saves).
    """
    spec = parse_uri(uri)
    if spec.kind == "camera":
        return _open_v4l2(spec, size, fps, reconnect_s)
    if spec.kind == "picamera2":
        return _open_picamera2(spec, size, fps, reconnect_s)
    if spec.kind == "csi":
        return _open_csi(spec, size, fps, reconnect_s)
    if spec.kind == "stream":
        return _open_stream(spec, reconnect_s)
    if spec.kind == "demo":
        from edge_runtime.synthetic import SyntheticSource

        return SyntheticSource(size)
    if spec.kind == "video":
        import cv2

        if not Path(spec.location).is_file():
            raise EdgeDenoiseError(f"{spec.location}: no such video file")
        if Path(spec.location).stat().st_size == 0:
            raise EdgeDenoiseError(f"{spec.location}: empty video file (0 bytes)")
        cap = cv2.VideoCapture(spec.location)
        if not cap.isOpened():
            raise EdgeDenoiseError(f"{spec.location}: cannot open video (corrupt, or a codec this OpenCV lacks)")
        return VideoFileSource(spec.location, cap)
    if spec.kind == "image":
        if not Path(spec.location).is_file():
            raise EdgeDenoiseError(f"{spec.location}: no such image file")
        return ImageFilesSource(spec.location, [Path(spec.location)])
    if spec.kind == "glob":
        paths = sorted(Path(p) for p in globlib.glob(spec.location, recursive=True)
                       if Path(p).suffix.lower() in IMAGE_SUFFIXES and Path(p).is_file())
        paths = _outside(paths, exclude)
        if not paths:
            raise EdgeDenoiseError(f"{spec.location}: no image files match")
        return ImageFilesSource(spec.location, paths)
    from edge_runtime.images import list_images

    if not Path(spec.location).is_dir():
        raise EdgeDenoiseError(f"{spec.location}: no such file or folder")
    if exclude is not None and Path(exclude).resolve() == Path(spec.location).resolve():
        raise EdgeDenoiseError(f"--save {exclude} is the --source folder: the denoised frames would mix with "
                               f"the inputs; save to another folder")
    paths = _outside(list_images(spec.location), exclude)
    if not paths:
        raise EdgeDenoiseError(f"{spec.location}: folder has no image files ({', '.join(IMAGE_SUFFIXES)})")
    return ImageFilesSource(spec.location, paths)
