"""Sources: URIs parse without touching devices; files give every frame in order; cameras give the newest."""

from __future__ import annotations

import threading
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge_runtime.errors import EdgeDenoiseError
from edge_runtime.sources import LatestFrameGrabber, LiveSource, SourceURI, csi_pipeline, open_source, parse_uri

FAKE_PICAMERA2 = Path(__file__).parent / "fake_picamera2"


def make_video(path: Path, n: int = 12, size=(96, 80), fourcc: str = "mp4v") -> Path:
    """A video whose frame i is filled with gray level 20*i (easy to check the order)."""
    w, h = size
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), 10, (w, h))
    for i in range(n):
        writer.write(np.full((h, w, 3), (20 * i) % 256, np.uint8))
    writer.release()
    return path


class ScriptedCapture:
    """A fake cv2.VideoCapture: plays a script of (ok, frame) then fails (an unplugged camera)."""

    def __init__(self, script, block_after: threading.Event | None = None):
        self.script = list(script)
        self.reads = 0
        self.block_after = block_after
        self.exhausted = threading.Event()
        self.released = False

    def read(self):
        if self.reads < len(self.script):
            self.reads += 1
            return self.script[self.reads - 1]
        self.exhausted.set()
        if self.block_after is not None:
            self.block_after.wait(2.0)
        return False, None

    def release(self):
        self.released = True


def bgr(value: int, h: int = 8, w: int = 8) -> np.ndarray:
    return np.full((h, w, 3), value, np.uint8)


@pytest.mark.parametrize("uri,expected", [
    (0, SourceURI("camera", "/dev/video0", 0)),
    ("2", SourceURI("camera", "/dev/video2", 2)),
    ("v4l2:///dev/video1", SourceURI("camera", "/dev/video1", 1)),
    ("picamera2://0", SourceURI("picamera2", "0", 0)),
    ("picamera2://", SourceURI("picamera2", "0", 0)),
    ("csi://1", SourceURI("csi", "1", 1)),
    ("rtsp://10.0.0.2:8554/cam", SourceURI("stream", "rtsp://10.0.0.2:8554/cam")),
    ("https://example.com/live.m3u8", SourceURI("stream", "https://example.com/live.m3u8")),
    ("clip.MP4", SourceURI("video", "clip.MP4")),
    ("file:///data/clip.avi", SourceURI("video", "/data/clip.avi")),
    ("shots/*.jpg", SourceURI("glob", "shots/*.jpg")),
    ("one.png", SourceURI("image", "one.png")),
    ("my photos/", SourceURI("folder", "my photos/")),
])
def test_uris_parse_without_touching_devices(uri, expected):
    assert parse_uri(uri) == expected


def test_live_kinds_are_marked_live():
    assert parse_uri("csi://0").live and parse_uri(0).live and not parse_uri("a.mp4").live


@pytest.mark.parametrize("bad", ["ftp2://x", "notes.txt", "picamera2://front", ""])
def test_bad_uris_give_one_clear_line(bad):
    with pytest.raises(EdgeDenoiseError) as info:
        parse_uri(bad)
    assert "\n" not in str(info.value)


def test_missing_camera_lists_the_cameras_that_exist():
    with pytest.raises(EdgeDenoiseError, match=r"camera .*not found; cameras present: "):
        open_source("v4l2:///dev/video97")


def test_video_file_gives_every_frame_in_order(tmp_path):
    path = make_video(tmp_path / "clip.mp4", n=12)
    with open_source(str(path)) as source:
        levels = [int(np.median(f)) for f in source]
    assert len(levels) == 12
    assert all(abs(level - 20 * i) <= 6 for i, level in enumerate(levels))  # mp4v is lossy
    assert levels == sorted(levels)
    assert source.stop_reason == "end of video" and source.dropped == 0


def test_mjpg_avi_also_reads_every_frame(tmp_path):
    path = make_video(tmp_path / "clip.avi", n=5, fourcc="MJPG")
    assert len(list(open_source(str(path)))) == 5


