"""The convert stage: gated .tflite files per precision and size, metadata, and one-line errors."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

from edge_runtime.errors import EdgeDenoiseError
from tflite_fixtures import tflite_dir, uint8_model  # noqa: F401

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "edge_runtime" / "samples"
SIZE = (32, 32)


def make_run(root: Path, architecture: str = "unet", **kwargs) -> Path:
    """A run folder like `edge-denoise train` writes: model.keras, config.json, manifest.json, data/."""
    import keras
    from train.data import make_manifest, write_manifest
    from train.models import create_model

    data = root / "data"
    for cls in ("Kirmizi_Pistachio", "Siirt_Pistachio"):
        (data / cls).mkdir(parents=True)
        for f in sorted((SAMPLES / cls).glob("*.jpg"))[:6]:
            shutil.copy(f, data / cls / f.name)
    keras.utils.set_random_seed(0)
    kwargs = kwargs or {"width": 4, "depth": 2, "residual": True}
    model = create_model(architecture, **kwargs)
    model.save(root / "model.keras")
    train_cfg = {"model": architecture, "data": str(data), "noise": "gaussian:0.1", "size": 32, **kwargs}
    (root / "config.json").write_text(json.dumps({"train": train_cfg}))
    write_manifest(root / "manifest.json", make_manifest(data))
    return root / "model.keras"


@pytest.fixture(scope="module")
def run_model(tmp_path_factory) -> Path:
    return make_run(tmp_path_factory.mktemp("unet_run"))


def config_for(model: Path, out: Path, **changes):
    from convert import ConvertConfig

    base = dict(model=str(model), out=str(out), sizes=(SIZE,), precisions=("fp32",), calib_count=8, gate_count=4)
    base.update(changes)
    return ConvertConfig(**base)


@pytest.fixture(scope="module")
def converted(run_model, tmp_path_factory):
    """All four precisions at 32x32, converted once for the module."""
    from convert import convert_run

    out = tmp_path_factory.mktemp("converted")
    report = convert_run(config_for(run_model, out, precisions=("fp32", "fp16", "dynamic", "int8")), log=lambda s: None)
    return out, report


def tensor_dtypes(engine) -> set[str]:
    return {np.dtype(d["dtype"]).name for d in engine.interpreter.get_tensor_details()}


# --- sizes and precisions -------------------------------------------------------------------

def test_size_spelling_is_side_or_height_x_width():
    from edge_runtime.sizes import parse_size

    assert parse_size("128") == (128, 128)
    assert parse_size("480x640") == (480, 640)
    for bad in ("128x", "x128", "12.5", "0x8", "big"):
        with pytest.raises(EdgeDenoiseError, match="bad size"):
            parse_size(bad)


def test_unknown_precision_is_named():
    from convert.tflite import parse_precisions

    assert parse_precisions("fp32, int8,fp32") == ("fp32", "int8")
    with pytest.raises(EdgeDenoiseError, match="unknown precision 'int4'"):
        parse_precisions("fp32,int4")


# --- conversion -----------------------------------------------------------------------------

def test_each_precision_converts_loads_in_the_engine_and_denoises(converted):
    from edge_runtime.engine import load_engine, read_metadata

    out, report = converted
    assert [f["status"] for f in report.files] == ["ok"] * 4
    assert json.loads((out / "convert_report.json").read_text())["files"][3]["precision"] == "int8"
    for precision in ("fp32", "fp16", "dynamic", "int8"):
        path = out / f"unet_run0_{precision}_32x32.tflite"
        meta = read_metadata(path)
        assert meta["format"] == "edge-denoise-tflite/1" and meta["precision"] == precision
        assert meta["input_size"] == [32, 32] and meta["architecture"] == "unet"
        assert meta["model_kwargs"] == {"width": 4, "depth": 2, "residual": True}
        assert meta["gate"]["drop"] <= meta["gate"]["max_drop"] == 0.01
        engine = load_engine(path)
        assert engine.input_hw == (32, 32)
        noisy = np.random.default_rng(0).random((2, 32, 32, 3), dtype=np.float32)
        y = engine(noisy)
        assert y.shape == noisy.shape and y.dtype == np.float32 and np.isfinite(y).all()
    assert "float16" in tensor_dtypes(load_engine(out / "unet_run0_fp16_32x32.tflite"))
    assert "int8" in tensor_dtypes(load_engine(out / "unet_run0_dynamic_32x32.tflite"))
    assert read_metadata(out / "unet_run0_int8_32x32.tflite")["min_runtime"] == {"tflite-runtime": "2.14.0"}
    assert "tflite-runtime" not in read_metadata(out / "unet_run0_dynamic_32x32.tflite")["min_runtime"]


def test_int8_has_int8_internals_and_float_io_by_default(converted):
    from edge_runtime.engine import load_engine

    out, _ = converted
    engine = load_engine(out / "unet_run0_int8_32x32.tflite")
    assert engine.input_dtype == np.float32 and engine.output_dtype == np.float32
    assert "int8" in tensor_dtypes(engine) and "float16" not in tensor_dtypes(engine)


def test_int8_with_uint8_io_has_integer_io_and_quantization_in_metadata(run_model, tmp_path):
    from convert import convert_run
    from edge_runtime.engine import load_engine, read_metadata

    convert_run(config_for(run_model, tmp_path, precisions=("int8",), io="uint8", sizes=((32, 48),)), log=lambda s: None)
    path = tmp_path / "unet_run0_int8_32x48_u8io.tflite"
    engine = load_engine(path)
    assert engine.input_dtype == np.uint8 and engine.output_dtype == np.uint8 and engine.input_hw == (32, 48)
    assert "int8" in tensor_dtypes(engine)
    meta = read_metadata(path)
    assert meta["io_dtype"] == "uint8" and meta["input_size"] == [32, 48]
    assert meta["input_quantization"][0] == pytest.approx(engine.in_scale) and meta["input_quantization"][0] > 0
    assert meta["calibration_noise"] == meta["noise"] == "gaussian:0.1"  # the run's noise calibrated it


def test_int8_can_be_calibrated_on_another_noise_than_the_gate_uses(run_model, tmp_path):
    """A blind model's mixture has salt-and-pepper, whose impulses widen every int8 range; --calib-noise
    calibrates on another noise while the gate still scores the run's own."""
    from convert import convert_run
    from edge_runtime.engine import read_metadata

    report = convert_run(config_for(run_model, tmp_path, precisions=("int8",), calib_noise="poisson:30"), log=lambda s: None)
    meta = read_metadata(tmp_path / "unet_run0_int8_32x32.tflite")
    assert meta["calibration_noise"] == "poisson:30" and meta["noise"] == "gaussian:0.1"
    assert report.config["calib_noise"] == "poisson:30"


