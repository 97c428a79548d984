"""Find converted models: the ones shipped in edge_runtime/models/ and local files or folders.

Pure Python (JSON sidecars only), so the device can list and pick models without TensorFlow.
"""

from __future__ import annotations

from pathlib import Path

from edge_runtime.engine import read_metadata
from edge_runtime.errors import EdgeDenoiseError

SHIPPED_DIR = Path(__file__).resolve().parent / "models"
# The model run, denoise and doctor use when none is named: the blind fastnet with its impulse stage, best
# on the fixed noise suite of eval --suite in int8 (mean SSIM 0.9531 against the autoencoder's 0.9410) and
# on blind noise at 480x640, where it runs as its dynamic-range file (README, "Beyond the seed").
DEFAULT_MODEL = "fastnet"


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


def find_model(name: str = "unet", precision: str = "int8", size: tuple[int, int] | int = (128, 128),
               io: str | None = None, paths: list[str | Path] | None = None) -> Path:
    """The model with this name, precision and HxW (float I/O preferred unless ``io`` is given).

    Looks in ``paths`` first, then the shipped models; raises EdgeDenoiseError listing what exists.
    """
    hw = (size, size) if isinstance(size, int) else tuple(int(v) for v in size)
    models = list_models(paths, shipped=True)
    matches = [m for m in models if m["name"] == name and m["precision"] == precision and m["input_size"] == hw
               and (io is None or m["io_dtype"] == io)]
    if not matches:
        have = "; ".join(_label(m) for m in models) or f"none (shipped folder {SHIPPED_DIR} is empty)"
        io_text = f" with {io} I/O" if io else ""
        raise EdgeDenoiseError(f"no model {name} {precision} {hw[0]}x{hw[1]}{io_text}; available: {have}")
    matches.sort(key=lambda m: (m["io_dtype"] != "float32", m["source"] != "local"))
    return Path(matches[0]["path"])
