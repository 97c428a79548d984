"""Property-based tests: parsers only ever raise EdgeDenoiseError, tiles reassemble, splits stay put."""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edge_runtime.errors import EdgeDenoiseError
from edge_runtime.noise import KINDS, parse_noise
from edge_runtime.sources import parse_uri
from edge_runtime.tiling import merge_tiles, pad_to_tile, plan_tiles, split_tiles
from train.data import SPLITS, make_manifest, split_of

FAST = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# --- noise specs -----------------------------------------------------------------------------------
@st.composite
def noise_steps(draw):
    kind = draw(st.sampled_from(sorted(KINDS)))
    lo, hi, integer, _ = KINDS[kind]
    if integer:
        a, b = sorted(draw(st.integers(int(lo), int(hi))) for _ in range(2))
    else:
        a, b = sorted(draw(st.floats(lo, hi, allow_nan=False)) for _ in range(2))
    return kind, a, b


def spec_text(steps) -> str:
    return "+".join(f"{k}:{a!r}" if a == b else f"{k}:{a!r}-{b!r}" for k, a, b in steps)


@FAST
@given(st.lists(noise_steps(), min_size=1, max_size=4))
def test_valid_noise_specs_round_trip_through_their_text(steps):
    spec = parse_noise(spec_text(steps))
    assert [(s.kind, s.low, s.high) for s in spec.steps] == [(k, float(a), float(b)) for k, a, b in steps]
    again = parse_noise(str(spec))
    assert again.steps == spec.steps
    assert parse_noise(spec_text([(s.kind, s.low, s.high) for s in spec.steps])).steps == spec.steps


SPEC_PIECES = st.sampled_from(["gaussian", "poisson", "speckle", "saltpepper", "motionblur", ":", "+", "-", ".", "e",
                               "E", "0", "1", "7", "0.1", "1e400", " ", "\x00", "²", "٣", "é", "\n", "nan", "inf"])


@FAST
@given(st.one_of(st.text(max_size=40), st.lists(SPEC_PIECES, max_size=12).map("".join)))
def test_noise_parser_never_raises_anything_but_one_line_errors(text):
    try:
        spec = parse_noise(text)
    except EdgeDenoiseError as exc:
        assert str(exc).startswith("bad noise spec")
    else:
        assert all(KINDS[s.kind][0] <= s.low <= s.high <= KINDS[s.kind][1] for s in spec.steps)


# --- source URIs -----------------------------------------------------------------------------------
URI_PIECES = st.sampled_from(["v4l2://", "picamera2://", "csi://", "rtsp://", "file://", "demo://", "foo://", "://",
                              "/dev/video", "0", "12", "²", "-1", "*", "?", "[", ".jpg", ".mp4", ".txt", "/", "\\",
                              " ", "\x00", "é", "9" * 30])


@FAST
@given(st.one_of(st.text(max_size=30), st.lists(URI_PIECES, max_size=6).map("".join), st.integers(), st.booleans()))
def test_uri_parser_never_raises_anything_but_one_line_errors(uri):
    try:
        spec = parse_uri(uri)
    except EdgeDenoiseError as exc:
        assert "\n" not in str(exc).strip() or "\n" in str(uri)
    else:
        assert spec.kind in ("camera", "picamera2", "csi", "stream", "video", "image", "folder", "glob", "demo")
        assert spec.index is None or spec.index >= 0


# --- tiling ------------------------------------------------------------------------------------------
@FAST
@given(h=st.integers(1, 150), w=st.integers(1, 150), th=st.integers(1, 48), tw=st.integers(1, 48),
       overlap=st.integers(0, 40), seed=st.integers(0, 3))
def test_tiles_reassemble_exactly_to_the_frame_for_any_size_and_overlap(h, w, th, tw, overlap, seed):
    frame = np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)
    padded = pad_to_tile(frame, (th, tw))
    tiles = split_tiles(padded, (th, tw), overlap)
    covered = np.zeros(padded.shape[:2], bool)
    for y, x, t in tiles:
        assert t.shape == (th, tw, 3)
        covered[y:y + th, x:x + tw] = True
    assert covered.all()
    assert len(tiles) == len(plan_tiles(padded.shape[:2], (th, tw), overlap))
    merged = merge_tiles(tiles, padded.shape[:2], (th, tw), overlap)[:h, :w]
    assert np.array_equal(np.rint(merged).astype(np.uint8), frame)
    assert np.abs(merged - frame).max() < 2e-3  # float32 rounding at 255


# --- the split manifest ------------------------------------------------------------------------------
REL = st.lists(st.sampled_from(["a", "b", "Kirmizi", "Siirt", "x y", "é", "(1)"]), min_size=1, max_size=3).map("/".join)


@FAST
@given(old=st.sets(REL, min_size=1, max_size=30), new=st.sets(REL, max_size=30))
def test_adding_files_never_moves_old_files_between_splits(old, new):
    names = sorted(old)
    before = {rel: split_of(rel + ".jpg") for rel in names}
    after = {rel: split_of(rel + ".jpg") for rel in sorted(old | new)}
    assert all(after[rel] == before[rel] for rel in names)
    assert set(before.values()) <= set(SPLITS)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(old=st.sets(st.integers(0, 200), min_size=1, max_size=12), new=st.sets(st.integers(201, 400), max_size=12))
def test_manifest_of_a_folder_is_stable_when_files_are_added(tmp_path_factory, old, new):
    folder = tmp_path_factory.mktemp("data")
    for i in old:
        (folder / f"c{i % 3}").mkdir(exist_ok=True)
        (folder / f"c{i % 3}" / f"im{i}.jpg").touch()
    first = make_manifest(folder)
    for i in new:
        (folder / f"im{i}.png").touch()
    second = make_manifest(folder)
    for split in SPLITS:
        assert set(first["splits"][split]) <= set(second["splits"][split])
    assert sum(len(v) for v in second["splits"].values()) == len(old) + len(new)
