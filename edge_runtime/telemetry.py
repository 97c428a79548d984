"""Live numbers from a long run: Prometheus metrics on a port and/or one JSON line per interval.

    edge-denoise run --camera 0 --metrics-port 9108 --log-json /var/log/edge-denoise/run.jsonl

The run loop hands ``update()`` a snapshot of its counters about twice a second; nothing here runs
per frame. The endpoint binds 127.0.0.1 unless told otherwise (``--metrics-host 0.0.0.0`` to let
a Prometheus server on another machine scrape it). prometheus-client is imported only when a port
is given, so ``--log-json`` works without it.
"""

from __future__ import annotations

import json
import os
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from edge_runtime.errors import EdgeDenoiseError

# Stage latencies on a Pi range from ~0.1 ms (capture of a ready frame) to ~1 s (a big model at 4 threads).
STAGE_BUCKETS = (0.0001, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.035, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 1.0, 2.5)
LOG_MAX_BYTES = 10 * 2**20  # --log-json keeps this file and one .1 backup, so weeks of lines never fill a disk


class Telemetry:
    """Prometheus metrics (``port``) and JSON lines (``log_json``) fed by ``update(snapshot, timer)``.

    ``port=0`` picks a free port; the one in use is in ``port`` and ``url``. Counters only grow:
    each update adds the difference from the previous snapshot.
    """

    def __init__(self, port: int | None = None, host: str = "127.0.0.1", log_json: str | Path | None = None,
                 log_interval_s: float = 10.0, log_max_bytes: int = LOG_MAX_BYTES, clock=time.monotonic,
                 labels: dict | None = None, on_notice=None):
        self.host, self.clock = host, clock
        self.log_path = Path(log_json) if log_json else None
        self.log_interval_s, self.log_max_bytes = float(log_interval_s), int(log_max_bytes)
        self.port: int | None = None
        self.url: str | None = None
        self._server = None
        self._last: dict = {}
        self._seen: dict[str, int] = {}
        self._started = clock()
        self._last_update = self._started
        self._last_log = self._started
        self._log_frames = 0
        self._log_samples: dict[str, list[np.ndarray]] = {}
        self.on_notice = on_notice or (lambda line: None)
        self.log_errors = 0
        if self.log_path is not None:
            self._check_log_path()
        if port is not None:
            self._start_server(int(port), labels or {})

    # --- Prometheus ------------------------------------------------------------------------------
    def _start_server(self, port: int, labels: dict) -> None:
        try:
            from prometheus_client import (CollectorRegistry, Counter, Gauge, Histogram, PlatformCollector,
                                           ProcessCollector, start_http_server)
        except ImportError:
            raise EdgeDenoiseError("--metrics-port needs prometheus-client: pip install 'prometheus-client>=0.17' "
                                   "(part of the edge extra)") from None
        reg = CollectorRegistry()  # our own registry: no global state, two runs in one process never clash
        ProcessCollector(registry=reg)  # process_resident_memory_bytes, process_cpu_seconds_total, ...
        PlatformCollector(registry=reg)
        p = "edge_denoise_"
        self.m = {
            "frames": Counter(p + "frames", "Frames denoised.", registry=reg),
            "dropped": Counter(p + "frames_dropped", "Live frames replaced by a newer one before the model took them.", registry=reg),
            "corrupt": Counter(p + "frames_corrupt", "Frames skipped as unreadable.", registry=reg),
            "saved": Counter(p + "frames_saved", "Frames written by --save.", registry=reg),
            "reconnects": Counter(p + "camera_reconnects", "Times the camera was reopened after failing reads.", registry=reg),
            "errors": Counter(p + "errors", "Errors by kind (save: a frame could not be written; fatal: the run ended on an error).",
                              ["kind"], registry=reg),
            "stage": Histogram(p + "stage_seconds", "Time per frame in each stage of the loop.", ["stage"],
                               buckets=STAGE_BUCKETS, registry=reg),
            "fps": Gauge(p + "fps", "Frames per second over the last update interval (about 0.5 s).", registry=reg),
            "saving": Gauge(p + "saving", "1 while --save writes frames, 0 when stopped (disk nearly full) or not saving.", registry=reg),
            "free": Gauge(p + "disk_free_bytes", "Free bytes where --save writes (checked about once a second).", registry=reg),
            "ssim": Gauge(p + "ssim", "SSIM of the last frame against the clean frame (--add-noise only).", ["image"], registry=reg),
            "psnr": Gauge(p + "psnr_db", "PSNR in dB of the last frame against the clean frame (--add-noise only).", ["image"], registry=reg),
            "noise": Gauge(p + "noise_sigma", "Noise level of the input (wavelet MAD, [0, 1] scale), every few frames.", registry=reg),
            "brightness": Gauge(p + "frame_brightness", "Mean brightness of the input in [0, 1] (a failed light drops it).", registry=reg),
            "noise_outside": Gauge(p + "noise_outside_trained_range", "1 while the input's noise is outside the range the model was trained for.", registry=reg),
            "last": Gauge(p + "last_frame_timestamp_seconds", "Unix time of the last frame denoised (alert when it stops moving).", registry=reg),
            "info": Gauge(p + "info", "Model, runtime and source of this run (value 1).", sorted(labels), registry=reg),
        }
        if labels:
            self.m["info"].labels(**{k: str(v) for k, v in labels.items()}).set(1)
        try:
            started = start_http_server(port, addr=self.host, registry=reg)
        except OSError as exc:
            raise EdgeDenoiseError(f"--metrics-port {port}: cannot listen on {self.host}:{port} "
                                   f"({exc.strerror or exc}); pick another port") from None
        if isinstance(started, tuple):  # prometheus-client >= 0.17 returns (server, thread)
            self._server = started[0]
            self.port = int(self._server.server_address[1])
        else:
            self.port = port
        host = f"[{self.host}]" if ":" in self.host else self.host
        self.url = f"http://{host}:{self.port}/metrics"

    def _add(self, name: str, key: str, value) -> None:
        if value is None:
            return
        delta = value - self._last.get(key, 0)
        if delta > 0:
            self.m[name].inc(delta)
        self._last[key] = value

    # --- the loop's twice-a-second call ----------------------------------------------------------
    def update(self, snapshot: dict, timer, force_log: bool = False) -> None:
        """Publish a snapshot: frames, dropped, corrupt, reconnects, quality, and the sink's stats()."""
        now = self.clock()
        new = {stage: timer.since(stage, self._seen.get(stage, 0)) for stage in timer.stages()}
        for stage in new:
            self._seen[stage] = timer.count(stage)
        if self._server is not None:
            self._publish(snapshot, new, now)
        if self.log_path is not None:
            for stage, values in new.items():
                if len(values):
                    self._log_samples.setdefault(stage, []).append(values)
            if force_log or now - self._last_log >= self.log_interval_s:
                self._write_log_line(snapshot, now)
        self._last_update = now

    def _publish(self, snap: dict, new: dict, now: float) -> None:
        m = self.m
        frames_before = self._last.get("frames", 0)
        for name in ("frames", "dropped", "corrupt", "saved", "reconnects"):
            self._add(name, name, snap.get(name))
        save_errors = snap.get("save_errors")
        if save_errors is not None and save_errors > self._last.get("save_errors", 0):
            m["errors"].labels(kind="save").inc(save_errors - self._last.get("save_errors", 0))
            self._last["save_errors"] = save_errors
        for stage, values in new.items():
            child = m["stage"].labels(stage=stage)
            for v in values.tolist():
                child.observe(v)
        dt = now - self._last_update
        frames = snap.get("frames", 0)
        if dt > 0:
            m["fps"].set((frames - frames_before) / dt)
        if frames > frames_before:
            m["last"].set(time.time())
        m["saving"].set(1 if snap.get("saving") else 0)
        if snap.get("free_bytes") is not None:
            m["free"].set(snap["free_bytes"])
        noise = snap.get("noise")
        if noise:
            m["noise"].set(noise["sigma"])
            m["brightness"].set(noise["brightness"])
            m["noise_outside"].set(1 if noise["outside"] else 0)
        q = snap.get("quality")
        if q:
            for image in ("noisy", "denoised"):
                m["ssim"].labels(image=image).set(q[f"{image}_ssim"])
                m["psnr"].labels(image=image).set(q[f"{image}_psnr"])

    # --- JSON lines --------------------------------------------------------------------------------
    def _write_log_line(self, snap: dict, now: float) -> None:
        from edge_runtime.device_info import rss_bytes
        from edge_runtime.timing import percentiles

        dt = now - self._last_log
        frames = snap.get("frames", 0)
        stages = {}
        for stage, chunks in self._log_samples.items():
            a = np.concatenate(chunks) * 1000.0
            p50, p99 = percentiles(a, (50, 99))
            stages[stage] = {"count": int(a.size), "p50_ms": round(float(p50), 3), "p99_ms": round(float(p99), 3)}
        line = {
            "time": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "uptime_s": round(now - self._started, 1),
            "frames": frames,
            "fps": round((frames - self._log_frames) / dt, 2) if dt > 0 else 0.0,
            **{k: snap.get(k) for k in ("dropped", "corrupt", "reconnects", "saved", "save_errors", "saving")
               if snap.get(k) is not None},
            "free_mb": round(snap["free_bytes"] / 2**20, 1) if snap.get("free_bytes") is not None else None,
            "rss_mb": round(rss_bytes() / 2**20, 1),
            "stages_ms": stages,
        }
        if snap.get("quality"):
            line["quality"] = {k: round(float(v), 4) for k, v in snap["quality"].items()}
        if snap.get("noise"):
            line["noise"] = {k: (round(float(v), 5) if not isinstance(v, bool) else v) for k, v in snap["noise"].items()}
        if snap.get("event"):
            line["event"] = snap["event"]
        self._append(json.dumps(line))
        self._last_log, self._log_frames, self._log_samples = now, frames, {}

    def _check_log_path(self) -> None:
        """Refuse, before the run starts, a --log-json path that cannot be appended to."""
        path = self.log_path
        if path.is_dir():
            raise EdgeDenoiseError(f"--log-json {path}: is a folder; give a file, e.g. {path / 'run.jsonl'}")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with open(path, "a", encoding="utf-8"):
                pass
        except OSError as exc:
            raise EdgeDenoiseError(f"--log-json {path}: cannot write ({exc.strerror or exc})") from None

    def _append(self, text: str) -> None:
        path = self.log_path
        try:
            if path.exists() and path.stat().st_size > self.log_max_bytes:
                os.replace(path, path.with_name(path.name + ".1"))
            with open(path, "a", encoding="utf-8") as fh:
                fh.write(text + "\n")
        except OSError as exc:  # a full disk must not stop denoising; say so once, the metrics endpoint still reports
            self.log_errors += 1
            if self.log_errors == 1:
                self.on_notice(f"--log-json {path}: cannot write ({exc.strerror or exc}); lines are dropped "
                               f"until it can, denoising goes on")

    def close(self, snapshot: dict | None = None, timer=None, reason: str | None = None, error: bool = False) -> None:
        """Publish the last snapshot (counting a fatal error), write a last line saying why it stopped, stop serving."""
        if snapshot is not None and timer is not None:
            if error and self._server is not None:
                self.m["errors"].labels(kind="fatal").inc()
            if reason:
                snapshot = {**snapshot, "event": f"stopped: {reason}"}
            self.update(snapshot, timer, force_log=True)
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
