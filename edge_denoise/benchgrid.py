"""The benchmark grid: models x precision x threads x size, measured honestly, without TensorFlow.

Host tooling around the device-side worker (edge_runtime.bench): frames, rows, ceiling, Pareto front, plots.

    result = run_bench(BenchConfig(models=("unet_int8_480x640.tflite",), threads=(1, 2, 4)))
    write_results(result, "benchmarks/results")

How the numbers are made, so a reader can trust or discount them:

* Every .tflite row runs in its own fresh worker process (edge_runtime.bench, the device side): one
  model and one thread count per process, so peak RSS belongs to that row and a file that crashes
  the interpreter fails its row, not the grid.
* Every row of one size sees the same frames: the test split of ``data`` (or the bundled samples),
  centre-cropped to HxW, with ``noise`` (gaussian:0.1) added once with a fixed seed and stored as
  uint8, the pixel format the device loop feeds.
* Warm-up invokes (XNNPACK packs weights on the first) are not timed; then at least ``min_runs``
  (30) timed invokes and at least ``seconds`` of them. Latency is the interpreter's invoke alone;
  "I/O ms" is writing the uint8 frame in and reading it out (the engine's quantize/LUT path).
* MACs come from the graph (edge_runtime.macs); GMAC/s = MACs / p50. The ceiling is the same
  engine and thread count on a large 3x3 conv model (fp32 and int8 files made once with
  TensorFlow and cached), so "% ceiling" says how much of this CPU a model actually uses.
* ``repeat=2`` measures the whole grid twice and reports the run-to-run p50 difference per row.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from edge_runtime.bench import measure_file
from edge_runtime.errors import EdgeDenoiseError
from edge_runtime.sizes import parse_size, size_text

PRECISIONS = ("fp32", "fp16", "dynamic", "int8")
DEFAULT_SIZES = ("128", "256", "480x640")
CLASSICAL = ("median", "bilateral", "nlmeans")
MIN_RUNS = 30  # fewer timed runs than this and p99 is just the maximum
NOISY_REPEAT_PCT = 10.0  # run-to-run p50 difference above this marks a row as noisy
SLOWER_MARGIN = 1.05  # a quantized file this much slower than its fp32 sibling is flagged
CEILING_FILES = {"fp32": "ceiling_fp32.tflite", "int8": "ceiling_int8.tflite"}
# which ceiling a precision is compared with: fp16 weights are computed in fp32 on CPUs, and
# XNNPACK runs dynamic-range files with int8 GEMMs on the quantized-on-the-fly activations
CEILING_OF = {"fp32": "fp32", "float32": "fp32", "fp16": "fp32", "dynamic": "int8", "int8": "int8"}


@dataclass(frozen=True)
class BenchConfig:
    """One benchmark run. Sizes are text (``128``, ``480x640`` = 480 high) so a bad one fails its row only."""

    models: tuple[str, ...] = ()  # .tflite files, always measured (at their own size and precision)
    shipped: bool = True  # also the shipped models matching precisions x sizes
    precisions: tuple[str, ...] = PRECISIONS
    threads: tuple[int, ...] = (1, 2, 4)
    sizes: tuple[str, ...] = DEFAULT_SIZES
    warmup: int = 5
    min_runs: int = MIN_RUNS
    seconds: float = 1.0  # timed invokes continue at least this long (after min_runs)
    max_runs: int = 2000
    data: str | None = None  # clean images; None: $EDGE_DENOISE_DATA, else the bundled samples
    manifest: str | None = None  # split manifest; default: a run's manifest.json next to the models
    images: int = 16  # test images scored for SSIM/PSNR
    noise: str = "gaussian:0.1"
    seed: int = 2
    classical: tuple[str, ...] = CLASSICAL
    ceiling_dir: str | None = None  # folder with ceiling_fp32.tflite / ceiling_int8.tflite
    device_reports: tuple[str, ...] = ()
    repeat: int = 1
    worker_timeout_s: float = 600.0
    backend: str = "auto"  # engine backend for every .tflite row: auto, compiled or interpreter

    def __post_init__(self) -> None:
        """Refuse what would make the whole grid meaningless (a bad precision, size or file fails its row only)."""
        from edge_runtime.noise import parse_noise

        parse_noise(self.noise)
        if self.min_runs < MIN_RUNS:
            raise EdgeDenoiseError(f"--min-runs {self.min_runs}: at least {MIN_RUNS} timed runs are needed for a p99 worth quoting")
        if self.repeat < 1 or not self.seconds >= 0 or self.warmup < 0 or self.images < 1:
            raise EdgeDenoiseError("--repeat and --images must be 1 or more, --seconds and --warmup 0 or more")

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Reference:
    """A denoiser timed in this process beside the grid (the Keras float model, onnxruntime, ...).

    ``make((h, w))`` returns ``fn(image01) -> image01`` for that size or raises EdgeDenoiseError.
    """

    name: str
    kind: str
    make: Callable[[tuple[int, int]], Callable[[np.ndarray], np.ndarray]]
    threads: int | None = None  # None: the library's own default
    precision: str = "fp32"
    file_bytes: int | None = None
    path: str | None = None


@dataclass
class BenchResult:
    """Every row (measured, reference, device, failed), the machine, and notes on how it was measured."""

    config: dict
    rows: list[dict] = field(default_factory=list)
    machine: dict = field(default_factory=dict)
    ceiling: dict = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    started_at: str = ""
    seconds: float = 0.0

    def as_dict(self) -> dict:
        return asdict(self)


def cache_dir() -> Path:
    """$XDG_CACHE_HOME/edge-denoise (default ~/.cache/edge-denoise): converted files and ceiling models."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "edge-denoise"


