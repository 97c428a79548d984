"""Multi-worker training with tf.distribute on loopback: same result as one worker, resumes after a crash, one-line errors."""

import csv
import hashlib
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from edge_runtime.errors import EdgeDenoiseError
from train.config import TrainConfig
from train.distribute import parse_tf_config
from train.launcher import launch
from train.training import train

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "edge_runtime" / "samples"
# 8 training images in 2 global batches of 4: one worker takes 4 per step, each of two workers 2
TINY = dict(model="unet", width=4, depth=2, size=32, epochs=2, max_images=8, data=str(SAMPLES))


def history(run: Path) -> list[dict]:
    with open(run / "history.csv", newline="") as fh:
        return list(csv.DictReader(fh))


def cli(*args, env=None):
    return subprocess.run([sys.executable, "-m", "edge_denoise", *map(str, args)], capture_output=True, text=True,
                          cwd=ROOT, env={**os.environ, "COLUMNS": "200", **(env or {})}, timeout=120)


def test_two_local_workers_match_one_worker_with_the_same_seed_and_global_batch(tmp_path):
    one = train(TrainConfig(out=str(tmp_path / "one"), batch_size=4, learning_rate=1e-3, **TINY), verbose=0)
    two = launch(TrainConfig(out=str(tmp_path / "two"), batch_size=2, learning_rate=5e-4, **TINY), workers=2,
                 log_dir=tmp_path / "logs", timeout_s=300)
    assert two.returncode == 0 and two.restarts == 0, (tmp_path / "logs" / "worker-0.log").read_text()[-2000:]
    a, b = history(one.run_dir), history(tmp_path / "two")
    assert [r["epoch"] for r in b] == ["0", "1"]
    for key in ("loss", "val_loss", "val_ssim_metric"):
        np.testing.assert_allclose([float(r[key]) for r in b], [float(r[key]) for r in a], rtol=1e-3, err_msg=key)
    assert json.loads((tmp_path / "two" / "metrics.json").read_text())["model"]["count"] > 0
    key = hashlib.sha256(str((tmp_path / "two").resolve()).encode()).hexdigest()[:10]
    assert not (Path(tempfile.gettempdir()) / f"edge-denoise-{key}-worker1").exists(), "the non-chief's temp dir is removed"


def test_a_killed_worker_is_restarted_and_training_resumes_from_the_backup(tmp_path):
    run, logs = tmp_path / "run", tmp_path / "logs"
    config = TrainConfig(out=str(run), batch_size=2, **{**TINY, "epochs": 3})
    done = {}
    thread = threading.Thread(target=lambda: done.update(result=launch(config, workers=2, log_dir=logs, timeout_s=400)))
    thread.start()
    deadline = time.monotonic() + 300
    while not ((run / "history.csv").exists() and len(history(run)) >= 1) and thread.is_alive():
        assert time.monotonic() < deadline, "epoch 0 never finished"
        time.sleep(0.2)
    os.kill(int((logs / "worker-1.pid").read_text()), 9)  # mid epoch 1: the backup holds epoch 0
    thread.join()
    result = done["result"]
    assert result.returncode == 0 and result.restarts == 1, result.exit_codes
    assert [r["epoch"] for r in history(run)] == ["0", "1", "2"], "epoch 0 is not trained twice"
    assert (run / "model.keras").is_file() and (run / "metrics.json").is_file()
    assert not (run / "backup").exists(), "the backup is removed once the run is done"


@pytest.mark.parametrize("text, says", [
    ("{not json", "not valid JSON"),
    ('{"cluster": {"worker": ["127.0.0.1:1"]}}', "'task' object"),
    ('{"cluster": {"worker": ["127.0.0.1"]}, "task": {"type": "worker", "index": 0}}', "is not host:port"),
    ('{"cluster": {"worker": ["127.0.0.1:99999"]}, "task": {"type": "worker", "index": 0}}', "is not host:port"),
    ('{"cluster": {"worker": ["a:1", "b:2"]}, "task": {"type": "worker", "index": 2}}', "index 2: out of range"),
    ('{"cluster": {"ps": ["a:1"], "worker": ["b:2"]}, "task": {"type": "worker", "index": 0}}', "only 'chief' and 'worker'"),
])
def test_a_malformed_tf_config_is_one_line(text, says):
    with pytest.raises(EdgeDenoiseError, match=says):
        parse_tf_config(text)


def test_the_chief_is_the_chief_job_or_else_worker_0():
    cluster = parse_tf_config('{"cluster": {"chief": ["a:1"], "worker": ["b:2"]}, "task": {"type": "worker", "index": 0}}')
    assert not cluster.is_chief and cluster.address == "b:2"
    assert parse_tf_config('{"cluster": {"worker": ["a:1", "b:2"]}, "task": {"type": "worker", "index": 0}}').is_chief


def _tf_config(ports, index=0):
    return json.dumps({"cluster": {"worker": [f"127.0.0.1:{p}" for p in ports]}, "task": {"type": "worker", "index": index}})


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_an_unreachable_peer_is_one_line_within_the_timeout(tmp_path):
    start = time.monotonic()
    result = cli("train", "--out", tmp_path / "run", "--strategy", "multiworker", "--peer-timeout", 3, "--data", SAMPLES,
                 env={"TF_CONFIG": _tf_config([_free_port(), _free_port()])})
    assert result.returncode == 2 and "worker 1 at 127.0.0.1:" in result.stderr and "unreachable for 3 s" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr
    assert time.monotonic() - start < 60


def test_a_port_in_use_is_one_line(tmp_path):
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        port = held.getsockname()[1]
        result = cli("train", "--out", tmp_path / "run", "--strategy", "multiworker", "--data", SAMPLES,
                     env={"TF_CONFIG": _tf_config([port, _free_port()])})
    assert result.returncode == 2 and f"port {port} is in use" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_multiworker_without_tf_config_and_an_unknown_strategy_are_one_line(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "TF_CONFIG"}
    result = subprocess.run([sys.executable, "-m", "edge_denoise", "train", "--out", tmp_path / "r", "--strategy", "multiworker",
                             "--data", SAMPLES], capture_output=True, text=True, cwd=ROOT, env=env, timeout=120)
    assert result.returncode == 2 and "needs the TF_CONFIG" in result.stderr
    result = cli("train", "--out", tmp_path / "r", "--strategy", "ring", "--data", SAMPLES)
    assert result.returncode == 2 and "--strategy ring: choose one of" in result.stderr
