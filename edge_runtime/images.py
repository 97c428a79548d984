"""Reading images robustly and converting between pixel formats.

Boundaries pass ``frame_rgb``: uint8 RGB HxWx3. Models see ``image01``: float32 in [0, 1].
"""

from __future__ import annotations

import struct
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edge_runtime.errors import EdgeDenoiseError, WriteError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")
# Refuse absurd images before decoding them: 50 megapixels is ~150 MB as RGB uint8.
MAX_PIXELS = 50_000_000
# From this size up an RGB JPEG is decoded by OpenCV, in about half Pillow's memory (_decode_large_jpeg).
LARGE_PIXELS = 8_000_000
# Peak memory of denoising one image, per pixel, beyond the process's own (decode, output, encode;
# benchmarks: 49 MP JPEG through `denoise` with fastnet 128). doctor divides free memory by it.
BYTES_PER_PIXEL_PEAK = 8
# Pillow warns above ~89 MP and refuses above ~179 MP with its own error type; our stricter limit,
# checked on the header before any pixel is decoded, says it in one line instead. (A filter set once
# here, not catch_warnings per call: that is not thread-safe and load_images decodes on threads.)
warnings.filterwarnings("ignore", message=r"Image size \(\d+ pixels\) exceeds limit", module="PIL")


@dataclass(frozen=True)
class DecodedImage:
    """An image as uint8 RGB plus a note when it had to be converted (e.g. 'grayscale -> RGB')."""

    rgb: np.ndarray
    note: str | None = None


def list_images(folder: str | Path) -> list[Path]:
    """All image files below ``folder`` (any depth), sorted by relative path."""
    folder = Path(folder)
    if not folder.is_dir():
        raise EdgeDenoiseError(f"{folder}: not a folder of images")
    files = [p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES]
    return sorted(files, key=lambda p: p.relative_to(folder).as_posix())


def _looks_truncated(head: bytes, tail: bytes) -> bool:
    """A JPEG must end with its EOI marker, a PNG with an IEND chunk; Pillow is lenient about both."""
    if head.startswith(b"\xff\xd8"):
        return b"\xff\xd9" not in tail
    if head.startswith(b"\x89PNG"):
        return b"IEND" not in tail
    return False


def decode_image(path: str | Path) -> DecodedImage:
    """Decode any still image to uint8 RGB, applying EXIF rotation.

    Grayscale, palette, RGBA, CMYK and 16-bit images are converted (and say so in ``note``);
    empty, truncated, oversized and non-image files raise EdgeDenoiseError naming the file.
    """
    from PIL import Image, ImageOps, UnidentifiedImageError

    path = Path(path)
    try:
        size = path.stat().st_size
    except OSError:
        raise EdgeDenoiseError(f"{path}: no such file") from None
    if size == 0:
        raise EdgeDenoiseError(f"{path}: empty file (0 bytes)")
    with open(path, "rb") as fh:
        head = fh.read(8)
        fh.seek(max(0, size - 1024))
        tail = fh.read()
    if _looks_truncated(head, tail):
        raise EdgeDenoiseError(f"{path}: truncated image (file ends before the image data does)")
    try:
        img = Image.open(path)
    except Image.DecompressionBombError:
        raise EdgeDenoiseError(f"{path}: image too large (a header claiming hundreds of megapixels; "
                               f"the limit is {MAX_PIXELS // 1_000_000} MP)") from None
    except UnidentifiedImageError:
        raise EdgeDenoiseError(f"{path}: not an image (unrecognised format)") from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise EdgeDenoiseError(f"{path}: corrupt image ({_first_line(exc)})") from None
    try:
        with img:
            w, h = img.size
            if w * h > MAX_PIXELS:
                raise EdgeDenoiseError(
                    f"{path}: image too large ({w}x{h} pixels; the limit is {MAX_PIXELS // 1_000_000} MP)"
                )
            short = memory_shortfall(w * h)
            if short:
                raise EdgeDenoiseError(f"{path}: image too large for the memory free on this device ({w}x{h} "
                                       f"{short}; 'edge-denoise doctor' says what fits)")
            if w * h >= LARGE_PIXELS and img.format == "JPEG" and img.mode == "RGB":
                big = _decode_large_jpeg(path)
                if big is not None:
                    return DecodedImage(big)
            img.load()
            mode = img.mode
            ImageOps.exif_transpose(img, in_place=True)  # a copy only when there is a rotation to apply
            return _to_rgb_uint8(img, mode)
    except EdgeDenoiseError:
        raise
    except MemoryError:
        raise EdgeDenoiseError(f"{path}: image too large to decode in the memory available") from None
    except (OSError, SyntaxError, ValueError, struct.error, IndexError, TypeError) as exc:
        # Pillow's decoders raise these for corrupt data that got past the header.
        raise EdgeDenoiseError(f"{path}: corrupt image ({_first_line(exc)})") from None