# --- parsing -----------------------------------------------------------------------------------
def split_list(values) -> tuple[str, ...]:
    """``["128,256", "480x640"]`` -> ("128", "256", "480x640")."""
    parts = [values] if isinstance(values, str) else list(values)
    return tuple(p.strip() for v in parts for p in str(v).split(",") if p.strip())


# --- frames ------------------------------------------------------------------------------------
def _find_manifest(config: BenchConfig) -> Path | None:
    if config.manifest:
        return Path(config.manifest)
    for model in config.models:
        p = Path(model)
        for folder in (p.parent, p.parent.parent):  # RUN/model.keras or RUN/tflite/x.tflite
            if (folder / "manifest.json").is_file():
                return folder / "manifest.json"
    return None


def test_split(config: BenchConfig) -> tuple[Path, list[str], str]:
    """(data folder, test files, a sentence saying where they came from)."""
    from edge_runtime.images import list_images
    from edge_runtime.sources import SAMPLES_DIR
    from edge_runtime.splits import DATA_ENV, split_of

    given = config.data or os.environ.get(DATA_ENV)
    data = Path(given or SAMPLES_DIR)
    note = "" if given else f"no --data or ${DATA_ENV}: quality measured on the bundled samples ({SAMPLES_DIR}); "
    if not data.is_dir():
        note = f"data folder {data} not found: quality measured on the bundled samples ({SAMPLES_DIR}); "
        data = Path(SAMPLES_DIR)
        manifest = None
    else:
        manifest = _find_manifest(config)
    if manifest is not None:
        try:
            files = list(json.loads(Path(manifest).read_text(encoding="utf-8"))["splits"]["test"])
        except (OSError, ValueError, KeyError, TypeError):
            raise EdgeDenoiseError(f"{manifest}: not a split manifest (needs splits.test)") from None
        how = f"test split of {manifest}"
    else:
        files = [p.relative_to(data).as_posix() for p in list_images(data)]
        test = [f for f in files if split_of(f) == "test"]
        how = "test split (hash split, as train.data)" if test else "all images (the test split is empty)"
        files = test or files
    if not files:
        raise EdgeDenoiseError(f"{data}: no images for the quality frames")
    return data, files, f"{note}{how} of {data}"


def load_frames(data: Path, files: list[str], hw: tuple[int, int], count: int, noise: str, seed: int):
    """(clean uint8 NxHxWx3, noisy uint8 NxHxWx3): centre square of max(H, W), centre-cropped to HxW."""
    from edge_runtime.images import center_square, decode_image, to_frame_rgb
    from edge_runtime.noise import parse_noise

    h, w = hw
    clean = []
    for rel in files:
        if len(clean) >= count:
            break
        try:
            rgb = decode_image(data / rel).rgb
        except EdgeDenoiseError:
            continue
        sq = center_square(rgb, max(h, w))
        top, left = (sq.shape[0] - h) // 2, (sq.shape[1] - w) // 2
        clean.append(np.ascontiguousarray(sq[top:top + h, left:left + w]))
    if not clean:
        raise EdgeDenoiseError(f"{data}: no readable images for the quality frames")
    clean_u8 = np.stack(clean)
    noisy01 = parse_noise(noise).apply(clean_u8.astype(np.float32) / 255.0, np.random.default_rng(seed))
    return clean_u8, to_frame_rgb(noisy01)


# --- rows --------------------------------------------------------------------------------------
def result_row(kind: str, model: str, precision: str | None, size: str | None, threads, **extra) -> dict:
    """One row of the bench table, every column present (None where not measured)."""
    row = {"kind": kind, "model": model, "precision": precision, "size": size, "threads": threads,
           "device": "this machine", "status": "ok", "error": None, "p50_ms": None, "p90_ms": None,
           "p99_ms": None, "mean_ms": None, "runs": None, "io_ms": None, "fps": None, "peak_rss_mb": None,
           "model_rss_mb": None, "file_bytes": None, "macs": None, "gmacs": None, "ceiling_pct": None,
           "ssim": None, "psnr": None, "flags": [], "p50_runs": [], "run_diff_pct": None, "backend": None, "path": None}
    row.update(extra)
    return row


