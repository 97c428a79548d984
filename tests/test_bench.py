"""`edge-denoise bench`: the grid (edge_denoise.benchgrid) around the device-side worker (edge_runtime.bench)."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from tflite_fixtures import float_model, tflite_dir, uint8_model  # noqa: F401

from edge_denoise.benchgrid import BenchConfig, flag_rows, result_row, run_bench, write_results
from edge_runtime.bench import time_engine

SAMPLES = Path(__file__).resolve().parents[1] / "edge_runtime" / "samples"


def quick(**kw) -> BenchConfig:
    """A grid that measures in seconds: one thread count, the tiny models' size, two frames, no filters."""
    base = dict(shipped=False, threads=(1,), sizes=("64",), images=2, seconds=0.0, warmup=2, classical=(),
                data=str(SAMPLES))
    return BenchConfig(**{**base, **kw})


class CountingEngine:
    """Stands in for TFLiteEngine: counts invokes so warm-up and timed runs can be told apart."""

    input_hw = (8, 8)

    def __init__(self):
        self.invokes = 0

    def set_input_frame(self, frame_rgb):
        pass

    def invoke(self):
        self.invokes += 1

    def get_output_frame(self, out=None):
        return out


def test_percentiles_come_from_at_least_30_timed_runs_after_an_untimed_warmup():
    engine = CountingEngine()
    stats = time_engine(engine, np.zeros((2, 8, 8, 3), np.uint8), warmup=7, min_runs=30, seconds=0.0, max_runs=30)
    assert stats["runs"] == 30 and engine.invokes == 37
    assert stats["p50_ms"] <= stats["p90_ms"] <= stats["p99_ms"] <= stats["max_ms"]


def test_mac_count_of_a_known_conv_model_equals_the_hand_computed_number(float_model):
    from edge_runtime.macs import count_macs

    # Conv2D 3->4 (3x3) then Conv2D 4->3 (3x3), 'same' padding, on 64x64
    hand = 64 * 64 * 4 * (3 * 3 * 3) + 64 * 64 * 3 * (3 * 3 * 4)
    counted = count_macs(float_model)
    assert counted["macs"] == hand == 884_736
    assert counted["ops"]["CONV_2D"] == 2


def test_a_bad_row_is_marked_failed_while_the_rest_of_the_grid_runs(tmp_path, float_model, uint8_model):
    corrupt = tmp_path / "broken_int8_64x64.tflite"
    corrupt.write_bytes(b"\x00" * 4 + b"TFL3" + b"garbage" * 10)
    result = run_bench(quick(models=(str(float_model), str(uint8_model), str(corrupt)),
                             precisions=("fp32", "int4"), sizes=("64", "huge")))
    by_path = {r["path"]: r for r in result.rows if r["path"]}
    assert by_path[str(float_model)]["status"] == "ok" and by_path[str(uint8_model)]["status"] == "ok"
    assert by_path[str(float_model)]["runs"] >= 30
    assert by_path[str(float_model)]["macs"] == 884_736 and by_path[str(float_model)]["gmacs"] > 0
    assert by_path[str(float_model)]["peak_rss_mb"] > 0 and by_path[str(float_model)]["ssim"] is not None
    assert by_path[str(corrupt)]["status"] == "failed" and "cannot load" in by_path[str(corrupt)]["error"]
    errors = [r["error"] for r in result.rows if r["status"] == "failed"]
    assert any("unknown precision 'int4'" in e for e in errors)
    assert any("bad size 'huge'" in e for e in errors)
    # the noisy input row scores the very frames the models saw
    assert any(r["kind"] == "input" and r["ssim"] is not None for r in result.rows)


def test_a_quantized_file_slower_than_its_fp32_sibling_is_flagged_and_the_pareto_front_marked():
    def row(prec, p50, ssim):
        return result_row("tflite", "unet", prec, "128x128", 2, p50_ms=p50, ssim=ssim)

    rows = [row("fp32", 10.0, 0.80), row("int8", 12.0, 0.79), row("fp16", 10.2, 0.80), row("dynamic", 6.0, 0.78)]
    flag_rows(rows, {})
    flags = {r["precision"]: r["flags"] for r in rows}
    assert any(f.startswith("SLOWER than fp32 (1.20x)") for f in flags["int8"])
    assert not any(f.startswith("SLOWER") for f in flags["fp16"] + flags["dynamic"])  # within 5 %, or faster
    assert "pareto" in flags["fp32"] and "pareto" in flags["dynamic"] and "pareto" not in flags["int8"]


