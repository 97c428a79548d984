"""Training on several GPUs or machines with TensorFlow's own engine (tf.distribute).

``--strategy mirrored`` is MirroredStrategy (one machine, every GPU); ``--strategy multiworker``
is MultiWorkerMirroredStrategy, configured by the standard ``TF_CONFIG`` environment variable;
``auto`` picks multiworker when TF_CONFIG names more than one task, mirrored when there are
several GPUs, and no strategy otherwise. Every bad setting is one line, found before any
collective op can wait for a peer that never comes.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import socket
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from edge_runtime.errors import EdgeDenoiseError

STRATEGIES = ("auto", "mirrored", "multiworker")
_ADDRESS = re.compile(r"^(?P<host>\[[0-9a-fA-F:.]+\]|[A-Za-z0-9_.-]+):(?P<port>\d{1,5})$")


@dataclass(frozen=True)
class Cluster:
    """The parsed TF_CONFIG: every task's address in cluster order, and which one this process is."""

    tasks: tuple[tuple[str, int, str], ...]  # (job, index, "host:port"); the chief first
    me: int  # position of this process in ``tasks``

    @property
    def is_chief(self) -> bool:
        return self.me == 0

    @property
    def address(self) -> str:
        return self.tasks[self.me][2]


@dataclass
class Placement:
    """Where training runs: the strategy (None: plain Keras), its replica count, and this worker's role."""

    strategy: object | None
    name: str
    replicas: int = 1
    cluster: Cluster | None = None

    @property
    def is_chief(self) -> bool:
        return self.cluster is None or self.cluster.is_chief

    @property
    def multiworker(self) -> bool:
        return self.cluster is not None


def parse_tf_config(text: str | None) -> Cluster | None:
    """Validate a TF_CONFIG string (cluster and task keys, index in range, host:port); None if unset."""
    if text is None or not text.strip():
        return None
    try:
        raw = json.loads(text)
    except ValueError as exc:
        raise EdgeDenoiseError(f"TF_CONFIG is not valid JSON ({exc}); expected "
                               '{"cluster": {"worker": ["host:port", ...]}, "task": {"type": "worker", "index": 0}}') from None
    if not isinstance(raw, dict) or not isinstance(raw.get("cluster"), dict) or not isinstance(raw.get("task"), dict):
        raise EdgeDenoiseError("TF_CONFIG needs a 'cluster' object (job -> list of host:port) and a 'task' object (type, index)")
    cluster, task = raw["cluster"], raw["task"]
    unknown = sorted(set(cluster) - {"chief", "worker"})
    if unknown:
        raise EdgeDenoiseError(f"TF_CONFIG cluster job(s) {', '.join(unknown)}: MultiWorkerMirroredStrategy takes only 'chief' and 'worker'")
    tasks = []
    for job in ("chief", "worker"):
        addresses = cluster.get(job, [])
        if not isinstance(addresses, list) or (job == "chief" and len(addresses) > 1):
            raise EdgeDenoiseError(f"TF_CONFIG cluster '{job}': expected a list of host:port" + (" with one entry" if job == "chief" else ""))
        for i, address in enumerate(addresses):
            match = _ADDRESS.match(str(address))
            if not match or not 0 < int(match["port"]) < 65536:
                raise EdgeDenoiseError(f"TF_CONFIG cluster '{job}' entry {i}: '{address}' is not host:port (e.g. 10.0.0.2:12345)")
            tasks.append((job, i, str(address)))
    if not tasks:
        raise EdgeDenoiseError("TF_CONFIG cluster lists no workers")
    job, index = task.get("type"), task.get("index", 0)
    if job not in ("chief", "worker") or not isinstance(index, int) or isinstance(index, bool):
        raise EdgeDenoiseError(f"TF_CONFIG task {json.dumps(task)}: expected type 'worker' or 'chief' and a whole-number index")
    count = len(cluster.get(job, []))
    if not 0 <= index < count:
        raise EdgeDenoiseError(f"TF_CONFIG task index {index}: out of range, cluster '{job}' has {count} entr{'y' if count == 1 else 'ies'}")
    return Cluster(tuple(tasks), tasks.index(next(t for t in tasks if t[:2] == (job, index))))


def check_port_free(address: str) -> None:
    """One line if this worker's own port is taken (by another run, or a worker that did not exit)."""
    port = int(address.rsplit(":", 1)[1])
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as gRPC does: TIME_WAIT is no conflict
        try:
            sock.bind(("", port))
        except OSError as exc:
            raise EdgeDenoiseError(f"TF_CONFIG address {address}: port {port} is in use ({exc.strerror}); "
                                   f"stop what holds it or choose another port") from None


