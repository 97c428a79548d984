"""``edge-denoise bench``: the latency and quality grid (edge_denoise.benchgrid.run_bench)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from edge_denoise.console import console, err_console, quiet_tensorflow


def _have_tensorflow() -> bool:
    import importlib.util

    try:
        return importlib.util.find_spec("tensorflow") is not None and importlib.util.find_spec("convert") is not None
    except (ImportError, ValueError):
        return False


def bench(
    models: Annotated[Optional[list[Path]], typer.Argument(help=".tflite files (measured as they are) and .keras run models (converted to every --precision x --size where TensorFlow is installed).")] = None,
    precision: Annotated[str, typer.Option(help="Precisions of the grid, comma-separated: fp32, fp16, dynamic, int8.")] = "fp32,fp16,dynamic,int8",
    threads: Annotated[str, typer.Option(help="Interpreter thread counts, comma-separated.")] = "1,2,4",
    size: Annotated[str, typer.Option(help="Frame sizes, comma-separated: SIDE or HEIGHTxWIDTH (480x640 = 480 high).")] = "128,256,480x640",
    shipped: Annotated[bool, typer.Option("--shipped/--no-shipped", help="Include the shipped models that match the grid.")] = True,
    seconds: Annotated[float, typer.Option(help="Time each row at least this long (after at least --min-runs invokes).")] = 1.0,
    min_runs: Annotated[int, typer.Option(help="Timed invokes per row, at least (30 or more).")] = 30,
    warmup: Annotated[int, typer.Option(help="Untimed warm-up invokes per row.")] = 5,
    repeat: Annotated[int, typer.Option(help="Measure the grid this many times and show the run-to-run difference.")] = 1,
    data: Annotated[Optional[Path], typer.Option(help="Clean images; the test split is scored. [default: $EDGE_DENOISE_DATA, else the bundled samples]")] = None,
    manifest: Annotated[Optional[Path], typer.Option(help="Split manifest (default: a run's manifest.json next to the models).")] = None,
    images: Annotated[int, typer.Option(help="Test images scored for SSIM/PSNR per size.")] = 16,
    noise: Annotated[str, typer.Option(help="Noise added to the frames.")] = "gaussian:0.1",
    classical: Annotated[str, typer.Option(help="Classical filters to time beside the models ('' for none).")] = "median,bilateral,nlmeans",
    references: Annotated[bool, typer.Option("--references/--no-references", help="Keras float and onnxruntime rows for .keras models (where installed).")] = True,
    ceiling: Annotated[bool, typer.Option("--ceiling/--no-ceiling", help="Measure this CPU's GMAC/s ceiling (large conv models, made once with TensorFlow).")] = True,
    ceiling_dir: Annotated[Optional[Path], typer.Option(help="Folder with ceiling_fp32.tflite and ceiling_int8.tflite (default: the cache; on a device, copy them there).")] = None,
    device_report: Annotated[Optional[list[Path]], typer.Option(help="A report from 'edge-denoise run --report' on another device; repeatable.")] = None,
    backend: Annotated[str, typer.Option(help="Engine for .tflite rows: auto (the Interpreter), compiled or interpreter.")] = "auto",
    out: Annotated[Optional[Path], typer.Option(help="Folder for bench.csv/.json/.md and the PNG plots.")] = None,
) -> None:
    """Latency, FPS, memory, MACs and quality across models x precision x threads x size, one table.

    Each .tflite row runs in its own process; warm-up is excluded; every row of a size sees the
    same noisy test frames. Failed rows are marked and the rest of the grid still runs.
    """
    import dataclasses

    from edge_denoise.benchgrid import BenchConfig, run_bench, split_list, write_results
    from edge_runtime.errors import EdgeDenoiseError
    from edge_runtime.sizes import parse_size

    try:
        thread_list = tuple(int(t) for t in split_list(threads))
    except ValueError:
        raise EdgeDenoiseError(f"--threads {threads}: expected comma-separated whole numbers, e.g. 1,2,4") from None
    precisions = tuple(p.lower() for p in split_list(precision))
    sizes = split_list(size)
    # BenchConfig checks the options (its __post_init__) before any conversion; the models come later
    config = BenchConfig(
        shipped=shipped, precisions=precisions, threads=thread_list, sizes=sizes, warmup=warmup, min_runs=min_runs,
        seconds=seconds, data=str(data) if data else None, manifest=str(manifest) if manifest else None, images=images,
        noise=noise, classical=split_list(classical), device_reports=tuple(str(p) for p in device_report or []),
        repeat=repeat, backend=backend,
    )
    log = lambda line: err_console.print(line, highlight=False)  # noqa: E731

    tflites, keras_models = [], []
    for m in models or []:
        (keras_models if m.suffix == ".keras" else tflites).append(m)
    extra_rows, refs, ceiling_path = [], [], ceiling_dir
    tf_ok = _have_tensorflow()
    if keras_models and not tf_ok:
        log("[yellow]TensorFlow is not installed: .keras models cannot be converted here, only the .tflite files given are measured[/]")
        tflites += keras_models  # they become failed rows that say why
    elif keras_models or (ceiling and ceiling_dir is None):
        quiet_tensorflow()
    if keras_models and tf_ok:
        from edge_denoise.bench_sources import convert_for_bench, keras_reference, onnx_reference

        grid_sizes = []
        for s in sizes:
            try:
                grid_sizes.append(parse_size(s))
            except EdgeDenoiseError:
                pass  # run_bench marks it failed
        for k in keras_models:
            with err_console.status(f"converting {k}"):
                files, failed = convert_for_bench(k, precisions, grid_sizes, data=str(data) if data else None, log=log)
            tflites += files
            extra_rows += failed
            if references and k.is_file():
                try:
                    refs.append(keras_reference(k))
                    onnx = onnx_reference(k, max(thread_list or (1,)), log=log)
                    if onnx is not None:
                        refs.append(onnx)
                except EdgeDenoiseError as exc:
                    from edge_denoise.benchgrid import failed_row

                    extra_rows.append(failed_row("onnx", k.parent.name, "fp32", None, None, str(exc), path=str(k)))
    if ceiling and ceiling_path is None:
        from edge_denoise.benchgrid import cache_dir

        if tf_ok:
            from edge_denoise.bench_sources import ceiling_models

            ceiling_path = ceiling_models(log=log)
        elif (cache_dir() / "ceiling").is_dir():
            ceiling_path = cache_dir() / "ceiling"
    config = dataclasses.replace(config, models=tuple(str(p) for p in tflites),
                                 ceiling_dir=str(ceiling_path) if ceiling and ceiling_path else None)
    with err_console.status("benchmarking", spinner="dots") as status:
        result = run_bench(config, references=tuple(refs), extra_rows=tuple(extra_rows), log=status.update)
    console.print(_table(result))
    for note in result.notes:
        console.print(f"- {note}", highlight=False, soft_wrap=True)
    if out:
        written = write_results(result, out)
        console.print("wrote " + ", ".join(str(p) for p in written), highlight=False, soft_wrap=True)
    ok = [r for r in result.rows if r["status"] == "ok" and r["kind"] in ("tflite",)]
    if not ok and not any(r["kind"] == "device" and r["status"] == "ok" for r in result.rows):
        raise EdgeDenoiseError("no model was measured: give .tflite files or .keras run models, or ship models "
                               "in edge_runtime/models (see the failed rows above)")


def _table(result):
    """The at-a-glance table; bench.md/.csv (--out) have every column (p90, I/O ms, KiB, PSNR, ...)."""
    from rich.table import Table

    from edge_denoise.benchgrid import fmt, label, sorted_rows, threads_text

    m = result.machine
    repeat = (result.config.get("repeat") or 1) > 1
    devices = any(r["kind"] == "device" for r in result.rows)
    table = Table(title=f"edge-denoise bench: {m.get('board') or m.get('cpu')}, {m.get('cores')} cores, "
                        f"{m.get('runtime')} {m.get('runtime_version')}, {result.seconds:.0f} s")
    cols = ["model", "prec", "size", "thr"] + (["device"] if devices else []) + [
        "p50/p90/p99 ms", "FPS", "RSS MiB", "KiB", "GMAC", "GMAC/s", "%ceil", "SSIM", "PSNR"]
    if repeat:
        cols += ["p50 per run", "diff %"]
    cols += ["notes"]
    for c in cols:
        table.add_column(c, justify="left" if c in ("model", "prec", "size", "device", "notes", "p50 per run") else "right",
                         overflow="fold")
    for r in sorted_rows(result.rows):
        failed = r["status"] != "ok"
        notes = f"[red]FAILED: {r['error']}[/]" if failed else ", ".join(
            f"[bold red]{f}[/]" if f.startswith("SLOWER") else f"[yellow]{f}[/]" if f.startswith(("noisy", "only")) else
            f"[green]{f}[/]" if f == "pareto" else f for f in r["flags"])
        lat = "-" if r["p50_ms"] is None else (f"{r['p50_ms']:.2f}" if r["p90_ms"] is None else
                                               f"{r['p50_ms']:.2f}/{r['p90_ms']:.2f}/{r['p99_ms']:.2f}")
        cells = [label(r), fmt(r["precision"]), fmt(r["size"]), threads_text(r)] + ([r["device"]] if devices else []) + [
            lat, fmt(r["fps"], 1), fmt(r["peak_rss_mb"], 0), fmt(r["file_bytes"] / 1024 if r["file_bytes"] else None, 0),
            fmt(r["macs"] / 1e9 if r["macs"] else None, 3), fmt(r["gmacs"], 1), fmt(r["ceiling_pct"], 0),
            fmt(r["ssim"], 4), fmt(r["psnr"], 2)]
        if repeat:
            cells += [" / ".join(fmt(v) for v in r["p50_runs"]) or "-", fmt(r["run_diff_pct"], 1)]
        cells += [notes]
        table.add_row(*cells, style="dim" if r["kind"] in ("input", "ceiling") else None)
    return table