def test_size_not_a_multiple_of_the_pooling_factor_is_refused(run_model, tmp_path):
    from convert import convert_run

    with pytest.raises(EdgeDenoiseError, match="multiples of 4"):
        convert_run(config_for(run_model, tmp_path, sizes=((30, 32),)), log=lambda s: None)
    assert not list(tmp_path.iterdir())


# --- the quality gate -----------------------------------------------------------------------

def test_gate_failure_leaves_no_file_and_says_why(run_model, tmp_path, monkeypatch):
    """A conversion whose weights were perturbed fails the gate; nothing of it is kept."""
    import convert.tflite as tflite
    from convert import ConvertFailed, convert_run

    real = tflite.convert_to_tflite

    def broken(model, precision, io="float", calib=None):
        model.set_weights([w + np.random.default_rng(0).normal(0, 0.5, w.shape).astype(w.dtype) for w in model.get_weights()])
        return real(model, precision, io=io, calib=calib)

    monkeypatch.setattr(tflite, "convert_to_tflite", broken)
    with pytest.raises(ConvertFailed, match=r"unet_run0_fp32_32x32.tflite failed: fp32 at 32x32 loses .* SSIM"):
        convert_run(config_for(run_model, tmp_path), log=lambda s: None)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["convert_report.json"]
    entry = json.loads((tmp_path / "convert_report.json").read_text())["files"][0]
    assert entry["status"] == "failed" and entry["gate"]["drop"] > 0.01


def test_the_gate_scores_uint8_frames_through_the_devices_frame_path(uint8_model):
    """Keras and the file see the same uint8 frames a camera gives; the file runs them through denoise_frame."""
    import keras

    from convert.gate import keras_reference, run_gate
    from edge_runtime.engine import load_engine
    from edge_runtime.images import to_frame_rgb, to_image01
    from edge_runtime.metrics import score
    from edge_runtime.noise import parse_noise

    clean_u8 = np.random.default_rng(0).integers(0, 256, (3, 64, 64, 3)).astype(np.uint8)
    identity = keras.Sequential([keras.Input((64, 64, 3)), keras.layers.Identity()])
    ref = keras_reference(identity, clean_u8, parse_noise("gaussian:0.1"))
    assert np.array_equal(ref.noisy01, to_image01(to_frame_rgb(ref.noisy01)))  # on the uint8 grid: camera frames
    result, _ = run_gate(uint8_model, ref)
    engine = load_engine(uint8_model)
    on_device = np.stack([to_image01(engine.denoise_frame(to_frame_rgb(x))) for x in ref.noisy01])
    assert result.tflite_ssim == round(float(score(ref.clean01, on_device).ssim_mean), 6)


