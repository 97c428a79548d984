"""Weeks on a farm line: signals, kill -9, a full disk and a flaky camera never lose finished work."""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from test_corpus import Outcome
from test_runtime_cli import NO_TF
from test_sources import make_video
from tflite_fixtures import tflite_dir, uint8_model  # noqa: F401
from typer.testing import CliRunner

from edge_runtime.errors import EdgeDenoiseError
from edge_runtime.pipeline import RunConfig, run
from edge_runtime.sources import LiveSource

ROOT = Path(__file__).resolve().parents[1]


def photos(folder: Path, n: int, size: int = 96) -> Path:
    folder.mkdir(parents=True)
    for i in range(n):
        cv2.imwrite(str(folder / f"im{i:03d}.png"), np.full((size, size, 3), (7 * i) % 256, np.uint8))
    return folder


def no_temp_files(folder: Path) -> bool:
    return not [p for p in folder.rglob("*") if ".tmp" in p.name]


def start_cli(*args) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", NO_TF, *map(str, args)], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env={**os.environ, "COLUMNS": "200"})


def wait_for(condition, timeout: float = 60.0) -> None:
    end = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > end:
            raise AssertionError("timed out waiting for the subprocess")
        time.sleep(0.05)


# --- signals -----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_during_run_leaves_a_whole_video_and_a_complete_report(tmp_path, uint8_model, sig):
    video = make_video(tmp_path / "long.avi", n=3000, size=(64, 64), fourcc="MJPG")
    proc = start_cli("run", "--source", video, "--model", uint8_model, "--save", tmp_path / "den.avi",
                     "--report", tmp_path / "r.json")
    try:
        wait_for(lambda: any(p.stat().st_size > 10_000 for p in tmp_path.glob(".den.*.tmp.avi")) or proc.poll() is not None)
        assert proc.poll() is None, "the run ended before the signal"
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130 and "Traceback" not in err, err
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["stop_reason"] == f"interrupted ({sig.name})" and report["frames"] > 0
    cap = cv2.VideoCapture(str(tmp_path / "den.avi"))
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == report["frames"], "every denoised frame is in the video"
    assert no_temp_files(tmp_path)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_during_denoise_keeps_finished_files_and_a_rerun_finishes(tmp_path, uint8_model, monkeypatch, sig):
    from edge_runtime.batch import denoise_files
    from edge_runtime.engine import load_engine

    src = photos(tmp_path / "photos", 6)
    out = tmp_path / "out"
    engine = load_engine(uint8_model)
    real_write = Path.write_bytes
    calls = []

    def signalled_mid_write(self, data):
        calls.append(self)
        if len(calls) == 3:  # the signal lands while the third output is being written
            real_write(self, data[: len(data) // 2])
            os.kill(os.getpid(), sig)
        return real_write(self, data)

    before = signal.getsignal(signal.SIGTERM)
    # Ctrl-C as a terminal delivers it, even when the suite itself runs as a background job (whose
    # shell starts it with SIGINT ignored, so Python installs no KeyboardInterrupt handler).
    old_int = signal.signal(signal.SIGINT, signal.default_int_handler)
    monkeypatch.setattr(Path, "write_bytes", signalled_mid_write)
    try:
        with pytest.raises(KeyboardInterrupt):
            denoise_files([src], out, engine)
    finally:
        signal.signal(signal.SIGINT, old_int)
    monkeypatch.undo()
    assert signal.getsignal(signal.SIGTERM) == before, "the old SIGTERM handler is back"
    done = sorted(p.name for p in (out / "photos").iterdir())
    assert done == ["im000.png", "im001.png"] and no_temp_files(out)
    again = denoise_files([src], out, engine)
    assert len(again.existing) == 2 and len(again.written) == 4 and no_temp_files(out)


def test_kill_9_during_denoise_leaves_every_finished_output_whole_and_a_rerun_skips_them(tmp_path, uint8_model):
    src = photos(tmp_path / "photos", 80, size=160)
    out = tmp_path / "out"
    proc = start_cli("denoise", src, "--out", out, "--model", uint8_model)
    try:
        wait_for(lambda: len(list((out / "photos").glob("im*.png"))) >= 3 if (out / "photos").is_dir() else proc.poll() is not None)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
    finished = sorted((out / "photos").glob("im*.png"))
    assert 3 <= len(finished) < 80, "killed in the middle"
    for path in finished:
        image = cv2.imread(str(path))
        assert image is not None and image.shape == (160, 160, 3), f"{path.name} is not whole"
    rerun = subprocess.run([sys.executable, "-c", NO_TF, "denoise", str(src), "--out", str(out), "--model",
                            str(uint8_model)], cwd=ROOT, capture_output=True, text=True, env={**os.environ, "COLUMNS": "200"})
    assert rerun.returncode == 0, rerun.stderr
    assert f"{80 - len(finished)} written, {len(finished)} already there" in rerun.stdout
    assert no_temp_files(out), "the rerun removes the temp file the kill left"


def test_sigterm_during_training_keeps_the_best_model_and_backup_like_ctrl_c(tmp_path):
    import keras

    from train.config import TrainConfig
    from train.training import train

    class SigtermAfterFirstEpoch(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            os.kill(os.getpid(), signal.SIGTERM)

    before = signal.getsignal(signal.SIGTERM)
    config = TrainConfig(data=str(ROOT / "edge_runtime" / "samples"), out=str(tmp_path / "run"), model="unet",
                         width=4, depth=2, size=32, batch_size=4, epochs=5, max_images=4)
    result = train(config, callbacks=[SigtermAfterFirstEpoch()], verbose=0)
    assert result.interrupted and signal.getsignal(signal.SIGTERM) == before
    run_dir = tmp_path / "run"
    assert (run_dir / "model.keras").is_file() and (run_dir / "backup").is_dir(), "resumable"
    epochs = [line.split(",")[0] for line in (run_dir / "history.csv").read_text().splitlines()[1:]]
    assert epochs == ["0"] and no_temp_files(run_dir)


# --- a full disk -----------------------------------------------------------------------------------------------
def test_disk_full_during_denoise_is_one_line_and_earlier_outputs_stay_whole(tmp_path, uint8_model, monkeypatch):
    from edge_denoise.cli import app

    src = photos(tmp_path / "photos", 5)
    real_write = Path.write_bytes
    calls = []

    def fills_up(self, data):
        calls.append(self)
        if len(calls) >= 3:
            real_write(self, data[:100])
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(self))
        return real_write(self, data)

    monkeypatch.setattr(Path, "write_bytes", fills_up)
    out = Outcome(CliRunner().invoke(app, ["denoise", str(src), "--out", str(tmp_path / "out"), "--model", str(uint8_model)]))
    monkeypatch.undo()
    out.assert_refused("im002.png", "No space left on device", "2 file(s) written")
    done = sorted((tmp_path / "out" / "photos").iterdir())
    assert [p.name for p in done] == ["im000.png", "im001.png"]
    assert all(cv2.imread(str(p)).shape == (96, 96, 3) for p in done) and no_temp_files(tmp_path / "out")


def test_disk_full_while_training_saves_is_one_line_and_the_run_folder_stays_whole(tmp_path, monkeypatch):
    import keras

    from train.config import TrainConfig
    from train.training import train

    def no_space(self, path, *args, **kwargs):
        Path(path).write_bytes(b"PK\x03\x04 half a zip")
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))

    monkeypatch.setattr(keras.Model, "save", no_space)
    run_dir = tmp_path / "run"
    config = TrainConfig(data=str(ROOT / "edge_runtime" / "samples"), out=str(run_dir), width=4, depth=2, size=32,
                         batch_size=4, epochs=1, max_images=4)
    with pytest.raises(EdgeDenoiseError, match="No space left on device.*--resume") as info:
        train(config, verbose=0)
    assert "\n" not in str(info.value)
    assert not (run_dir / "model.keras").exists(), "no half-written model under the real name"
    json.loads((run_dir / "config.json").read_text())
    json.loads((run_dir / "manifest.json").read_text())
    assert no_temp_files(run_dir)