def failed_row(kind: str, model: str, precision, size, threads, error: str, **extra) -> dict:
    """A row for something that could not be measured, with the one-line reason."""
    return result_row(kind, model, precision, size, threads, status="failed", error=error, **extra)


def _describe_file(path: Path) -> dict:
    """Name, precision and size of a .tflite from its sidecar, else from its file name."""
    from edge_runtime.engine import read_metadata

    try:
        meta = read_metadata(path)
    except EdgeDenoiseError:
        meta = {}
    m = re.match(r"^(?P<name>.+?)_(?P<prec>fp32|fp16|dynamic|int8)_(?P<h>\d+)x(?P<w>\d+)", path.stem)
    size = meta.get("input_size")
    hw = tuple(size) if isinstance(size, list) and len(size) == 2 else ((int(m["h"]), int(m["w"])) if m else None)
    return {"name": meta.get("name") or (m["name"] if m else path.stem),
            "precision": meta.get("precision") or (m["prec"] if m else "?"), "hw": hw}


def _grid_files(config: BenchConfig, sizes: list[tuple[int, int]], notes: list[str]) -> list[Path]:
    """Files given (always) plus shipped files whose precision and size are in the grid."""
    files = [Path(m) for m in config.models]
    if config.shipped:
        from edge_runtime.zoo import list_models

        shipped = list_models([], shipped=True)
        if not shipped:
            notes.append("no shipped models in this install (edge_runtime/models is empty)")
        for m in shipped:
            if m["precision"] in config.precisions and m["input_size"] in sizes:
                files.append(Path(m["path"]))
        names = sorted({m["name"] for m in shipped})
        for name in names:
            for p in config.precisions:
                for hw in sizes:
                    if p in PRECISIONS and not any(m["name"] == name and m["precision"] == p and m["input_size"] == hw for m in shipped):
                        notes.append(f"no shipped file for {name} {p} {size_text(hw)} (give the .keras to convert it)")
    seen, out = set(), []
    for f in files:
        key = f.resolve() if f.exists() else f
        if key not in seen:
            seen.add(key)
            out.append(f)
    return out


def _score(clean_u8: np.ndarray, out_u8_or01: np.ndarray) -> tuple[float, float]:
    from edge_runtime.metrics import psnr, ssim

    clean = clean_u8.astype(np.float32) / 255.0
    out = out_u8_or01.astype(np.float32) / 255.0 if out_u8_or01.dtype == np.uint8 else out_u8_or01.astype(np.float32)
    out = np.clip(out, 0.0, 1.0)
    return (float(np.mean([ssim(c, o) for c, o in zip(clean, out)])),
            float(np.mean([psnr(c, o) for c, o in zip(clean, out)])))


def time_callable(fn: Callable[[np.ndarray], np.ndarray], inputs01: list[np.ndarray], config: BenchConfig):
    """Time ``fn`` over the inputs in turn (one untimed warm-up call); returns (stats, first output per input)."""
    from edge_runtime.timing import percentiles_ms

    fn(inputs01[0])
    clock = time.perf_counter
    times, outputs = [], []
    t_end = clock() + config.seconds
    i = 0
    while i < config.min_runs or (clock() < t_end and i < config.max_runs):
        x = inputs01[i % len(inputs01)]
        t0 = clock()
        y = fn(x)
        times.append(clock() - t0)
        if i < len(inputs01):
            outputs.append(np.asarray(y, np.float32))
        i += 1
    stats = percentiles_ms(times)
    return {**stats, "runs": stats["count"], "fps": 1000.0 / stats["mean_ms"] if stats["mean_ms"] else None}, outputs


class _Frames:
    """The frames of each size, made once and shared by every row (and every worker, via .npy files)."""

    def __init__(self, config: BenchConfig, tmp: Path):
        self.config, self.tmp = config, tmp
        self.data, self.files, self.how = test_split(config)
        self._cache: dict[tuple[int, int], tuple[np.ndarray, np.ndarray, Path]] = {}

    def get(self, hw: tuple[int, int]) -> tuple[np.ndarray, np.ndarray, Path]:
        if hw not in self._cache:
            clean, noisy = load_frames(self.data, self.files, hw, self.config.images, self.config.noise, self.config.seed)
            npy = self.tmp / f"frames_{size_text(hw)}.npy"
            np.save(npy, noisy)
            self._cache[hw] = (clean, noisy, npy)
        return self._cache[hw]


