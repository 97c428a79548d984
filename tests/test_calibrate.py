"""edge-denoise calibrate measures a camera's noise from a still clip, and profile:cam.json replays it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from test_runtime_cli import NO_TF  # the CLI with tensorflow, keras, train and convert unimportable
from edge_runtime.calibrate import (CalibrateConfig, CameraProfile, calibrate, load_profile, noise_variance,
                                    replay_profile, simulate_clip)
from edge_runtime.errors import EdgeDenoiseError
from edge_runtime.noise import add_noise, parse_noise

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "edge_runtime" / "samples" / "Kirmizi_Pistachio" / "kirmizi 1017.jpg"
BLUR = cv2.getGaussianKernel(7, 0.8) @ cv2.getGaussianKernel(7, 0.8).T  # demosaicing-like spatial correlation
CAMERA = CameraProfile(a=(0.003, 0.002, 0.004), b=(2e-4, 1.5e-4, 3e-4),
                       kernel=tuple(map(tuple, BLUR / np.sqrt((BLUR**2).sum()))))


def ramps(h: int = 96, w: int = 128) -> np.ndarray:
    """A still scene whose three channels each run from dark to bright (0.08 to 0.92)."""
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    return np.stack([0.08 + 0.84 * x / w, 0.08 + 0.84 * (1 - x / w), 0.08 + 0.84 * y / h], axis=-1)


def write_clip(folder: Path, frames: list[np.ndarray], suffix: str = ".png") -> str:
    folder.mkdir(parents=True, exist_ok=True)
    for i, frame in enumerate(frames):
        cv2.imwrite(str(folder / f"{i:03d}{suffix}"), frame[..., ::-1])
    return str(folder)


def clip_of(folder: Path, clean01: np.ndarray, profile: CameraProfile = CAMERA, frames: int = 16, seed: int = 0,
            suffix: str = ".png") -> str:
    return write_clip(folder, simulate_clip(clean01, profile, frames, np.random.default_rng(seed)), suffix)


@pytest.fixture(scope="module")
def measured(tmp_path_factory) -> dict:
    """cam.json of 16 PNG frames of the ramps, as a camera with CAMERA's noise recorded them."""
    root = tmp_path_factory.mktemp("cal")
    source = clip_of(root / "clip", ramps())
    return calibrate(CalibrateConfig(source=source, out=str(root / "cam.json"))) | {"_out": root / "cam.json"}


def test_calibrate_recovers_each_channels_a_and_b_within_10_percent(measured):
    for c, name in enumerate("RGB"):
        got = measured["channels"][name]
        assert got["a"] == pytest.approx(CAMERA.a[c], rel=0.10)
        assert got["b"] == pytest.approx(CAMERA.b[c], rel=0.10)
        lo, hi = got["range"]
        assert lo < 0.15 and hi > 0.75  # the intensity range the fit covered
    assert measured["frames"] == 16 and measured["source"].endswith("clip")


def test_calibrate_measures_the_spatial_correlation_and_finds_no_row_noise(measured):
    got = np.array(measured["replay"]["kernel"])  # the blur whose autocorrelation was measured
    assert np.abs(got - np.asarray(CAMERA.kernel)).max() < 0.05
    assert measured["correlation"]["lag1_x"] == pytest.approx(0.66, abs=0.05)  # the blur's own lag-1 correlation
    assert max(measured["row_noise"]["sigma"]) == 0 and max(measured["column_noise"]["sigma"]) == 0
    assert measured["compression"]["lossy"] is False and measured["warnings"] == []


def test_calibrate_writes_the_profile_and_its_plot_next_to_it(measured):
    out: Path = measured["_out"]
    assert json.loads(out.read_text())["format"] == "edge-denoise-camera/1"
    plot = cv2.imread(str(out.with_suffix(".png")))
    assert plot is not None and plot.shape[0] > 100
    assert sorted(p.name for p in out.parent.iterdir() if p.is_file()) == ["cam.json", "cam.png"]  # no temp left


def test_row_noise_and_the_dark_clips_fixed_pattern_are_measured(tmp_path):
    camera = CameraProfile(a=(0.003,) * 3, b=(2e-4,) * 3, row_sigma=(0.004,) * 3, fixed_sigma=(0.003,) * 3)
    source = clip_of(tmp_path / "clip", ramps(), camera, seed=1)
    dark = clip_of(tmp_path / "dark", np.full((96, 128, 3), 0.06, np.float32), camera, seed=2)
    got = calibrate(CalibrateConfig(source=source, dark=dark, out=str(tmp_path / "cam.json")))
    assert got["row_noise"]["sigma"] == pytest.approx([0.004] * 3, rel=0.15)
    assert got["fixed_pattern"]["sigma"] == pytest.approx([0.003] * 3, rel=0.15)
    for c, rows in zip("RGB", got["row_noise"]["sigma"]):  # row offsets are replayed apart, so not counted in b too
        ch = got["channels"][c]
        assert ch["b_fitted"] - ch["b"] == pytest.approx(rows**2 + 1 / (12 * 255**2), rel=1e-3)
        assert ch["b"] == pytest.approx(2e-4, rel=0.2)


