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


def blend_ramp(n: int, overlap: int) -> np.ndarray:
    """n float32 weights: a linear ramp over ``overlap`` pixels at each end, 1 inside, never 0."""
    r = np.ones(n, np.float32)
    k = min(overlap, n // 2)
    if k > 0:
        edge = (np.arange(k, dtype=np.float32) + 1.0) / (k + 1.0)
        r[:k] = edge
        r[n - k:] = edge[::-1]
    return r


def blend_window(tile_hw: tuple[int, int], overlap: int) -> np.ndarray:
    """HxWx1 float32 weights: the product of a row ramp and a column ramp (see blend_ramp)."""
    return (blend_ramp(tile_hw[0], overlap)[:, None] * blend_ramp(tile_hw[1], overlap)[None, :])[..., None]


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


class BandMerger:
    """TileMerger's blend in one tile-row of memory, written straight into a uint8 frame.

    Tiles arrive row of tiles by row of tiles, tops in increasing order (the order of
    ``positions``). Once the next row of tiles starts, the image rows above it are final: they are
    normalized, rounded and written to ``out``. A 49 MP frame then needs a float band of one tile's
    height instead of three full-frame float buffers (1.2 GB more). The weights' sum is the product
    of a row sum and a column sum (the window is a product of two ramps), so it is two vectors.
    """

    def __init__(self, hw: tuple[int, int], tile_hw: tuple[int, int], overlap: int):
        self.hw, self.tile_hw = hw, tile_hw
        th, tw = tile_hw
        self.tops = tile_starts(hw[0], th, min(overlap, th - 1))
        self.lefts = tile_starts(hw[1], tw, min(overlap, tw - 1))
        self.positions = [(y, x) for y in self.tops for x in self.lefts]
        self.window = blend_window(tile_hw, overlap)
        sum_y, sum_x = np.zeros(hw[0], np.float32), np.zeros(hw[1], np.float32)
        for y in self.tops:
            sum_y[y:y + th] += blend_ramp(th, overlap)
        for x in self.lefts:
            sum_x[x:x + tw] += blend_ramp(tw, overlap)
        self._inv_y = (1.0 / sum_y).astype(np.float32)[:, None, None]
        self._inv_x = (1.0 / sum_x).astype(np.float32)[None, :, None]
        self._band = np.zeros((th, hw[1], 3), np.float32)
        self._scratch = np.empty((th, hw[1], 3), np.float32)
        self._weighted = np.empty((th, tw, 3), np.float32)
        self._top = 0
        self._out: np.ndarray | None = None

    def start(self, out: np.ndarray) -> None:
        """Begin a frame that ends up in ``out`` (uint8, at most ``hw``; a padded frame's extra is dropped)."""
        self._out, self._top = out, 0
        self._band.fill(0.0)

    def add(self, tile01: np.ndarray, top: int, left: int) -> None:
        """Add one processed tile (float32 HxWx3 in [0, 1]) at its position."""
        if top != self._top:
            self._advance(top)
        tw = self.tile_hw[1]
        np.multiply(tile01, self.window, out=self._weighted)
        self._band[:, left:left + tw] += self._weighted

    def finish(self) -> np.ndarray:
        """Write the last rows; returns ``out``."""
        self._emit(min(self.tile_hw[0], self.hw[0] - self._top))
        return self._out

    def _advance(self, top: int) -> None:
        done = top - self._top
        self._emit(done)
        th = self.tile_hw[0]
        if done < th:  # rows still open move to the top of the band (through scratch: the slices overlap)
            np.copyto(self._scratch[: th - done], self._band[done:])
            np.copyto(self._band[: th - done], self._scratch[: th - done])
        self._band[max(th - done, 0):] = 0.0
        self._top = top

    def _emit(self, rows: int) -> None:
        out = self._out
        lo, hi = self._top, min(self._top + rows, out.shape[0])
        if hi <= lo:
            return
        n, w = hi - lo, out.shape[1]
        seg = self._scratch[:n]
        np.multiply(self._band[:n], self._inv_y[lo:hi], out=seg)
        np.multiply(seg, self._inv_x, out=seg)
        seg *= 255.0
        np.rint(seg, out=seg)
        np.clip(seg, 0, 255, out=seg)
        out[lo:hi] = seg[:, :w]


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
