"""Tiling cuts frames into model-sized tiles and blends them back exactly."""

import numpy as np
import pytest

from edge_runtime.tiling import TileMerger, blend_window, merge_tiles, pad_to_tile, plan_tiles, split_tiles, tile_starts


@pytest.mark.parametrize("hw,tile,overlap", [
    ((480, 640), (64, 64), 16), ((100, 130), (64, 64), 8), ((64, 64), (64, 64), 8),
    ((65, 200), (64, 48), 0), ((129, 129), (64, 64), 63), ((300, 97), (96, 96), 32),
])
def test_identity_tiles_reassemble_the_image_exactly(hw, tile, overlap):
    image = np.random.default_rng(1).integers(0, 256, (*hw, 3)).astype(np.uint8)
    merged = merge_tiles(split_tiles(image, tile, overlap), hw, tile, overlap)
    assert merged.shape == (*hw, 3)
    assert np.array_equal(np.rint(merged).astype(np.uint8), image)
    assert np.abs(merged - image).max() < 0.01  # float32 rounding only


def test_tiles_cover_every_pixel_and_stay_inside():
    positions = plan_tiles((250, 333), (64, 64), 16)
    cover = np.zeros((250, 333), int)
    for y, x in positions:
        assert 0 <= y <= 250 - 64 and 0 <= x <= 333 - 64
        cover[y:y + 64, x:x + 64] += 1
    assert cover.min() >= 1


def test_tile_starts_pin_the_last_tile_to_the_edge():
    assert tile_starts(64, 64, 8) == [0]
    assert tile_starts(100, 64, 8) == [0, 36]
    assert tile_starts(200, 64, 16)[-1] == 136


def test_blend_window_is_positive_and_ramps_at_the_edges():
    w = blend_window((64, 64), 16)
    assert w.min() > 0 and w.max() == 1.0 and w[0, 0, 0] < w[32, 32, 0]


def test_smaller_images_are_padded_to_one_tile_and_cropped_back():
    image = np.random.default_rng(2).integers(0, 256, (40, 50, 3)).astype(np.uint8)
    padded = pad_to_tile(image, (64, 64))
    assert padded.shape == (64, 64, 3) and np.array_equal(padded[:40, :50], image)


def test_merger_reuses_buffers_between_frames():
    merger = TileMerger((100, 100), (64, 64), 8)
    for value in (1.0, 3.0):
        merger.reset()
        for y, x in merger.positions:
            merger.add(np.full((64, 64, 3), value, np.float32), y, x)
        assert np.allclose(merger.result(), value)


def test_bad_overlap_is_refused():
    with pytest.raises(ValueError):
        tile_starts(100, 64, 64)