def _measure_ceiling(config: BenchConfig, frames: _Frames, threads: tuple[int, ...], notes: list[str]) -> dict:
    """GMAC/s of the ceiling models per (precision, threads): {"fp32": {"2": 41.0, ...}, ...}."""
    from edge_runtime.macs import count_macs

    if not config.ceiling_dir:
        notes.append("no ceiling measured: no ceiling folder (edge-denoise bench makes one with TensorFlow; "
                     "on a device pass --ceiling-dir with ceiling_fp32.tflite and ceiling_int8.tflite copied from it)")
        return {}
    out: dict = {"how": "", "rows": []}
    for prec, name in CEILING_FILES.items():
        path = Path(config.ceiling_dir) / name
        if not path.is_file():
            notes.append(f"no {prec} ceiling: {path} missing")
            continue
        try:
            macs = count_macs(path)["macs"]
            hw = _describe_file(path)["hw"] or _input_hw(path)
        except EdgeDenoiseError as exc:
            notes.append(f"no {prec} ceiling: {exc}")
            continue
        _, _, npy = frames.get(hw)
        for t in threads:
            res = measure_file(path, t, npy, config)
            row = result_row("ceiling", f"ceiling {prec}", prec, size_text(hw), t, path=str(path), macs=macs,
                       file_bytes=path.stat().st_size)
            if "error" in res:
                row.update(status="failed", error=res["error"])
            else:
                _fill_timing(row, res)
                out.setdefault(prec, {})[str(t)] = row["gmacs"]
            out["rows"].append(row)
    out["how"] = (f"ceiling: {', '.join(CEILING_FILES.values())} in {config.ceiling_dir}: stacked 3x3 conv, 64 channels, "
                  "through the same engine and thread count; fp32/fp16 rows are compared with the fp32 ceiling, "
                  "int8/dynamic rows with the int8 one")
    return out


def _input_hw(path: Path) -> tuple[int, int]:
    from edge_runtime.engine import load_engine

    return load_engine(path, threads=1, backend="interpreter").input_hw  # no compile and warm-up run just to read a shape


def _fill_timing(row: dict, res: dict) -> None:
    for k in ("p50_ms", "p90_ms", "p99_ms", "mean_ms", "runs", "io_ms", "fps", "peak_rss_mb", "model_rss_mb", "backend"):
        if k in res:
            row[k] = res[k]
    if row.get("macs") and row.get("p50_ms"):
        row["gmacs"] = row["macs"] / (row["p50_ms"] / 1000.0) / 1e9


def _measure_pass(config: BenchConfig, frames: _Frames, files: list[Path], sizes: list[tuple[int, int]],
                  references: tuple[Reference, ...], first: bool, quality: dict, macs: dict) -> list[dict]:
    """One pass over the grid. On the first pass quality is scored too (it does not depend on threads)."""
    import cv2

    from edge_runtime.images import to_image01

    rows = []
    for path in files:
        desc = _describe_file(path)
        label, prec = desc["name"], desc["precision"]
        if path.suffix == ".keras":
            rows.append(failed_row("tflite", label, prec, None, None, "a .keras model needs TensorFlow to convert "
                                "(install the train extra) or pass its converted .tflite files", path=str(path)))
            continue
        if not path.is_file():
            rows.append(failed_row("tflite", label, prec, None, None, f"{path}: no such model file", path=str(path)))
            continue
        hw = desc["hw"]
        if hw is None:  # no sidecar and no size in the name: ask the interpreter once
            try:
                hw = _input_hw(path)
            except EdgeDenoiseError as exc:
                rows.append(failed_row("tflite", label, prec, None, None, str(exc), path=str(path)))
                continue
        key = str(path.resolve())
        if key not in macs:
            try:
                macs[key] = count_macs_safe(path)
            except EdgeDenoiseError:
                macs[key] = None
        clean, _, npy = frames.get(hw)
        for i, t in enumerate(config.threads):
            want_out = first and i == 0 and key not in quality
            out_npy = frames.tmp / f"out_{len(quality)}.npy" if want_out else None
            res = measure_file(path, t, npy, config, out_npy)
            row = result_row("tflite", label, prec, size_text(hw), t, path=str(path), file_bytes=path.stat().st_size,
                       macs=macs[key])
            if "error" in res:
                row.update(status="failed", error=res["error"])
            else:
                _fill_timing(row, res)
                if out_npy is not None:
                    quality[key] = _score(clean, np.load(out_npy))
            if key in quality:
                row["ssim"], row["psnr"] = quality[key]
            rows.append(row)
    for hw in sizes:
        clean, noisy, _ = frames.get(hw)
        inputs01 = [to_image01(f) for f in noisy]
        if first:
            s, p = _score(clean, noisy)
            rows.append(result_row("input", "noisy input (no denoising)", None, size_text(hw), None, ssim=s, psnr=p,
                             p50_ms=0.0))
        if config.classical:
            from edge_runtime.classical import baselines

            available = baselines()
            cv_threads = max(config.threads)
            cv2.setNumThreads(cv_threads)
            for name in config.classical:
                row = result_row("classical", name, None, size_text(hw), cv_threads)
                if name not in available:
                    row.update(status="failed", error=f"unknown filter '{name}'; choose from {', '.join(available)}")
                    rows.append(row)
                    continue
                stats, outs = time_callable(available[name], inputs01, config)
                for k in ("p50_ms", "p90_ms", "p99_ms", "mean_ms", "runs", "fps"):
                    row[k] = stats[k]
                qkey = f"classical:{name}:{size_text(hw)}"
                if qkey not in quality:
                    quality[qkey] = _score(clean, np.stack(outs))
                row["ssim"], row["psnr"] = quality[qkey]
                rows.append(row)
        for ref in references:
            row = result_row(ref.kind, ref.name, ref.precision, size_text(hw), ref.threads, file_bytes=ref.file_bytes,
                       path=ref.path)
            try:
                fn = ref.make(hw)
                stats, outs = time_callable(fn, inputs01, config)
            except EdgeDenoiseError as exc:
                row.update(status="failed", error=str(exc))
                rows.append(row)
                continue
            for k in ("p50_ms", "p90_ms", "p99_ms", "mean_ms", "runs", "fps"):
                row[k] = stats[k]
            qkey = f"{ref.kind}:{ref.name}:{size_text(hw)}"
            if qkey not in quality:
                quality[qkey] = _score(clean, np.stack(outs))
            row["ssim"], row["psnr"] = quality[qkey]
            rows.append(row)
    return rows


