"""benchmarks/live_latency.py: the simulated camera behind its frame-age figures, and the script as users run it."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import numpy as np

from tflite_fixtures import tflite_dir, uint8_model  # noqa: F401

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "benchmarks" / "live_latency.py"
spec = importlib.util.spec_from_file_location("live_latency", SCRIPT)
live_latency = importlib.util.module_from_spec(spec)
spec.loader.exec_module(live_latency)


def test_the_simulated_camera_keeps_the_oldest_frames_and_loses_those_that_find_the_queue_full():
    """As V4L2 through OpenCV: read() returns the oldest queued frame; a full queue loses new ones."""
    now = [0.0]
    camera = live_latency.SimulatedCamera(np.zeros((8, 8, 3), np.uint8), fps=10, buffers=2, clock=lambda: now[0])
    now[0] = 0.55  # frames 0-4 exposed at 0.1 s ... 0.5 s; two fit the queue
    first, second = camera.read()[1], camera.read()[1]
    assert (camera.arrived, camera.lost) == (5, 3)
    assert [live_latency.stamp_of(f[..., ::-1]) for f in (first, second)] == [0, 1]  # BGR read, RGB stamped
    assert camera.exposed_at(1) == 0.2


def test_frame_numbers_survive_the_capture_thread(uint8_model):  # noqa: F811
    from edge_runtime.sources import LiveSource

    camera = live_latency.SimulatedCamera(np.full((64, 64, 3), 90, np.uint8), fps=200, buffers=4)
    source = LiveSource.from_capture("simulated://camera", camera, fps=200)
    try:
        stamps = [live_latency.stamp_of(source.read()) for _ in range(5)]
    finally:
        source.close()
    assert stamps == sorted(stamps) and len(set(stamps)) == 5 and stamps[-1] < camera.arrived


def test_the_script_reports_frame_age_and_whether_invoke_lets_other_threads_run(tmp_path, uint8_model):  # noqa: F811
    out = tmp_path / "live.json"
    subprocess.run([sys.executable, str(SCRIPT), str(uint8_model), "--backends", "interpreter", "--fps", "100",
                    "--seconds", "1", "--rounds", "1", "--warmup", "2", "--out", str(out)],
                   check=True, capture_output=True, text=True, cwd=ROOT)
    result = json.loads(out.read_text())
    row = result["rows"][0]
    assert row["backend"] == "interpreter" and row["frames"] > 10
    assert 0 < row["age_ms"]["p50"] <= row["age_ms"]["p90"] <= row["age_ms"]["max"]
    assert 0 < row["others_share_during_invoke"]
    assert result["summary"]["interpreter"]["fps"] == row["fps"]
    assert len(row["ages_ms"]) == row["frames"] - 2 and out.with_suffix(".png").stat().st_size > 0