def test_ceiling_share_uses_the_ceiling_file_at_the_same_thread_count(tmp_path, float_model):
    ceiling = tmp_path / "ceiling"
    ceiling.mkdir()
    shutil.copy(float_model, ceiling / "ceiling_fp32.tflite")
    result = run_bench(quick(models=(str(float_model),), ceiling_dir=str(ceiling)))
    assert result.ceiling["fp32"]["1"] > 0
    assert "no int8 ceiling" in " ".join(result.notes)
    model_row = next(r for r in result.rows if r["kind"] == "tflite")
    assert model_row["ceiling_pct"] == pytest.approx(100.0 * model_row["gmacs"] / result.ceiling["fp32"]["1"])


def device_report(path: Path, model_path: Path) -> Path:
    """What `edge-denoise run --report` writes on a Raspberry Pi (the fields bench reads)."""
    stage = {"count": 120, "mean_ms": 40.0, "p50_ms": 39.0, "p90_ms": 44.0, "p99_ms": 51.0, "max_ms": 60.0}
    small = {"count": 120, "mean_ms": 1.0, "p50_ms": 1.0, "p90_ms": 1.2, "p99_ms": 1.5, "max_ms": 2.0}
    path.write_text(json.dumps({
        "frames": 120, "fps": 22.0, "stages_ms": {"invoke": stage, "preprocess": small, "postprocess": small},
        "quality": {"noise": "gaussian:0.1", "denoised_ssim_mean": 0.81, "denoised_psnr_mean": 29.5},
        "model": {"path": f"/home/pi/{model_path.name}", "name": "tiny", "input_hw": [64, 64], "threads": 4,
                  "metadata": {"name": "tiny", "precision": "int8"}},
        "device": {"board": "Raspberry Pi 5 Model B Rev 1.0", "cpu": "Cortex-A76", "cores": 4}}))
    return path


def test_device_report_is_merged_and_every_output_file_is_written(tmp_path, uint8_model):
    rep = device_report(tmp_path / "pi5.json", uint8_model)
    result = run_bench(quick(models=(str(uint8_model),), device_reports=(str(rep), str(tmp_path / "missing.json")),
                             classical=("median", "nosuchfilter")))
    pi = next(r for r in result.rows if r["kind"] == "device" and r["status"] == "ok")
    assert pi["device"] == "Raspberry Pi 5 Model B Rev 1.0" and pi["p50_ms"] == 39.0 and pi["threads"] == 4
    assert pi["macs"] == 884_736  # joined with the local file of the same name
    assert pi["fps"] == pytest.approx(1000.0 / 42.0) and pi["ssim"] == 0.81
    assert any(r["kind"] == "device" and r["status"] == "failed" and "no such device report" in r["error"] for r in result.rows)
    assert any(r["model"] == "median" and r["status"] == "ok" and r["ssim"] for r in result.rows)
    assert any(r["model"] == "nosuchfilter" and r["status"] == "failed" for r in result.rows)

    written = write_results(result, tmp_path / "out")
    names = {p.name for p in written}
    assert {"bench.csv", "bench.json", "bench.md"} <= names
    rows = list(csv.DictReader((tmp_path / "out" / "bench.csv").open()))
    assert {r["device"] for r in rows} >= {"this machine", "Raspberry Pi 5 Model B Rev 1.0"}
    data = json.loads((tmp_path / "out" / "bench.json").read_text())
    assert data["machine"]["cpu"] and data["machine"]["python"] and data["machine"]["runtime_version"]
    md = (tmp_path / "out" / "bench.md").read_text()
    assert "| tiny | int8 | 64x64 | 4 | Raspberry Pi 5 Model B Rev 1.0 | 39.00 |" in md and "How this was measured" in md


