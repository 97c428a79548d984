"""Data: a split that never moves old files, and bad files that are converted or skipped, never fatal."""

import shutil
import struct
import zlib

import numpy as np
import pytest

from edge_runtime.errors import EdgeDenoiseError
from edge_runtime.images import decode_image
from train.data import LoadReport, load_images, make_manifest, random_crops, read_manifest, split_of, write_manifest


def test_split_depends_only_on_the_relative_path():
    assert split_of("Kirmizi_Pistachio/kirmizi (1).jpg") == split_of("Kirmizi_Pistachio/kirmizi (1).jpg")
    splits = [split_of(f"class/img ({i}).jpg") for i in range(2000)]
    counts = {s: splits.count(s) / 2000 for s in ("train", "val", "test")}
    assert 0.76 < counts["train"] < 0.84 and 0.07 < counts["val"] < 0.13 and 0.07 < counts["test"] < 0.13


def test_adding_files_never_moves_old_ones_between_splits(tiny_data):
    before = make_manifest(tiny_data)
    for i in range(10):
        shutil.copy(next(tiny_data.rglob("*.jpg")), tiny_data / "Siirt_Pistachio" / f"new ({i}).jpg")
    after = make_manifest(tiny_data)
    for split, files in before["splits"].items():
        assert set(files) <= set(after["splits"][split])
    assert before["hash"] != after["hash"]


def test_manifest_round_trips_and_names_with_spaces_and_parentheses_work(tiny_data, tmp_path):
    manifest = make_manifest(tiny_data)
    write_manifest(tmp_path / "m.json", manifest)
    again = read_manifest(tmp_path / "m.json")
    assert again["splits"] == manifest["splits"] and again["hash"] == manifest["hash"]
    files = sum(manifest["splits"].values(), [])
    assert any(" " in f for f in files)
    assert load_images(tiny_data, files, 32).shape == (len(files), 32, 32, 3)


def test_a_frame_size_is_the_centre_of_the_square_at_its_longer_side(tiny_data):
    files = make_manifest(tiny_data)["splits"]["train"][:2]
    square = load_images(tiny_data, files, 64)
    frame = load_images(tiny_data, files, (48, 64))  # as convert's gate and calibration cut a 480x640 frame
    assert frame.shape == (len(files), 48, 64, 3)
    np.testing.assert_array_equal(frame, square[:, 8:56])


def test_training_crops_at_smaller_sides_cover_more_of_the_scene():
    ramp = np.tile(np.arange(256, dtype=np.uint8)[None, :, None], (256, 1, 3))[None].repeat(64, axis=0)  # value = column
    rng = np.random.default_rng(0)
    plain = random_crops(ramp, 16, rng)
    zoomed = random_crops(ramp, 16, rng, min_side=32)  # each image seen at a side from 32 to 256, then cropped
    assert plain.shape == zoomed.shape == (64, 16, 16, 3)
    span = lambda crops: (crops[:, 0, -1, 0].astype(int) - crops[:, 0, 0, 0]).mean()  # noqa: E731  columns covered
    assert span(plain) == 15  # a plain crop is 16 neighbouring pixels
    assert 40 < span(zoomed) < 128  # up to 8x wider, log-uniform: a camera frame's scale and all between
    at_full_side = random_crops(ramp, 16, np.random.default_rng(1), min_side=256)
    np.testing.assert_array_equal(at_full_side, random_crops(ramp, 16, np.random.default_rng(1)))


def test_a_broken_manifest_is_one_clear_line(tmp_path):
    (tmp_path / "m.json").write_text("{not json")
    with pytest.raises(EdgeDenoiseError, match="not a split manifest"):
        read_manifest(tmp_path / "m.json")


def _png16(path, h=8, w=8):
    """A 16-bit grayscale PNG written by hand (Pillow cannot write 16-bit RGB)."""
    raw = b"".join(b"\x00" + struct.pack(">" + "H" * w, *([40000] * w)) for _ in range(h))

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 16, 0, 0, 0, 0))
                     + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


@pytest.fixture
def bad_folder(tmp_path, samples_dir):
    from PIL import Image

    root = tmp_path / "bad"
    root.mkdir()
    good = next(samples_dir.rglob("*.jpg"))
    shutil.copy(good, root / "good.jpg")
    (root / "empty.jpg").write_bytes(b"")
    (root / "truncated.jpg").write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    (root / "text.jpg").write_text("this is not an image")
    Image.new("L", (20, 20), 128).save(root / "gray.png")
    Image.new("RGBA", (20, 20), (10, 200, 30, 128)).save(root / "rgba.png")
    _png16(root / "deep16.png")
    return root


def test_bad_files_are_skipped_or_converted_and_each_named_once(bad_folder):
    report = LoadReport()
    files = sorted(p.name for p in bad_folder.iterdir())
    images = load_images(bad_folder, files, 16, report)
    skipped = {rel: why for rel, why in report.skipped}
    converted = {rel: note for rel, note in report.converted}
    assert set(skipped) == {"empty.jpg", "truncated.jpg", "text.jpg"}
    assert "empty" in skipped["empty.jpg"] and "truncated" in skipped["truncated.jpg"] and "not an image" in skipped["text.jpg"]
    assert set(converted) == {"gray.png", "rgba.png", "deep16.png"}
    assert images.shape == (4, 16, 16, 3) and images.dtype == np.uint8
    assert len(report.skipped) + len(report.converted) == 6


def test_sixteen_bit_is_scaled_not_clipped(bad_folder):
    decoded = decode_image(bad_folder / "deep16.png")
    assert decoded.rgb.dtype == np.uint8 and decoded.rgb.shape == (8, 8, 3)
    assert int(decoded.rgb[0, 0, 0]) == round(40000 / 257)


def test_an_empty_folder_is_a_clear_error(tmp_path):
    with pytest.raises(EdgeDenoiseError, match="no image files"):
        make_manifest(tmp_path)


def test_atomic_writes_leave_files_as_readable_as_a_plain_open_would(tmp_path):
    import os

    from edge_runtime.atomic import write_text_atomic

    write_text_atomic(tmp_path / "a.txt", "x")
    (tmp_path / "b.txt").write_text("x")
    assert os.stat(tmp_path / "a.txt").st_mode & 0o777 == os.stat(tmp_path / "b.txt").st_mode & 0o777
