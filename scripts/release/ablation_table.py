"""The ablation table: SSIM per suite noise for each run, MACs per pixel and VGA int8 latency.

    .venv/bin/python scripts/release/ablation_table.py runs/ablation --epochs 6 --out benchmarks/results/ablation
    .venv/bin/python scripts/release/ablation_table.py --run unet=runs/unet --run fastnet=runs/fastnet_blind \
        --bench benchmarks/results/bench_vga_t2/bench.json --out benchmarks/results/ablation

A row per run folder with eval_suite/eval.json (the model's rows of `edge-denoise eval --suite`), plus
a "best classical filter" row (per noise, the best of median, bilateral and fastNlMeans on the same
images). MACs per pixel and the int8 480x640 p50 latency at 2 threads (with bench --repeat, the p50 of
its least disturbed pass) come from the run's own
bench/bench.json where it has one, else with --bench from that bench's int8 480x640 row of the run's
architecture (latency depends on the architecture, not on the weights). Writes NAME.md and NAME.json
(atomically) and prints the Markdown.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

SHORT = {"gaussian:0.05": "g0.05", "gaussian:0.1": "g0.1", "gaussian:0.2": "g0.2", "poisson:30": "poisson30",
         "speckle:0.2": "speckle0.2", "saltpepper:0.05": "s&p0.05", "motionblur:9": "blur9",
         "motionblur:7+gaussian:0.05": "blur7+g0.05"}


def load_run(run: Path, name: str | None = None, bench_rows: list[dict] | None = None) -> dict | None:
    ev = run / "eval_suite" / "eval.json"
    if not ev.is_file():
        return None
    rows = json.loads(ev.read_text(encoding="utf-8"))["rows"]
    model = {r["noise"]: r["ssim_mean"] for r in rows if r["method"] == "model"}
    classical: dict[str, tuple[float, str]] = {}
    noisy = {r["noise"]: r["ssim_mean"] for r in rows if r["method"] == "noisy input"}
    for r in rows:
        if r["method"] in ("model", "noisy input"):
            continue
        best = classical.get(r["noise"])
        if best is None or r["ssim_mean"] > best[0]:
            classical[r["noise"]] = (r["ssim_mean"], r["method"])
    row = {"run": name or run.name, "path": str(run), "ssim": model, "best_classical": classical, "noisy": noisy,
           "macs_per_pixel": None, "vga_int8_p50_ms": None}
    cfg = run / "config.json"
    if cfg.is_file():
        train = json.loads(cfg.read_text(encoding="utf-8")).get("train", {})
        row["train"] = {k: train.get(k) for k in ("model", "noise", "augment", "schedule", "loss", "residual",
                                                   "separable", "attention", "width", "epochs", "init_from",
                                                   "scale", "blocks", "unshuffle")}
    own = run / "bench" / "bench.json"  # the run's own bench wins: --bench only knows each family's default shape
    train = row.get("train") or {}
    # the family's row in a shared bench, unless the run changed the family's resolution (another latency)
    same_shape = (train.get("unshuffle") or 1) == 1 and not (train.get("model") == "fastnet" and (train.get("scale") or 4) != 4)
    wanted = {train.get("model")} if same_shape else set()
    if own.is_file() or bench_rows is None:
        bench_rows = json.loads(own.read_text(encoding="utf-8"))["rows"] if own.is_file() else []
        wanted.add(run.name)  # ...or, in the run's own, the row bench named after the run folder
    for b in bench_rows:
        if (b.get("kind") == "tflite" and b.get("status") == "ok" and b.get("size") == "480x640"
                and b.get("precision") == "int8" and b.get("threads") == 2 and b.get("model") in wanted):
            row["vga_int8_p50_ms"] = min(b.get("p50_runs") or [b["p50_ms"]])  # with --repeat: the least disturbed pass
            row["macs_per_pixel"] = round(b["macs"] / (480 * 640)) if b.get("macs") else None
            break
    return row


def markdown(rows: list[dict], epochs: int | None) -> str:
    noises = list(rows[0]["ssim"])
    head = "| run | " + " | ".join(SHORT.get(n, n) for n in noises) + " | mean | MACs/px | VGA int8 ms |"
    lines = [head, "|---" * (len(noises) + 4) + "|"]
    for r in rows:
        vals = [r["ssim"].get(n) for n in noises]
        mean = sum(v for v in vals if v is not None) / max(1, sum(v is not None for v in vals))
        ms = f"{r['vga_int8_p50_ms']:.0f}" if r["vga_int8_p50_ms"] else ""
        macs = f"{r['macs_per_pixel']:,}" if r["macs_per_pixel"] else ""
        lines.append(f"| {r['run']} | " + " | ".join(f"{v:.4f}" if v is not None else "" for v in vals)
                     + f" | {mean:.4f} | {macs} | {ms} |")
    best: dict[str, tuple[float, str]] = {}
    for r in rows:  # whichever runs were scored with the baselines (the same images and noise in every run)
        for noise, (value, method) in r["best_classical"].items():
            best.setdefault(noise, (value, method))
    cells = [f"{best[n][0]:.4f} ({best[n][1].split()[0]})" if n in best else "" for n in noises]
    lines.append("| best classical filter | " + " | ".join(cells) + " | | | |")
    noisy = next((r["noisy"] for r in rows if r.get("noisy")), {})
    lines.append("| noisy input | " + " | ".join(f"{noisy[n]:.4f}" if n in noisy else "" for n in noises) + " | | | |")
    if epochs:
        lines += ["", f"Every row trained {epochs} epochs on 64x64 crops of the 128x128 training split; SSIM on the "
                      "184-image test split at 128x128 (eval --suite, noise seed 2)."]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("runs", type=Path, nargs="?", help="folder of ablation runs (runs/ablation)")
    ap.add_argument("--run", action="append", default=[], metavar="NAME=DIR", help="one more run folder, as a named row")
    ap.add_argument("--bench", type=Path, help="bench.json whose int8 480x640 rows give each architecture's latency")
    ap.add_argument("--epochs", type=int, default=None, help="epochs per row, for the table's note")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "ablation",
                    help="NAME: writes NAME.md and NAME.json")
    args = ap.parse_args(argv)
    from edge_runtime.atomic import write_json_atomic, write_text_atomic

    bench_rows = json.loads(args.bench.read_text(encoding="utf-8"))["rows"] if args.bench else None
    runs = [(None, run) for run in sorted(args.runs.iterdir()) if run.is_dir()] if args.runs else []
    runs += [(text.split("=", 1)[0], Path(text.split("=", 1)[1])) for text in args.run]
    rows = [r for name, run in runs if (r := load_run(run, name, bench_rows))]
    if not rows:
        print("no run with eval_suite/eval.json yet", file=sys.stderr)
        return 2
    md = markdown(rows, args.epochs)
    write_text_atomic(args.out.with_suffix(".md"), md)
    write_json_atomic(args.out.with_suffix(".json"), {"epochs": args.epochs, "rows": rows})
    print(md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
