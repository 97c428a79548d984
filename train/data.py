"""Data: a stable split manifest, robust decoding, and the training batches with fresh noise.

The split of a file is decided by a hash of its path relative to the data folder, so adding
files never moves old ones between splits.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edge_runtime.atomic import write_json_atomic
from edge_runtime.errors import EdgeDenoiseError
from edge_runtime.images import center_square, decode_image, list_images
from edge_runtime.noise import NoiseSpec
from edge_runtime.splits import DEFAULT_FRACTIONS, SPLITS, split_of  # noqa: F401  re-exported: the run's split

def make_manifest(data_dir: str | Path, fractions: tuple[float, float, float] = DEFAULT_FRACTIONS) -> dict:
    """List every image below ``data_dir`` and assign it to train, val or test."""
    data_dir = Path(data_dir)
    files = [p.relative_to(data_dir).as_posix() for p in list_images(data_dir)]
    if not files:
        raise EdgeDenoiseError(f"{data_dir}: no image files found (looked for .jpg, .png, ... at any depth)")
    splits: dict[str, list[str]] = {s: [] for s in SPLITS}
    for rel in files:
        splits[split_of(rel, fractions)].append(rel)
    return {"fractions": list(fractions), "splits": splits, "hash": manifest_hash(splits)}


def manifest_hash(splits: dict[str, list[str]]) -> str:
    """A short hash that names exactly which files are in which split."""
    blob = json.dumps({s: sorted(splits[s]) for s in SPLITS}, sort_keys=True).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def read_manifest(path: str | Path) -> dict:
    """Load a manifest written by ``write_manifest`` (for ``--split-manifest``)."""
    path = Path(path)
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
        splits = manifest["splits"]
        assert all(isinstance(splits[s], list) for s in SPLITS)
    except FileNotFoundError:
        raise EdgeDenoiseError(f"{path}: no such split manifest") from None
    except (ValueError, KeyError, TypeError, AssertionError):
        raise EdgeDenoiseError(f"{path}: not a split manifest (needs 'splits' with train, val and test lists)") from None
    manifest["hash"] = manifest_hash(splits)
    return manifest


def write_manifest(path: str | Path, manifest: dict) -> None:
    write_json_atomic(path, manifest)


@dataclass
class LoadReport:
    """What happened while decoding: files converted and files skipped, each with its reason."""

    converted: list[tuple[str, str]] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)


def load_images(
    data_dir: str | Path,
    relpaths: list[str],
    size: int | tuple[int, int],
    report: LoadReport | None = None,
    progress: Callable[[int], None] | None = None,
) -> np.ndarray:
    """Decode, convert and resize files to an (N, H, W, 3) uint8 array, skipping bad ones.

    ``size`` is a side (the central square resized to it) or (H, W): the central square resized to
    max(H, W), then its central H x W window, as convert's gate and calibration see a camera frame.
    Every converted or skipped file is recorded once in ``report``; decoding runs on a few
    threads (Pillow releases the GIL).
    """
    data_dir = Path(data_dir)
    report = report if report is not None else LoadReport()
    h, w = (size, size) if isinstance(size, int) else (int(size[0]), int(size[1]))
    side = max(h, w)

    def one(rel: str):
        try:
            decoded = decode_image(data_dir / rel)
        except EdgeDenoiseError as exc:
            return rel, None, str(exc)
        square = center_square(decoded.rgb, side)
        top, left = (side - h) // 2, (side - w) // 2
        return rel, np.ascontiguousarray(square[top : top + h, left : left + w]), decoded.note

    out = []
    with ThreadPoolExecutor(max_workers=4) as pool:
        for rel, img, note in pool.map(one, relpaths):
            if img is None:
                report.skipped.append((rel, note))
            else:
                if note:
                    report.converted.append((rel, note))
                out.append(img)
            if progress:
                progress(1)
    if not out:
        return np.zeros((0, h, w, 3), np.uint8)
    return np.stack(out)


def noisy_pairs(clean_u8: np.ndarray, spec: NoiseSpec, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Fixed (noisy, clean) float pairs for validation and test: the same noise every time."""
    clean = clean_u8.astype(np.float32) / 255.0
    return spec.apply(clean, np.random.default_rng(seed)), clean