def available_memory_bytes() -> int | None:
    """MemAvailable from /proc/meminfo (what can be allocated without swapping), or None off Linux."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def max_pixels_for(available: int | None) -> int:
    """The largest image (pixels) that ``available`` bytes can denoise, at most MAX_PIXELS."""
    if available is None:
        return MAX_PIXELS
    return max(0, min(MAX_PIXELS, int(available // BYTES_PER_PIXEL_PEAK)))


def memory_shortfall(pixels: int, available: int | None = None) -> str | None:
    """'needs about X MiB, Y MiB free' when an image of ``pixels`` would not fit in free memory, else None.

    Refusing up front in one line beats the kernel's OOM killer ending the run (a 49 MP photo took
    1.7 GB before frames were blended a row of tiles at a time; a 2 GB Pi does not have it).
    """
    available = available_memory_bytes() if available is None else available
    need = pixels * BYTES_PER_PIXEL_PEAK
    if available is None or need <= available:
        return None
    return f"needs about {need / 2**20:.0f} MiB, {available / 2**20:.0f} MiB free"


def _decode_large_jpeg(path: Path) -> np.ndarray | None:
    """A big RGB JPEG decoded by OpenCV straight into one uint8 array (EXIF rotation applied), or None.

    Pillow holds 4 bytes a pixel and hands numpy a copy: 500 MB at 49 MP against OpenCV's 340 MB.
    """
    import cv2

    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if bgr is None:
        return None
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB, dst=bgr)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return (text.splitlines()[0] if text else type(exc).__name__)[:200]


def _to_rgb_uint8(img, mode: str) -> DecodedImage:
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        arr = np.asarray(img).astype(np.float64)
        scale = 257.0 if arr.max(initial=0) > 255 else 1.0
        gray = np.clip(np.rint(arr / scale), 0, 255).astype(np.uint8)
        return DecodedImage(np.repeat(gray[..., None], 3, axis=2), "16-bit grayscale -> 8-bit RGB")
    if mode == "F":
        gray = np.clip(np.rint(np.asarray(img)), 0, 255).astype(np.uint8)
        return DecodedImage(np.repeat(gray[..., None], 3, axis=2), "float grayscale -> 8-bit RGB")
    # An RGB image is not converted: convert() would copy it, and at 49 MP every copy is 190 MB.
    rgb = np.asarray(img if img.mode == "RGB" else img.convert("RGB"), dtype=np.uint8)
    notes = {"L": "grayscale -> RGB", "LA": "grayscale+alpha -> RGB", "1": "1-bit -> RGB",
             "P": "palette -> RGB", "PA": "palette+alpha -> RGB", "RGBA": "RGBA -> RGB (alpha dropped)",
             "CMYK": "CMYK -> RGB", "YCbCr": None, "RGB": None}
    return DecodedImage(np.ascontiguousarray(rgb), notes.get(mode, f"{mode} -> RGB"))


def read_image_rgb(path: str | Path) -> np.ndarray:
    """Decode an image file to uint8 RGB HxWx3 (see decode_image)."""
    return decode_image(path).rgb


def write_image_rgb(path: str | Path, frame_rgb: np.ndarray) -> None:
    """Write uint8 RGB atomically: a temp file next to the target, then os.replace."""
    import cv2

    from edge_runtime.atomic import atomic_path

    path = Path(path)
    ok, buf = cv2.imencode(path.suffix or ".png", cv2.cvtColor(frame_rgb, cv2.COLOR_RGB2BGR))
    if not ok:
        raise EdgeDenoiseError(f"{path}: cannot encode an image with this file extension")
    try:
        with atomic_path(path) as tmp:
            tmp.write_bytes(buf.tobytes())
    except OSError as exc:  # disk full, read-only file system: the old file (if any) is intact
        raise WriteError(f"{path}: cannot write ({exc.strerror or exc})", exc.errno) from None


def center_square(frame_rgb: np.ndarray, size: int) -> np.ndarray:
    """Crop the central square and resize it to size x size (area interpolation)."""
    import cv2

    h, w = frame_rgb.shape[:2]
    s = min(h, w)
    top, left = (h - s) // 2, (w - s) // 2
    crop = frame_rgb[top : top + s, left : left + s]
    if s == size:
        return np.ascontiguousarray(crop)
    interp = cv2.INTER_AREA if s > size else cv2.INTER_CUBIC
    return cv2.resize(crop, (size, size), interpolation=interp)


def to_image01(frame_rgb: np.ndarray) -> np.ndarray:
    """uint8 [0, 255] -> float32 [0, 1]."""
    return frame_rgb.astype(np.float32) * np.float32(1.0 / 255.0)


def to_frame_rgb(image01: np.ndarray) -> np.ndarray:
    """float [0, 1] -> uint8 [0, 255], rounded and clipped."""
    return np.clip(np.rint(image01 * 255.0), 0, 255).astype(np.uint8)
