"""What `edge-denoise bench` needs TensorFlow for: .keras -> .tflite on the fly, the ceiling models,
and the Keras / onnxruntime reference rows. The grid itself is edge_denoise.benchgrid (no TF).

Converted files go to a cache folder (never into the run folder); files already in RUN/tflite/
with the grid's name, precision and size are used as they are.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

import numpy as np

from edge_denoise.benchgrid import cache_dir
from edge_runtime.errors import EdgeDenoiseError

CEILING_SIZE = (128, 128)
CEILING_CHANNELS = 64
CEILING_LAYERS = 3


def _fingerprint(path: Path) -> str:
    st = path.stat()
    h = hashlib.sha256(f"{path.resolve()}:{st.st_size}:{st.st_mtime_ns}".encode())
    with open(path, "rb") as fh:
        h.update(fh.read(1 << 20))
    return h.hexdigest()[:12]


def ceiling_models(folder: Path | None = None, log: Callable[[str], None] = print) -> Path:
    """Make (once) ceiling_fp32.tflite and ceiling_int8.tflite: 3 -> 64 ch, CEILING_LAYERS x (3x3, 64 -> 64), 64 -> 3.

    A large plain conv stack at 128x128 keeps XNNPACK's GEMMs busy, so its GMAC/s is close to what
    this CPU can do with the runtime at hand; the denoisers' GMAC/s is quoted as a share of it.
    """
    import keras

    from convert.tflite import convert_to_tflite
    from edge_denoise.benchgrid import CEILING_FILES
    from edge_runtime.atomic import atomic_path

    folder = Path(folder) if folder else cache_dir() / "ceiling"
    if all((folder / f).is_file() for f in CEILING_FILES.values()):
        return folder
    log(f"making the ceiling models in {folder} (once)")
    keras.utils.set_random_seed(0)
    inp = keras.Input((*CEILING_SIZE, 3), batch_size=1)
    x = keras.layers.Conv2D(CEILING_CHANNELS, 3, padding="same", activation="relu")(inp)
    for _ in range(CEILING_LAYERS):
        x = keras.layers.Conv2D(CEILING_CHANNELS, 3, padding="same", activation="relu")(x)
    out = keras.layers.Conv2D(3, 3, padding="same", activation="sigmoid")(x)
    model = keras.Model(inp, out, name="ceiling")
    calib = np.random.default_rng(0).random((8, *CEILING_SIZE, 3), dtype=np.float32)
    for prec, name in CEILING_FILES.items():
        with atomic_path(folder / name) as tmp:
            tmp.write_bytes(convert_to_tflite(model, prec, calib=calib if prec == "int8" else None))
    return folder


def convert_for_bench(keras_path: Path, precisions: tuple[str, ...], sizes: list[tuple[int, int]],
                      data: str | None = None, log: Callable[[str], None] = print) -> tuple[list[Path], list[dict]]:
    """(.tflite files for every valid precision x size, failed rows) for one .keras run model."""
    from convert.pipeline import ConvertConfig, convert_run, file_name
    from convert.report import ConvertFailed
    from edge_denoise.benchgrid import PRECISIONS, failed_row
    from edge_runtime.sizes import size_text

    keras_path = Path(keras_path)
    run_dir = keras_path.parent
    name = run_dir.name or keras_path.stem
    if not keras_path.is_file():
        return [], [failed_row("tflite", name, None, None, None, f"{keras_path}: no such model file", path=str(keras_path))]
    out_dir = cache_dir() / "bench" / f"{name}-{_fingerprint(keras_path)}"
    files: list[Path] = []
    failed: list[dict] = []
    precisions = tuple(p for p in precisions if p in PRECISIONS)
    for hw in sizes:
        missing = []
        for p in precisions:
            fname = file_name(name, p, hw, "float")
            have = next((d / fname for d in (run_dir / "tflite", out_dir) if (d / fname).is_file()), None)
            if have:
                files.append(have)
            else:
                missing.append(p)
        if not missing:
            continue
        log(f"converting {keras_path} to {', '.join(missing)} at {size_text(hw)} (cached in {out_dir})")
        cfg = ConvertConfig(model=str(keras_path), out=str(out_dir), precisions=tuple(missing), sizes=(hw,), name=name,
                            data=data if data and Path(data).is_dir() else None, gate_count=16, max_drop=1.0)
        try:
            report = convert_run(cfg, log=lambda _line: None)
            entries = report.files
        except ConvertFailed as exc:
            entries = exc.report.files
        except EdgeDenoiseError as exc:
            failed += [failed_row("tflite", name, p, size_text(hw), None, f"conversion: {exc}", path=str(keras_path))
                       for p in missing]
            continue
        for e in entries:
            if e["status"] == "ok":
                files.append(Path(e["file"]))
            else:
                failed.append(failed_row("tflite", name, e["precision"], size_text(hw), None, f"conversion: {e.get('error')}",
                                      path=str(keras_path)))
    return files, failed


def keras_reference(keras_path: Path):
    """The float Keras model as a bench Reference (TensorFlow's own threads), same frames as the grid."""
    import tensorflow as tf

    from convert.fixed_shape import fixed_shape_model
    from edge_denoise.benchgrid import Reference
    from train.evaluate import load_keras_model

    keras_path = Path(keras_path)
    model = load_keras_model(keras_path)
    name = keras_path.parent.name or keras_path.stem

    def make(hw):
        try:
            clone = fixed_shape_model(model, hw)
        except Exception as exc:  # a size the architecture cannot take
            raise EdgeDenoiseError(f"Keras model at {hw[0]}x{hw[1]}: {str(exc).splitlines()[0][:200]}") from None
        fn = tf.function(lambda x: clone(x, training=False))
        return lambda image01: fn(image01[None])[0].numpy()

    return Reference(name=name, kind="keras", make=make, threads=None, precision="fp32",
                     file_bytes=keras_path.stat().st_size, path=str(keras_path))


def onnx_reference(keras_path: Path, threads: int, log: Callable[[str], None] = print):
    """The float model exported to ONNX (dynamic HxW, cached) run by onnxruntime with ``threads`` threads."""
    try:
        import onnxruntime as ort
    except ImportError:
        return None
    from convert.onnx_export import export_onnx
    from edge_denoise.benchgrid import Reference
    from edge_runtime.atomic import atomic_path
    from train.evaluate import load_keras_model

    keras_path = Path(keras_path)
    name = keras_path.parent.name or keras_path.stem
    path = cache_dir() / "bench" / f"{name}-{_fingerprint(keras_path)}" / f"{name}_fp32.onnx"
    if not path.is_file():
        log(f"exporting {keras_path} to ONNX (cached in {path.parent})")
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(path) as tmp:
            export_onnx(load_keras_model(keras_path), tmp)
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = int(threads)
    opts.inter_op_num_threads = 1
    session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    inp = session.get_inputs()[0].name

    def make(hw):
        return lambda image01: session.run(None, {inp: image01[None].astype(np.float32, copy=False)})[0][0]

    return Reference(name=name, kind="onnx", make=make, threads=int(threads), precision="fp32",
                     file_bytes=path.stat().st_size if path.is_file() else None, path=str(path))