def wait_for_peers(cluster: Cluster, timeout_s: float) -> None:
    """Wait until every other task accepts TCP connections; one line naming the first that never did."""
    deadline = time.monotonic() + timeout_s
    for job, index, address in cluster.tasks:
        if address == cluster.address:
            continue
        host, port = address.rsplit(":", 1)
        while True:
            try:
                with socket.create_connection((host.strip("[]"), int(port)), timeout=2):
                    break
            except OSError as exc:
                if time.monotonic() >= deadline:
                    raise EdgeDenoiseError(
                        f"{job} {index} at {address}: unreachable for {timeout_s:g} s ({exc.strerror or exc}); "
                        f"is it started, is TF_CONFIG the same on every host, does the firewall let the port through?") from None
                time.sleep(0.2)


def make_placement(name: str, peer_timeout_s: float = 120.0) -> Placement:
    """Create the strategy ``name`` names; call before any other TensorFlow op (MultiWorkerMirroredStrategy needs that)."""
    if name not in STRATEGIES:
        raise EdgeDenoiseError(f"--strategy {name}: choose one of: {', '.join(STRATEGIES)}")
    cluster = parse_tf_config(os.environ.get("TF_CONFIG"))
    if name == "multiworker" and cluster is None:
        raise EdgeDenoiseError("--strategy multiworker needs the TF_CONFIG environment variable "
                               "(see docs/distributed.md), or use --local-workers N to try it on this machine")
    import keras

    if keras.backend.backend() != "tensorflow":  # JAX or PyTorch: one process on its default device
        if name != "auto" or (cluster is not None and len(cluster.tasks) > 1):
            raise EdgeDenoiseError(f"--strategy {name}: needs the TensorFlow backend (KERAS_BACKEND is "
                                   f"{keras.backend.backend()}); train with --strategy auto on one device")
        return Placement(None, "none")
    import tensorflow as tf

    if name == "auto":
        if cluster is not None and len(cluster.tasks) > 1:
            name = "multiworker"
        elif len(tf.config.list_physical_devices("GPU")) > 1:
            name = "mirrored"
        else:
            return Placement(None, "none")
    if name == "mirrored":
        strategy = tf.distribute.MirroredStrategy()
        return Placement(strategy, name, strategy.num_replicas_in_sync)
    check_port_free(cluster.address)
    options = tf.distribute.experimental.CommunicationOptions(timeout_seconds=peer_timeout_s)
    # the constructor waits inside TensorFlow (holding the GIL, with no timeout) for every peer to
    # register; so first listen on our port ourselves and see every peer answer, within the timeout
    port = int(cluster.address.rsplit(":", 1)[1])
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("", port))
        listener.listen(16)
        wait_for_peers(cluster, peer_timeout_s)
    strategy = tf.distribute.MultiWorkerMirroredStrategy(communication_options=options)
    return Placement(strategy, name, strategy.num_replicas_in_sync, cluster)


def worker_dir(out: str | Path, cluster: Cluster) -> Path:
    """A non-chief worker's private run folder: a temp dir, stable across restarts so its backup survives."""
    key = hashlib.sha256(str(Path(out).resolve()).encode()).hexdigest()[:10]
    job, index, _ = cluster.tasks[cluster.me]
    return Path(tempfile.gettempdir()) / f"edge-denoise-{key}-{job}{index}"


def shard_by_data(ds):
    """Each worker takes its share of every global batch: the dataset is a list of images, not files."""
    import tensorflow as tf

    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return ds.with_options(options)


def patch_keras_for_multiworker(model) -> None:
    """Work around Keras 3 + MultiWorkerMirroredStrategy (keras-team/keras#20585, tensorflow/tensorflow#72388).

    Keras reduces a sample batch with ``strategy.reduce`` to learn the input shapes, which
    fails for a tuple across workers; and it reduces every scalar metric with ``axis=0``,
    which fails for a scalar. We build from the input signature instead, and give each
    metric a length-1 axis, so the mean over replicas is exactly the synced value.
    """
    import tensorflow as tf

    spec = (tf.TensorSpec((None, None, None, 3), tf.float32),) * 2

    def symbolic_build(iterator=None, data_batch=None):
        with model.distribute_strategy.scope():
            model._symbolic_build(data_batch=spec)

    def with_axis(step):
        def wrapped(data):
            return {k: tf.reshape(v, [1]) for k, v in step(data).items()}

        return wrapped

    model._maybe_symbolic_build = symbolic_build
    model.train_step = with_axis(model.train_step)
    model.test_step = with_axis(model.test_step)
