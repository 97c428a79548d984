"""Find converted models: the ones shipped in edge_runtime/models/ and local files or folders.

Pure Python (JSON sidecars only), so the device can list and pick models without TensorFlow.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from edge_runtime.engine import read_metadata
from edge_runtime.errors import EdgeDenoiseError
from edge_runtime.sizes import parse_size

SHIPPED_DIR = Path(__file__).resolve().parent / "models"
# The model run, denoise and doctor use when none is named: camnet, trained on a camera's own noise and the
# blind mixture, int8 with uint8 I/O at 480x640 (fastnet, the previous default, needs float activations
# there); in int8 at 128x128 it scores at or above fastnet on every row of eval --suite and well above it
# on the camera rows (README, "The shipped models"; docs/models.md, "A camera model").
DEFAULT_MODEL = "camnet"


def _describe(path: Path, source: str) -> dict:
    try:
        meta = read_metadata(path)
        note = "" if meta else "no metadata sidecar"
    except EdgeDenoiseError as exc:
        meta, note = {}, str(exc)
    gate = meta.get("gate") or {}
    size = meta.get("input_size")
    return {
        "path": str(path),
        "source": source,
        "name": meta.get("name", path.stem),
        "architecture": meta.get("architecture"),
        "precision": meta.get("precision"),
        "io_dtype": meta.get("io_dtype"),
        "input_size": tuple(size) if isinstance(size, list) and len(size) == 2 else None,
        "tflite_ssim": gate.get("tflite_ssim"),
        "keras_ssim": gate.get("keras_ssim"),
        "drop": gate.get("drop"),
        "noise": meta.get("noise"),
        "bytes": path.stat().st_size,
        "note": note,
        "metadata": meta,
    }


def list_models(paths: list[str | Path] | None = None, shipped: bool = True) -> list[dict]:
    """Every .tflite in SHIPPED_DIR (if ``shipped``) and in ``paths`` (files or folders, searched recursively)."""
    found: list[tuple[Path, str]] = []
    if shipped and SHIPPED_DIR.is_dir():
        found += [(p, "shipped") for p in sorted(SHIPPED_DIR.rglob("*.tflite"))]
    for raw in paths or []:
        p = Path(raw)
        if p.is_dir():
            found += [(f, "local") for f in sorted(p.rglob("*.tflite")) if not f.name.startswith(".")]
        elif p.is_file():
            if p.suffix != ".tflite":
                raise EdgeDenoiseError(f"{p}: not a .tflite file")
            found.append((p, "local"))
        else:
            raise EdgeDenoiseError(f"{p}: no such file or folder")
    seen: set[Path] = set()
    out = []
    for path, source in found:
        key = path.resolve()
        if key not in seen:
            seen.add(key)
            out.append(_describe(path, source))
    return out


def _label(m: dict) -> str:
    size = f"{m['input_size'][0]}x{m['input_size'][1]}" if m["input_size"] else "?"
    io = "" if m["io_dtype"] in (None, "float32") else f" ({m['io_dtype']} I/O)"
    return f"{m['name']} {m['precision'] or '?'} {size}{io}"


# Where a shipped model has no file of the asked precision at a size, because that file failed the convert
# gate there, the next precision down in integer work is used instead, with a notice: fastnet's int8 file at
# 480x640 loses 0.017 SSIM, its dynamic-range one (int8 weights, float activations) 0.0053 (docs/models.md).
PRECISION_FALLBACK = {"int8": "dynamic"}


def resolve_model(model: str | Path, precision: str = "int8", size: tuple[int, int] | str | int | None = None,
                  live: bool = False, notice: Callable[[str], None] | None = None, *, io: str | None = None,
                  paths: list[str | Path] | None = None) -> Path:
    """A .tflite path as given, or a converted model found by name (``camnet``, ``fastnet``, ``autoencoder``, ``unet``, or the
    ``--name`` of a conversion of one's own) in ``paths`` (files or folders) and the shipped models.

    ``size`` (H, W), or its text (``480x640``, ``128``), picks a file exactly; without it a live camera gets the
    480x640 (VGA) file and everything else the 128x128 one, else whatever exists. ``io`` ("float32", "uint8") insists on that I/O type; without it a live
    camera prefers uint8 I/O and the rest float32. A file from ``paths`` comes before a shipped one. At a size with
    no file of that precision, PRECISION_FALLBACK's is taken, and ``notice`` told. Every miss raises
    EdgeDenoiseError naming what exists.
    """
    text = str(model)
    path = Path(text)
    if path.suffix.lower() == ".tflite" or path.exists() or "/" in text or "\\" in text:
        return path
    hw = parse_size(size, "--model-size") if isinstance(size, (str, int)) else tuple(size) if size else None
    where = "shipped" if not paths else f"shipped or in {', '.join(str(p) for p in paths)}"
    everything = list_models(paths, shipped=True)
    models = [m for m in everything if m["name"] == text and (io is None or m["io_dtype"] == io)]
    if not models:
        have = "; ".join(_label(m) for m in everything) or f"none (shipped folder {SHIPPED_DIR} is empty)"
        io_text = f" with {io} I/O" if io else ""
        raise EdgeDenoiseError(f"--model {text}: no {where} model of that name{io_text} (available: {have}); "
                               f"or pass a file: --model path/to/model.tflite")
    same = [m for m in models if m["precision"] == precision]
    if not same:
        have = sorted({m["precision"] for m in models})
        raise EdgeDenoiseError(f"--model {text} --precision {precision}: none {where}; {text} comes as {', '.join(have)}")
    preferred = [hw] if hw else ([(480, 640), (128, 128)] if live else [(128, 128), (480, 640)])
    io_first = io or ("uint8" if live else "float32")  # camera frames are uint8: no conversion, a quarter of the I/O memory
    wanted_in_order = [p for p in (precision, PRECISION_FALLBACK.get(precision)) if p]
    ordered = sorted(models, key=lambda m: (m["io_dtype"] != io_first, m["source"] != "local", m["path"]))
    for want_hw in preferred:
        for wanted in wanted_in_order:
            for m in ordered:
                if m["precision"] == wanted and m["input_size"] == tuple(want_hw):
                    if wanted != precision and notice is not None:
                        notice(f"{text} has no {precision} {want_hw[0]}x{want_hw[1]} file: running {Path(m['path']).name} "
                               f"({wanted}: int8 weights, float activations)")
                    return Path(m["path"])
    if hw:
        have = sorted({f"{m['input_size'][0]}x{m['input_size'][1]}" for m in same if m["input_size"]})
        raise EdgeDenoiseError(f"--model {text} --precision {precision}: no {hw[0]}x{hw[1]} file; sizes: {', '.join(have)}")
    return Path(sorted(same, key=lambda m: (m["source"] != "local", m["path"]))[0]["path"])
