"""A short soak: 3,000 frames through the run loop with no errors, flat memory and no latency drift."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from tflite_fixtures import tflite_dir, uint8_model  # noqa: F401

ROOT = Path(__file__).resolve().parents[1]


def test_a_short_soak_has_no_errors_and_flat_memory(tmp_path, uint8_model):
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import soak

    result = soak.main(["--model", str(uint8_model), "--frames", "3000", "--rss-every", "250",
                        "--out", str(tmp_path / "soak.json")])
    assert result["frames"] == 3000 and result["errors"] == 0
    assert result["rss_growth_mb"] < 20, result["rss_samples"]
    assert json.loads((tmp_path / "soak.json").read_text())["frames"] == 3000
