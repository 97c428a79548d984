"""The quality gate: a converted file must denoise almost as well as the Keras model it came from.

Each file is run by edge_runtime's own engine on the run's test split at the file's own HxW,
with the training noise and a fixed seed, beside the Keras model on the very same noisy images.
The noisy images are uint8 RGB frames, as a camera gives, and the file runs them through the
engine's frame path (``denoise_frame``: the quantization and rounding every device uses), so the
gate scores what devices run. SSIM more than ``max_drop`` below Keras, or a file the interpreter
cannot load, fails the gate.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from edge_runtime.errors import EdgeDenoiseError
from edge_runtime.metrics import score


@dataclass(frozen=True)
class GateImages:
    """Fixed (noisy, clean) float32 pairs at one size and the Keras SSIM on them; noisy01 holds uint8 frames / 255."""

    noisy01: np.ndarray
    clean01: np.ndarray
    keras_ssim: float
    split: str


@dataclass(frozen=True)
class GateResult:
    """What the gate measured for one file."""

    keras_ssim: float
    tflite_ssim: float
    drop: float
    max_drop: float
    images: int
    split: str
    size: tuple[int, int]
    passed: bool

    def as_dict(self) -> dict:
        d = asdict(self)
        d["size"] = list(self.size)
        return d


# Below this many images the gate's mean SSIM drop is one or two images' noise, not the file's quality: the
# drop is a paired difference (same noisy images through Keras and the file), and its spread needs at least
# three images to be judged against a 0.01 threshold.
MIN_GATE_IMAGES = 3


def check_gate_count(found: int, folder: str | Path, split: str) -> None:
    """Refuse a gate of fewer than MIN_GATE_IMAGES images, saying why the count matters."""
    if found < MIN_GATE_IMAGES:
        raise EdgeDenoiseError(
            f"{folder}: the quality gate found {found} readable image(s) in the {split} split; it needs at least "
            f"{MIN_GATE_IMAGES} for a 0.01 SSIM drop to say more than one image's noise (add images, or --data DIR "
            f"with more, or --gate-count {MIN_GATE_IMAGES} or more)")


def keras_reference(model, clean_u8: np.ndarray, spec, split: str = "test", seed: int = 2) -> GateImages:
    """Noisy copies of ``clean_u8`` and the Keras model's SSIM on them (computed once per size).

    The noisy copies are rounded to uint8 frames first, so Keras and the file see the same pixels a camera gives.
    """
    from edge_runtime.images import to_frame_rgb, to_image01
    from train.data import noisy_pairs
    from train.evaluate import run_denoiser

    noisy, clean = noisy_pairs(clean_u8, spec, seed)
    noisy = to_image01(to_frame_rgb(noisy))
    denoised = run_denoiser(lambda batch01: np.asarray(model(batch01, training=False)), noisy)
    return GateImages(noisy, clean, score(clean, denoised).ssim_mean, split)


def run_gate(tflite_path: str | Path, ref: GateImages, max_drop: float = 0.01, threads: int = 2):
    """Run the file with edge_runtime's engine; return (GateResult, engine). Unloadable files raise."""
    from edge_runtime.engine import load_engine
    from train.evaluate import run_denoiser

    engine = load_engine(tflite_path, threads=threads)  # raises EdgeDenoiseError when it cannot load
    if engine.input_hw != tuple(ref.noisy01.shape[1:3]):
        raise EdgeDenoiseError(f"{tflite_path}: input {engine.input_hw} differs from the gate images {ref.noisy01.shape[1:3]}")
    out = run_denoiser(engine, ref.noisy01)  # engine.denoise01: uint8 frame in, denoise_frame, uint8 out
    tflite_ssim = score(ref.clean01, out).ssim_mean
    drop = float(ref.keras_ssim - tflite_ssim)
    result = GateResult(
        keras_ssim=round(float(ref.keras_ssim), 6), tflite_ssim=round(float(tflite_ssim), 6), drop=round(drop, 6),
        max_drop=float(max_drop), images=int(len(ref.noisy01)), split=ref.split,
        size=tuple(int(v) for v in ref.noisy01.shape[1:3]), passed=bool(drop <= max_drop),
    )
    return result, engine
