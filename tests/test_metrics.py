"""Long runs: the Prometheus endpoint and JSON lines move while frames flow; saving rotates and stops before the disk fills."""

from __future__ import annotations

import errno
import json
import socket
import threading
import time
import urllib.error
import urllib.request

import numpy as np
import pytest
from test_sources import ScriptedCapture, bgr
from tflite_fixtures import tflite_dir, uint8_model  # noqa: F401

from edge_runtime.errors import EdgeDenoiseError
from edge_runtime.pipeline import RunConfig, WindowedStageTimer, run
from edge_runtime.sinks import DiskGuard, FrameSink, ImageFolderSink, VideoFileSink, open_sink
from edge_runtime.sources import LiveSource
from edge_runtime.synthetic import SyntheticSource
from edge_runtime.telemetry import Telemetry

DEADLINE_S = 20.0


def scrape(url: str) -> dict[str, float]:
    """The endpoint's samples as {'name{labels}': value}."""
    text = urllib.request.urlopen(url, timeout=5).read().decode()
    samples = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            key, _, value = line.rpartition(" ")
            samples[key] = float(value)
    return samples


def wait_for(predicate, what: str):
    """Poll ``predicate`` until it returns something truthy (no fixed sleeps: the loop runs as fast as it can)."""
    end = time.monotonic() + DEADLINE_S
    while time.monotonic() < end:
        value = predicate()
        if value:
            return value
        threading.Event().wait(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def test_metrics_endpoint_counters_move_during_a_run(uint8_model):
    notices: list[str] = []
    stop = threading.Event()
    result = {}
    config = RunConfig(model=str(uint8_model), metrics_port=0, add_noise="gaussian:0.1", threads=1)
    thread = threading.Thread(target=lambda: result.update(
        report=run(config, source=SyntheticSource((64, 64), loop=True), stop=stop, on_notice=notices.append)))
    thread.start()
    try:
        url = wait_for(lambda: next((n.split(" ", 1)[1] for n in notices if n.startswith("metrics: ")), None), "the URL")
        assert url.startswith("http://127.0.0.1:")  # never exposed beyond the device unless asked
        first = wait_for(lambda: (s := scrape(url)).get("edge_denoise_frames_total", 0) > 0 and s, "frames")
        second = wait_for(lambda: (s := scrape(url))["edge_denoise_frames_total"] > first["edge_denoise_frames_total"] and s,
                          "frames to move")
        assert second['edge_denoise_stage_seconds_count{stage="invoke"}'] > first['edge_denoise_stage_seconds_count{stage="invoke"}']
        assert second["edge_denoise_fps"] > 0
        assert 0 < second['edge_denoise_ssim{image="denoised"}'] <= 1
        for name in ("edge_denoise_frames_dropped_total", "edge_denoise_camera_reconnects_total",
                     "edge_denoise_frames_corrupt_total", "process_resident_memory_bytes"):
            assert name in second
        assert any(k.startswith("edge_denoise_info{") for k in second)
    finally:
        stop.set()
        thread.join(30)
    report = result["report"]
    assert report.metrics_url == url and report.frames >= second["edge_denoise_frames_total"]
    with pytest.raises(urllib.error.URLError):  # the server stops with the run
        urllib.request.urlopen(url, timeout=2)


def test_a_busy_port_is_one_clear_error():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        port = s.getsockname()[1]
        with pytest.raises(EdgeDenoiseError, match=f"--metrics-port {port}: cannot listen on 127.0.0.1:{port}"):
            Telemetry(port=port)


class FakeClock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def test_log_json_writes_one_line_per_interval_and_a_last_line_saying_why(tmp_path):
    clock = FakeClock()
    log = tmp_path / "logs" / "run.jsonl"
    telemetry = Telemetry(log_json=log, log_interval_s=10, clock=clock)
    timer = WindowedStageTimer()
    for second in range(1, 26):
        clock.now = float(second)
        timer.record("invoke", 0.02)
        telemetry.update({"frames": second * 10, "dropped": 1, "corrupt": 0, "reconnects": 0, "quality": None}, timer)
    telemetry.close({"frames": 250, "dropped": 1, "corrupt": 0, "reconnects": 0, "quality": None}, timer, "--duration 25 s reached")
    lines = [json.loads(x) for x in log.read_text().splitlines()]
    assert [x["frames"] for x in lines] == [100, 200, 250]
    assert lines[0]["fps"] == 10.0 and lines[0]["stages_ms"]["invoke"] == {"count": 10, "p50_ms": 20.0, "p99_ms": 20.0}
    assert lines[-1]["event"] == "stopped: --duration 25 s reached" and lines[0]["rss_mb"] > 0


def test_log_json_keeps_one_backup_so_it_never_fills_the_disk(tmp_path):
    clock = FakeClock()
    log = tmp_path / "run.jsonl"
    telemetry = Telemetry(log_json=log, log_interval_s=1, log_max_bytes=600, clock=clock)
    timer = WindowedStageTimer()
    for second in range(1, 30):
        clock.now = float(second)
        telemetry.update({"frames": second}, timer)
    assert log.stat().st_size < 1200 and log.with_name("run.jsonl.1").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.jsonl", "run.jsonl.1"]


def test_run_writes_log_lines_with_the_stop_reason(tmp_path, uint8_model):
    log = tmp_path / "run.jsonl"
    report = run(RunConfig(model=str(uint8_model), frames=12, log_json=str(log), threads=1),
                 source=SyntheticSource((64, 64), loop=True))
    last = json.loads(log.read_text().splitlines()[-1])
    assert last["frames"] == report.frames == 12 and last["event"] == "stopped: --frames 12 reached"
    assert last["stages_ms"]["invoke"]["count"] >= 1


def test_windowed_timer_keeps_memory_flat_and_totals_exact():
    timer = WindowedStageTimer(window=100)
    for i in range(1000):
        timer.record("invoke", i / 1000.0)
    s = timer.summary()["invoke"]
    assert s["count"] == 1000 and s["max_ms"] == pytest.approx(999.0) and s["mean_ms"] == pytest.approx(499.5)
    assert s["p50_ms"] == pytest.approx(949.5)  # percentiles over the last 100 samples
    assert list(timer.since("invoke", 995)) == pytest.approx([0.995, 0.996, 0.997, 0.998, 0.999])
    assert len(timer.since("invoke", 0)) == 100 and timer.last_ms("invoke") == pytest.approx(999.0)


# --- saving for weeks --------------------------------------------------------------------------------------
def frame(v: int) -> np.ndarray:
    return np.full((8, 8, 3), v, np.uint8)


def test_keep_rotates_and_a_restart_continues_the_numbering(tmp_path):
    sink = ImageFolderSink(tmp_path, keep=3)
    for v in range(5):
        sink.write(frame(v))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["frame_000002.png", "frame_000003.png", "frame_000004.png"]
    (tmp_path / ".frame_000005.png.abc.tmp.png").write_bytes(b"half")  # a power cut mid-write
    restarted = ImageFolderSink(tmp_path, keep=3)
    restarted.write(frame(9))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["frame_000003.png", "frame_000004.png", "frame_000005.png"]


def test_max_bytes_rotates_by_size(tmp_path):
    sink = ImageFolderSink(tmp_path, max_bytes=1)  # every new frame pushes out the older ones
    for v in range(4):
        sink.write(frame(v))
    assert [p.name for p in tmp_path.iterdir()] == ["frame_000003.png"] and sink.deleted == 3


def test_low_disk_stops_saving_once_and_denoising_goes_on(tmp_path, uint8_model):
    notices = []
    free = {"bytes": 10 * 2**30}
    sink = open_sink(str(tmp_path / "frames"), keep=100, min_free_bytes=2**20, free_bytes=lambda p: free["bytes"],
                     on_notice=notices.append)
    sink.check_every_s = 0.0
    report = run(RunConfig(model=str(uint8_model), frames=6, threads=1), source=SyntheticSource((64, 64), loop=True), sink=sink)
    assert report.saving["saved"] == 6 and notices == []
    free["bytes"] = 1000  # nearly full
    report = run(RunConfig(model=str(uint8_model), frames=6, threads=1), source=SyntheticSource((64, 64), loop=True), sink=sink)
    assert report.frames == 6 and report.saving["saving"] is False and report.saving["saved"] == 6
    assert len(notices) == 1 and "saving paused" in notices[0] and "--min-free-mb" in notices[0]
    assert len(list((tmp_path / "frames").iterdir())) == 6
    free["bytes"] = 10 * 2**30
    sink.write(frame(1))
    assert sink.saving and len(notices) == 2 and "resumed" in notices[1]


def test_a_full_disk_closes_the_video_and_keeps_what_was_written(tmp_path):
    clock = FakeClock()
    free = {"bytes": 2**30}
    notices = []
    video = tmp_path / "out.mp4"
    guard = DiskGuard(VideoFileSink(video, fps=10), video, 2**20, free_bytes=lambda p: free["bytes"], clock=clock,
                      on_notice=notices.append)
    for i in range(5):
        clock.now = float(i)
        guard.write(np.full((32, 32, 3), 100, np.uint8))
    free["bytes"] = 0
    clock.now = 10.0
    guard.write(np.full((32, 32, 3), 100, np.uint8))
    guard.write(np.full((32, 32, 3), 100, np.uint8))
    guard.close()
    assert video.stat().st_size > 0 and guard.saved == 5 and len(notices) == 1 and "saving stopped" in notices[0]


def test_write_errors_are_counted_and_enospc_stops_saving(tmp_path):
    class Failing(FrameSink):
        def __init__(self, err):
            self.err = err

        def write(self, *a, **k):
            raise OSError(self.err, "boom")

    notices = []
    flaky = DiskGuard(Failing(errno.EACCES), tmp_path, 0, on_notice=notices.append)
    flaky.write(frame(0))
    flaky.write(frame(0))
    assert flaky.save_errors == 2 and flaky.saving and len(notices) == 1
    full = DiskGuard(Failing(errno.ENOSPC), tmp_path, 0, on_notice=notices.append)
    full.write(frame(0))
    assert not full.saving and full.stats()["save_errors"] == 1


def test_rotation_options_need_a_folder(tmp_path):
    with pytest.raises(EdgeDenoiseError, match="--keep and --max-save-mb rotate a folder"):
        open_sink(str(tmp_path / "out.mp4"), keep=10)


def test_a_lost_camera_is_marked_so_the_cli_can_exit_non_zero(uint8_model):
    source = LiveSource.from_capture("v4l2:///dev/video0", ScriptedCapture([(True, bgr(5, 64, 64))]), reconnect_s=0.1)
    report = run(RunConfig(model=str(uint8_model), threads=1), source=source)
    assert report.source_lost and "unplugged" in report.stop_reason
    finished = run(RunConfig(model=str(uint8_model), frames=2, threads=1), source=SyntheticSource((64, 64), loop=True))
    assert not finished.source_lost


def test_one_synthetic_source_plays_the_bundled_photos_once_or_forever():
    from edge_runtime.sources import open_source

    demo = open_source("demo://", size=(48, 64))
    frames = list(demo)
    assert isinstance(demo, SyntheticSource) and demo.stop_reason == "end of demo:// clip"
    assert len(frames) % 3 == 0 and {f.shape for f in frames} == {(48, 64, 3)}
    endless = SyntheticSource((32, 32), hold=1, loop=True)
    assert all(endless.read() is not None for _ in range(3 * len(frames)))
    assert len(list(SyntheticSource((32, 32), loop=True, limit=5))) == 5


def test_peak_memory_is_read_one_way_and_is_never_below_the_current():
    from edge_runtime.device_info import peak_rss_bytes, rss_bytes

    now = rss_bytes()
    assert now > 0 and peak_rss_bytes() >= now
