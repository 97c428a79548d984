"""Evaluate a denoiser (.keras now, .tflite through edge_runtime) against classical baselines.

SSIM and PSNR are skimage's (data_range 1, channel last), per noise spec, on the same noisy
images for every method.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edge_runtime.atomic import write_json_atomic, write_text_atomic
from edge_runtime.errors import EdgeDenoiseError
from edge_runtime.metrics import score
from edge_runtime.noise import parse_noise


# eval --suite: one fixed set of corruptions, so every model (and every ablation row) is scored alike
EVAL_SUITE = ("gaussian:0.05", "gaussian:0.1", "gaussian:0.2", "poisson:30", "speckle:0.2", "saltpepper:0.05",
              "motionblur:9", "motionblur:7+gaussian:0.05",
              # a camera's own noise (edge_runtime.camera_noise): bright, low light, and MJPG-compressed
              "camera:4", "camera:48", "camera:16+jpeg:70")


class KerasDenoiser:
    """A .keras model behind the same call as the runtime's engines: batch01 -> batch01."""

    def __init__(self, path: Path):
        self.path = path
        self.model = load_keras_model(path)
        self.name = self.model.name
        self.multiple = model_size_multiple(self.model)

    def __call__(self, batch01: np.ndarray) -> np.ndarray:
        """Denoise a batch; sides that are not a multiple of the poolings are reflect-padded, then cropped."""
        n, h, w = batch01.shape[:3]
        ph, pw = -h % self.multiple, -w % self.multiple
        x = batch01.astype(np.float32)
        if ph or pw:
            x = np.pad(x, ((0, 0), (0, ph), (0, pw), (0, 0)), mode="reflect")
        return np.asarray(self.model.predict_on_batch(x))[:, :h, :w]


def model_size_multiple(model) -> int:
    """Frame sides must be a multiple of this: 2**poolings for the U-Net and autoencoder,
    the pixel-unshuffle block for fastnet, 32 for backbone_unet (its encoder halves five times)."""
    if model.name == "backbone_unet":
        return 32
    from train.layers import PixelShuffle

    multiple = 1
    for layer in model.layers:
        if type(layer).__name__ == "MaxPooling2D":
            multiple *= 2
        elif isinstance(layer, PixelShuffle) and layer.unshuffle:
            multiple *= layer.block_size
    return multiple


def load_keras_model(path: str | Path):
    """Load a .keras file in safe mode, with one clear line for every way it can be bad."""
    import zipfile

    import keras

    import train.layers  # noqa: F401  registers PixelShuffle and the other layers for safe-mode loading

    path = Path(path)
    if not path.exists():
        raise EdgeDenoiseError(f"{path}: no such model file")
    if path.stat().st_size == 0:
        raise EdgeDenoiseError(f"{path}: empty model file (0 bytes)")
    if not zipfile.is_zipfile(path):
        raise EdgeDenoiseError(f"{path}: not a .keras file (not a zip archive; truncated or corrupt?)")
    try:
        return keras.saving.load_model(path, compile=False, safe_mode=True)
    except (TypeError, ValueError) as exc:
        unknown = re.search(r"Could not locate (?:class|function) '([^']+)'|Unknown layer: '?([\w.>]+)", str(exc))
        if unknown:
            name = unknown.group(1) or unknown.group(2)
            raise EdgeDenoiseError(
                f"{path}: unknown layer class '{name}' (custom code this install does not have); refused"
            ) from None
        if isinstance(exc, TypeError):
            raise EdgeDenoiseError(f"{path}: cannot load model (TypeError: {_first_line(exc)})") from None
        msg = _first_line(exc)
        if "lambda" in str(exc).lower() or "safe_mode" in str(exc):
            raise EdgeDenoiseError(f"{path}: contains a Lambda layer (arbitrary code); refused in safe mode") from None
        raise EdgeDenoiseError(f"{path}: cannot load model ({msg})") from None
    except Exception as exc:  # keras raises many types for broken archives
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise EdgeDenoiseError(f"{path}: cannot load model ({type(exc).__name__}: {msg[:200]})") from None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return (text.splitlines()[0] if text else type(exc).__name__)[:200]


def load_denoiser(path: str | Path):
    """A callable batch01 -> batch01 for a .keras or .tflite file."""
    path = Path(path)
    if path.suffix == ".keras":
        return KerasDenoiser(path)
    if path.suffix == ".tflite":
        from edge_runtime.engine import load_engine

        return load_engine(path)
    raise EdgeDenoiseError(f"{path}: unknown model format (expected .keras or .tflite)")