def moving(folder: Path) -> str:
    photo = cv2.imread(str(SAMPLE))[..., ::-1].astype(np.float32) / 255.0
    rng = np.random.default_rng(0)
    frames = [simulate_clip(np.roll(photo, 2 * i, axis=1), CAMERA, 1, rng)[0] for i in range(10)]
    return write_clip(folder, frames)


def flickering(folder: Path) -> str:
    rng = np.random.default_rng(0)
    return write_clip(folder, [simulate_clip(ramps() * (1.0 + 0.05 * (i % 2)), CAMERA, 1, rng)[0] for i in range(10)])


@pytest.mark.parametrize("make, says", [
    (moving, "the scene moved between frames"),
    (flickering, "the brightness changed by up to"),
    (lambda d: clip_of(d, ramps() * 0.03), "too dark"),
    (lambda d: clip_of(d, np.clip(ramps() * 3.0 + 0.5, 0, 1)), "saturated"),
    (lambda d: clip_of(d, ramps(), frames=2), "2 frame(s); calibration needs at least 8 frames"),
    (lambda d: clip_of(d, np.full((96, 128, 3), 0.5, np.float32)), "cover only 0.4"),
])
def test_a_clip_that_cannot_be_calibrated_gets_one_line_saying_what_to_change(tmp_path, make, says):
    with pytest.raises(EdgeDenoiseError) as err:
        calibrate(CalibrateConfig(source=make(tmp_path / "clip"), out=str(tmp_path / "cam.json")))
    assert says in str(err.value) and "\n" not in str(err.value)
    assert not (tmp_path / "cam.json").exists()


def test_a_lossy_source_is_calibrated_with_a_warning(tmp_path):
    source = clip_of(tmp_path / "clip", ramps(), suffix=".jpg")
    got = calibrate(CalibrateConfig(source=source, out=str(tmp_path / "cam.json")))
    assert got["compression"]["lossy"] is True
    assert any("lossy compression" in line for line in got["warnings"])


def test_the_replayed_profile_has_the_profiles_variance_and_correlation(measured):
    profile = load_profile(measured["_out"])
    rng = np.random.default_rng(5)
    for level in (0.2, 0.7):
        flat = np.full((128, 128, 3), level, np.float32)
        noise = np.stack([replay_profile(flat, profile, rng) - flat for _ in range(4)])
        expected = noise_variance(flat, profile)[0, 0]  # the measured curve, close to the line a * x + b
        assert noise.var(axis=(0, 1, 2)) == pytest.approx(expected, rel=0.05)
        assert expected == pytest.approx(np.array(profile.a) * level + np.array(profile.b), rel=0.05)
        lag1 = np.mean(noise[:, :, 1:] * noise[:, :, :-1]) / np.mean(noise**2)
        assert lag1 == pytest.approx(measured["correlation"]["lag1_x"], abs=0.05)


def test_profile_noise_kind_replays_a_cam_json_and_names_a_bad_one(measured, tmp_path):
    spec = parse_noise(f"profile:{measured['_out']}")
    flat = np.full((64, 64, 3), 0.5, np.float32)
    noisy = add_noise(flat, spec, 0)
    assert noisy.dtype == np.float32 and 0 <= noisy.min() and noisy.max() <= 1
    assert noisy.std() == pytest.approx(np.sqrt(0.003 * 0.5 + 2e-4), rel=0.2)
    assert len(parse_noise(f"profile:{measured['_out']}@2,gaussian:0.1").choices) == 2
    (tmp_path / "bad.json").write_text("{}")
    with pytest.raises(EdgeDenoiseError, match=r"bad noise spec 'profile:.*bad.json': .*not a camera profile"):
        parse_noise(f"profile:{tmp_path / 'bad.json'}")
    with pytest.raises(EdgeDenoiseError, match="no such camera profile"):
        parse_noise("profile:missing.json")




def test_calibrate_command_runs_without_tensorflow(tmp_path):
    source = clip_of(tmp_path / "clip", ramps(64, 96), frames=8)
    out = tmp_path / "cam.json"
    done = subprocess.run([sys.executable, "-c", NO_TF, "calibrate", "--source", source, "--out", str(out)],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert f"--noise profile:{out}" in done.stdout and out.exists() and out.with_suffix(".png").exists()
    bad = subprocess.run([sys.executable, "-c", NO_TF, "calibrate", "--source", source, "--frames", "3"],
                         cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "--frames 3" in bad.stderr


def test_a_tone_curved_camera_whose_noise_is_no_line_is_replayed_along_its_measured_curve(tmp_path):
    means = tuple(np.linspace(0.0, 1.0, 21))
    hump = tuple(0.008 * m * (1 - m) + 1e-4 for m in means)  # shadows lifted, highlights compressed
    camera = CameraProfile(a=(0.0,) * 3, b=(1e-4,) * 3, curve=((means, hump),) * 3)
    got = calibrate(CalibrateConfig(source=clip_of(tmp_path / "clip", ramps(), camera), out=str(tmp_path / "cam.json")))
    assert any("replay follows the measured curve" in line for line in got["warnings"])
    replayed = load_profile(tmp_path / "cam.json")
    for level in (0.2, 0.5, 0.8):
        flat = np.full((96, 96, 3), level, np.float32)
        noise = np.stack([replay_profile(flat, replayed, np.random.default_rng(i)) - flat for i in range(3)])
        assert noise.var() == pytest.approx(0.008 * level * (1 - level) + 1e-4, rel=0.1)
