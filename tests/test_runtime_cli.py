"""The device commands as users type them: `run` and `denoise`, without TensorFlow, one line per mistake."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import cv2
import numpy as np
from tflite_fixtures import gray_model, tflite_dir, uint8_model  # noqa: F401

ROOT = Path(__file__).resolve().parents[1]

# Runs the CLI with tensorflow, keras, train and convert unimportable, as on a device with the `edge` extra only.
NO_TF = textwrap.dedent("""
    import sys
    BLOCKED = {"tensorflow", "keras", "tf_keras", "train", "convert"}

    class Blocker:
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in BLOCKED:
                raise ImportError(f"{name} is blocked in this test")
            return None

    sys.meta_path.insert(0, Blocker())
    sys.argv = ["edge-denoise"] + sys.argv[1:]
    from edge_denoise.cli import run
    try:
        run()
    finally:
        loaded = sorted(m for m in sys.modules if m.split(".")[0] in BLOCKED)
        assert not loaded, loaded
""")


def cli(*args: str, no_tf: bool = True) -> subprocess.CompletedProcess:
    env = {**os.environ, "COLUMNS": "200"}
    cmd = [sys.executable, "-c", NO_TF, *args] if no_tf else [sys.executable, "-m", "edge_denoise", *args]
    return subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)


def test_run_works_with_tensorflow_blocked_and_writes_the_report(tmp_path, uint8_model):
    from test_sources import make_video

    video = make_video(tmp_path / "clip.mp4", n=10, size=(128, 96))
    r = cli("run", "--source", str(video), "--model", str(uint8_model), "--frames", "4",
            "--add-noise", "gaussian:0.1", "--report", str(tmp_path / "r.json"))
    assert r.returncode == 0, r.stderr
    assert "invoke" in r.stdout and "p99 ms" in r.stdout
    data = json.loads((tmp_path / "r.json").read_text())
    assert data["frames"] == 4 and data["stages_ms"]["invoke"]["p90_ms"] > 0


def write_folder(folder: Path) -> Path:
    folder.mkdir(parents=True)
    for i in range(3):
        cv2.imwrite(str(folder / f"im{i}.png"), np.full((80, 90, 3), 40 * i + 10, np.uint8))
    (folder / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    return folder


def test_denoise_folder_names_the_bad_file_skips_existing_and_never_overwrites(tmp_path, uint8_model):
    photos = write_folder(tmp_path / "photos")
    before = {p.name: p.read_bytes() for p in photos.iterdir()}
    out = tmp_path / "out"
    r = cli("denoise", str(photos), "--out", str(out), "--model", str(uint8_model))
    assert r.returncode == 0, r.stderr
    assert "broken.jpg" in r.stderr and "3 written, 0 already there, 1 skipped" in r.stdout
    written = sorted(p.name for p in (out / "photos").iterdir())
    assert written == ["im0.png", "im1.png", "im2.png"]
    assert cv2.imread(str(out / "photos" / "im1.png")).shape == (80, 90, 3)
    assert {p.name: p.read_bytes() for p in photos.iterdir()} == before
    again = cli("denoise", str(photos), "--out", str(out), "--model", str(uint8_model))
    assert "0 written, 3 already there (--overwrite to redo)" in again.stdout
    redo = cli("denoise", str(photos), "--out", str(out), "--model", str(uint8_model), "--overwrite")
    assert "3 written" in redo.stdout


def test_denoise_refuses_to_write_over_its_inputs(tmp_path, uint8_model):
    photos = write_folder(tmp_path / "photos")
    r = cli("denoise", str(photos / "im0.png"), "--out", str(photos), "--model", str(uint8_model))
    assert "would overwrite an input" in r.stderr and r.returncode == 1
    assert not any(p.name.startswith(".") for p in photos.iterdir())


def test_denoise_a_video_writes_every_frame(tmp_path, uint8_model):
    from test_sources import make_video

    video = make_video(tmp_path / "clip.avi", n=5, size=(100, 80), fourcc="MJPG")
    r = cli("denoise", str(video), "--out", str(tmp_path / "out"), "--model", str(uint8_model))
    assert r.returncode == 0, r.stderr
    cap = cv2.VideoCapture(str(tmp_path / "out" / "clip.avi"))
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 5


def test_wrong_shaped_model_is_one_red_line(tmp_path, gray_model):
    r = cli("run", "--source", str(tmp_path), "--model", str(gray_model))
    assert r.returncode == 2
    lines = [line for line in r.stderr.splitlines() if line.strip() and "XNNPACK" not in line]
    assert len(lines) == 1 and "is not [1, H, W, 3]" in lines[0] and "Traceback" not in r.stderr


def test_user_mistakes_never_print_a_traceback(tmp_path, uint8_model):
    cases = [
        (["run", "--camera", "7", "--model", str(uint8_model)], "cameras present"),
        (["run", "--model", str(uint8_model)], "no input"),
        (["run", "--source", "x.txt", "--model", str(uint8_model)], "neither an image"),
        (["run", "--demo", "--model", str(tmp_path / "missing.tflite")], "no such model file"),
        (["run", "--source", str(tmp_path), "--model", str(uint8_model), "--add-noise", "blur:3"], "bad noise spec"),
        (["run", "--source", str(tmp_path), "--model", str(uint8_model), "--display"], "--display"),
    ]
    for args, expected in cases:
        r = cli(*args)
        assert r.returncode == 2 and expected in r.stderr and "Traceback" not in r.stderr, (args, r.stderr)


def test_demo_runs_on_the_bundled_photos(tmp_path, uint8_model):
    r = cli("run", "--demo", "--model", str(uint8_model), "--frames", "5", "--report", str(tmp_path / "d.json"))
    assert r.returncode == 0, r.stderr
    data = json.loads((tmp_path / "d.json").read_text())
    assert data["source"] == "demo://" and data["quality"]["noise"] == "gaussian:0.1" and data["frames"] == 5


# What a plain run (no --add-noise, no metrics) must not load: each is memory a small device pays in every
# process (numpy.random pulls in OpenSSL through hashlib; importlib.metadata pulls in email and zipfile;
# np.percentile pulls in numpy.ma). benchmarks/runtime_fps.py measures the peak these count in.
LEAN = textwrap.dedent("""
    import sys
    sys.argv = ["edge-denoise"] + sys.argv[1:]
    from edge_denoise.cli import run
    try:
        run()
    finally:
        heavy = ("numpy.random", "numpy.ma", "importlib.metadata", "hashlib", "email", "skimage", "scipy")
        print("HEAVY", sorted(m for m in heavy if m in sys.modules))
""")


def test_a_plain_run_loads_no_module_it_has_no_use_for(tmp_path, uint8_model):
    from test_sources import make_video

    video = make_video(tmp_path / "clip.mp4", n=6, size=(128, 96))
    r = subprocess.run([sys.executable, "-c", LEAN, "run", "--source", str(video), "--model", str(uint8_model),
                        "--frames", "4", "--report", str(tmp_path / "r.json")],
                       cwd=ROOT, env={**os.environ, "COLUMNS": "200"}, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "HEAVY []" in r.stdout