def run_denoiser(denoiser, noisy01: np.ndarray, batch_size: int = 16) -> np.ndarray:
    """Denoise a batch in chunks."""
    out = [denoiser(noisy01[i : i + batch_size]) for i in range(0, len(noisy01), batch_size)]
    return np.clip(np.concatenate(out), 0.0, 1.0).astype(np.float32)


@dataclass
class EvalResult:
    """Per noise spec, per method: SSIM/PSNR mean and std, and ms per image."""

    model: str
    split: str
    size: tuple[int, int]  # height, width
    count: int
    rows: list[dict] = field(default_factory=list)
    examples: dict = field(default_factory=dict)


def evaluate(model_path: str | Path, clean_u8: np.ndarray, noises: list[str], split: str = "test",
             seed: int = 2, with_baselines: bool = True, progress=None) -> EvalResult:
    """Score a model and the classical baselines on the same noisy images for each spec."""
    from edge_runtime.classical import baselines

    specs = [parse_noise(n) for n in noises]
    denoiser = load_denoiser(model_path)
    clean = clean_u8.astype(np.float32) / 255.0
    result = EvalResult(str(model_path), split, (int(clean.shape[1]), int(clean.shape[2])), len(clean))
    methods = baselines() if with_baselines else {"noisy input": lambda x: x}
    for spec in specs:
        noisy = spec.apply(clean, np.random.default_rng(seed))
        t0 = time.perf_counter()
        denoised = run_denoiser(denoiser, noisy)
        ms = (time.perf_counter() - t0) * 1000 / len(clean)
        outputs = {"model": (denoised, ms)}
        for name, fn in methods.items():
            t0 = time.perf_counter()
            out = np.stack([fn(x) for x in noisy]).astype(np.float32)
            outputs[name] = (out, (time.perf_counter() - t0) * 1000 / len(clean))
            if progress:
                progress()
        for name, (out, ms) in outputs.items():
            result.rows.append({"noise": spec.text, "method": name, **score(clean, out).as_dict(), "ms_per_image": ms})
        result.examples[spec.text] = {"clean": clean[:4], **{k: v[0][:4] for k, v in outputs.items()}}
    return result


def pivot(result: EvalResult) -> tuple[list[str], dict[str, dict[str, dict]]]:
    """Methods in first-seen order and {noise: {method: row}}: the model and every baseline side by side."""
    methods: list[str] = []
    table: dict[str, dict[str, dict]] = {}
    for r in result.rows:
        if r["method"] not in methods:
            methods.append(r["method"])
        table.setdefault(r["noise"], {})[r["method"]] = r
    return methods, table


def pivot_lines(result: EvalResult) -> list[str]:
    methods, table = pivot(result)
    lines = ["| noise | " + " | ".join(methods) + " |", "|---" * (len(methods) + 1) + "|"]
    for noise, row in table.items():
        cells = [f"{row[m]['ssim_mean']:.4f} / {row[m]['psnr_mean']:.2f}" if m in row else "" for m in methods]
        lines.append(f"| {noise} | " + " | ".join(cells) + " |")
    return lines


def write_eval(result: EvalResult, out_dir: str | Path) -> list[Path]:
    """eval.json, eval.md and eval.png (one grid per noise spec) in ``out_dir``."""
    from train.plots import plot_eval_grid

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    write_json_atomic(out_dir / "eval.json", {"model": result.model, "split": result.split, "size": list(result.size),
                                              "count": result.count, "rows": result.rows})
    lines = [f"Model `{result.model}`, {result.split} split, {result.count} images at {result.size[0]}x{result.size[1]}.", "",
             "| noise | method | SSIM | PSNR (dB) | ms/image |", "|---|---|---|---|---|"]
    for r in result.rows:
        lines.append(f"| {r['noise']} | {r['method']} | {r['ssim_mean']:.4f} ± {r['ssim_std']:.4f} "
                     f"| {r['psnr_mean']:.2f} ± {r['psnr_std']:.2f} | {r['ms_per_image']:.1f} |")
    lines += ["", "SSIM / PSNR (dB) per noise, one column per method:", "", *pivot_lines(result)]
    write_text_atomic(out_dir / "eval.md", "\n".join(lines) + "\n")
    plot_eval_grid(result.examples, out_dir / "eval.png")
    return [out_dir / "eval.json", out_dir / "eval.md", out_dir / "eval.png"]