def count_macs_safe(path: Path) -> int | None:
    """MACs per frame, or None when the graph cannot be read (the worker then reports why)."""
    from edge_runtime.macs import count_macs

    try:
        return count_macs(path)["macs"]
    except (EdgeDenoiseError, ValueError, RuntimeError, KeyError, IndexError, TypeError):
        return None


# --- device reports ----------------------------------------------------------------------------
def device_rows(report_path: str | Path, macs_by_name: dict[str, int] | None = None) -> list[dict]:
    """Rows from ``edge-denoise run --report FILE.json`` made on another machine (Pi, Jetson)."""
    path = Path(report_path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        stages = data["stages_ms"]
        inv = stages["invoke"]
    except FileNotFoundError:
        return [failed_row("device", str(path), None, None, None, f"{path}: no such device report")]
    except (ValueError, KeyError, TypeError):
        return [failed_row("device", str(path), None, None, None,
                        f"{path}: not a report from 'edge-denoise run --report' (needs stages_ms.invoke)")]
    model = data.get("model") or {}
    meta = model.get("metadata") or {}
    dev = data.get("device") or {}
    device = dev.get("board") or dev.get("cpu") or path.stem
    hw = model.get("input_hw")
    name = meta.get("name") or model.get("name") or "?"
    io_ms = sum(stages.get(k, {}).get("p50_ms", 0.0) for k in ("preprocess", "postprocess"))
    mean_frame = inv.get("mean_ms", 0.0) + sum(stages.get(k, {}).get("mean_ms", 0.0) for k in ("preprocess", "postprocess"))
    file_name = Path(model.get("path", "")).name
    macs = (macs_by_name or {}).get(file_name)
    row = result_row("device", name, meta.get("precision"), size_text(hw) if hw else None, model.get("threads"),
               device=device, p50_ms=inv.get("p50_ms"), p90_ms=inv.get("p90_ms"), p99_ms=inv.get("p99_ms"),
               mean_ms=inv.get("mean_ms"), runs=inv.get("count"), io_ms=io_ms,
               fps=1000.0 / mean_frame if mean_frame else None, macs=macs, path=str(path))
    if macs and row["p50_ms"]:
        row["gmacs"] = macs / (row["p50_ms"] / 1000.0) / 1e9
    if model.get("fp16_arith"):
        row["flags"].append("fp16 arithmetic (--fp16-arith)")
    q = data.get("quality")
    if q:
        row["ssim"], row["psnr"] = q.get("denoised_ssim_mean"), q.get("denoised_psnr_mean")
        row["flags"].append(f"quality on the device's own frames ({q.get('noise')})")
    if (inv.get("count") or 0) < MIN_RUNS:
        row["flags"].append(f"only {inv.get('count')} invokes (< {MIN_RUNS})")
    return [row]


# --- flags -------------------------------------------------------------------------------------
def flag_rows(rows: list[dict], ceiling: dict) -> None:
    """Quantized slower than fp32, ceiling share, run-to-run noise, and the latency/SSIM Pareto front."""
    fp32 = {(r["device"], r["model"], r["size"], r["threads"]): r for r in rows
            if r["status"] == "ok" and r["kind"] in ("tflite", "device") and r["precision"] == "fp32" and r["p50_ms"]}
    for r in rows:
        if r["status"] != "ok" or not r["p50_ms"]:
            continue
        sib = fp32.get((r["device"], r["model"], r["size"], r["threads"]))
        if r["kind"] in ("tflite", "device") and r["precision"] in ("fp16", "dynamic", "int8") and sib:
            # with --repeat, compare the best pass of each (the one least disturbed by other load)
            ratio = min(r["p50_runs"] or [r["p50_ms"]]) / min(sib["p50_runs"] or [sib["p50_ms"]])
            if ratio > SLOWER_MARGIN:
                r["flags"].append(f"SLOWER than fp32 ({ratio:.2f}x)")
        cprec = CEILING_OF.get(r["precision"] or "")
        ceil = (ceiling.get(cprec) or {}).get(str(r["threads"])) if cprec and r["kind"] == "tflite" else None
        if ceil and r["gmacs"]:
            r["ceiling_pct"] = 100.0 * r["gmacs"] / ceil
        if r["run_diff_pct"] is not None and r["run_diff_pct"] > NOISY_REPEAT_PCT:
            r["flags"].append(f"noisy: runs differ {r['run_diff_pct']:.0f}%")
    local = [r for r in rows if r["status"] == "ok" and r["device"] == "this machine" and r["ssim"] is not None
             and r["p50_ms"] and r["kind"] not in ("input", "ceiling")]
    for r in local:
        dominated = any(o is not r and o["p50_ms"] <= r["p50_ms"] and o["ssim"] >= r["ssim"]
                        and (o["p50_ms"] < r["p50_ms"] or o["ssim"] > r["ssim"]) for o in local)
        r["pareto"] = not dominated
        if r["pareto"]:
            r["flags"].append("pareto")


# --- the run -----------------------------------------------------------------------------------
def machine_info(ceiling_how: str | None = None) -> dict:
    """CPU, cores, OS, Python, runtime versions and the load average before the run."""
    from edge_runtime.device_info import device_info
    from edge_runtime.engine import find_runtime

    info = device_info()
    try:
        rt = find_runtime()
        info["runtime"], info["runtime_version"] = rt.name, rt.version
    except EdgeDenoiseError as exc:
        info["runtime"] = str(exc)
    from importlib import metadata

    for dist in ("ai-edge-litert", "tflite-runtime", "onnxruntime", "tensorflow", "tensorflow-cpu", "scikit-image"):
        try:
            info[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            pass
    try:
        info["load_average_1m"] = round(os.getloadavg()[0], 2)
    except OSError:
        info["load_average_1m"] = None
    return info


def run_bench(config: BenchConfig, references: tuple[Reference, ...] = (), extra_rows: tuple[dict, ...] = (),
              log: Callable[[str], None] | None = None) -> BenchResult:
    """Measure the grid ``config.repeat`` times; bad precisions, sizes and files fail their rows only."""
    log = log or (lambda _line: None)
    t0 = time.perf_counter()
    result = BenchResult(config=config.to_dict(), started_at=datetime.now(timezone.utc).isoformat(timespec="seconds"))
    rows = result.rows
    for p in config.precisions:
        if p not in PRECISIONS:
            rows.append(failed_row("tflite", "*", p, None, None, f"unknown precision '{p}'; choose from {', '.join(PRECISIONS)}"))
    sizes: list[tuple[int, int]] = []
    for s in config.sizes:
        try:
            hw = parse_size(s)
        except EdgeDenoiseError as exc:
            rows.append(failed_row("tflite", "*", None, str(s), None, str(exc)))
            continue
        if hw not in sizes:
            sizes.append(hw)
    threads = tuple(t for t in config.threads if int(t) > 0)
    for t in config.threads:
        if int(t) <= 0:
            rows.append(failed_row("tflite", "*", None, None, t, f"bad thread count {t}: must be 1 or more"))
    config = BenchConfig(**{**config.to_dict(), "threads": threads or (1,)})
    rows.extend(extra_rows)
    result.machine = machine_info()
    if result.machine.get("load_average_1m") and result.machine["load_average_1m"] > 0.5 * (os.cpu_count() or 1):
        result.notes.append(f"machine busy before the run: load average {result.machine['load_average_1m']} on "
                            f"{os.cpu_count()} cores; latencies are pessimistic and noisier than on an idle machine")
    files = _grid_files(config, sizes, result.notes)
    with tempfile.TemporaryDirectory(prefix="edge-denoise-bench-") as tmp:
        frames = _Frames(config, Path(tmp))
        result.notes.append(f"quality: SSIM/PSNR at {config.noise} (seed {config.seed}) on up to {config.images} "
                            f"images, {frames.how}; every row of a size sees the same frames")
        log(f"frames: {frames.how}")
        log("ceiling")
        result.ceiling = _measure_ceiling(config, frames, threads or (1,), result.notes)
        if result.ceiling.get("how"):
            result.notes.append(result.ceiling["how"])
        quality: dict = {}
        macs: dict = {}
        passes = []
        for i in range(max(config.repeat, 1)):
            log(f"pass {i + 1} of {max(config.repeat, 1)}")
            passes.append(_measure_pass(config, frames, files, sizes, references, i == 0, quality, macs))
    measured = passes[0]
    if len(passes) > 1:
        for r in measured:  # one p50 per pass, the first pass's first
            if r["p50_ms"] is not None:
                r["p50_runs"].append(r["p50_ms"])
        for later in passes[1:]:
            by_key = {_key(r): r for r in later}
            for r in measured:
                other = by_key.get(_key(r))
                if other and other["p50_ms"] is not None:
                    r["p50_runs"].append(other["p50_ms"])
        for r in measured:
            runs = [v for v in r["p50_runs"] if v]
            if len(runs) > 1:
                r["run_diff_pct"] = 100.0 * (max(runs) - min(runs)) / min(runs)
    rows.extend(measured)
    rows.extend(result.ceiling.get("rows", []))
    macs_by_name = {Path(k).name: v for k, v in macs.items() if v}
    for rep in config.device_reports:
        rows.extend(device_rows(rep, macs_by_name))
    flag_rows(rows, result.ceiling)
    result.machine["load_average_1m_after"] = round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None
    result.notes.append(f"latency: invoke only, p50/p90/p99 of >= {config.min_runs} timed invokes and >= {config.seconds:g} s "
                        f"after {config.warmup} warm-up invokes; I/O ms: uint8 frame in + out; FPS: 1000 / mean(invoke + I/O); "
                        f"peak RSS: the row's own worker process (model RSS: above python+numpy+runtime+frames)")
    if config.classical:
        result.notes.append(f"classical filters: OpenCV with {max(threads or (1,))} threads, time per frame including "
                            "their noise estimate; they run on the same uint8 frames as float [0, 1]")
    result.seconds = time.perf_counter() - t0
    return result


def _key(r: dict) -> tuple:
    return (r["kind"], r["model"], r["precision"], r["size"], r["threads"], r["path"])


# --- output ------------------------------------------------------------------------------------
COLUMNS = ("kind", "model", "precision", "size", "threads", "device", "status", "p50_ms", "p90_ms", "p99_ms", "runs",
           "io_ms", "fps", "peak_rss_mb", "model_rss_mb", "file_bytes", "macs", "gmacs", "ceiling_pct", "ssim", "psnr",
           "run_diff_pct", "p50_runs", "flags", "backend", "error", "path")


def label(r: dict) -> str:
    """The model column: reference rows say what they are."""
    return r["model"] if r["kind"] in ("tflite", "device", "ceiling", "input") else f"{r['model']} ({r['kind']})"


def threads_text(r: dict) -> str:
    return "auto" if r["threads"] is None and r["kind"] == "keras" else fmt(r["threads"])


def fmt(value, digits: int = 2) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    if isinstance(value, list):
        return "; ".join(fmt(v, digits) for v in value)
    return str(value)


def _csv_text(rows: list[dict]) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=COLUMNS, extrasaction="ignore")
    writer.writeheader()
    for r in rows:
        writer.writerow({k: ("; ".join(map(str, r[k])) if isinstance(r.get(k), list) else r.get(k)) for k in COLUMNS})
    return buf.getvalue()


def _markdown(result: BenchResult) -> str:
    m = result.machine
    lines = [f"# edge-denoise bench, {result.started_at}", "",
             f"Machine: {m.get('board') or m.get('cpu')} ({m.get('cores')} cores, {m.get('machine')}), {m.get('os')}, "
             f"Python {m.get('python')}, {m.get('runtime')} {m.get('runtime_version')}, load average "
             f"{m.get('load_average_1m')} before / {m.get('load_average_1m_after')} after.", ""]
    head = ["model", "prec", "size", "thr", "device", "p50 ms", "p90 ms", "p99 ms", "runs", "I/O ms", "FPS", "peak RSS MiB",
            "KiB", "GMAC/frame", "GMAC/s", "% ceiling", "SSIM", "PSNR", "run diff %", "notes"]
    lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in sorted_rows(result.rows):
        note = r["error"] if r["status"] != "ok" else ", ".join(r["flags"])
        lines.append("| " + " | ".join([
            label(r), fmt(r["precision"]), fmt(r["size"]), threads_text(r),
            r["device"], fmt(r["p50_ms"]), fmt(r["p90_ms"]), fmt(r["p99_ms"]), fmt(r["runs"]), fmt(r["io_ms"]), fmt(r["fps"], 1),
            fmt(r["peak_rss_mb"], 0), fmt(r["file_bytes"] / 1024 if r["file_bytes"] else None, 0),
            fmt(r["macs"] / 1e9 if r["macs"] else None, 3), fmt(r["gmacs"], 1), fmt(r["ceiling_pct"], 0),
            fmt(r["ssim"], 4), fmt(r["psnr"], 2), fmt(r["run_diff_pct"], 1),
            ("FAILED: " if r["status"] != "ok" else "") + (note or "").replace("|", "/")]) + " |")
    lines += ["", "## How this was measured", ""] + [f"- {n}" for n in result.notes]
    lines += ["", "Config: `" + json.dumps({k: v for k, v in result.config.items() if v not in ((), None)}) + "`", ""]
    return "\n".join(lines)


def sorted_rows(rows: list[dict]) -> list[dict]:
    """Failures last; then by size, model, precision, threads."""
    order = {p: i for i, p in enumerate(PRECISIONS)}
    kinds = {"tflite": 0, "device": 1, "keras": 2, "onnx": 3, "classical": 4, "input": 5, "ceiling": 6}

    def key(r):
        hw = r["size"] or ""
        try:
            area = parse_size(hw)[0] * parse_size(hw)[1] if hw else 0
        except EdgeDenoiseError:
            area = 0
        return (r["status"] != "ok", area, kinds.get(r["kind"], 9), r["model"], r["device"],
                order.get(r["precision"] or "", 9), r["threads"] or 0)

    return sorted(rows, key=key)


def write_results(result: BenchResult, out_dir: str | Path) -> list[Path]:
    """bench.json, bench.csv, bench.md and (where matplotlib is installed) two PNGs in ``out_dir``."""
    from edge_runtime.atomic import write_json_atomic, write_text_atomic

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    write_json_atomic(out / "bench.json", result.as_dict())
    write_text_atomic(out / "bench.csv", _csv_text(sorted_rows(result.rows)))
    write_text_atomic(out / "bench.md", _markdown(result))
    written += [out / "bench.json", out / "bench.csv", out / "bench.md"]
    try:
        written += _plots(result, out)
    except ImportError:
        result.notes.append("no plots: matplotlib is not installed")
    return written


def _plots(result: BenchResult, out: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from edge_runtime.atomic import atomic_path

    written = []
    ok = [r for r in result.rows if r["status"] == "ok" and r["p50_ms"] and r["ssim"] is not None
          and r["device"] == "this machine" and r["kind"] != "input"]
    fig, ax = plt.subplots(figsize=(8, 5.5))
    for r in ok:
        marker = {"tflite": "o", "keras": "s", "onnx": "D", "classical": "^"}.get(r["kind"], "x")
        ax.scatter(r["p50_ms"], r["ssim"], marker=marker, s=60 if r.get("pareto") else 25,
                   edgecolors="red" if r.get("pareto") else "none", linewidths=1.5)
        thr = f" t{r['threads']}" if r["threads"] is not None else ""
        ax.annotate(f"{r['model']} {r['precision'] or ''} {r['size']}{thr}".replace("  ", " "), (r["p50_ms"], r["ssim"]),
                    fontsize=6, xytext=(3, 2), textcoords="offset points")
    front = sorted((r for r in ok if r.get("pareto")), key=lambda r: r["p50_ms"])
    if front:
        ax.step([r["p50_ms"] for r in front], [r["ssim"] for r in front], where="post", color="red", lw=1,
                label="Pareto front (faster and better: none)")
        ax.legend(fontsize=8)
    ax.set_xscale("log")
    ax.set_xlabel("p50 latency per frame, ms (log)")
    ax.set_ylabel(f"SSIM at {result.config.get('noise')}")
    ax.set_title("latency vs quality (o TFLite, s Keras, D ONNX, ^ classical)")
    ax.grid(alpha=0.3)
    with atomic_path(out / "latency_vs_ssim.png") as tmp:
        fig.savefig(tmp, dpi=130, bbox_inches="tight", format="png")
    plt.close(fig)
    written.append(out / "latency_vs_ssim.png")

    fig, ax = plt.subplots(figsize=(7, 4.5))
    series: dict[tuple, list] = {}
    for r in result.rows:
        if r["status"] == "ok" and r["kind"] in ("tflite", "ceiling") and r["p50_ms"] and r["device"] == "this machine":
            series.setdefault((r["model"], r["precision"], r["size"]), []).append((r["threads"], r["p50_ms"]))
    for (model, prec, size), pts in sorted(series.items()):
        pts.sort()
        ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", label=f"{model} {prec} {size}")
    ax.set_xlabel("interpreter threads")
    ax.set_ylabel("p50 invoke, ms")
    ax.set_yscale("log")
    ax.set_title(f"latency vs threads ({result.machine.get('cores')} cores)")
    ax.grid(alpha=0.3)
    if series:
        ax.legend(fontsize=6)
    with atomic_path(out / "latency_vs_threads.png") as tmp:
        fig.savefig(tmp, dpi=130, bbox_inches="tight", format="png")
    plt.close(fig)
    written.append(out / "latency_vs_threads.png")
    return written
