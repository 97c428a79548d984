"""``train --local-workers N``: N MultiWorkerMirroredStrategy workers as processes on 127.0.0.1.

For trying multi-worker training on one machine and for tests. Each worker is an ordinary
``edge-denoise train --strategy multiworker`` with a generated TF_CONFIG on free loopback
ports. A worker that dies takes the cluster down with it (its peers' collective ops cannot
finish), so the launcher restarts all of them, on fresh ports, with ``--resume``: every worker
continues from its last BackupAndRestore epoch, not from zero.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from edge_runtime.atomic import write_json_atomic
from edge_runtime.errors import EdgeDenoiseError
from train.config import TrainConfig

USER_ERROR = 2  # the CLI's exit code for an EdgeDenoiseError: restarting would only repeat it
GRACE_S = 5.0  # after SIGTERM, before SIGKILL: a worker stuck in a collective op cannot unwind


@dataclass
class LaunchResult:
    returncode: int  # the chief's
    restarts: int
    log_dir: Path
    exit_codes: list[list[int]] = field(default_factory=list)  # per attempt, per worker


def free_ports(n: int) -> list[int]:
    """n distinct free loopback ports, by binding port 0 (held together so none repeats)."""
    socks = [socket.socket() for _ in range(n)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def local_tf_configs(n: int) -> list[str]:
    """One TF_CONFIG per worker for an n-worker cluster on 127.0.0.1; worker 0 is the chief."""
    cluster = {"worker": [f"127.0.0.1:{p}" for p in free_ports(n)]}
    return [json.dumps({"cluster": cluster, "task": {"type": "worker", "index": i}}) for i in range(n)]


def _stop(procs: list[subprocess.Popen]) -> None:
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + GRACE_S
    for p in procs:
        try:
            p.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def _last_error_line(log: Path) -> str:
    lines = [ln.strip() for ln in log.read_text(errors="replace").splitlines() if ln.strip()]
    errors = [ln for ln in lines if ln.startswith("error:")]
    return (errors or lines or ["(no output)"])[-1]


def launch(config: TrainConfig, workers: int = 2, *, resume: bool = False, overwrite: bool = False, max_restarts: int = 2,
           log_dir: str | Path | None = None, timeout_s: float | None = None, console=None) -> LaunchResult:
    """Run ``config`` on ``workers`` local processes; restart them all (up to ``max_restarts``) when one dies.

    Worker logs go to ``log_dir`` (default: a new temp dir), as worker-I.log, with worker-I.pid
    naming the live process. Returns the chief's exit code once it is done.
    """
    if workers < 1:
        raise EdgeDenoiseError(f"--local-workers {workers}: must be 1 or more")
    if max_restarts < 0:
        raise EdgeDenoiseError(f"--max-restarts {max_restarts}: must be 0 or more")
    log_dir = Path(log_dir) if log_dir else Path(tempfile.mkdtemp(prefix="edge-denoise-workers-"))
    log_dir.mkdir(parents=True, exist_ok=True)
    config_json = log_dir / "train.json"  # the whole config, so no option is lost on the way to the workers
    write_json_atomic(config_json, config.replace(strategy="multiworker").to_dict())
    deadline = time.monotonic() + timeout_s if timeout_s else None
    result = LaunchResult(1, 0, log_dir)
    first = True
    while True:
        args = [sys.executable, "-m", "edge_denoise", "train", "--config", str(config_json), "--out", config.out,
                "--strategy", "multiworker"]
        if first and overwrite and not resume:
            args.append("--overwrite")
        if (resume or not first) and (Path(config.out) / "config.json").exists():
            args.append("--resume")
        procs = []
        for i, tf_config in enumerate(local_tf_configs(workers)):
            log = open(log_dir / f"worker-{i}.log", "a")
            log.write(f"--- attempt {result.restarts + 1}: TF_CONFIG={tf_config}\n")
            log.flush()
            env = {**os.environ, "TF_CONFIG": tf_config, "COLUMNS": "200"}
            procs.append(subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, env=env))
            log.close()
            (log_dir / f"worker-{i}.pid").write_text(str(procs[-1].pid))
        if console:
            console.print(f"started {workers} workers (attempt {result.restarts + 1}); logs in {log_dir}", highlight=False)
        first = False
        try:
            failed = _supervise(procs, deadline)
        except BaseException:  # Ctrl-C, SIGTERM or the wall clock: never leave workers behind
            _stop(procs)
            raise
        codes = [p.returncode for p in procs]
        result.exit_codes.append(codes)
        if failed is None:
            result.returncode = codes[0]
            return result
        if failed == "timeout":
            _stop(procs)
            raise EdgeDenoiseError(f"--local-workers: not done after {timeout_s:g} s; stopped every worker (logs in {log_dir})")
        _stop(procs)
        codes = [p.returncode for p in procs]
        why = _last_error_line(log_dir / f"worker-{failed}.log")
        if codes[failed] == USER_ERROR:
            raise EdgeDenoiseError(f"worker {failed}: {why.removeprefix('error:').strip()}")
        if result.restarts >= max_restarts:
            raise EdgeDenoiseError(f"worker {failed} exited with code {codes[failed]} after {result.restarts} restart(s): "
                                   f"{why} (logs in {log_dir})")
        result.restarts += 1
        if console:
            console.print(f"[yellow]worker {failed} exited with code {codes[failed]}[/]: restarting all workers from the last backup", highlight=False)


def _supervise(procs: list[subprocess.Popen], deadline: float | None) -> int | str | None:
    """Wait until the chief is done (None), a worker fails (its index) or the deadline passes ("timeout")."""
    while True:
        for i, p in enumerate(procs):
            code = p.poll()
            if code not in (None, 0):
                return i
        if procs[0].poll() == 0:
            for p in procs[1:]:  # the chief is done; the others only clean up their temp dirs
                try:
                    p.wait(30)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
            return None
        if deadline is not None and time.monotonic() > deadline:
            return "timeout"
        time.sleep(0.2)
