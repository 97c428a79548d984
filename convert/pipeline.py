"""convert_run: one run folder -> one gated .tflite (+ JSON sidecar) per precision and size.

For every requested size a fixed-shape clone is built; for every precision it is converted,
written to a temp file, loaded by edge_runtime's engine and gated against Keras on the test
split. Only files that pass are moved into place, with their metadata sidecar;
``convert_report.json`` in the output folder lists every file, passed or failed.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import time
from datetime import datetime, timezone
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from convert.report import ConvertReport, finish_report
from edge_runtime.atomic import atomic_path, write_json_atomic
from edge_runtime.errors import EdgeDenoiseError
from edge_runtime.splits import DATA_ENV

METADATA_FORMAT = "edge-denoise-tflite/1"
# Oldest runtime the files are known to load in, measured with benchmarks/tflite_runtime_compat.py
# (TF 2.21 converter): fp32, fp16 and int8 U-Net/autoencoder files load and agree in tflite-runtime
# 2.14.0; a dynamic-range file with TRANSPOSE_CONV (the U-Net's upsampling) does not
# ("transpose_conv.cc weights->type != input->type (INT8 != FLOAT32)"), so it needs ai-edge-litert.
MIN_RUNTIME = {"tflite-runtime": "2.14.0"}


@dataclass(frozen=True)
class ConvertConfig:
    """How to convert one trained model. Sizes are (height, width)."""

    model: str
    out: str | None = None  # default: <run folder>/tflite
    precisions: tuple[str, ...] = ("fp32", "fp16", "dynamic", "int8")
    sizes: tuple[tuple[int, int], ...] = ((128, 128),)
    io: str = "float"  # int8 I/O: float (quantize inside), uint8 or int8
    format: str = "tflite"  # or "onnx" (float32, needs the 'onnx' extra)
    name: str | None = None  # default: the run folder's name
    data: str | None = None  # clean images of the run (default: the run config's data, else $EDGE_DENOISE_DATA)
    calib: str | None = None  # calibration folder (default: the run's train split)
    calib_count: int = 200
    noise: str | None = None  # default: the run's training noise
    calib_noise: str | None = None  # noise on the calibration images only (default: the same as noise)
    tune_ranges: int = 0  # int8 of a quant-aware model: tune its ranges on this many held-out images (0: off)
    gate_count: int = 64
    max_drop: float = 0.01
    seed: int = 0

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["sizes"] = [list(s) for s in self.sizes]
        d["precisions"] = list(self.precisions)
        return d


@dataclass(frozen=True)
class RunInfo:
    """What the run folder says about the model: architecture, kwargs, noise, data, splits."""

    run_dir: Path
    name: str
    architecture: str
    model_kwargs: dict
    noise: str
    data_dir: Path | None
    manifest: dict | None
    train_config_hash: str | None


def config_hash(train_cfg: dict) -> str:
    return hashlib.sha256(json.dumps(train_cfg, sort_keys=True).encode()).hexdigest()[:16]


def read_run(model_path: Path, model, config: ConvertConfig) -> RunInfo:
    """Read config.json and manifest.json next to the model, if there; options override them."""
    from train.data import read_manifest

    run_dir = model_path.parent
    train_cfg: dict = {}
    cfg_path = run_dir / "config.json"
    if cfg_path.exists():
        try:
            raw = json.loads(cfg_path.read_text(encoding="utf-8"))
            train_cfg = raw.get("train", {}) if isinstance(raw, dict) else {}
        except ValueError as exc:
            raise EdgeDenoiseError(f"{cfg_path}: not valid JSON ({exc})") from None
    architecture = train_cfg.get("model") or model.name
    kwargs = {k: train_cfg[k] for k in ("width", "depth", "residual") if k in train_cfg}
    if architecture == "autoencoder":
        kwargs.pop("depth", None)
        kwargs.pop("residual", None)
    elif architecture == "fastnet":  # its shape is scale and blocks; it has no depth
        kwargs.pop("depth", None)
        kwargs.update({k: train_cfg[k] for k in ("scale", "blocks", "separable") if k in train_cfg})
        if train_cfg.get("impulse_reject"):  # absent from older runs' metadata, which is unchanged
            kwargs["impulse_reject"] = True
            if train_cfg.get("impulse_threshold", 0.5) != 0.5:
                kwargs["impulse_threshold"] = train_cfg["impulse_threshold"]
    elif architecture == "camnet":  # the kwargs train built it with (one list of camnet's options: TrainConfig's)
        from train.config import TrainConfig

        known = {f.name for f in dataclasses.fields(TrainConfig)}
        kwargs = TrainConfig(**{k: v for k, v in train_cfg.items() if k in known}).model_kwargs()
        kwargs.pop("quant_aware", None)  # the sidecar rebuilds the float model
    elif (train_cfg.get("unshuffle") or 1) != 1:
        kwargs["unshuffle"] = train_cfg["unshuffle"]
    data = config.data or train_cfg.get("data") or os.environ.get(DATA_ENV)
    data_dir = None
    if data:
        for candidate in (Path(data), run_dir / data):
            if candidate.is_dir():
                data_dir = candidate
                break
        if data_dir is None and config.data:
            raise EdgeDenoiseError(f"{config.data}: data folder not found")
    manifest_path = run_dir / "manifest.json"
    manifest = read_manifest(manifest_path) if manifest_path.exists() else None
    return RunInfo(
        run_dir=run_dir, name=config.name or run_dir.name or architecture, architecture=architecture,
        model_kwargs=kwargs, noise=config.noise or train_cfg.get("noise") or "gaussian:0.1", data_dir=data_dir,
        manifest=manifest, train_config_hash=config_hash(train_cfg) if train_cfg else None,
    )


def file_name(name: str, precision: str, size: tuple[int, int], io: str) -> str:
    """``unet_int8_128x128.tflite``; integer I/O adds a suffix: ``unet_int8_128x128_u8io.tflite``."""
    suffix = {"float": "", "uint8": "_u8io", "int8": "_i8io"}[io]
    return f"{name}_{precision}_{size[0]}x{size[1]}{suffix}.tflite"


def _versions() -> tuple[str, str]:
    import tensorflow as tf

    import edge_runtime

    return tf.__version__, edge_runtime.__version__


def _gate_files(info: RunInfo, config: ConvertConfig) -> tuple[Path, list[str], str]:
    if info.data_dir is None:
        raise EdgeDenoiseError(
            f"{info.run_dir}: no data folder for the quality gate (the run config names none that exists); pass --data DIR"
        )
    splits = _run_splits(info)
    if info.manifest is not None and not (splits["test"] or splits["val"]):  # a manifest of training images only
        from train.data import make_manifest

        splits = make_manifest(info.data_dir)["splits"]
    split = "test" if splits["test"] else "val" if splits["val"] else "train"
    return info.data_dir, splits[split], split


def _run_splits(info: RunInfo) -> dict[str, list[str]]:
    """The run's manifest splits, or the hash split of its data folder when it has no manifest."""
    if info.manifest is not None:
        return info.manifest["splits"]
    from train.data import make_manifest

    return make_manifest(info.data_dir)["splits"]


