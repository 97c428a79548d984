"""Camera-like noise (edge_runtime.camera_noise, the noise kind ``camera:GAIN``) behaves like a sensor's, not like white noise."""

import numpy as np
import pytest

from edge_runtime.camera_noise import camera_noise, demosaic, inverse_smoothstep, mosaic, smoothstep
from edge_runtime.errors import EdgeDenoiseError
from edge_runtime.noise import add_noise, parse_noise


def _grey(level: float, side: int = 96) -> np.ndarray:
    return np.full((side, side, 3), level, np.float32)


def _ramp(side: int = 96) -> np.ndarray:
    y, x = np.mgrid[0:side, 0:side].astype(np.float32) / side
    return np.stack([0.2 + 0.6 * x, 0.3 + 0.4 * y, 0.5 * (x + y) / 2 + 0.2], axis=-1)


def test_tone_curve_and_its_inverse_round_trip():
    x = np.linspace(0, 1, 101)
    assert np.allclose(smoothstep(inverse_smoothstep(x)), x, atol=1e-6)


def test_demosaic_of_a_mosaic_gives_back_a_smooth_image():
    image = _ramp()
    back = demosaic(mosaic(image))
    assert np.abs(back - image)[2:-2, 2:-2].max() < 0.02  # RGGB in, RGB out, channels in order


def test_camera_noise_keeps_shape_range_and_repeats_with_a_seed():
    image = _ramp(64)
    a = camera_noise(image, 20, np.random.default_rng(3))
    b = camera_noise(image, 20, np.random.default_rng(3))
    assert a.shape == image.shape and a.dtype == np.float32
    assert a.min() >= 0 and a.max() <= 1
    assert np.array_equal(a, b)


def test_higher_gain_is_noisier():
    image = _grey(0.4)
    errors = [np.abs(camera_noise(image, gain, np.random.default_rng(0)) - image).mean() for gain in (2, 16, 100)]
    assert errors[0] < errors[1] < errors[2]


def test_camera_noise_is_spatially_and_colour_correlated_unlike_white_noise():
    image = _grey(0.35, 128)
    residual = camera_noise(image, 60, np.random.default_rng(1)) - image
    residual -= residual.mean(axis=(0, 1))
    white = add_noise(image, "gaussian:0.05", 1) - image

    def neighbour_corr(r):
        return np.corrcoef(r[:, :-1, 1].ravel(), r[:, 1:, 1].ravel())[0, 1]

    def colour_corr(r):
        return abs(np.corrcoef(r[..., 0].ravel(), r[..., 1].ravel())[0, 1])

    assert neighbour_corr(residual) > 0.2 > abs(neighbour_corr(white))  # demosaicing spreads each raw sample
    assert colour_corr(residual) > 0.1 > colour_corr(white)  # the colour matrix mixes channels


def test_shadows_get_relatively_more_noise_than_highlights():
    rng = np.random.default_rng(2)
    dark, bright = _grey(0.1), _grey(0.7)
    snr_dark = 0.1 / (camera_noise(dark, 30, rng) - dark).std()
    snr_bright = 0.7 / (camera_noise(bright, 30, rng) - bright).std()
    assert snr_dark < snr_bright  # shot noise: SNR grows with the signal


def test_camera_is_a_noise_kind_with_ranges_and_presets():
    spec = parse_noise("camera:8-64+jpeg:70")
    assert [s.kind for s in spec.steps] == ["camera", "jpeg"]
    noisy = spec.apply(_ramp(32)[None].repeat(2, 0), np.random.default_rng(0))
    assert noisy.shape == (2, 32, 32, 3)
    assert {kind for _, chain in parse_noise("blind_camera").choices for kind in (s.kind for s in chain.steps)} >= {
        "camera", "gaussian", "saltpepper"}


def test_odd_sides_keep_their_last_row_and_column():
    image = _ramp(33)
    noisy = camera_noise(image, 30, np.random.default_rng(0))
    assert noisy.shape == image.shape
    assert np.array_equal(noisy[-1], image[-1])


@pytest.mark.parametrize("spec", ["camera:-1", "camera:2000", "camera:x"])
def test_bad_camera_specs_are_one_line(spec):
    with pytest.raises(EdgeDenoiseError, match="camera"):
        parse_noise(spec)