def test_bench_measures_quality_on_the_test_split_training_holds_out(samples_dir):
    from edge_denoise import benchgrid
    from edge_runtime.splits import split_of
    from train import data

    assert data.split_of is split_of, "one hash split, shared by training and the device side"
    folder, files, how = benchgrid.test_split(BenchConfig(models=(), data=str(samples_dir)))
    everything = [p.relative_to(samples_dir).as_posix() for p in sorted(samples_dir.rglob("*.jpg"))]
    assert files == [r for r in everything if split_of(r) == "test"] and "test split" in how


def test_without_data_bench_scores_the_bundled_samples_and_says_so(monkeypatch):
    from edge_denoise.benchgrid import test_split

    monkeypatch.delenv("EDGE_DENOISE_DATA", raising=False)
    folder, files, how = test_split(BenchConfig(models=()))
    assert folder == SAMPLES and files and how.startswith("no --data or $EDGE_DENOISE_DATA: quality measured on the bundled")


def test_bench_cli_repeat_mode_shows_every_run_once_with_tensorflow_blocked(tmp_path, float_model):
    from test_runtime_cli import cli

    out = tmp_path / "out"
    r = cli("bench", str(float_model), "--no-shipped", "--threads", "1", "--size", "64", "--repeat", "3",
            "--classical", "median", "--images", "2", "--seconds", "0", "--no-ceiling", "--data", str(SAMPLES),
            "--out", str(out))
    assert r.returncode == 0, r.stderr
    assert "p50 per run" in r.stdout and "diff %" in r.stdout
    data = json.loads((out / "bench.json").read_text())
    measured = [row for row in data["rows"] if row["kind"] in ("tflite", "classical")]
    assert measured and all(len(row["p50_runs"]) == 3 and row["run_diff_pct"] is not None for row in measured)
    assert data["config"]["repeat"] == 3


def test_bench_cli_refuses_fewer_than_30_runs_in_one_line():
    from test_runtime_cli import cli

    r = cli("bench", "--min-runs", "10")
    assert r.returncode == 2 and "at least 30" in r.stderr and "Traceback" not in r.stderr


def test_bench_config_checks_its_options_for_a_python_caller_too():
    from edge_runtime.errors import EdgeDenoiseError

    with pytest.raises(EdgeDenoiseError, match="--min-runs 10: at least 30"):
        BenchConfig(min_runs=10)
    with pytest.raises(EdgeDenoiseError, match="unknown kind 'gausian'"):
        BenchConfig(noise="gausian:0.1")
    with pytest.raises(EdgeDenoiseError, match="--repeat and --images must be 1 or more"):
        BenchConfig(images=0)


def test_the_device_side_imports_no_host_tool_not_even_inside_a_function():
    """edge_runtime (the worker included) stands alone on a device: the grid, training and conversion import it,
    never the other way round."""
    import ast

    host = {"edge_denoise", "train", "convert", "tensorflow", "keras", "tf_keras"}
    found = []
    for path in sorted((Path(__file__).resolve().parents[1] / "edge_runtime").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            found += [f"{path.name}: {n}" for n in names if n.split(".")[0] in host]
    assert found == []


def test_every_record_names_the_cpu_extensions_that_decide_its_speed():
    """Machines that both call themselves "Intel(R) Xeon(R) Processor" differ in these (one had AMX, one not),
    and so do the latency ratios measured on them: the records say which extensions the CPU had."""
    from edge_runtime.device_info import cpu_flags, device_info

    xeon = "processor\t: 0\nflags\t\t: fpu sse avx2 avx512f avx512_vnni amx_int8 amx_tile\n"
    pi5 = "processor\t: 0\nFeatures\t: fp asimd evtstrm aes crc32 atomics fphp asimdhp asimddp\nCPU part\t: 0xd0b\n"
    assert cpu_flags(xeon) == ["avx2", "avx512f", "avx512_vnni", "amx_int8"]
    assert cpu_flags(pi5) == ["asimddp", "fphp", "asimdhp"]
    assert cpu_flags("no such lines") == []
    assert isinstance(device_info()["cpu_flags"], list)
