"""The run loop: every stage timed, reports written however it stops, cameras that die stop cleanly."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
from test_sources import ScriptedCapture, bgr, make_video
from tflite_fixtures import float_model, tflite_dir, uint8_model  # noqa: F401

from edge_runtime.pipeline import RunConfig, run
from edge_runtime.sources import LiveSource
from edge_runtime.timing import STAGES

ROOT = Path(__file__).resolve().parents[1]


def test_run_on_a_video_stops_at_frames_and_reports_percentiles_per_stage(tmp_path, uint8_model):
    video = make_video(tmp_path / "clip.mp4", n=20, size=(160, 120))
    report_path = tmp_path / "out" / "run.json"
    report = run(RunConfig(source=str(video), model=str(uint8_model), frames=8, report=str(report_path),
                           add_noise="gaussian:0.1", save=str(tmp_path / "den.mp4")))
    assert report.frames == 8 and report.stop_reason == "--frames 8 reached"
    data = json.loads(report_path.read_text())
    for stage in STAGES:
        assert data["stages_ms"][stage]["count"] == 8
        assert {"p50_ms", "p90_ms", "p99_ms"} <= set(data["stages_ms"][stage])
    assert data["fps"] > 0 and data["invoke_fps"] > 0 and data["time_to_first_frame_s"] > 0
    assert data["device"]["runtime"] == "ai-edge-litert" and data["device"]["cores"] >= 1
    assert data["model"]["metadata"]["name"] == "tiny"
    assert data["quality"]["noisy_psnr_mean"] > 0 and data["dropped"] == 0
    assert (tmp_path / "den.mp4").stat().st_size > 0


def test_file_frames_are_all_processed_in_order_with_a_float_model(tmp_path, float_model):
    video = make_video(tmp_path / "clip.mp4", n=6, size=(100, 70))
    out = tmp_path / "frames"
    report = run(RunConfig(source=str(video), model=str(float_model), save=str(out)))
    assert report.frames == 6 and report.stop_reason == "end of video"
    assert sorted(p.name for p in out.iterdir()) == [f"frame_{i:06d}.png" for i in range(6)]


def test_unplugged_camera_stops_cleanly_and_still_writes_the_report(tmp_path, uint8_model):
    capture = ScriptedCapture([(True, bgr(i * 10, 64, 64)) for i in range(5)])
    source = LiveSource.from_capture("v4l2:///dev/video0", capture, reconnect_s=0.2)
    report = run(RunConfig(model=str(uint8_model), report=str(tmp_path / "r.json")), source=source)
    data = json.loads((tmp_path / "r.json").read_text())
    assert "unplugged" in data["stop_reason"]
    assert data["frames"] >= 1 and data["frames"] + data["dropped"] == 5
    assert report.frames == data["frames"]


def test_corrupt_frames_are_skipped_and_counted_in_the_report(tmp_path, uint8_model):
    script = [(True, bgr(1, 64, 64)), (True, np.zeros((0, 0, 3), np.uint8)), (True, bgr(2, 64, 64))]
    source = LiveSource.from_capture("fake", ScriptedCapture(script), reconnect_s=0.05)
    report = run(RunConfig(model=str(uint8_model)), source=source)
    assert report.corrupt == 1 and report.frames + report.dropped == 2


def test_duration_stops_a_live_source(uint8_model):
    class Endless:
        def read(self):
            return True, bgr(5, 64, 64)

        def release(self):
            pass

    source = LiveSource.from_capture("fake", Endless())
    report = run(RunConfig(model=str(uint8_model), duration=0.3), source=source)
    assert report.stop_reason == "--duration 0.3 s reached" and report.frames > 0


SIGTERM_SCRIPT = textwrap.dedent("""
    import sys
    import numpy as np
    from edge_runtime.pipeline import RunConfig, run
    from edge_runtime.sources import LiveSource

    class Endless:
        def read(self):
            return True, np.full((64, 64, 3), 7, np.uint8)
        def release(self):
            pass

    def status(line):
        print("RUNNING", flush=True)

    report = run(RunConfig(model=sys.argv[1], report=sys.argv[2]), source=LiveSource.from_capture("fake", Endless()),
                 on_status=status)
    print("STOPPED", report.stop_reason, flush=True)