# --- a flaky camera ----------------------------------------------------------------------------------------------
class FlakyCapture:
    """A scripted driver: each entry is (ok, frame), or an exception the driver raises; then it is unplugged."""

    def __init__(self, script):
        self.script = list(script)
        self.released = False

    def read(self):
        if not self.script:
            return False, None
        step = self.script.pop(0)
        if isinstance(step, BaseException):
            raise step
        return step

    def release(self):
        self.released = True


def bgr(value: int, h: int = 64, w: int = 64) -> np.ndarray:
    return np.full((h, w, 3), value, np.uint8)


def test_a_flaky_camera_stops_resumes_changes_size_and_raises_without_ending_the_run(tmp_path, uint8_model):
    good = [(True, bgr(i * 9)) for i in range(3)]
    script = (good + [(False, None)] * 3 + good  # frames stop, then come back
              + [(True, bgr(50, 60, 80))] * 3  # the driver switches size mid-stream
              + [RuntimeError("VIDIOC_DQBUF: No such device"), OSError("select() timeout")] + good)
    capture = FlakyCapture(script)
    source = LiveSource.from_capture("v4l2:///dev/video0", capture, reconnect_s=1.0)
    report = run(RunConfig(model=str(uint8_model), report=str(tmp_path / "r.json"), save=str(tmp_path / "live.avi")),
                 source=source)
    source.close()
    data = json.loads((tmp_path / "r.json").read_text())
    assert "unplugged" in data["stop_reason"] and capture.released
    assert report.frames >= 1 and report.frames + report.dropped == 12, "every good frame shown or counted as dropped"
    cap = cv2.VideoCapture(str(tmp_path / "live.avi"))
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == report.frames and no_temp_files(tmp_path)


def test_a_driver_that_only_raises_ends_the_run_with_a_reason(tmp_path, uint8_model):
    capture = FlakyCapture([RuntimeError("driver crashed")] * 1000)
    source = LiveSource.from_capture("csi://0", capture, reconnect_s=0.3)
    report = run(RunConfig(model=str(uint8_model), report=str(tmp_path / "r.json")), source=source)
    assert report.frames == 0 and "stopped delivering frames" in report.stop_reason
    assert json.loads((tmp_path / "r.json").read_text())["stop_reason"] == report.stop_reason