TUNE_CROP = 128  # --tune-ranges scores 128x128 crops of images at the file's own size: a 128 image's cost, even for VGA


def _tune_files(info: RunInfo, gate_split: str) -> tuple[Path, list[str], str]:
    """Images for --tune-ranges: the validation split, or the train split when the gate itself scores on val."""
    splits = _run_splits(info)
    split = "val" if gate_split != "val" and splits["val"] else "train"
    return info.data_dir, splits[split], split


def _calib_source(info: RunInfo, config: ConvertConfig) -> tuple[Path, list[str] | None]:
    if config.calib:
        return Path(config.calib), None
    if info.data_dir is None:
        raise EdgeDenoiseError("int8 needs calibration images: pass --calib DIR (or --data DIR of the run)")
    if info.manifest is not None and info.manifest["splits"]["train"]:
        return info.data_dir, info.manifest["splits"]["train"]
    return info.data_dir, None


def convert_run(config: ConvertConfig, log: Callable[[str], None] = print) -> ConvertReport:
    """Convert, gate and write every (size, precision); raise ConvertFailed if any failed."""
    from convert.calibration import calibration_images, load_clean
    from convert.fixed_shape import check_size, fixed_shape_model, size_multiple_of
    from convert.gate import check_gate_count, keras_reference
    from convert.tflite import IO_TYPES, PRECISIONS, convert_to_tflite
    from edge_runtime.noise import parse_noise
    from train.evaluate import load_keras_model
    from train.layers import fake_quant_at_inference
    from train.pretrained import pretrained_model

    # check every cheap option before the slow work
    for p in config.precisions:
        if p not in PRECISIONS:
            raise EdgeDenoiseError(f"unknown precision '{p}'; choose from {', '.join(PRECISIONS)}")
    if config.io not in IO_TYPES:
        raise EdgeDenoiseError(f"unknown --io '{config.io}'; choose from {', '.join(IO_TYPES)}")
    if config.format not in ("tflite", "onnx"):
        raise EdgeDenoiseError(f"unknown --format '{config.format}'; choose tflite or onnx")
    if config.calib and not Path(config.calib).is_dir():
        raise EdgeDenoiseError(f"{config.calib}: calibration folder not found")
    if config.tune_ranges < 0:
        raise EdgeDenoiseError(f"--tune-ranges {config.tune_ranges}: give a number of images (0 turns it off)")
    if config.tune_ranges and ("int8" not in config.precisions or config.format != "tflite"):
        raise EdgeDenoiseError("--tune-ranges tunes int8 ranges: add int8 to --quant (TFLite format)")
    for given in (config.noise, config.calib_noise):  # a bad spec fails before the model loads
        if given:
            parse_noise(given)
    model_path = Path(config.model)
    shipped = None if model_path.exists() else pretrained_model(config.model)
    if shipped is not None:  # a name such as "fastnet": the package's own Keras model, written to ./tflite by default
        model_path = shipped
        if config.out is None:
            config = dataclasses.replace(config, out="tflite")
    if model_path.suffix.lower() == ".tflite":
        raise EdgeDenoiseError(f"{model_path}: already a TFLite file; convert takes the trained .keras model "
                               f"(e.g. runs/unet/model.keras)")
    model = load_keras_model(model_path)
    info = read_run(model_path, model, config)
    if info.architecture == "camnet":  # the same float model, its full-resolution features sized for int8
        from train.camnet import balance_full_res

        if (gain := balance_full_res(model)) is not None:
            log(f"camnet: full-resolution features carried {gain:.2f}x larger, on the last merge's int8 scale")
    spec = parse_noise(info.noise)
    calib_spec = parse_noise(config.calib_noise) if config.calib_noise else spec
    multiple = size_multiple_of(model, info.architecture, info.model_kwargs)
    for size in config.sizes:
        check_size(size, multiple, f"{info.architecture} model")
    out_dir = Path(config.out) if config.out else info.run_dir / "tflite"
    gate_dir, gate_rel, gate_split = _gate_files(info, config)

    if config.format == "onnx":
        from convert.onnx_export import convert_run_onnx

        return convert_run_onnx(config, model, info, out_dir, gate_dir, gate_rel, gate_split, spec, log)

    tf_version, package_version = _versions()
    report = ConvertReport(config=config.to_dict())
    tuning = config.tune_ranges > 0  # int8 is among the precisions (checked above)
    if tuning:
        from train.layers import trained_fake_quants

        trained = {layer.name: layer.get_weights() for layer in trained_fake_quants(model)}
        report.range_tuning = {}
    for size in config.sizes:
        h, w = size
        tuned = None
        if tuning:  # each size starts from the trained ranges: a VGA frame's statistics are not a 128 image's
            for layer in trained_fake_quants(model):
                layer.set_weights(trained[layer.name])
            tuned = report.range_tuning[f"{h}x{w}"] = _tune(model, info, config, spec, gate_split, size, log)
        clone = fixed_shape_model(model, size)
        log(f"{h}x{w}: input {list(clone.input_shape)} -> output {list(clone.output_shape)}")
        clean = load_clean(gate_dir, gate_rel, size, config.gate_count)
        if len(clean) == 0:
            raise EdgeDenoiseError(f"{gate_dir}: no readable images in the {gate_split} split for the quality gate")
        check_gate_count(len(clean), gate_dir, gate_split)
        log(f"{h}x{w}: quality gate on {len(clean)} {gate_split} images from {gate_dir}")
        ref = keras_reference(model, clean, spec, split=gate_split)
        calib = None
        if "int8" in config.precisions:
            folder, rel = _calib_source(info, config)
            calib = calibration_images(folder, size, calib_spec, config.calib_count, seed=config.seed, relpaths=rel)
            log(f"{h}x{w}: {len(calib)} calibration images from {folder}")
        for precision in config.precisions:
            io = config.io if precision == "int8" else "float"
            path = out_dir / file_name(info.name, precision, size, io)
            entry = {"file": str(path), "precision": precision, "io": io, "size": [h, w], "status": "ok"}
            t0 = time.perf_counter()
            try:
                # a --quant-aware model gives int8 the ranges training learnt for its tensors
                fake_quant_at_inference(clone, precision == "int8")
                blob = convert_to_tflite(clone, precision, io=io, calib=calib)
                _write_gated(path, blob, ref, config, info, precision, io, size, tf_version, package_version, entry,
                             tuned)
            except EdgeDenoiseError as exc:
                entry["status"] = "failed"
                entry["error"] = str(exc)
            entry["seconds"] = round(time.perf_counter() - t0, 2)
            report.files.append(entry)
            gate = entry.get("gate")
            nums = f" SSIM {gate['tflite_ssim']:.4f} (keras {gate['keras_ssim']:.4f}, drop {gate['drop']:+.4f})" if gate else ""
            log(f"{path.name}: {entry['status']}{nums}" + (f": {entry['error']}" if "error" in entry else ""))
    return finish_report(report, out_dir)


