"""benchmarks/paired_latency.py: files timed in turns through the call `run` makes, a uint8 frame in and out."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tflite_fixtures import float_model, tflite_dir, uint8_model  # noqa: F401

ROOT = Path(__file__).resolve().parents[1]


def test_two_files_are_timed_in_turns_through_the_frame_path(uint8_model, float_model, tmp_path):  # noqa: F811
    out = tmp_path / "paired.json"
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "paired_latency.py"), str(uint8_model),
                           str(float_model), "--rounds", "3", "--warmup", "1", "--out", str(out)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(out.read_text())
    assert result["call"] == "denoise_frame(uint8)" and result["size"] == [64, 64]
    first, second = result["rows"]
    assert first["paired_diff_p50_ms"] == 0.0  # the first file is the reference
    assert second["p50_ms"] > 0 and second["min_ms"] <= second["p50_ms"]