def test_a_file_the_interpreter_cannot_load_fails_the_same_way(run_model, tmp_path, monkeypatch):
    import convert.tflite as tflite
    from convert import ConvertFailed, convert_run

    monkeypatch.setattr(tflite, "convert_to_tflite", lambda *a, **k: b"\x00\x00\x00\x00TFL3" + b"\x00" * 64)
    with pytest.raises(ConvertFailed, match="cannot load"):
        convert_run(config_for(run_model, tmp_path), log=lambda s: None)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["convert_report.json"]


# --- metadata and the model zoo, without TensorFlow ------------------------------------------

BLOCK_TF = """
import sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in ('tensorflow', 'keras', 'train', 'convert', 'tf_keras'):
            raise ImportError('blocked: ' + name)
sys.meta_path.insert(0, Block())
"""


def test_metadata_and_engine_work_without_tensorflow(converted):
    out, _ = converted
    code = BLOCK_TF + f"""
import numpy as np
from edge_runtime.engine import load_engine, read_metadata
from edge_runtime.zoo import list_models, resolve_model
path = resolve_model('unet_run0', 'int8', 32, paths=[{str(out)!r}])
meta = read_metadata(path)
assert meta['precision'] == 'int8' and meta['input_size'] == [32, 32], meta
assert len(list_models([{str(out)!r}], shipped=False)) == 4
y = load_engine(path)(np.full((1, 32, 32, 3), 0.5, np.float32))
assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules
print('ok', y.shape)
"""
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "ok (1, 32, 32, 3)" in proc.stdout


def test_resolving_a_converted_model_by_name_says_what_exists_when_nothing_matches(converted):
    from edge_runtime.zoo import resolve_model

    out, _ = converted
    assert resolve_model("unet_run0", "fp32", (32, 32), paths=[out]) == out / "unet_run0_fp32_32x32.tflite"
    with pytest.raises(EdgeDenoiseError, match=r"--model unet_run0 --precision int8: no 64x64 file; sizes: 32x32"):
        resolve_model("unet_run0", "int8", (64, 64), paths=[out])
    with pytest.raises(EdgeDenoiseError, match=r"--model unet_run1: no shipped or in .* model of that name "
                                               r"\(available: .*unet_run0 fp32 32x32"):
        resolve_model("unet_run1", "int8", paths=[out])


# --- the CLI: one line per bad input ---------------------------------------------------------

def cli(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "COLUMNS": "200"}
    exe = Path(sys.executable).parent / "edge-denoise"
    return subprocess.run([str(exe), *args], capture_output=True, text=True, env=env, timeout=300, cwd=ROOT)


def lambda_model(path: Path) -> Path:
    import keras

    inp = keras.Input((None, None, 3))
    out = keras.layers.Lambda(lambda x: x * 1.0)(inp)
    keras.Model(inp, out).save(path)
    return path


def test_tune_ranges_scores_held_out_images_and_records_what_it_did(tmp_path):
    """A quant-aware run's ranges are tuned on its validation split (the gate scores the test split),
    and the report and the int8 file's metadata say what tuning measured."""
    import keras

    from convert import convert_run
    from edge_runtime.engine import read_metadata

    model_path = make_run(tmp_path / "qat", "fastnet", width=8, blocks=1, quant_aware=True)
    model = keras.models.load_model(model_path)
    model(np.random.default_rng(0).random((4, 32, 32, 3), dtype=np.float32), training=True)  # trained ranges
    model.save(model_path)
    logged = []
    report = convert_run(config_for(model_path, tmp_path / "out", precisions=("int8",), tune_ranges=4), log=logged.append)
    tuning = report.range_tuning["32x32"]  # each size tunes its own, on crops of images at that size
    assert tuning["split"] == "val" and 0 < tuning["images"] <= 4 and report.files[0]["gate"]["split"] == "test"
    assert tuning["drop_after"] <= tuning["drop_before"]
    assert set(tuning["ranges"]) == {"stem_fq", "block0_conv1_fq", "block0_conv2_fq", "block0_add_fq", "head_fq", "residual_fq"}
    assert read_metadata(tmp_path / "out" / "qat_int8_32x32.tflite")["range_tuning"] == tuning
    assert any(line.startswith("tune ranges: pass 2/2") for line in logged)


