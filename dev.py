#!/usr/bin/env python3
"""Set up and run edge-denoise from a fresh clone with nothing but Python 3.10+ and pip.

    python3 dev.py demo    # create .venv, install the device extra (no TensorFlow), run the demo
    python3 dev.py test    # create .venv, install with test extras, run the whole test suite

Idempotent: the venv is reused and reinstalled only when pyproject.toml changes.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PY = BIN / ("python.exe" if os.name == "nt" else "python")
EXTRAS = {"demo": "edge", "test": "edge,train,test"}  # the demo needs no TensorFlow


def sh(*args: str | Path) -> None:
    print("+", " ".join(str(a) for a in args), flush=True)
    subprocess.run([str(a) for a in args], cwd=ROOT, check=True)


def ensure_venv(extras: str) -> None:
    """Create .venv and install the package with ``extras`` unless that is already done."""
    if not PY.exists():
        venv.EnvBuilder(with_pip=True).create(VENV)
        sh(PY, "-m", "pip", "install", "--quiet", "--upgrade", "pip")
    stamp = VENV / f".installed-{extras.replace(',', '-')}"
    want = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    if stamp.exists() and stamp.read_text() == want:
        return
    sh(PY, "-m", "pip", "install", "--quiet", "-e", f".[{extras}]")
    stamp.write_text(want)


def demo() -> None:
    """Denoise a noisy clip of the bundled pistachio photos with the default shipped int8 model; save it and a report."""
    ensure_venv(EXTRAS["demo"])
    sh(BIN / "edge-denoise", "run", "--demo", "--frames", "96", "--save", "runs/demo/denoised.mp4",
       "--report", "runs/demo/report.json")


def test() -> None:
    ensure_venv(EXTRAS["test"])
    sh(PY, "-m", "pytest", "-q", *sys.argv[2:])


if __name__ == "__main__":
    jobs = {"demo": demo, "test": test}
    if len(sys.argv) < 2 or sys.argv[1] not in jobs:
        sys.exit(f"usage: python3 {Path(__file__).name} {{{'|'.join(jobs)}}} [pytest args]")
    try:
        jobs[sys.argv[1]]()
    except subprocess.CalledProcessError as exc:
        sys.exit(exc.returncode)
