"""The live noise estimate: white noise of sigma s reads s, and `run` reports it and warns once outside the model's range."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge_runtime.noise_level import ESTIMATOR, NoiseMonitor, estimate_noise, noise_range, trained_range

ROOT = Path(__file__).resolve().parents[1]
PHOTO = ROOT / "edge_runtime" / "samples" / "Kirmizi_Pistachio" / "kirmizi 1017.jpg"
MODEL = ROOT / "edge_runtime" / "models" / "autoencoder_fp16_128x128.tflite"


def photo01() -> np.ndarray:
    """A real photo: texture, and a black background where noise is clipped."""
    return cv2.imread(str(PHOTO))[..., ::-1].astype(np.float32) / 255.0


def noisy(image01: np.ndarray, sigma: float, seed: int = 0) -> np.ndarray:
    return np.clip(image01 + np.random.default_rng(seed).normal(0, sigma, image01.shape), 0, 1).astype(np.float32)


@pytest.mark.parametrize("sigma", [0.02, 0.05, 0.1])
def test_white_noise_of_sigma_s_reads_s_on_a_flat_image_and_on_a_photo(sigma):
    flat = np.full((96, 128, 3), 0.5, np.float32)
    assert estimate_noise(noisy(flat, sigma))[0] == pytest.approx(sigma, rel=0.08)
    assert estimate_noise(noisy(photo01(), sigma))[0] == pytest.approx(sigma, rel=0.15)  # black background ignored


def test_uint8_frames_read_like_float_images_and_give_their_brightness():
    frame = np.rint(noisy(np.full((120, 160, 3), 0.3, np.float32), 0.05) * 255).astype(np.uint8)
    sigma, brightness = estimate_noise(frame)
    assert sigma == pytest.approx(0.05, rel=0.08) and brightness == pytest.approx(0.3, abs=0.01)
    assert estimate_noise(np.zeros((480, 640, 3), np.uint8)) == (0.0, 0.0)  # a black frame: nothing to read
    # uint8 is read in exact integers, float in float32: ties at the median of the 8-bit band may fall apart
    # differently, by up to 1.4 % here (2.8 % when uint8 was read in float32 too)
    for sigma in (0.01, 0.03, 0.1):
        photo8 = np.rint(noisy(photo01(), sigma) * 255).astype(np.uint8)
        assert estimate_noise(photo8)[0] == pytest.approx(estimate_noise(photo8.astype(np.float32) / 255)[0], rel=0.02)


def test_monitor_reads_every_nth_frame_and_warns_once_above_the_trained_range():
    monitor = NoiseMonitor(every=3, trained=(0.01, 0.05))
    clean, loud = noisy(np.full((64, 64, 3), 0.5, np.float32), 0.03), noisy(np.full((64, 64, 3), 0.5, np.float32), 0.2)
    lines = [monitor.observe(i, clean if i < 6 else loud) for i in range(12)]
    assert monitor.samples == 4  # frames 0, 3, 6, 9
    warnings = [line for line in lines if line]
    assert len(warnings) == 1 and "above the range this model was trained for" in warnings[0]
    assert monitor.snapshot()["outside"] and monitor.summary()["outside_samples"] == 2
    assert monitor.summary()["sigma_max"] == pytest.approx(0.2, rel=0.1)


def test_a_model_without_a_trained_range_is_never_warned_about():
    monitor = NoiseMonitor(every=1, trained=trained_range({"noise": "gaussian:0.1"}))  # a file from before the field
    assert monitor.trained is None
    assert monitor.observe(0, noisy(np.full((64, 64, 3), 0.5, np.float32), 0.3)) is None
    assert trained_range({"noise_range": {"sigma": [0.01, 0.1], "estimator": "another/1"}}) is None


def test_noise_range_records_the_estimators_span_over_training_noise():
    images = np.stack([noisy(np.full((64, 64, 3), 0.5, np.float32), s, i) for i, s in enumerate((0.02, 0.1))])
    got = noise_range(images)
    assert got["estimator"] == ESTIMATOR and got["images"] == 2
    assert got["sigma"] == pytest.approx([0.02, 0.1], rel=0.1)
    assert trained_range({"noise_range": got}) == tuple(got["sigma"])


def test_run_reports_the_noise_level_and_warns_once_when_it_leaves_the_models_range(tmp_path):
    from edge_runtime.pipeline import RunConfig, run

    model = tmp_path / MODEL.name
    shutil.copy(MODEL, model)
    meta = json.loads(MODEL.with_suffix(".json").read_text())
    meta["noise_range"] = {"sigma": [0.005, 0.02], "estimator": ESTIMATOR, "images": 8}
    model.with_suffix(".json").write_text(json.dumps(meta))
    frames = tmp_path / "frames"
    frames.mkdir()
    for i in range(4):
        cv2.imwrite(str(frames / f"{i}.png"), np.rint(noisy(np.full((128, 128, 3), 0.5, np.float32), 0.1, i) * 255))
    notices = []
    report = run(RunConfig(source=str(frames), model=str(model), log_json=str(tmp_path / "log.jsonl")),
                 on_notice=notices.append)
    level = report.noise_level
    assert level["samples"] == 1 and level["last"] == pytest.approx(0.1, rel=0.1)
    assert level["trained_range"] == [0.005, 0.02] and level["outside_samples"] == 1
    assert sum("above the range this model was trained for" in n for n in notices) == 1
    last = json.loads((tmp_path / "log.jsonl").read_text().splitlines()[-1])
    assert last["noise"]["sigma"] == pytest.approx(0.1, rel=0.1) and last["noise"]["outside"] is True


def test_the_noise_level_is_on_the_dashboard_and_in_the_status_line():
    import urllib.request

    from edge_runtime.noise_level import status_text
    from edge_runtime.pipeline import WindowedStageTimer
    from edge_runtime.telemetry import Telemetry

    noise = {"sigma": 0.08, "brightness": 0.02, "outside": True}  # the light failed: dark, noisy, out of range
    telemetry = Telemetry(port=0)
    try:
        telemetry.update({"frames": 1, "noise": noise}, WindowedStageTimer())
        text = urllib.request.urlopen(telemetry.url, timeout=5).read().decode()
    finally:
        telemetry.close()
    for line in ("edge_denoise_noise_sigma 0.08", "edge_denoise_frame_brightness 0.02",
                 "edge_denoise_noise_outside_trained_range 1.0"):
        assert line in text
    assert status_text(noise) == "noise 0.0800!"  # ! : outside the model's trained range


def test_convert_records_the_training_noises_range_for_run_to_compare_with(tmp_path):
    from test_convert import config_for, make_run

    from convert import convert_run
    from edge_runtime.engine import read_metadata

    report = convert_run(config_for(make_run(tmp_path / "run"), tmp_path / "out"), log=lambda s: None)
    meta = read_metadata(report.files[0]["file"])
    low, high = trained_range(meta)  # the run's training noise is gaussian:0.1
    assert meta["noise_range"]["images"] >= 3 and 0.05 < low <= high < 0.15
