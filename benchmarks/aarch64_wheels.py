"""Does the `edge` extra install from binary wheels on a 64-bit Arm board (Pi OS Bookworm, Jetson)?

    .venv/bin/python benchmarks/aarch64_wheels.py                 # CPython 3.10, 3.11, 3.12
    .venv/bin/python benchmarks/aarch64_wheels.py --python 3.11 3.12 --max-glibc 2.28
    .venv/bin/python benchmarks/aarch64_wheels.py --python 3.11 --pin 'numpy<2' 'opencv-python-headless<4.12' \
        --out benchmarks/results/aarch64_wheels_pi_numpy1.json    # Pi OS venv that sees apt's picamera2

For each Python version, asks pip to resolve and download the edge extra (plus the core
dependencies) with ``--only-binary=:all:`` for Linux aarch64, the way a device would install it
without a compiler, then lists every wheel it picked with its platform tag. A requirement that has
no aarch64 wheel makes the resolution fail; then each top-level requirement is tried alone to name
the culprit. Prints a table and writes benchmarks/results/aarch64_wheels.json. Needs network
access to the package index; the wheels go to a temp folder that is removed afterwards.

``--max-glibc 2.28`` (default) accepts manylinux wheels up to glibc 2.28: Raspberry Pi OS
Bookworm has 2.36, JetPack 6 (Ubuntu 22.04) 2.35, JetPack 5 (Ubuntu 20.04) 2.31.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

try:
    import tomllib
except ImportError:  # Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
WHEEL = re.compile(r"^(?P<name>[^-]+)-(?P<version>[^-]+)(?:-\d[^-]*)?-(?P<py>[^-]+)-(?P<abi>[^-]+)-(?P<plat>[^-]+)\.whl$")


def edge_requirements() -> list[str]:
    """The core dependencies plus pyproject's [project.optional-dependencies].edge, as written."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    return list(project["dependencies"]) + list(project["optional-dependencies"]["edge"])


def platforms(max_glibc: str) -> list[str]:
    """manylinux2014_aarch64 and every manylinux_2_X_aarch64 from 2.17 up to ``max_glibc`` (pip does not expand them)."""
    top = int(max_glibc.split(".")[1])
    return ["manylinux2014_aarch64"] + [f"manylinux_2_{minor}_aarch64" for minor in range(17, top + 1)]


def pip_download(requirements: list[str], python: str, plats: list[str], dest: Path, timeout: float) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "pip", "download", "--only-binary=:all:", "--implementation", "cp",
           "--python-version", python, "--disable-pip-version-check", "--progress-bar", "off", "-d", str(dest)]
    for p in plats:
        cmd += ["--platform", p]
    return subprocess.run(cmd + requirements, capture_output=True, text=True, timeout=timeout)


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def requirement_name(req: str) -> str:
    return canonical(re.split(r"[\s;<>=!~\[]", req, maxsplit=1)[0])


def last_error(text: str) -> str:
    lines = [ln.strip() for ln in text.splitlines() if ln.strip().startswith("ERROR")]
    return (lines[0] if lines else (text.strip().splitlines() or ["?"])[-1])[:300]


def check_python(requirements: list[str], python: str, plats: list[str], timeout: float) -> dict:
    """Resolve everything together; on failure, each top-level requirement alone."""
    with tempfile.TemporaryDirectory(prefix="aarch64-wheels-") as tmp:
        t0 = time.perf_counter()
        r = pip_download(requirements, python, plats, Path(tmp), timeout)
        wheels = sorted(p.name for p in Path(tmp).iterdir())
        seconds = time.perf_counter() - t0
    result = {"python": python, "ok": r.returncode == 0, "seconds": round(seconds, 1), "wheels": {}, "failures": {}}
    for name in wheels:
        m = WHEEL.match(name)
        if m:
            result["wheels"][canonical(m["name"])] = {"version": m["version"], "tag": f"{m['py']}-{m['abi']}-{m['plat']}",
                                                      "file": name}
        else:
            result["failures"][name] = "not a wheel"
            result["ok"] = False
    if r.returncode != 0:
        result["error"] = last_error(r.stderr)
        for req in requirements:
            with tempfile.TemporaryDirectory(prefix="aarch64-wheels-") as tmp:
                alone = pip_download([req], python, plats, Path(tmp), timeout)
            if alone.returncode != 0:
                result["failures"][requirement_name(req)] = last_error(alone.stderr)
    return result


