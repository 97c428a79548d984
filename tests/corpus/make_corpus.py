"""Build the robustness corpus: every kind of broken or awkward input a farm line will meet.

    from corpus.make_corpus import build_corpus
    corpus = build_corpus(tmp_dir)            # images, videos and specs (no TensorFlow)
    corpus = build_corpus(tmp_dir, models=True)  # plus .tflite and .keras files (imports TensorFlow)

Every item is small and made in well under a second (the 10000x10000 images are a 1-bit PNG that
compresses to a few KiB and a JPEG whose header claims the size), so nothing large is committed.
Each ``Item`` says whether a command should accept it (``ok``) or refuse it with one line that
contains ``expect``.
"""

from __future__ import annotations

import io
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class Item:
    """One corpus file: what it is, and what a command must say about it."""

    name: str
    path: Path
    ok: bool  # True: the commands accept it (maybe with a conversion note)
    expect: str = ""  # a substring of the one error line when not ok


@dataclass
class Corpus:
    root: Path
    images: dict[str, Item]
    videos: dict[str, Item]
    models: dict[str, Item]
    good_tflite: Path | None = None
    layouts: dict[str, Path] | None = None  # folder layouts that once tripped `denoise` (build_layouts)


def _smooth(h: int, w: int, seed: int = 0) -> np.ndarray:
    import cv2

    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (max(h // 8, 2), max(w // 8, 2), 3), dtype=np.uint8)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)


def _jpeg_bytes(rgb: np.ndarray, **kwargs) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, "JPEG", quality=90, **kwargs)
    return buf.getvalue()


def _png_bytes(img) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return buf.getvalue()


def _patch_jpeg_size(data: bytes, h: int, w: int) -> bytes:
    """Rewrite the SOF0 marker's height and width: a small JPEG whose header claims h x w."""
    i = data.index(b"\xff\xc0")
    return data[: i + 5] + struct.pack(">HH", h, w) + data[i + 9 :]


def build_images(folder: Path) -> dict[str, Item]:
    """Still images: broken ones that must be refused by name, awkward ones that must be converted."""
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    rgb = _smooth(48, 64)
    jpeg = _jpeg_bytes(rgb)
    png = _png_bytes(Image.fromarray(rgb))
    items: dict[str, Item] = {}

    def add(name: str, data: bytes, ok: bool, expect: str = "") -> None:
        path = folder / name
        path.write_bytes(data)
        items[path.name] = Item(path.name, path, ok, expect)

    add("zero_byte.jpg", b"", False, "empty file")
    add("truncated.jpg", jpeg[: len(jpeg) // 2], False, "truncated")
    add("truncated.png", png[: len(png) // 2], False, "truncated")
    add("text_named.jpg", b"this is not an image, just text someone saved as .jpg\n" * 4, False, "not an image")
    add("gray.png", _png_bytes(Image.fromarray(rgb[..., 0])), True)
    rgba = np.dstack([rgb, np.full(rgb.shape[:2], 128, np.uint8)])
    add("rgba.png", _png_bytes(Image.fromarray(rgba, "RGBA")), True)
    sixteen = (rgb[..., 1].astype(np.uint16) * 257)
    add("sixteen_bit.png", _png_bytes(Image.fromarray(sixteen)), True)
    add("one_pixel.png", _png_bytes(Image.fromarray(np.full((1, 1, 3), 90, np.uint8))), True)
    # 10000 x 10000: a real 1-bit PNG (12 KiB on disk, 300 MB as RGB) and a JPEG header claiming the size.
    add("huge_10000.png", _png_bytes(Image.new("1", (10000, 10000))), False, "too large")
    add("huge_10000.jpg", _patch_jpeg_size(jpeg, 10000, 10000), False, "too large")
    # Past Pillow's own decompression-bomb limit (2 x 89 MP), which raises its own error type.
    add("huge_20000.jpg", _patch_jpeg_size(jpeg, 20000, 20000), False, "too large")
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise on display
    add("exif_rotated.jpg", _jpeg_bytes(rgb, exif=exif.tobytes()), True)
    buf = io.BytesIO()
    Image.fromarray(rgb).convert("CMYK").save(buf, "JPEG", quality=90)
    add("cmyk.jpg", buf.getvalue(), True)
    return items


def build_videos(folder: Path) -> dict[str, Item]:
    """Video files: a truncated mp4, one with zero frames, an empty one, text named .mp4."""
    import cv2

    folder.mkdir(parents=True, exist_ok=True)
    items: dict[str, Item] = {}
    good = folder / "good.mp4"
    writer = cv2.VideoWriter(str(good), cv2.VideoWriter_fourcc(*"mp4v"), 10, (64, 48))
    for i in range(20):
        writer.write(np.full((48, 64, 3), (12 * i) % 256, np.uint8))
    writer.release()
    items["good.mp4"] = Item("good.mp4", good, True)
    data = good.read_bytes()
    # mp4v writes its index (moov) at the end: cutting the file loses it, as a power cut would.
    (folder / "truncated.mp4").write_bytes(data[: len(data) // 2])
    items["truncated.mp4"] = Item("truncated.mp4", folder / "truncated.mp4", False, "video")
    zero = folder / "zero_frames.mp4"
    writer = cv2.VideoWriter(str(zero), cv2.VideoWriter_fourcc(*"mp4v"), 10, (64, 48))
    writer.release()
    if not zero.exists():
        zero.write_bytes(b"")
    items["zero_frames.mp4"] = Item("zero_frames.mp4", zero, False, "video")
    (folder / "zero_byte.mp4").write_bytes(b"")
    items["zero_byte.mp4"] = Item("zero_byte.mp4", folder / "zero_byte.mp4", False, "video")
    (folder / "text_named.mp4").write_text("not a video\n" * 20)
    items["text_named.mp4"] = Item("text_named.mp4", folder / "text_named.mp4", False, "video")
    return items


def build_models(folder: Path, good_tflite: Path) -> dict[str, Item]:
    """Model files: broken .tflite and .keras files, and valid ones the loaders must refuse."""
    import keras

    from tflite_fixtures import build_tflite

    folder.mkdir(parents=True, exist_ok=True)
    items: dict[str, Item] = {}

    def add(name: str, data: bytes | None, ok: bool, expect: str) -> Path:
        path = folder / name
        if data is not None:
            path.write_bytes(data)
        items[path.name] = Item(path.name, path, ok, expect)
        return path

    blob = good_tflite.read_bytes()
    rng = np.random.default_rng(7)
    add("zero_byte.tflite", b"", False, "empty model file")
    add("truncated.tflite", blob[: len(blob) // 2], False, "cannot load")
    add("random.tflite", rng.integers(0, 256, 4096, dtype=np.uint8).tobytes(), False, "not a TFLite model")
    random_tfl3 = bytearray(rng.integers(0, 256, 4096, dtype=np.uint8).tobytes())
    random_tfl3[4:8] = b"TFL3"  # passes the identifier check, so the flatbuffer verifier must catch it
    add("random_tfl3.tflite", bytes(random_tfl3), False, "cannot load")
    build_tflite(folder / "gray_channels.tflite", "float32", channels=1, size=32)
    items["gray_channels.tflite"] = Item("gray_channels.tflite", folder / "gray_channels.tflite", False, "[1, H, W, 3]")
    _wrong_output_tflite(folder / "wrong_output.tflite")
    items["wrong_output.tflite"] = Item("wrong_output.tflite", folder / "wrong_output.tflite", False, "output shape")

    add("zero_byte.keras", b"", False, "empty model file")
    add("random.keras", rng.integers(0, 256, 4096, dtype=np.uint8).tobytes(), False, "not a .keras file")
    inp = keras.Input((32, 32, 3))
    lam = keras.Model(inp, keras.layers.Lambda(lambda t: t * 0.5)(inp), name="lambda_model")
    lam.save(folder / "lambda_layer.keras")
    items["lambda_layer.keras"] = Item("lambda_layer.keras", folder / "lambda_layer.keras", False, "Lambda layer")
    _unknown_class_keras(folder / "unknown_class.keras")
    items["unknown_class.keras"] = Item("unknown_class.keras", folder / "unknown_class.keras", False, "unknown layer class")
    good_keras = folder / "tiny.keras"
    keras.Model(inp, keras.layers.Conv2D(3, 3, padding="same", activation="sigmoid")(inp)).save(good_keras)
    data = good_keras.read_bytes()
    good_keras.unlink()
    add("truncated.keras", data[: len(data) // 2], False, "not a .keras file")
    return items


def _wrong_output_tflite(path: Path) -> None:
    """A valid RGB .tflite whose output is half the input's size (a stride-2 conv)."""
    import keras
    import tensorflow as tf

    inp = keras.Input((32, 32, 3))
    model = keras.Model(inp, keras.layers.Conv2D(3, 3, strides=2, padding="same")(inp))
    saved = path.parent / f"{path.stem}_saved"
    model.export(str(saved), format="tf_saved_model", verbose=False)
    path.write_bytes(tf.lite.TFLiteConverter.from_saved_model(str(saved)).convert())


def dynamic_box_blur_tflite(path: Path) -> Path:
    """A (None, None, 3) 3x3 box blur through TFLiteConverter.from_keras_model: the file's input reads
    [1, 1, 1, 3] (shape signature [-1, -1, -1, 3]); run at that shape it blurs 1x1 tiles into darkness."""
    import keras
    import tensorflow as tf

    inp = keras.Input((None, None, 3))
    blur = keras.layers.DepthwiseConv2D(3, padding="same", use_bias=False)
    model = keras.Model(inp, blur(inp))
    blur.set_weights([np.full((3, 3, 3, 1), 1.0 / 9.0, np.float32)])
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(tf.lite.TFLiteConverter.from_keras_model(model).convert())
    return path


def _unknown_class_keras(path: Path) -> None:
    """A .keras saved with a custom layer class that the loading process does not know."""
    import keras

    @keras.saving.register_keras_serializable(package="corpus_unknown")
    class MysteryScale(keras.layers.Layer):
        def call(self, x):
            return x * 0.5

    inp = keras.Input((32, 32, 3))
    keras.Model(inp, MysteryScale()(inp)).save(path)
    keras.saving.get_custom_objects().pop("corpus_unknown>MysteryScale", None)


def build_layouts(folder: Path) -> dict[str, Path]:
    """Folder layouts a farm's files come in that once made `denoise` skip, nest or mislabel files (issue 21).

    cams: two camera folders with the same file names (a glob over them once flattened the names);
    inside: photos whose output folder goes inside the input folder (a rerun once read its own outputs).
    """
    from PIL import Image

    rgb = _smooth(40, 56, seed=3)
    layouts = {}
    for cam in ("cam1", "cam2"):
        (folder / "cams" / cam).mkdir(parents=True, exist_ok=True)
        Image.fromarray(rgb).save(folder / "cams" / cam / "img001.jpg", quality=90)
    layouts["cams"] = folder / "cams"
    (folder / "inside").mkdir(parents=True, exist_ok=True)
    for i in range(2):
        Image.fromarray(np.roll(rgb, 7 * i, axis=1)).save(folder / "inside" / f"photo{i}.png")
    layouts["inside"] = folder / "inside"
    return layouts


# --- specs: text the user types ------------------------------------------------------------------
BAD_NOISE_SPECS = ["", "blur:3", "gaussian", "gaussian:", "gaussian:abc", "gaussian:-0.1", "gaussian:2",
                   "gaussian:0.3-0.1", "motionblur:2.5", "gaussian:0.1+", "+", "gaussian:0.1++poisson:3",
                   "poisson:0", "saltpepper:1e9", "gaussian:nan", "gaussian:0.1:0.2", "\x00", "gaussian:0.1 poisson:3"]
BAD_SIZES = ["0", "-8", "abc", "64x", "x64", "64x64x3", "1e3", "33"]
BAD_CAPTURE_SIZES = ["640by480", "0x480", "-640x480", "x", "480x"]
# Numbers `run` and `denoise` must refuse up front, one line naming the option (--overlap 200 once ran 10
# minutes ignoring SIGTERM, --threads 0 blamed the model file, --reconnect -1 was taken silently).
BAD_NUMBERS = [("--overlap", "-5"), ("--overlap", "125"), ("--overlap", "200"), ("--threads", "0"),
               ("--threads", "999"), ("--threads", "-1")]
BAD_RUN_NUMBERS = [("--reconnect", "-1"), ("--frames", "0"), ("--duration", "-2"), ("--log-interval", "0"),
                   ("--min-free-mb", "-1"), ("--metrics-port", "70000")]
BAD_URIS = ["foo://x", "picamera2://abc", "csi://cam", "notes.txt", "   ", "/no/such/folder/", "/no/such/clip.mp4",
            "/no/such/photo.jpg", "/no/such/*.jpg"]


def build_corpus(root: str | Path, models: bool = False, good_tflite: Path | None = None) -> Corpus:
    """Write the whole corpus under ``root``; with ``models`` also the model files (needs TensorFlow)."""
    root = Path(root)
    corpus = Corpus(root, build_images(root / "images"), build_videos(root / "videos"), {},
                    layouts=build_layouts(root / "layouts"))
    if models:
        from tflite_fixtures import build_tflite

        good = good_tflite or build_tflite(root / "good" / "tiny_float32_32x32.tflite", "float32", size=32)
        corpus.good_tflite = good
        corpus.models = build_models(root / "models", good)
        dynamic = dynamic_box_blur_tflite(root / "models" / "dynamic_shape.tflite")
        corpus.models["dynamic_shape.tflite"] = Item("dynamic_shape.tflite", dynamic, True)
    return corpus


if __name__ == "__main__":
    import sys

    out = build_corpus(sys.argv[1] if len(sys.argv) > 1 else "corpus_out", models="--models" in sys.argv)
    for group in (out.images, out.videos, out.models):
        for item in group.values():
            print(f"{'ok ' if item.ok else 'bad'} {item.path}  {item.expect}")
