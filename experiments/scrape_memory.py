"""Which part of a metrics scrape leaves memory behind? Scrapes only, no frame loop.

    .venv/bin/python experiments/scrape_memory.py --scrapes 4000

Each variant runs in its own process: it serves a registry on 127.0.0.1 and scrapes it --scrapes times
as fast as it can, then reports resident memory growth per scrape after the first quarter (warm-up).
Variants: ``telemetry`` (edge_runtime.telemetry.Telemetry's endpoint, as `run --metrics-port` serves it),
``no_process_collector`` (the same without prometheus-client's ProcessCollector, which reads /proc on
every scrape), ``empty_registry`` (prometheus-client's server and an empty registry: the HTTP cost
alone). Writes JSON to benchmarks/results/scrape_memory.json (or --out) and prints a table.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
VARIANTS = ("telemetry", "no_process_collector", "empty_registry")


def one(variant: str, scrapes: int) -> dict:
    """Serve, scrape, measure (runs in the child process)."""
    import urllib.request

    import prometheus_client

    from edge_runtime.device_info import rss_bytes

    if variant == "empty_registry":
        server, _ = prometheus_client.start_http_server(0, addr="127.0.0.1", registry=prometheus_client.CollectorRegistry())
        url = f"http://127.0.0.1:{server.server_address[1]}/metrics"
    else:
        if variant == "no_process_collector":
            prometheus_client.ProcessCollector = lambda registry=None: None  # Telemetry imports it at start
        from edge_runtime.telemetry import Telemetry

        url = Telemetry(port=0, labels={"model": "none"}).url
    warm = scrapes // 4
    samples = []
    for i in range(scrapes):
        urllib.request.urlopen(url, timeout=5).read()
        if i == warm or i == scrapes - 1 or i % 500 == 0:
            samples.append((i, rss_bytes()))
    start = next(b for i, b in samples if i == warm)
    end = samples[-1][1]
    return {"variant": variant, "scrapes": scrapes, "warmup_scrapes": warm, "rss_after_warmup_mib": start / 2**20,
            "rss_end_mib": end / 2**20, "bytes_per_scrape": (end - start) / (scrapes - 1 - warm),
            "rss_samples_mib": [(i, round(b / 2**20, 2)) for i, b in samples]}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--scrapes", type=int, default=4000)
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "scrape_memory.json")
    ap.add_argument("--one", choices=VARIANTS, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        print(json.dumps(one(args.one, args.scrapes)))
        return 0
    rows = []
    for variant in VARIANTS:
        done = subprocess.run([sys.executable, __file__, "--one", variant, "--scrapes", str(args.scrapes)],
                              capture_output=True, text=True, check=True)
        rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
        r = rows[-1]
        print(f"{variant:22s} RSS {r['rss_after_warmup_mib']:6.1f} -> {r['rss_end_mib']:6.1f} MiB "
              f"over {r['scrapes'] - 1 - r['warmup_scrapes']} scrapes: {r['bytes_per_scrape']:7.1f} bytes per scrape", flush=True)
    from edge_runtime.atomic import write_json_atomic

    write_json_atomic(args.out, {"created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                                 "command": "python experiments/scrape_memory.py " + " ".join(sys.argv[1:]), "rows": rows})
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