def _tune(model, info: RunInfo, config: ConvertConfig, spec, gate_split: str, size: tuple[int, int],
          log: Callable[[str], None]) -> dict:
    """--tune-ranges: scale the quant-aware model's int8 ranges on held-out images at ``size`` (convert.ranges).

    It scores one random TUNE_CROP crop per image (the images loaded and cropped as the gate's are at
    that size), so the tensors see a frame's statistics at the file's scale at a 128x128 image's cost."""
    import numpy as np

    from convert.calibration import load_clean
    from convert.ranges import tune_ranges
    from train.data import noisy_pairs, random_crops

    folder, rel, split = _tune_files(info, gate_split)
    clean = load_clean(folder, rel, size, config.tune_ranges)
    if len(clean) == 0:
        raise EdgeDenoiseError(f"{folder}: no readable images in the {split} split for --tune-ranges")
    clean = random_crops(clean, min(TUNE_CROP, *size), np.random.default_rng(config.seed))
    noisy, clean01 = noisy_pairs(clean, spec, seed=config.seed + 5)  # never the gate's seed (2)
    return tune_ranges(model, noisy, clean01, split=split, log=log).as_dict()


def _write_gated(path: Path, blob: bytes, ref, config: ConvertConfig, info: RunInfo, precision: str, io: str,
                 size: tuple[int, int], tf_version: str, package_version: str, entry: dict,
                 range_tuning: dict | None = None) -> None:
    """Write ``blob`` to a temp file, gate it, and only then move it and its sidecar into place."""
    from convert.gate import run_gate
    from edge_runtime.engine import metadata_path
    from edge_runtime.noise_level import noise_range

    sidecar = metadata_path(path)
    wrote_sidecar = False
    try:
        with atomic_path(path) as tmp:
            tmp.write_bytes(blob)
            result, engine = run_gate(tmp, ref, config.max_drop)
            entry["gate"] = result.as_dict()
            if not result.passed:
                raise EdgeDenoiseError(
                    f"{precision} at {size[0]}x{size[1]} loses {result.drop:.4f} SSIM against Keras "
                    f"({result.tflite_ssim:.4f} vs {result.keras_ssim:.4f}, max drop {config.max_drop}); no file kept"
                    + ("; try fp16/dynamic, more --calib-count, or quantization-aware training" if precision == "int8" else "")
                )
            meta = build_metadata(info, precision, size, engine, result, tf_version, package_version)
            meta["noise_range"] = noise_range(ref.noisy01)  # run warns when live frames leave it (noise_level)
            if precision == "int8":
                meta["calibration_noise"] = config.calib_noise or info.noise
                if range_tuning is not None:
                    meta["range_tuning"] = range_tuning
            meta["min_runtime"] = min_runtime(blob, precision, engine)
            del engine
            write_json_atomic(sidecar, meta)
            wrote_sidecar = True
    except BaseException:
        if wrote_sidecar:
            sidecar.unlink(missing_ok=True)
        raise


