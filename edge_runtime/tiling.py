"""Full-resolution tiling: cut a frame into overlapping model-sized tiles and blend them back.

Pure numpy. Tiles start every ``tile - overlap`` pixels and the last one is pinned to the far edge,
so every pixel is covered. Overlaps are blended with a ramp that is positive everywhere, and the
merge divides by the summed weights: tiles that agree (an identity model) reassemble the input
exactly, and seams from a real model fade instead of showing a hard edge.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def tile_starts(length: int, tile: int, overlap: int) -> list[int]:
    """Start offsets of tiles of ``tile`` pixels covering ``length`` with at least ``overlap`` shared."""
    if tile <= 0:
        raise ValueError(f"tile must be positive, got {tile}")
    if not 0 <= overlap < tile:
        raise ValueError(f"overlap must be in [0, {tile}), got {overlap}")
    if length <= tile:
        return [0]
    stride = tile - overlap
    starts = list(range(0, length - tile, stride))
    starts.append(length - tile)
    return starts


def plan_tiles(hw: tuple[int, int], tile_hw: tuple[int, int], overlap: int) -> list[tuple[int, int]]:
    """(top, left) of every tile over an image of size ``hw`` (which must be at least ``tile_hw``)."""
    if hw[0] < tile_hw[0] or hw[1] < tile_hw[1]:
        raise ValueError(f"image {hw} is smaller than the tile {tile_hw}: pad it first (pad_to_tile)")
    ov_h = min(overlap, tile_hw[0] - 1)
    ov_w = min(overlap, tile_hw[1] - 1)
    return [(y, x) for y in tile_starts(hw[0], tile_hw[0], ov_h) for x in tile_starts(hw[1], tile_hw[1], ov_w)]


def blend_window(tile_hw: tuple[int, int], overlap: int) -> np.ndarray:
    """HxWx1 float32 weights: a linear ramp over ``overlap`` pixels at each edge, 1 inside, never 0."""
    def ramp(n: int) -> np.ndarray:
        r = np.ones(n, np.float32)
        k = min(overlap, n // 2)
        if k > 0:
            edge = (np.arange(k, dtype=np.float32) + 1.0) / (k + 1.0)
            r[:k] = edge
            r[n - k:] = edge[::-1]
        return r

    return (ramp(tile_hw[0])[:, None] * ramp(tile_hw[1])[None, :])[..., None]


def pad_to_tile(image: np.ndarray, tile_hw: tuple[int, int]) -> np.ndarray:
    """Pad (reflecting the border) so the image is at least one tile in each direction; no copy if it already is."""
    h, w = image.shape[:2]
    ph, pw = max(0, tile_hw[0] - h), max(0, tile_hw[1] - w)
    if ph == 0 and pw == 0:
        return image
    mode = "reflect" if ph < h and pw < w else "edge"
    return np.pad(image, ((0, ph), (0, pw), (0, 0)), mode=mode)


@dataclass
class TileMerger:
    """Accumulates blended tiles for one image size; buffers are allocated once and reused per frame."""

    hw: tuple[int, int]
    tile_hw: tuple[int, int]
    overlap: int

    def __post_init__(self) -> None:
        self.positions = plan_tiles(self.hw, self.tile_hw, self.overlap)
        self.window = blend_window(self.tile_hw, self.overlap)
        self._acc = np.zeros((*self.hw, 3), np.float32)
        self._norm = np.zeros((*self.hw, 1), np.float32)
        th, tw = self.tile_hw
        for y, x in self.positions:
            self._norm[y:y + th, x:x + tw] += self.window
        np.reciprocal(self._norm, out=self._norm)
        self._weighted = np.empty((th, tw, 3), np.float32)

    def reset(self) -> None:
        self._acc.fill(0.0)

    def add(self, tile01: np.ndarray, top: int, left: int) -> None:
        """Add one processed tile (float32 HxWx3, any scale) at its position."""
        th, tw = self.tile_hw
        np.multiply(tile01, self.window, out=self._weighted)
        self._acc[top:top + th, left:left + tw] += self._weighted

    def result(self, out: np.ndarray | None = None) -> np.ndarray:
        """The blended image (float32, same scale as the tiles); ``out`` may be a reusable buffer."""
        out = np.empty_like(self._acc) if out is None else out
        np.multiply(self._acc, self._norm, out=out)
        return out


def split_tiles(image: np.ndarray, tile_hw: tuple[int, int], overlap: int) -> list[tuple[int, int, np.ndarray]]:
    """(top, left, view) for every tile of ``image`` (views, not copies)."""
    th, tw = tile_hw
    return [(y, x, image[y:y + th, x:x + tw]) for y, x in plan_tiles(image.shape[:2], tile_hw, overlap)]


def merge_tiles(tiles, hw: tuple[int, int], tile_hw: tuple[int, int], overlap: int) -> np.ndarray:
    """Blend (top, left, tile) triples back into one float32 image of size ``hw``."""
    merger = TileMerger(hw, tile_hw, overlap)
    for y, x, t in tiles:
        merger.add(np.asarray(t, np.float32), y, x)
    return merger.result()