""")


def test_sigterm_during_a_run_stops_it_and_writes_the_report(tmp_path, uint8_model):
    report_path = tmp_path / "r.json"
    proc = subprocess.Popen([sys.executable, "-c", SIGTERM_SCRIPT, str(uint8_model), str(report_path)], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "RUNNING"
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert "STOPPED interrupted (SIGTERM)" in out
    data = json.loads(report_path.read_text())
    assert data["stop_reason"] == "interrupted (SIGTERM)" and data["frames"] > 0


def test_report_percentiles_are_numpys_linear_percentiles():
    from edge_runtime.timing import percentiles

    rng = np.random.default_rng(3)
    for n in (1, 2, 7, 1000):
        a = rng.exponential(size=n)
        assert np.allclose(percentiles(a, (0, 50, 90, 99, 100)), np.percentile(a, [0, 50, 90, 99, 100]))


# --- which shipped file a model name resolves to -------------------------------------------------
def _shipped(folder: Path, name: str, precision: str, size: tuple[int, int], io: str = "float32") -> Path:
    path = folder / f"{name}_{precision}_{size[0]}x{size[1]}.tflite"
    path.write_bytes(b"stand-in")  # resolving reads only the sidecar
    path.with_suffix(".json").write_text(json.dumps({"name": name, "precision": precision, "input_size": list(size),
                                                     "io_dtype": io}))
    return path


def test_a_camera_gets_the_dynamic_file_where_int8_failed_the_gate_at_vga_and_is_told(tmp_path, monkeypatch):
    from edge_runtime import zoo
    from edge_runtime.zoo import resolve_model

    monkeypatch.setattr(zoo, "SHIPPED_DIR", tmp_path)
    int8_128 = _shipped(tmp_path, "fastnet", "int8", (128, 128))
    dynamic_vga = _shipped(tmp_path, "fastnet", "dynamic", (480, 640))
    fp16_vga = _shipped(tmp_path, "fastnet", "fp16", (480, 640))
    notes: list[str] = []

    assert resolve_model("fastnet", "int8", live=True, notice=notes.append) == dynamic_vga
    assert notes == ["fastnet has no int8 480x640 file: running fastnet_dynamic_480x640.tflite "
                     "(dynamic: int8 weights, float activations)"]
    assert resolve_model("fastnet", "int8", size=(480, 640)) == dynamic_vga  # asked for by size too
    assert resolve_model("fastnet", "int8", live=False, notice=notes.append) == int8_128  # files: the 128 int8
    assert resolve_model("fastnet", "fp16", live=True, notice=notes.append) == fp16_vga  # fp16 has no fallback
    assert len(notes) == 1


def test_one_resolver_finds_a_conversion_of_ones_own_before_a_shipped_file_of_the_same_name(tmp_path, monkeypatch):
    from edge_runtime import zoo
    from edge_runtime.zoo import resolve_model

    shipped, mine = tmp_path / "shipped", tmp_path / "mine"
    (mine / "u8").mkdir(parents=True), shipped.mkdir()
    monkeypatch.setattr(zoo, "SHIPPED_DIR", shipped)
    _shipped(shipped, "fastnet", "int8", (128, 128))
    local = _shipped(mine, "fastnet", "int8", (128, 128))
    local_uint8 = _shipped(mine / "u8", "fastnet", "int8", (128, 128), io="uint8")

    assert resolve_model("fastnet", "int8", 128, paths=[mine]) == local
    assert resolve_model("fastnet", "int8", (128, 128), io="uint8", paths=[mine]) == local_uint8
    assert resolve_model(str(local)) == local  # a path is taken as given


def test_the_default_model_ships_a_file_for_cameras_and_for_files():
    """The default name resolves, with the default precision, to a gated VGA file for a live camera and
    a 128x128 int8 file for everything else (tiles), all from edge_runtime/models."""
    from edge_runtime.engine import read_metadata
    from edge_runtime.zoo import resolve_model
    from edge_runtime.zoo import DEFAULT_MODEL, SHIPPED_DIR

    camera = resolve_model(DEFAULT_MODEL, "int8", live=True, notice=lambda line: None)
    files = resolve_model(DEFAULT_MODEL, "int8", live=False)
    assert camera.parent == files.parent == SHIPPED_DIR
    assert read_metadata(camera)["input_size"] == [480, 640] and read_metadata(camera)["precision"] in ("int8", "dynamic")
    assert read_metadata(files)["input_size"] == [128, 128] and read_metadata(files)["precision"] == "int8"
    for path in (camera, files):
        gate = read_metadata(path)["gate"]
        assert gate["drop"] <= gate["max_drop"]


def test_every_frame_size_is_read_height_x_width_in_one_way():
    """--size, --model-size and --capture-size share edge_runtime.sizes.parse_size: SIDE or HEIGHTxWIDTH."""
    import pytest

    from edge_runtime.errors import EdgeDenoiseError
    from edge_runtime.sizes import parse_size

    config = RunConfig(model_size="480x640", capture_size="720x1280")
    assert config.model_size == (480, 640) and config.capture_size == (720, 1280)
    assert RunConfig(capture_size="128").capture_size == (128, 128) == parse_size("128")
    with pytest.raises(EdgeDenoiseError, match=r"bad --capture-size '640by480': use SIDE \(e.g. 128\) or HEIGHTxWIDTH"):
        RunConfig(capture_size="640by480")