def random_crops(batch_u8: np.ndarray, crop: int, rng: np.random.Generator, min_side: int | None = None) -> np.ndarray:
    """One random crop x crop window per image.

    With ``min_side`` below the images' side S, each image is first seen at a side s drawn
    log-uniformly from [min_side, S]: the window covers crop * S / s of its pixels and is resized
    (area) to crop x crop. A camera frame shows a scene several times larger than a small training
    image does, so its pixels hold smoother content under the same per-pixel noise; this trains
    on both scales and everything between (``train --max-side``).
    """
    n, h, w = batch_u8.shape[:3]
    if min_side is None or min_side >= min(h, w):
        ys = rng.integers(0, h - crop + 1, n)
        xs = rng.integers(0, w - crop + 1, n)
        return np.stack([im[y : y + crop, x : x + crop] for im, y, x in zip(batch_u8, ys, xs)])
    import cv2

    full = min(h, w)
    sides = np.exp(rng.uniform(np.log(min_side), np.log(full), n))
    windows = np.minimum(np.rint(crop * full / sides).astype(int), full)
    out = []
    for im, win in zip(batch_u8, windows):
        y, x = int(rng.integers(0, h - win + 1)), int(rng.integers(0, w - win + 1))
        patch = im[y : y + win, x : x + win]
        out.append(patch if win == crop else cv2.resize(patch, (crop, crop), interpolation=cv2.INTER_AREA))
    return np.stack(out)


# --augment names -> make_augment options; "all" turns on every one
AUGMENTATIONS: dict[str, dict] = {
    "flip": {"flips": True},
    "rot90": {"rot90": True},
    "light": {"brightness": 0.3, "contrast": 0.3, "color_temp": 0.1},  # lighting: exposure, contrast, white balance
    "jpeg": {"jpeg": (50, 95)},  # cameras deliver JPEG: vary the clean images' compression
}


