"""The checks of ci/arm64.sh (ci/arm64_compare.py), run here on x86 without qemu, and --fp16-arith's refusals.

The script runs the same commands on emulated arm64 and on x86 and hands the outputs to these checks;
a file that denoises differently on Arm, or that the runtime on the device cannot load, must fail them
with one line that names the file and the cause.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
COMPARE = REPO / "ci" / "arm64_compare.py"
MODELS = REPO / "edge_runtime" / "models"
INT8 = MODELS / "fastnet_int8_128x128.tflite"
FP16 = MODELS / "fastnet_fp16_128x128.tflite"


def compare(*args: str | Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(COMPARE), *map(str, args)], capture_output=True, text=True, timeout=120)


def doctor_json(model: Path, out: Path) -> Path:
    """``edge-denoise doctor --json --model MODEL`` on this machine, as the script runs it on arm64."""
    proc = subprocess.run([sys.executable, "-m", "edge_denoise", "doctor", "--json", "--model", str(model),
                           "--smoke-seconds", "0.2", "--out", str(out.parent)],
                          capture_output=True, text=True, timeout=120)
    out.write_text(proc.stdout)
    return out


def write_pair(tmp_path: Path, change: int) -> tuple[Path, Path]:
    """Two folders with the same denoised image, one pixel of the second off by ``change`` steps."""
    rng = np.random.default_rng(0)
    img = rng.integers(10, 240, (32, 32, 3), dtype=np.uint8)
    arm, x86 = tmp_path / "arm", tmp_path / "x86"
    for d in (arm, x86):
        d.mkdir()
    Image.fromarray(img).save(x86 / "kirmizi 104.png")
    img[5, 7, 1] += change
    Image.fromarray(img).save(arm / "kirmizi 104.png")
    return arm, x86


def test_images_within_the_int8_tolerance_pass_and_print_the_measured_difference(tmp_path):
    arm, x86 = write_pair(tmp_path, 2)
    proc = compare("images", arm, x86, "--model", INT8)
    assert proc.returncode == 0, proc.stderr
    assert "fastnet_int8_128x128 kirmizi 104.png: arm64 against x86: max 2 step(s)" in proc.stdout


def test_an_output_beyond_tolerance_fails_with_one_line_naming_the_file(tmp_path):
    arm, x86 = write_pair(tmp_path, 12)
    proc = compare("images", arm, x86, "--model", INT8)
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("arm64: FAILED fastnet_int8_128x128 kirmizi 104.png")
    assert "max 12 step(s)" in lines[0] and "beyond tolerance (3, mean 0.5, int8)" in lines[0]


def test_an_fp16_file_is_held_closer_than_an_int8_file(tmp_path):
    arm, x86 = write_pair(tmp_path, 2)
    proc = compare("images", arm, x86, "--model", FP16)
    assert proc.returncode == 1
    assert "beyond tolerance (1, mean 0.5, fp16)" in proc.stderr


def test_a_shift_of_the_whole_image_fails_even_within_the_maximum(tmp_path):
    arm, x86 = write_pair(tmp_path, 0)
    img = np.asarray(Image.open(arm / "kirmizi 104.png")).astype(np.int16)
    Image.fromarray((img + 1).astype(np.uint8)).save(arm / "kirmizi 104.png")
    proc = compare("images", arm, x86, "--model", INT8)
    assert proc.returncode == 1 and "max 1 step(s), mean 1.000 beyond tolerance" in proc.stderr


def test_a_missing_output_names_the_command_that_failed(tmp_path):
    arm, x86 = write_pair(tmp_path, 0)
    (arm / "kirmizi 104.png").unlink()
    proc = compare("images", arm, x86, "--model", INT8)
    assert proc.returncode == 1
    assert "kirmizi 104.png: not written on the other side" in proc.stderr


def demo_report(path: Path, ssim: float, frames: int = 2, runtime: str = "ai-edge-litert") -> Path:
    path.write_text(json.dumps({"frames": frames, "stop_reason": "frames", "quality": {"denoised_ssim_mean": ssim},
                                "model": {"runtime": runtime, "backend": "compiled"}}))
    return path


def test_demo_reports_compare_their_mean_ssim_within_the_precision_tolerance(tmp_path):
    x86 = demo_report(tmp_path / "x86.json", 0.9500)
    ok = compare("report", demo_report(tmp_path / "a.json", 0.9510), x86, "--frames", 2, "--model", INT8)
    assert ok.returncode == 0 and "|diff| 0.00100 <= 0.002" in ok.stdout
    bad = compare("report", demo_report(tmp_path / "b.json", 0.9400), x86, "--frames", 2, "--model", INT8)
    assert bad.returncode == 1 and "difference 0.01000 > tolerance 0.002" in bad.stderr
    short = compare("report", demo_report(tmp_path / "c.json", 0.95, frames=1), x86, "--frames", 2, "--model", INT8)
    assert short.returncode == 1 and "denoised 1 of 2 frames" in short.stderr


def too_new_op(src: Path, dst: Path) -> Path:
    """``src`` with CONV_2D at operator version 99: what an older runtime sees in a file from a newer converter."""
    flatbuffers = pytest.importorskip("flatbuffers")
    schema = pytest.importorskip("ai_edge_litert.schema_py_generated")
    model = schema.ModelT.InitFromPackedBuf(src.read_bytes(), 0)
    conv = [c for c in model.operatorCodes if c.builtinCode == schema.BuiltinOperator.CONV_2D]
    assert conv, "the shipped file has no CONV_2D"
    for code in conv:
        code.version = 99
    builder = flatbuffers.Builder(1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    dst.write_bytes(bytes(builder.Output()))
    shutil.copy(src.with_suffix(".json"), dst.with_suffix(".json"))  # still claims tflite-runtime 2.14 runs it
    return dst


def test_a_file_with_an_op_the_runtime_lacks_fails_the_doctor_check_with_a_clear_line(tmp_path):
    broken = too_new_op(INT8, tmp_path / "fastnet_int8_128x128.tflite")
    report = doctor_json(broken, tmp_path / "doctor.json")
    proc = compare("doctor", report, "--runtime", "ai-edge-litert", "--model", broken, "--arch", "x86_64")
    assert proc.returncode == 1
    line = proc.stderr.strip()
    assert line.startswith("arm64: FAILED fastnet_int8_128x128 does not load on ai-edge-litert")
    assert "CONV_2D" in line and "sidecar's min_runtime does not say so" in line


def test_a_refusal_that_the_sidecar_announces_is_what_the_check_expects(tmp_path):
    newer = tmp_path / "fastnet_int8_128x128.tflite"
    shutil.copy(INT8, newer)
    meta = json.loads(INT8.with_suffix(".json").read_text())
    meta["min_runtime"] = {"ai-edge-litert": "99.0"}
    newer.with_suffix(".json").write_text(json.dumps(meta))
    report = doctor_json(newer, tmp_path / "doctor.json")
    proc = compare("doctor", report, "--runtime", "ai-edge-litert", "--model", newer, "--arch", "x86_64")
    assert proc.returncode == 0, proc.stderr
    assert "refused, as its sidecar says (needs ai-edge-litert >= 99.0" in proc.stdout


def test_the_shipped_default_model_passes_the_doctor_check_here(tmp_path):
    report = doctor_json(INT8, tmp_path / "doctor.json")
    proc = compare("doctor", report, "--runtime", "ai-edge-litert", "--model", INT8, "--arch", "x86_64")
    assert proc.returncode == 0, proc.stderr
    assert "XNNPACK 4 partition(s) (ok: on" in proc.stdout


def test_the_script_runs_every_shipped_file_of_the_default_model():
    from edge_runtime.zoo import DEFAULT_MODEL

    proc = compare("models")
    files = proc.stdout.split()
    assert files and all(Path(f).name.startswith(f"{DEFAULT_MODEL}_") for f in files)
    assert {Path(f).name for f in files} == {p.name for p in MODELS.glob(f"{DEFAULT_MODEL}_*.tflite")}


def test_the_tflite_runtime_venv_gets_the_edge_extra_without_ai_edge_litert():
    deps = compare("deps", REPO / "pyproject.toml", "--without", "ai-edge-litert").stdout.splitlines()
    assert "pillow>=10" in deps and not any("litert" in d for d in deps)


def test_the_script_is_valid_bash_and_skips_with_its_own_status():
    subprocess.run(["bash", "-n", str(REPO / "ci" / "arm64.sh")], check=True)
    assert "SKIP_STATUS=77" in (REPO / "ci" / "arm64.sh").read_text()
    ci = (REPO / ".ci" / "run").read_text()
    assert "ci/arm64.sh" in ci and '"$status" -eq 77' in ci and "SKIPPED" in ci  # reported, never a silent pass


# --- --fp16-arith ---------------------------------------------------------------------------------
def test_fp16_arith_is_refused_with_one_line_where_the_cpu_lacks_fp16(monkeypatch):
    from edge_runtime import engine
    from edge_runtime.errors import EdgeDenoiseError

    monkeypatch.setattr(engine, "fp16_arith_problem", lambda: "this Arm CPU has no ARMv8.2-A fp16 arithmetic")
    with pytest.raises(EdgeDenoiseError, match=r"^--fp16-arith: this Arm CPU has no ARMv8.2-A fp16 arithmetic; "
                                               r"run without it"):
        engine.load_engine(FP16, fp16_arith=True)


def test_fp16_arith_on_x86_says_it_needs_an_arm_cpu():
    proc = subprocess.run([sys.executable, "-m", "edge_denoise", "denoise", str(REPO / "edge_runtime" / "samples"),
                           "--out", "/nonexistent-never-written", "--fp16-arith"], capture_output=True, text=True,
                          timeout=120)
    if proc.returncode == 0:
        pytest.skip("this machine computes in fp16")
    assert "--fp16-arith: this CPU" in proc.stderr and "not 64-bit Arm" in proc.stderr


def test_fp16_arith_passes_force_fp16_to_xnnpack(monkeypatch):
    from edge_runtime import engine

    if not engine.compiled_model_available():
        pytest.skip("no LiteRT CompiledModel here")
    seen = []
    real = engine.CompiledIO.__init__

    def spy(self, *args, **kwargs):
        seen.append(args[5] if len(args) > 5 else kwargs.get("xnnpack_flags", engine.COMPILED_XNNPACK_FLAGS))
        raise engine.EdgeDenoiseError("stop here")  # the flags are what this test is about

    monkeypatch.setattr(engine, "fp16_arith_problem", lambda: None)
    monkeypatch.setattr(engine.CompiledIO, "__init__", spy)
    for fp16 in (False, True):
        with pytest.raises(engine.EdgeDenoiseError):
            engine.load_engine(FP16, backend="compiled", fp16_arith=fp16)
    monkeypatch.setattr(engine.CompiledIO, "__init__", real)
    assert seen == [engine.COMPILED_XNNPACK_FLAGS, engine.COMPILED_XNNPACK_FLAGS | engine.XNNPACK_FORCE_FP16]


def test_fp16_arith_needs_the_compiled_backend(monkeypatch):
    from edge_runtime import engine

    monkeypatch.setattr(engine, "fp16_arith_problem", lambda: None)
    with pytest.raises(engine.EdgeDenoiseError, match="--fp16-arith needs the compiled backend"):
        engine.load_engine(FP16, backend="interpreter", fp16_arith=True)


def test_bench_device_report_names_a_run_with_fp16_arith(tmp_path):
    from edge_denoise.benchgrid import device_rows

    report = tmp_path / "pi5_fp16_arith.json"
    report.write_text(json.dumps({"stages_ms": {"invoke": {"p50_ms": 50.0, "mean_ms": 51.0, "count": 300}},
                                  "model": {"name": "fastnet", "input_hw": [480, 640], "threads": 4, "fp16_arith": True,
                                            "metadata": {"name": "fastnet", "precision": "fp16"}},
                                  "device": {"board": "Raspberry Pi 5 Model B"}}))
    assert "fp16 arithmetic (--fp16-arith)" in device_rows(report)[0]["flags"]


def test_every_file_is_loaded_on_both_runtimes_and_a_file_that_does_not_load_fails(tmp_path):
    broken = too_new_op(INT8, tmp_path / "fastnet_int8_128x128.tflite")
    loaded = compare("load", broken)
    assert loaded.returncode == 0, loaded.stderr
    result = tmp_path / "load.json"
    result.write_text(loaded.stdout)
    proc = compare("loads", result, "--runtime", "ai-edge-litert", "--models", tmp_path)
    assert proc.returncode == 1
    assert proc.stderr.startswith("arm64: FAILED fastnet_int8_128x128 does not load on ai-edge-litert")


def test_the_plan_runs_every_command_on_small_files_and_only_loads_large_float_files():
    """A 480x640 float frame costs about 100 CPU seconds under qemu; a 128x128 int8 frame under one."""
    plan = [line.split() for line in compare("plan").stdout.splitlines()]
    assert plan
    for tier, precision, rel in plan:
        h, w = json.loads((REPO / rel).with_suffix(".json").read_text())["input_size"]
        small, integer = h * w <= 128 * 128, precision in ("int8", "dynamic")
        assert tier == ("full" if small else "denoise" if integer else "load"), rel


def test_calibrate_on_arm64_must_recover_the_same_profile_as_on_x86(tmp_path):
    """The script calibrates a known camera's still clip on both machines; a profile that drifts fails in one line."""
    sample = next((REPO / "edge_runtime" / "samples").rglob("*.jpg"))
    assert compare("still-clip", tmp_path / "still", "--image", sample).returncode == 0
    assert len(list((tmp_path / "still").glob("*.png"))) == 12
    x86 = {"channels": {c: {"a": 0.004, "b": 3e-5} for c in "RGB"}}
    (tmp_path / "x86.json").write_text(json.dumps(x86))
    (tmp_path / "same.json").write_text(json.dumps(x86))
    ok = compare("calibrate", tmp_path / "same.json", tmp_path / "x86.json")
    assert ok.returncode == 0 and "within 0.00% of x86" in ok.stdout
    x86["channels"]["G"]["a"] = 0.0042  # 5 % off
    (tmp_path / "arm.json").write_text(json.dumps(x86))
    bad = compare("calibrate", tmp_path / "arm.json", tmp_path / "x86.json")
    assert bad.returncode == 1 and "FAILED calibrate: channel G a" in bad.stderr
