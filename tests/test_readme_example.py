"""README's Python example is examples/denoise_samples.py, word for word, and it runs on a device install."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "denoise_samples.py"

# What a device install lacks: the example must not need any of it, not even indirectly.
NO_TRAINING_STACK = ("import runpy, sys\n"
                     "for name in ('tensorflow', 'keras', 'train', 'convert'):\n"
                     "    sys.modules[name] = None  # import raises ImportError\n"
                     "sys.argv = sys.argv[1:]\n"
                     "runpy.run_path(sys.argv[0], run_name='__main__')\n")


def readme_python_blocks() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    return re.findall(r"```python\n(.*?)```", text, flags=re.S)


def test_the_readme_shows_the_example_file_verbatim_in_at_most_15_lines():
    example = EXAMPLE.read_text(encoding="utf-8")
    assert example in readme_python_blocks()
    assert len(example.splitlines()) <= 15


def test_the_example_denoises_the_bundled_samples_without_tensorflow(tmp_path):
    """Run from the clone, as README says, with TensorFlow, Keras, train and convert unimportable."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    out = tmp_path / "denoised"
    done = subprocess.run([sys.executable, "-c", NO_TRAINING_STACK, str(EXAMPLE), "edge_runtime/samples", str(out)],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    samples = sorted((ROOT / "edge_runtime" / "samples").rglob("*.jpg"))
    written = sorted(out.glob("frame_*.png"))
    assert len(written) == len(samples) > 0
    assert re.search(rf"\w+: {len(samples)} frames, [\d.]+ ms p50 / [\d.]+ ms p90 per frame", done.stdout), done.stdout


def test_a_denoiser_takes_frames_of_any_size_and_reports_what_it_timed():
    """The facade behind the example: a shipped model by name, tiles for files, the frame's own size back."""
    import numpy as np

    from edge_runtime import Denoiser

    denoiser = Denoiser("autoencoder", precision="int8", size=(128, 128))
    assert denoiser.report() == "autoencoder_int8_128x128: no frames denoised"
    frame_rgb = np.random.default_rng(0).integers(0, 256, (150, 200, 3), dtype=np.uint8)
    for _ in range(3):
        out = denoiser.denoise(frame_rgb)
    assert out.shape == frame_rgb.shape and out.dtype == np.uint8
    summary = denoiser.summary()  # one sample per frame and stage (a frame's tiles add up)
    assert {stage: s["count"] for stage, s in summary.items()} == {"preprocess": 3, "invoke": 3, "postprocess": 3, "frame": 3}
    assert summary["frame"]["p50_ms"] >= summary["invoke"]["p50_ms"] > 0
    assert denoiser.report().startswith("autoencoder_int8_128x128: 3 frames, ")