def bad_inputs(run_model: Path, tmp: Path) -> dict[str, tuple[list[str], str]]:
    """name -> (arguments, expected text in the one error line)."""
    corrupt = tmp / "corrupt.keras"
    corrupt.write_bytes(b"not a zip at all" * 10)
    truncated = tmp / "truncated.keras"
    truncated.write_bytes(run_model.read_bytes()[: run_model.stat().st_size // 2])
    damaged = tmp / "damaged.keras"  # a zip, but not a Keras archive
    with zipfile.ZipFile(damaged, "w") as zf:
        zf.writestr("hello.txt", "hi")
    empty_calib = tmp / "empty_calib"
    empty_calib.mkdir()
    (empty_calib / "broken.jpg").write_bytes(b"\xff\xd8\xff garbage")
    model = str(run_model)
    out = ["--out", str(tmp / "out")]
    return {
        "missing": ([str(tmp / "nope.keras"), *out], "no such model file"),
        "corrupt": ([str(corrupt), *out], "not a .keras file"),
        "truncated": ([str(truncated), *out], "not a .keras file"),
        "not keras": ([str(damaged), *out], "cannot load model"),
        "lambda": ([str(lambda_model(tmp / "lambda.keras")), *out], "Lambda layer"),
        "empty calib": ([model, "--quant", "int8", "--size", "32", "--calib", str(empty_calib), "--gate-count", "3", *out],
                        "no readable images for calibration"),
        "missing calib": ([model, "--quant", "int8", "--calib", str(tmp / "nowhere"), *out], "calibration folder not found"),
        "precision": ([model, "--quant", "fp32,int4", *out], "unknown precision 'int4'"),
        "size spelling": ([model, "--size", "128by128", *out], "bad size '128by128'"),
        "size multiple": ([model, "--size", "30", *out], "multiples of 4"),
        "tune a plain model": ([model, "--quant", "int8", "--size", "32", "--tune-ranges", "2", *out],
                               "needs a model trained with --quant-aware"),
        "tune without int8": ([model, "--quant", "fp16", "--tune-ranges", "2", *out], "add int8 to --quant"),
    }


def test_bad_inputs_give_one_line_and_no_file(run_model, tmp_path):
    cases = bad_inputs(run_model, tmp_path)
    # one process per case would import TensorFlow ten times; the in-process runner is the same code path
    from typer.testing import CliRunner

    from edge_denoise.cli import app

    runner = CliRunner()
    for name, (args, expected) in cases.items():
        result = runner.invoke(app, ["convert", *args])
        assert isinstance(result.exception, EdgeDenoiseError), (name, result.exception, result.output)
        message = str(result.exception)
        assert expected in message, (name, message)
        assert "\n" not in message, (name, message)
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").glob("*.tflite"))


def test_cli_prints_one_red_line_and_exits_2(run_model, tmp_path):
    proc = cli("convert", str(run_model), "--quant", "fp32,int4", "--out", str(tmp_path / "out"))
    assert proc.returncode == 2
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert lines == ["error: unknown precision 'int4'; choose from fp32, fp16, dynamic, int8"], proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr


def test_cli_convert_and_models_list_the_file(run_model, tmp_path):
    out = tmp_path / "out"
    proc = cli("convert", str(run_model), "--quant", "fp32", "--size", "32", "--gate-count", "3", "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    assert "input [1, 32, 32, 3] -> output [1, 32, 32, 3]" in proc.stderr
    assert (out / "unet_run0_fp32_32x32.tflite").exists() and (out / "unet_run0_fp32_32x32.json").exists()
    listing = cli("models", str(out))
    assert listing.returncode == 0 and "unet_run0" in listing.stdout and "32x32" in listing.stdout
    assert "edge-denoise convert camnet --size HxW" in " ".join(listing.stdout.split())  # the default's Keras model


def test_onnx_export_matches_keras(run_model, tmp_path):
    pytest.importorskip("tf2onnx")
    pytest.importorskip("onnxruntime")
    from convert import convert_run

    convert_run(config_for(run_model, tmp_path, format="onnx"), log=lambda s: None)
    meta = json.loads((tmp_path / "unet_run0_fp32_32x32.json").read_text())
    assert (tmp_path / "unet_run0_fp32_32x32.onnx").exists()
    assert meta["gate"]["max_abs_diff"] < 1e-4 and meta["gate"]["drop"] <= 0.01


def test_the_onnx_gate_needs_as_many_images_as_the_tflite_gate(run_model, tmp_path):
    from convert import convert_run

    with pytest.raises(EdgeDenoiseError, match="the quality gate found 2 readable image.*needs at least 3"):
        convert_run(config_for(run_model, tmp_path, format="onnx", gate_count=2), log=lambda s: None)
    assert not list(tmp_path.glob("*.onnx"))


def test_fixed_size_files_carry_no_dynamic_shape_ops_that_split_the_xnnpack_graph(converted):
    from convert.tflite import op_names

    out, _ = converted
    for precision in ("fp32", "int8"):
        ops = op_names((out / f"unet_run0_{precision}_32x32.tflite").read_bytes())
        assert "TRANSPOSE_CONV" in ops
        assert not ops & {"SHAPE", "STRIDED_SLICE", "PACK"}, ops


def test_metadata_names_the_shape_of_a_fastnet_and_of_a_half_resolution_unet(tmp_path):
    from convert.pipeline import ConvertConfig, read_run

    for train, want in (({"model": "fastnet", "width": 40, "depth": 3, "residual": True, "scale": 2, "blocks": 4,
                          "separable": False}, {"width": 40, "residual": True, "scale": 2, "blocks": 4, "separable": False}),
                        ({"model": "unet", "width": 24, "depth": 3, "residual": True, "unshuffle": 2},
                         {"width": 24, "depth": 3, "residual": True, "unshuffle": 2})):
        run = tmp_path / train["model"]
        run.mkdir()
        (run / "config.json").write_text(json.dumps({"train": train}))
        info = read_run(run / "model.keras", None, ConvertConfig(model=str(run / "model.keras")))
        assert info.model_kwargs == want


def test_selective_int8_keeps_the_named_ops_in_float_and_the_rest_in_int8(tmp_path):
    """convert_int8_selective, which experiments/int8_float_stream.py and int8_background.py use to ask whether
    keeping part of a model in float rescues its int8 file."""
    import keras

    from convert.tflite import convert_int8_selective
    from edge_runtime.engine import load_engine

    inputs = keras.Input((16, 16, 3), batch_size=1)
    x = keras.layers.Conv2D(8, 3, padding="same", activation="relu", name="first")(inputs)
    x = keras.layers.Add(name="skip")([x, keras.layers.Conv2D(8, 3, padding="same", name="second")(x)])
    model = keras.Model(inputs, keras.layers.Conv2D(3, 1, name="out")(x))
    calib = np.random.default_rng(0).random((4, 16, 16, 3), dtype=np.float32)

    def adds(interpreter) -> list[str]:
        return [interpreter._get_tensor_details(op["outputs"][0], 0)["name"] for op in interpreter._get_ops_details()
                if op["op_name"] == "ADD"]

    blob, names = convert_int8_selective(model, calib, adds)
    assert len(names) == 1
    (tmp_path / "selective.tflite").write_bytes(blob)
    interpreter = load_engine(tmp_path / "selective.tflite").interpreter
    dtypes = {op["op_name"]: interpreter._get_tensor_details(op["outputs"][0], 0)["dtype"]
              for op in interpreter._get_ops_details()}
    assert dtypes["ADD"] == np.float32, "the named op stays float"
    assert dtypes["CONV_2D"] == np.int8 and "DEQUANTIZE" in dtypes, "the convolutions around it are int8"
    plain, none = convert_int8_selective(model, calib, lambda interpreter: [])
    assert none == [] and plain != blob


def test_no_module_imports_a_private_name_from_another():
    """A leading underscore means 'this module only': shared helpers get a public name in the module that owns them
    (the TFLite and ONNX paths share convert.report instead of importing each other's internals)."""
    import ast

    root = Path(__file__).resolve().parents[1]
    found = []
    for package in ("train", "convert", "edge_runtime", "tests"):
        for path in sorted((root / package).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] in (
                        "train", "convert", "edge_runtime", "edge_denoise"):
                    found += [f"{path.relative_to(root)}: {node.module}.{a.name}" for a in node.names
                              if a.name.startswith("_") and not a.name.startswith("__")]
    assert found == []


def test_package_code_cites_no_issue_numbers():
    """Comments say why in words; which issue asked for a change is git history's to tell."""
    import re

    root = Path(__file__).resolve().parents[1]
    pattern = re.compile(r"\bissues? #?\d+", re.IGNORECASE)
    found = [f"{path.relative_to(root)}:{n}" for package in ("train", "convert", "edge_runtime", "edge_denoise")
             for path in sorted((root / package).rglob("*.py"))
             for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1) if pattern.search(line)]
    assert found == []
