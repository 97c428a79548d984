"""A short soak: 3,000 frames through the run loop with no errors, flat memory and no latency drift."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tflite_fixtures import tflite_dir, uint8_model  # noqa: F401

ROOT = Path(__file__).resolve().parents[1]


def test_a_short_soak_has_no_errors_and_flat_memory(tmp_path, uint8_model):
    """benchmarks/soak.py, run as a user runs it (its own process, so its RSS is the loop's alone)."""
    out = tmp_path / "soak.json"
    subprocess.run([sys.executable, str(ROOT / "benchmarks" / "soak.py"), "--model", str(uint8_model), "--frames", "3000",
                    "--rss-every", "250", "--out", str(out)], check=True, capture_output=True, text=True)
    result = json.loads(out.read_text())
    assert result["frames"] == 3000 and result["errors"] == 0
    assert result["rss_growth_mb"] < 20, result["rss_samples"]