def short_platform(tag: str) -> str:
    plat = tag.rsplit("-", 1)[-1]
    if plat == "any":
        return "pure Python"
    plat = plat.replace("manylinux2014", "manylinux_2_17")  # PEP 600's name for the same tag
    glibc = re.findall(r"manylinux_(\d+)_(\d+)", plat)
    if glibc:
        low = min((int(a), int(b)) for a, b in glibc)
        return f"manylinux glibc>={low[0]}.{low[1]}"
    return plat


def print_table(results: list[dict], top: list[str]) -> None:
    names = list(dict.fromkeys(top + sorted({n for r in results for n in r["wheels"]})))
    cols = [f"cp{r['python'].replace('.', '')}" for r in results]
    print(f"{'package':<26}" + "".join(f"{c:<42}" for c in cols))
    for name in names:
        cells = []
        for r in results:
            w = r["wheels"].get(name)
            if w:
                cells.append(f"{w['version']} ({short_platform(w['tag'])})")
            elif name in r["failures"]:
                cells.append("NO WHEEL")
            else:
                cells.append("-")
        mark = "*" if name in top else " "
        print(f"{mark}{name:<25}" + "".join(f"{c:<42}" for c in cells))
    print("* = listed in the edge extra or core dependencies")
    for r in results:
        state = "OK: every package has an aarch64 wheel" if r["ok"] else f"FAILED: {r.get('error', '')}"
        print(f"CPython {r['python']}: {len(r['wheels'])} wheels, {state} ({r['seconds']} s)")
        for name, why in r["failures"].items():
            print(f"    {name}: {why}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--python", nargs="+", default=["3.10", "3.11", "3.12"], help="CPython versions (3.10 is JetPack 6's)")
    ap.add_argument("--max-glibc", default="2.28", help="newest manylinux glibc to accept (default 2.28)")
    ap.add_argument("--timeout", type=float, default=900.0, help="seconds per pip call")
    ap.add_argument("--pin", nargs="*", default=[], help="extra requirements, e.g. 'numpy<2' 'opencv-python-headless<4.12' "
                                                         "(Pi OS with apt's picamera2)")
    ap.add_argument("--out", type=Path, default=RESULTS / "aarch64_wheels.json")
    args = ap.parse_args()

    requirements = edge_requirements() + list(args.pin)
    plats = platforms(args.max_glibc)
    results = [check_python(requirements, py, plats, args.timeout) for py in args.python]
    top = [requirement_name(r) for r in requirements]
    print_table(results, top)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    data = {"created": datetime.now(timezone.utc).isoformat(timespec="seconds"), "pip": pip_version(),
            "requirements": requirements, "platforms": plats, "max_glibc": args.max_glibc, "results": results,
            "all_ok": all(r["ok"] for r in results),
            "command": "python benchmarks/aarch64_wheels.py " + " ".join(sys.argv[1:])}
    tmp = args.out.with_name(f".{args.out.name}.tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    tmp.replace(args.out)
    print(f"wrote {args.out}")
    return 0 if data["all_ok"] else 1


def pip_version() -> str:
    r = subprocess.run([sys.executable, "-m", "pip", "--version"], capture_output=True, text=True)
    return r.stdout.split()[1] if r.returncode == 0 and len(r.stdout.split()) > 1 else "?"


if __name__ == "__main__":
    sys.exit(main())