def make_augment(flips: bool = False, rot90: bool = False, brightness: float = 0.0, contrast: float = 0.0,
                 color_temp: float = 0.0, jpeg: tuple[int, int] | None = None) -> Callable:
    """A ``train_dataset`` hook (uint8 batch, rng) -> uint8 batch, drawing every choice per image.

    ``brightness`` and ``contrast`` scale by a factor in [1 - v, 1 + v]; ``color_temp`` moves
    red and blue in opposite directions by up to that fraction (warm or cool light); ``jpeg``
    re-encodes at a quality drawn from (low, high). Augmentation changes the clean image, so
    the model is taught the same scene under other light; noise is added after it.
    """
    import cv2

    def one(im: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        if flips:
            if rng.random() < 0.5:
                im = im[:, ::-1]
            if rng.random() < 0.5:
                im = im[::-1]
        if rot90:  # a quarter turn would change a non-square image's shape; half turns never do
            im = np.rot90(im, int(rng.integers(0, 4)) if im.shape[0] == im.shape[1] else 2 * int(rng.integers(0, 2)))
        if brightness or contrast or color_temp:
            x = im.astype(np.float32)
            if contrast:
                mean = x.mean()
                x = (x - mean) * rng.uniform(1 - contrast, 1 + contrast) + mean
            if brightness:
                x = x * rng.uniform(1 - brightness, 1 + brightness)
            if color_temp:
                d = rng.uniform(-color_temp, color_temp)
                x = x * np.array([1 + d, 1.0, 1 - d], np.float32)
            im = np.clip(np.rint(x), 0, 255).astype(np.uint8)
        if jpeg:
            quality = int(rng.integers(jpeg[0], jpeg[1] + 1))
            _, buf = cv2.imencode(".jpg", np.ascontiguousarray(im[..., ::-1]), [cv2.IMWRITE_JPEG_QUALITY, quality])
            im = cv2.imdecode(buf, cv2.IMREAD_COLOR)[..., ::-1]
        return np.ascontiguousarray(im)

    def augment(batch_u8: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        return np.stack([one(im, rng) for im in batch_u8])

    return augment


def parse_augment(text: str | None) -> Callable | None:
    """``"flip,rot90,light,jpeg"`` or ``"all"`` -> a hook; None, "" or "none" -> None."""
    if not text or str(text).strip().lower() == "none":
        return None
    names = [n.strip().lower() for n in str(text).split(",") if n.strip()]
    if names == ["all"]:
        names = list(AUGMENTATIONS)
    options: dict = {}
    for name in names:
        if name not in AUGMENTATIONS:
            raise EdgeDenoiseError(f"unknown augmentation '{name}' in '{text}'; choose from {', '.join(AUGMENTATIONS)} or all")
        options.update(AUGMENTATIONS[name])
    return make_augment(**options)


def corrupt_batch(batch_u8: np.ndarray, spec: NoiseSpec, rng: np.random.Generator, augment: Callable | None = None,
                  crop: int | None = None, min_side: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """One training batch: crop (at a random scale from ``min_side`` up, see random_crops), augment, then add
    fresh noise -> (noisy, clean) float32 in [0, 1]."""
    if crop and (crop < batch_u8.shape[1] or min_side):
        batch_u8 = random_crops(batch_u8, crop, rng, min_side)
    if augment is not None:
        batch_u8 = augment(batch_u8, rng)
    clean = batch_u8.astype(np.float32) / 255.0
    return spec.apply(clean, rng), clean


def train_dataset(
    clean_u8: np.ndarray,
    spec: NoiseSpec,
    batch_size: int,
    seed: int,
    augment: Callable | None = None,
    crop: int | None = None,
    min_side: int | None = None,
):
    """Shuffled batches with fresh noise for every batch of every epoch.

    On TensorFlow a tf.data pipeline (shuffle in memory, batch, noise, prefetch); on another Keras
    backend a keras.utils.PyDataset that makes batches on worker threads (``noisy_batches``).
    Noise comes from edge_runtime's numpy implementation (through tf.numpy_function), so the
    training noise is exactly the noise the device adds with ``--add-noise``. ``augment`` is a
    hook (uint8 batch -> uint8 batch) for the augmentation that later models use; ``min_side`` draws each
    crop's scale (random_crops).
    """
    import keras

    if keras.backend.backend() != "tensorflow":
        return noisy_batches(clean_u8, spec, batch_size, seed, augment, crop, min_side=min_side)
    import tensorflow as tf

    def corrupt(batch_u8: np.ndarray, batch_seed: np.ndarray):
        return corrupt_batch(batch_u8, spec, np.random.default_rng(int(batch_seed) & 0x7FFFFFFFFFFFFFFF), augment, crop,
                             min_side)

    def to_pair(batch, batch_seed):
        noisy, clean = tf.numpy_function(corrupt, [batch, batch_seed], (tf.float32, tf.float32))
        shape = (None, None, None, 3)
        return tf.ensure_shape(noisy, shape), tf.ensure_shape(clean, shape)

    ds = tf.data.Dataset.from_tensor_slices(clean_u8)
    ds = ds.shuffle(len(clean_u8), seed=seed, reshuffle_each_iteration=True).batch(batch_size)
    # every batch draws its noise from a seed of its own, new each epoch, so batches can be made in
    # parallel (numpy and OpenCV release the GIL) and a run still repeats exactly
    seeds = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True)
    ds = tf.data.Dataset.zip(ds, seeds).map(to_pair, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return ds.prefetch(tf.data.AUTOTUNE)


def noisy_batches(clean_u8: np.ndarray, spec: NoiseSpec, batch_size: int, seed: int,
                  augment: Callable | None = None, crop: int | None = None, workers: int | None = None,
                  min_side: int | None = None):
    """A keras.utils.PyDataset of (noisy, clean) batches for backends without tf.data (JAX, PyTorch).

    Batch ``i`` of epoch ``e`` draws its crops, augmentation and noise from a generator seeded with
    (seed, e, i), so worker threads never share one and a run repeats exactly; the order of the
    images is reshuffled every epoch.
    """
    import os

    import keras

    class NoisyBatches(keras.utils.PyDataset):
        def __init__(self):
            super().__init__(workers=workers or min(8, os.cpu_count() or 1), use_multiprocessing=False, max_queue_size=16)
            self.epoch = 0
            self.order = np.random.default_rng([seed, 0]).permutation(len(clean_u8))

        def __len__(self) -> int:
            return -(-len(clean_u8) // batch_size)

        def __getitem__(self, index: int):
            picked = self.order[index * batch_size : (index + 1) * batch_size]
            rng = np.random.default_rng([seed, self.epoch, index])
            return corrupt_batch(clean_u8[np.sort(picked)], spec, rng, augment, crop, min_side)

        def on_epoch_end(self) -> None:
            self.epoch += 1
            self.order = np.random.default_rng([seed, self.epoch]).permutation(len(clean_u8))

    return NoisyBatches()