def min_runtime(blob: bytes, precision: str, engine) -> dict:
    """The oldest runtime known to run this file (see MIN_RUNTIME)."""
    from convert.tflite import op_names

    if precision == "dynamic" and "TRANSPOSE_CONV" in op_names(blob):
        return {engine.runtime.name: engine.runtime.version,
                "note": "dynamic-range TRANSPOSE_CONV fails in tflite-runtime 2.14"}
    return dict(MIN_RUNTIME)


def build_metadata(info: RunInfo, precision: str, size: tuple[int, int], engine, result, tf_version: str,
                   package_version: str) -> dict:
    """The sidecar's JSON (schema ``edge-denoise-tflite/1``), readable without TensorFlow."""
    return {
        "format": METADATA_FORMAT,
        "name": info.name,
        "architecture": info.architecture,
        "model_kwargs": info.model_kwargs,
        "input_size": [size[0], size[1]],
        "precision": precision,
        "io_dtype": engine.input_dtype.name,
        "input_quantization": [float(engine.in_scale), int(engine.in_zero)],
        "output_quantization": [float(engine.out_scale), int(engine.out_zero)],
        "noise": info.noise,
        "gate": {k: v for k, v in result.as_dict().items() if k != "passed"},
        "train_config_hash": info.train_config_hash,
        "package_version": package_version,
        "converter": {"tensorflow": tf_version},
        "min_runtime": dict(MIN_RUNTIME),
        "gate_runtime": {engine.runtime.name: engine.runtime.version},
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