def test_folder_source_reads_sorted_images_and_skips_a_corrupt_one(tmp_path):
    for i in range(3):
        cv2.imwrite(str(tmp_path / f"img{i}.png"), bgr(10 * i))
    (tmp_path / "img1b.jpg").write_bytes(b"\xff\xd8garbage")
    source = open_source(str(tmp_path))
    frames = list(source)
    assert [int(f[0, 0, 0]) for f in frames] == [0, 10, 20]
    assert source.corrupt == 1 and "img1b.jpg" in source.skipped[0]


def test_glob_source_matches_only_the_pattern(tmp_path):
    for name in ("a.png", "b.png", "c.jpg"):
        cv2.imwrite(str(tmp_path / name), bgr(50))
    assert len(list(open_source(str(tmp_path / "*.png")))) == 2
    with pytest.raises(EdgeDenoiseError, match="no image files match"):
        open_source(str(tmp_path / "*.bmp"))


def test_missing_files_and_folders_are_one_line_errors(tmp_path):
    for uri in (tmp_path / "nope.mp4", tmp_path / "nope.png", tmp_path / "nope"):
        with pytest.raises(EdgeDenoiseError, match="no such"):
            open_source(str(uri))


def test_grabber_keeps_only_the_newest_frame_and_counts_stale_ones():
    release = threading.Event()
    capture = ScriptedCapture([(True, bgr(i)) for i in range(10)], block_after=release)
    grabber = LatestFrameGrabber(capture.read, reconnect_s=0.0).start()
    assert capture.exhausted.wait(2.0)
    frame = grabber.get(timeout=1.0)
    assert int(frame[0, 0, 0]) == 9          # the newest, not the oldest buffered frame
    assert grabber.dropped == 9 and grabber.grabbed == 10
    release.set()
    assert grabber.get(timeout=1.0) is None and "unplugged" in grabber.ended
    grabber.stop()


def test_unplugged_camera_is_retried_then_stops_cleanly():
    capture = ScriptedCapture([(True, bgr(1))])
    source = LiveSource.from_capture("v4l2:///dev/video0", capture, reconnect_s=0.15)
    reopened = []
    source.grabber.reopen = lambda: reopened.append(1)
    frames = list(source)
    source.close()
    assert len(frames) == 1
    assert "unplugged" in source.stop_reason and capture.released


def test_corrupt_live_frames_are_skipped_and_counted():
    script = [(True, bgr(1)), (True, np.zeros((0, 0, 3), np.uint8)), (True, np.zeros((4, 4, 2), np.uint8)),
              (True, None), (True, bgr(2))]
    source = LiveSource.from_capture("fake", ScriptedCapture(script), reconnect_s=0.05)
    frames = list(source)
    source.close()
    assert source.corrupt == 3
    assert len(frames) + source.dropped == 2 and int(frames[-1][0, 0, 0]) == 2


def test_picamera2_bgr_frames_arrive_as_rgb_at_the_requested_size(monkeypatch):
    monkeypatch.syspath_prepend(str(FAKE_PICAMERA2))
    import picamera2

    with open_source("picamera2://0", size=(48, 64)) as source:  # height x width, as everywhere
        frame = source.read()
    assert frame.shape == (48, 64, 3)
    assert frame[0, 0, 2] == 255 and frame[0, 0, 1] == 0    # blue stays blue after BGR -> RGB
    config = picamera2.CONFIGURED[-1]
    assert config["main"] == {"size": (64, 48), "format": "RGB888"} and config["queue"] is False


def test_picamera2_missing_camera_and_missing_package_are_one_line(monkeypatch):
    monkeypatch.syspath_prepend(str(FAKE_PICAMERA2))
    with pytest.raises(EdgeDenoiseError, match=r"picamera2://3 not found; Pi cameras present: picamera2://0"):
        open_source("picamera2://3")


def test_csi_needs_gstreamer_and_says_how_to_get_it():
    from edge_runtime.sources import gstreamer_available

    assert "nvarguscamerasrc sensor-id=1" in csi_pipeline(1, 640, 480)
    if gstreamer_available():
        pytest.skip("this OpenCV has GStreamer")
    with pytest.raises(EdgeDenoiseError, match="JetPack"):
        open_source("csi://0")
