"""The noise language: every kind does what its name says, and bad specs say what is wrong."""

import numpy as np
import pytest

from edge_runtime.errors import EdgeDenoiseError
from edge_runtime.noise import KINDS, add_noise, motion_kernel, parse_noise

GRAY = np.full((64, 64, 3), 0.5, np.float32)


def test_gaussian_has_the_requested_sigma():
    out = add_noise(np.full((256, 256, 3), 0.5, np.float32), "gaussian:0.1", rng=0)
    assert abs(float((out - 0.5).std()) - 0.1) < 0.005
    assert out.dtype == np.float32 and out.min() >= 0 and out.max() <= 1


def test_range_draws_a_sigma_per_image_within_the_range():
    batch = np.full((20, 64, 64, 3), 0.5, np.float32)
    sigmas = (add_noise(batch, "gaussian:0.05-0.2", rng=1) - 0.5).std(axis=(1, 2, 3))
    assert sigmas.min() > 0.04 and sigmas.max() < 0.21 and sigmas.std() > 0.01


def test_poisson_noise_shrinks_with_more_photons():
    few = (add_noise(GRAY, "poisson:10", rng=0) - 0.5).std()
    many = (add_noise(GRAY, "poisson:1000", rng=0) - 0.5).std()
    assert abs(few - np.sqrt(0.5 / 10)) < 0.02 and many < few / 5


def test_speckle_is_multiplicative():
    dark = add_noise(np.full((64, 64, 3), 0.1, np.float32), "speckle:0.2", rng=0)
    bright = add_noise(np.full((64, 64, 3), 0.8, np.float32), "speckle:0.2", rng=0)
    assert (bright - 0.8).std() > 5 * (dark - 0.1).std()


def test_saltpepper_sets_the_given_fraction_of_pixels_to_black_or_white():
    out = add_noise(np.full((200, 200, 3), 0.5, np.float32), "saltpepper:0.05", rng=0)
    hit = np.any(out != 0.5, axis=2)
    assert abs(hit.mean() - 0.05) < 0.01
    assert set(np.unique(out[hit])) <= {0.0, 1.0}


def test_motionblur_keeps_flat_areas_and_smears_edges():
    img = np.zeros((64, 64, 3), np.float32)
    img[:, 32:] = 1.0
    out = add_noise(img, "motionblur:9", rng=0)
    assert np.allclose(out[:, :20], 0, atol=1e-6) and np.allclose(out[:, 44:], 1, atol=1e-6)
    assert motion_kernel(9, 30.0).sum() == pytest.approx(1.0)


def test_chain_applies_steps_in_order_and_is_reproducible():
    a = add_noise(GRAY, "motionblur:7+gaussian:0.05", rng=3)
    b = add_noise(GRAY, "motionblur:7+gaussian:0.05", rng=3)
    assert np.array_equal(a, b) and a.std() > 0.03
    assert [s.kind for s in parse_noise("motionblur:7+gaussian:0.05").steps] == ["motionblur", "gaussian"]


def test_unknown_kinds_list_the_valid_ones():
    with pytest.raises(EdgeDenoiseError, match="valid kinds: gaussian, poisson, speckle, saltpepper, motionblur"):
        parse_noise("blur:3")


@pytest.mark.parametrize("kind", list(KINDS))
def test_every_kind_keeps_shape_dtype_and_range(kind):
    value = "5" if kind in ("motionblur", "poisson") else "0.1"
    out = add_noise(GRAY, f"{kind}:{value}", rng=0)
    assert out.shape == GRAY.shape and out.dtype == np.float32 and 0 <= out.min() and out.max() <= 1


@pytest.mark.parametrize(
    "spec, says",
    [
        ("gausian:0.1", "unknown kind 'gausian'"),
        ("gaussian", "needs gaussian:VALUE"),
        ("gaussian:1.5", "out of range"),
        ("gaussian:0.2-0.1", "out of range"),
        ("motionblur:2.5", "whole number"),
        ("", "empty"),
        ("gaussian:0.1+", "unknown kind ''"),
    ],
)
def test_bad_specs_give_one_line_that_names_the_spec_and_what_is_wrong(spec, says):
    with pytest.raises(EdgeDenoiseError) as err:
        parse_noise(spec)
    message = str(err.value)
    assert says in message and "\n" not in message
    assert f"'{spec}'" in message
