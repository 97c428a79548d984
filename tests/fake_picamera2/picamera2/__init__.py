"""A stand-in for picamera2 (put its parent folder on sys.path): one camera producing BGR frames.

Like the real "RGB888" format, arrays are B, G, R in memory: each frame is pure blue (B=255),
with the frame number in the red byte, so a test can check both the channel order and the sequence.
"""

import numpy as np

CONFIGURED: list = []


class Picamera2:
    cameras = [{"Model": "fake_imx708", "Num": 0}]

    def __init__(self, camera_num=0):
        self.camera_num = camera_num
        self.size = (640, 480)
        self.started = False
        self.closed = False
        self.count = 0

    @staticmethod
    def global_camera_info():
        return list(Picamera2.cameras)

    def create_video_configuration(self, main=None, buffer_count=6, queue=True, controls=None, **kwargs):
        return {"main": dict(main or {}), "buffer_count": buffer_count, "queue": queue, "controls": controls or {}}

    def configure(self, config):
        CONFIGURED.append(config)
        self.size = tuple(config["main"]["size"])
        assert config["main"]["format"] == "RGB888"

    def start(self):
        self.started = True

    def capture_array(self, name="main"):
        assert self.started, "capture before start()"
        w, h = self.size
        frame = np.zeros((h, w, 3), np.uint8)
        frame[..., 0] = 255  # B
        frame[..., 2] = self.count % 256  # R
        self.count += 1
        return frame

    def stop(self):
        self.started = False

    def close(self):
        self.closed = True
