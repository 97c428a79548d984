"""The device loop: capture, (add noise), denoise, output, time every stage, stop cleanly, report.

    report = run(RunConfig(source="0", model="unet", frames=300, report="run.json"))

Live cameras hand over only their newest frame (stale ones are dropped and counted); files give
every frame in order. Frames of any size reach the model: resized to its input size, or cut into
overlapping full-resolution tiles that are blended back (``tile``; on by default for files).
Ctrl-C, SIGTERM, ``--frames``, ``--duration``, the end of the input and a camera that stops all
end the loop the same way: the sink is closed and the report is written. A signal is honoured
between two tiles, not at the end of a frame. Every number in RunConfig is checked when it is made.

Runs meant to last weeks: memory stays flat (stage timings keep a bounded window, quality a
running mean), ``--metrics-port``/``--log-json`` publish live numbers (edge_runtime.telemetry),
and ``--save DIR --keep N`` rotates while a disk guard stops saving before the disk fills.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from edge_runtime.atomic import write_json_atomic
from edge_runtime.device_info import device_info
from edge_runtime.errors import EdgeDenoiseError
from edge_runtime.images import to_frame_rgb, to_image01
from edge_runtime.metrics import psnr, ssim
from edge_runtime.noise import parse_noise
from edge_runtime.noise_level import NoiseMonitor, trained_range
from edge_runtime.timing import STAGES, StageTimer
from edge_runtime.zoo import DEFAULT_MODEL, resolve_model

STATUS_EVERY_S = 0.5
DEFAULT_OVERLAP = 16  # pixels shared by neighbouring tiles; shrinks for models with tiles under 32 pixels


@dataclass(frozen=True)
class RunConfig:
    """Everything one ``edge-denoise run`` needs; saved inside the report."""

    source: str = "0"
    model: str = DEFAULT_MODEL
    precision: str = "int8"  # picks among shipped models of that name
    model_size: tuple[int, int] | str | None = None  # (height, width) or "480x640" of a shipped model; None: VGA live, else 128
    threads: int = 2
    delegate: str | None = None
    backend: str = "auto"  # engine backend: auto (the Interpreter; CompiledModel for --low-memory, --fp16-arith), compiled, interpreter
    fp16_arith: bool = False  # XNNPACK computes float operators in fp16 (ARMv8.2-A CPUs: Pi 5, Orin; compiled backend)
    low_memory: bool = False  # XNNPACK rebuilds indirection buffers each run: less memory, slower (compiled backend)
    tile: bool | None = None  # None: tile files at full resolution, resize live frames
    overlap: int = DEFAULT_OVERLAP  # tile overlap in pixels
    add_noise: str | None = None
    noise_seed: int = 0
    display: bool = False
    save: str | None = None
    report: str | None = None
    frames: int | None = None
    duration: float | None = None
    capture_size: tuple[int, int] | str | None = None  # (height, width) or "480x640" requested from cameras
    reconnect_s: float = 3.0
    metrics_port: int | None = None  # Prometheus endpoint; 0 picks a free port
    metrics_host: str = "127.0.0.1"
    log_json: str | None = None  # one JSON line per log_interval_s
    log_interval_s: float = 10.0
    keep: int | None = None  # --save DIR: keep the newest N frames
    max_save_mb: float | None = None  # --save DIR: keep at most this many MiB of frames
    min_free_mb: float = 200.0  # stop saving (and keep denoising) below this much free disk

    def __post_init__(self) -> None:
        """Refuse impossible values here, so a Python caller of ``run`` gets the CLI's checks."""
        from edge_runtime.engine import check_threads

        check_threads(self.threads)
        for name, value in (("--frames", self.frames), ("--duration", self.duration), ("--keep", self.keep),
                            ("--max-save-mb", self.max_save_mb), ("--log-interval", self.log_interval_s)):
            if value is not None and not value > 0:  # 'not >' also refuses NaN
                raise EdgeDenoiseError(f"{name} must be positive, got {value}")
        for name, value in (("--overlap", self.overlap), ("--reconnect", self.reconnect_s),
                            ("--min-free-mb", self.min_free_mb)):
            if not value >= 0:
                raise EdgeDenoiseError(f"{name} must be zero or more, got {value}")
        if self.metrics_port is not None and not 0 <= self.metrics_port <= 65535:
            raise EdgeDenoiseError(f"--metrics-port {self.metrics_port}: use a port number from 1 to 65535 "
                                   f"(0: any free port)")
        if (self.keep is not None or self.max_save_mb is not None) and not self.save:
            raise EdgeDenoiseError("--keep and --max-save-mb rotate the frames of --save DIR: give --save too")
        from edge_runtime.sizes import parse_size

        for name, field_name in (("--model-size", "model_size"), ("--capture-size", "capture_size")):
            size = getattr(self, field_name)
            if isinstance(size, (str, int)):  # "480x640" or 128, as the CLI spells it: height x width
                object.__setattr__(self, field_name, parse_size(size, name))
            elif size is not None and (len(size) != 2 or min(size) <= 0):
                raise EdgeDenoiseError(f"{name} {size}: both sides must be positive")


@dataclass
class RunReport:
    """What a run measured: per-stage latency percentiles, FPS, drops, quality, why it stopped."""

    config: dict
    source: str
    frames: int = 0
    frames_read: int = 0
    dropped: int = 0
    corrupt: int = 0
    skipped: list[str] = field(default_factory=list)
    duration_s: float = 0.0
    fps: float = 0.0
    invoke_fps: float = 0.0
    time_to_first_frame_s: float | None = None
    stages_ms: dict = field(default_factory=dict)
    quality: dict | None = None
    noise_level: dict | None = None  # live noise estimates (edge_runtime.noise_level) and the model's trained range
    stop_reason: str = ""
    source_lost: bool = False  # a live source stopped by itself (camera unplugged, stream gone)
    notices: list[str] = field(default_factory=list)
    saving: dict = field(default_factory=dict)
    metrics_url: str | None = None
    output: str | None = None
    model: dict = field(default_factory=dict)
    device: dict = field(default_factory=dict)
    started_at: str = ""

    def as_dict(self) -> dict:
        return asdict(self)


class WindowedStageTimer(StageTimer):
    """A StageTimer whose memory does not grow: the last ``window`` samples per stage, plus totals.

    Percentiles in ``summary()`` cover the last ``window`` frames; count, mean and max cover the
    whole run (identical to StageTimer for runs shorter than the window). ``since(stage, n)`` gives
    the samples recorded after the first ``n`` (the telemetry's histograms read them).
    """

    def __init__(self, stages: tuple[str, ...] = STAGES, window: int = 20_000, clock=time.perf_counter):
        self.clock, self.window = clock, int(window)
        self._ring: dict[str, np.ndarray] = {}
        self._count: dict[str, int] = {}
        self._total: dict[str, float] = {}
        self._max: dict[str, float] = {}
        for name in stages:
            self._add(name)
        self._mark = clock()

    def _add(self, stage: str) -> None:
        # Filled now, not lazily: the pages are resident from the start, so a soak test's RSS stays flat.
        self._ring[stage] = np.full(self.window, np.nan, np.float64)
        self._count[stage], self._total[stage], self._max[stage] = 0, 0.0, 0.0

    def record(self, stage: str, seconds: float) -> None:
        if stage not in self._ring:
            self._add(stage)
        n = self._count[stage]
        self._ring[stage][n % self.window] = seconds
        self._count[stage] = n + 1
        self._total[stage] += seconds
        if seconds > self._max[stage]:
            self._max[stage] = seconds

    def lap(self, stage: str) -> float:
        now = self.clock()
        dt = now - self._mark
        self._mark = now
        self.record(stage, dt)
        return dt

    def stages(self) -> list[str]:
        return list(self._ring)

    def count(self, stage: str) -> int:
        return self._count.get(stage, 0)

    def since(self, stage: str, start: int) -> np.ndarray:
        """Samples number ``start`` .. count-1 that are still in the window (a copy)."""
        n = self._count.get(stage, 0)
        start = max(start, n - self.window, 0)
        if start >= n:
            return np.empty(0, np.float64)
        idx = np.arange(start, n) % self.window
        return self._ring[stage][idx]

    def last_ms(self, stage: str) -> float:
        n = self._count.get(stage, 0)
        return float(self._ring[stage][(n - 1) % self.window]) * 1000.0 if n else 0.0

    def summary(self) -> dict[str, dict[str, float]]:
        from edge_runtime.timing import percentiles_ms

        out = {}
        for name, ring in self._ring.items():
            n = self._count[name]
            s = percentiles_ms(ring[: min(n, self.window)])
            if n:
                s.update(count=n, mean_ms=self._total[name] / n * 1000.0, max_ms=self._max[name] * 1000.0)
            out[name] = s
        return out


# A dynamic-shape model runs a whole frame up to this many pixels, larger frames in tiles of DYNAMIC_TILE
# (its activations grow with the input); sizes are rounded up to DYNAMIC_MULTIPLE for its poolings.
DYNAMIC_MAX_PIXELS = 1024 * 1024
DYNAMIC_TILE = 512
DYNAMIC_MULTIPLE = 32


def max_overlap(tile_hw: tuple[int, int]) -> int:
    """The largest --overlap for tiles of ``tile_hw``: half a tile, so tiles at most double per axis."""
    return max(0, min(tile_hw) // 2)


def check_overlap(overlap: int, tile_hw: tuple[int, int], model: str | Path = "") -> int:
    """``overlap`` when it is from 0 to max_overlap(tile_hw), else one line (125 of 128 meant 43 s a frame).

    The default (DEFAULT_OVERLAP) shrinks to fit a model whose tiles are too small for it."""
    top = max_overlap(tile_hw)
    if overlap == DEFAULT_OVERLAP and not isinstance(overlap, bool):
        return min(overlap, top)
    if isinstance(overlap, bool) or not isinstance(overlap, int) or not 0 <= overlap <= top:
        of = f" for {model}'s" if model else " for"
        raise EdgeDenoiseError(f"--overlap {overlap}: use 0 to {top} pixels{of} {tile_hw[0]}x{tile_hw[1]} tiles "
                               f"(at most half a tile; the default is {DEFAULT_OVERLAP})")
    return overlap


def _round_up(n: int, k: int) -> int:
    return -(-n // k) * k


class FrameDenoiser:
    """Any-size uint8 RGB frame -> denoised uint8 RGB frame of the same size, through one engine.

    Resize mode scales to the model's input and back; tile mode runs overlapping model-sized tiles
    at full resolution and blends them a row of tiles at a time (tiling.BandMerger), so memory for
    a huge frame is its uint8 input and output plus one band. A dynamic-shape model is resized to
    the frame (tiles of DYNAMIC_TILE above DYNAMIC_MAX_PIXELS). Buffers are made once per frame size
    and reused; the time of each stage of the last call is in ``times`` (preprocess, invoke,
    postprocess). ``should_stop()`` is asked before every tile: when it says yes the call returns
    None at once, so a stop signal is honoured within a tile, not a frame.
    """

    def __init__(self, engine, tile: bool = False, overlap: int = 16, clock=time.perf_counter, should_stop=None):
        self.engine, self.clock = engine, clock
        self.dynamic = bool(getattr(engine, "dynamic", False))
        self.tile = tile or self.dynamic  # tiles of a resized fully convolutional model are exact, resizing is not
        tile_hw = (DYNAMIC_TILE, DYNAMIC_TILE) if self.dynamic else engine.input_hw
        self.overlap = check_overlap(overlap, tile_hw, getattr(engine, "path", ""))
        self.should_stop = should_stop or (lambda: False)
        # Scratch made by _prepare only for the frame sizes that need it (0.9 MB each at VGA).
        self._model_in = self._model_out = None
        self._tile01: np.ndarray | None = None  # float scratch for blending, made only when tiling
        self._size = None
        self.times = (0.0, 0.0, 0.0)
        self.tiles_per_frame = 1

    def _prepare(self, hw: tuple[int, int]) -> None:
        from edge_runtime.tiling import BandMerger

        self._size = hw
        self._out = np.empty((*hw, 3), np.uint8)
        if self.dynamic:
            whole = hw[0] * hw[1] <= DYNAMIC_MAX_PIXELS
            side = (lambda n: _round_up(n, DYNAMIC_MULTIPLE)) if whole else (lambda n: min(_round_up(n, DYNAMIC_MULTIPLE), DYNAMIC_TILE))
            self.engine.resize_input((side(hw[0]), side(hw[1])))
            self._tile01 = None
        mh, mw = self.engine.input_hw
        if hw != (mh, mw) and not self.tile and self._model_in is None:
            self._model_in = np.empty((mh, mw, 3), np.uint8)
            self._model_out = np.empty((mh, mw, 3), np.uint8)
        if self.tile and hw != (mh, mw):
            padded = (max(hw[0], mh), max(hw[1], mw))
            self._merger = BandMerger(padded, (mh, mw), self.overlap)
            if self._tile01 is None:
                self._tile01 = np.empty((mh, mw, 3), np.float32)
            self.tiles_per_frame = len(self._merger.positions)
        else:
            self._merger = None
            self.tiles_per_frame = 1

    def __call__(self, frame_rgb: np.ndarray) -> np.ndarray | None:
        import cv2

        clock, engine = self.clock, self.engine
        hw = frame_rgb.shape[:2]
        if hw != self._size:
            self._prepare(hw)
        t0 = clock()
        if hw == engine.input_hw:
            engine.set_input_frame(frame_rgb)
            t1 = clock()
            engine.invoke()
            t2 = clock()
            engine.get_output_frame(self._out)
            self.times = (t1 - t0, t2 - t1, clock() - t2)
            return self._out
        if self._merger is None:  # resize to the model and back
            cv2.resize(frame_rgb, (engine.input_hw[1], engine.input_hw[0]), dst=self._model_in, interpolation=cv2.INTER_AREA)
            engine.set_input_frame(self._model_in)
            t1 = clock()
            engine.invoke()
            t2 = clock()
            engine.get_output_frame(self._model_out)
            cv2.resize(self._model_out, (hw[1], hw[0]), dst=self._out, interpolation=cv2.INTER_LINEAR)
            self.times = (t1 - t0, t2 - t1, clock() - t2)
            return self._out
        from edge_runtime.tiling import pad_to_tile

        image = pad_to_tile(frame_rgb, engine.input_hw)
        mh, mw = engine.input_hw
        pre = inv = post = 0.0
        merger = self._merger
        merger.start(self._out)
        for top, left in merger.positions:
            if self.should_stop():
                return None
            a = clock()
            engine.set_input_frame(image[top:top + mh, left:left + mw])
            b = clock()
            engine.invoke()
            c = clock()
            engine.get_output01_into(self._tile01)
            merger.add(self._tile01, top, left)
            d = clock()
            pre, inv, post = pre + b - a, inv + c - b, post + d - c
        a = clock()
        merger.finish()
        self.times = (pre, inv, post + clock() - a)
        return self._out


def _open_source_for(config: RunConfig, engine):
    from edge_runtime.sources import open_source, parse_uri

    spec = parse_uri(config.source)
    size = config.capture_size
    if size is None and spec.kind in ("camera", "picamera2", "csi", "demo"):
        size = tuple(engine.input_hw)  # ask the camera for what the model takes
    return open_source(config.source, size=size, reconnect_s=config.reconnect_s, exclude=config.save)


def _status_line(frames: int, elapsed: float, timer: StageTimer, source, quality: dict | None,
                 noise: dict | None = None) -> str:
    fps = frames / elapsed if elapsed > 0 else 0.0
    text = (f"{frames} frames  {fps:5.1f} FPS  invoke {timer.last_ms('invoke'):6.1f} ms  "
            f"dropped {source.dropped}  corrupt {source.corrupt}")
    if noise:
        from edge_runtime.noise_level import status_text

        text += "  " + status_text(noise)
    if quality:
        text += (f"  SSIM {quality['noisy_ssim']:.3f}->{quality['denoised_ssim']:.3f}"
                 f"  PSNR {quality['noisy_psnr']:.1f}->{quality['denoised_psnr']:.1f} dB")
    return text


class _StopFlag:
    """Set by SIGINT/SIGTERM (when run in the main thread), by a caller's Event, or by the window."""

    def __init__(self, external: threading.Event | None):
        self.external = external
        self.reason: str | None = None
        self._old = {}

    def __bool__(self) -> bool:
        if self.reason is None and self.external is not None and self.external.is_set():
            self.reason = "stopped by caller"
        return self.reason is not None

    def install(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        for sig in (signal.SIGINT, signal.SIGTERM):
            self._old[sig] = signal.signal(sig, self._handle)

    def _handle(self, signum, _frame) -> None:
        if self.reason is not None and signum == signal.SIGINT:
            raise KeyboardInterrupt  # a second Ctrl-C means now
        self.reason = f"interrupted ({signal.Signals(signum).name})"

    def restore(self) -> None:
        for sig, old in self._old.items():
            signal.signal(sig, old)


def _snapshot(frames: int, source, sink, quality: dict | None, noise: dict | None = None) -> dict:
    """The counters telemetry publishes, read from the source and the sink (cheap: a few attributes)."""
    grabber = getattr(source, "grabber", None)
    snap = {"frames": frames, "dropped": source.dropped if source is not None else 0,
            "corrupt": source.corrupt if source is not None else 0,
            "reconnects": getattr(grabber, "reconnects", 0), "quality": quality, "noise": noise}
    if sink is not None:
        snap.update(sink.stats())
    return snap


class _Loop:
    """One run's state and the steps of one frame: capture, denoise, measure, output, publish.

    ``run`` calls ``set_up``, then the steps until one says stop, then ``tear_down``; every step
    times itself with the run's one StageTimer. Nothing here allocates per frame what it can reuse.
    """

    def __init__(self, config: RunConfig, report: RunReport, flag: _StopFlag, noise, t_start: float,
                 notice: Callable[[str], None], on_status: Callable[[str], None] | None):
        self.config, self.report, self.flag, self.noise = config, report, flag, noise
        self.notice, self.on_status = notice, on_status
        self.clock = time.perf_counter
        self.t_start = t_start  # run() was called: the origin of time_to_first_frame_s
        self.t_loop = self.next_status = self.elapsed = 0.0
        self.timer = WindowedStageTimer(STAGES + (("noise", "metrics") if noise else ()))
        self.monitor = NoiseMonitor()  # the input's noise every few frames, against the model's trained range
        self.engine = self.source = self.sink = self.denoiser = self.telemetry = self.rng = None
        self.own_source = self.own_sink = True
        self.frames = 0
        self.first_s: float | None = None
        self.clean01: np.ndarray | None = None  # --add-noise: the clean frame as float, for noise and metrics
        self.quality_now: dict | None = None
        self.scores = {"noisy_ssim": 0.0, "noisy_psnr": 0.0, "denoised_ssim": 0.0, "denoised_psnr": 0.0}
        self.scored = 0

    def set_up(self, source, engine, sink) -> None:
        """Load the engine, open the source and the sink (unless given), start telemetry: all before the first frame."""
        config, notice = self.config, self.notice
        self.source, self.engine, self.sink = source, engine, sink
        self.own_source, self.own_sink = source is None, sink is None
        if engine is None:
            from edge_runtime.engine import load_engine
            from edge_runtime.sources import parse_uri

            live = parse_uri(config.source).live
            self.engine = engine = load_engine(resolve_model(config.model, config.precision, config.model_size, live, notice),
                                               threads=config.threads, delegate=config.delegate, backend=config.backend,
                                               fp16_arith=config.fp16_arith, low_memory=config.low_memory)
        self.report.model = engine.describe()
        self.monitor.trained = trained_range(getattr(engine, "metadata", None))
        if getattr(engine, "backend_note", ""):
            notice(engine.backend_note)
        cores = os.cpu_count() or 0
        if cores and config.threads > cores:
            notice(f"--threads {config.threads} on {cores} CPU cores: more threads than cores usually slows the model")
        if source is None:
            self.source = source = _open_source_for(config, engine)
        self.report.source = source.uri
        if hasattr(source, "should_stop"):
            source.should_stop = lambda: bool(self.flag)
        tile = (not source.live) if config.tile is None else config.tile
        self.denoiser = FrameDenoiser(engine, tile=tile, overlap=config.overlap, should_stop=lambda: bool(self.flag))
        if sink is None:
            from edge_runtime.sinks import open_sink

            self.sink = sink = open_sink(config.save, display=config.display, fps=source.fps, keep=config.keep,
                                         max_bytes=int(config.max_save_mb * 2**20) if config.max_save_mb else None,
                                         min_free_bytes=int(config.min_free_mb * 2**20), on_notice=notice)
        self.report.output = sink.target
        if config.metrics_port is not None or config.log_json:
            from edge_runtime.telemetry import Telemetry

            self.telemetry = Telemetry(config.metrics_port, config.metrics_host, config.log_json, config.log_interval_s,
                                       labels={"model": engine.name, "runtime": engine.runtime.name,
                                               "runtime_version": engine.runtime.version, "source": source.uri},
                                       on_notice=notice)
            self.report.metrics_url = self.telemetry.url
            if self.telemetry.url:
                notice(f"metrics: {self.telemetry.url}")
        if self.noise is not None:  # numpy.random pulls in hashlib and OpenSSL (memory in every device process): only for noise
            self.rng = np.random.default_rng(config.noise_seed)
            ssim(np.zeros((8, 8, 3), np.float32), np.zeros((8, 8, 3), np.float32))  # pay scikit-image's import now
        self.t_loop = self.clock()
        self.next_status = self.t_loop + STATUS_EVERY_S

    def should_stop(self) -> bool:
        """True once a signal, the caller, the window, --frames or --duration says so (the reason is in the flag)."""
        config, flag = self.config, self.flag
        if flag:
            return True
        if config.frames is not None and self.frames >= config.frames:
            flag.reason = f"--frames {config.frames} reached"
            return True
        if config.duration is not None and self.clock() - self.t_loop >= config.duration:
            flag.reason = f"--duration {config.duration:g} s reached"
            return True
        return False

    def capture(self) -> np.ndarray | None:
        """The next frame the model sees (with noise added under --add-noise), or None when the input ends."""
        clock, source = self.clock, self.source
        t0 = clock()
        clean = source.read()
        t1 = clock()
        if clean is None:
            if not self.flag:
                self.flag.reason = source.stop_reason or "end of input"
                self.report.source_lost = bool(source.live)
            return None
        self.timer.record("capture", t1 - t0)
        noisy = clean
        if self.noise is not None:
            self.clean01 = to_image01(clean)  # converted once: the noise and the metrics both use it
            noisy = to_frame_rgb(self.noise.apply(self.clean01, self.rng))
            self.timer.record("noise", clock() - t1)
        if (line := self.monitor.observe(self.frames, noisy)) is not None:
            self.notice(line)
        return noisy

    def denoise(self, noisy: np.ndarray) -> np.ndarray | None:
        """The denoised frame, or None when a signal arrived between two tiles (the frame is dropped unfinished)."""
        denoised = self.denoiser(noisy)
        if denoised is not None:
            pre, inv, post = self.denoiser.times
            self.timer.record("preprocess", pre)
            self.timer.record("invoke", inv)
            self.timer.record("postprocess", post)
        return denoised

    def measure(self, noisy: np.ndarray, denoised: np.ndarray) -> None:
        """--add-noise: SSIM and PSNR of the noisy and the denoised frame against the clean one."""
        if self.noise is None:
            return
        t2 = self.clock()
        clean01, n01, d01 = self.clean01, to_image01(noisy), to_image01(denoised)
        self.quality_now = {"noisy_ssim": ssim(clean01, n01), "noisy_psnr": psnr(clean01, n01),
                            "denoised_ssim": ssim(clean01, d01), "denoised_psnr": psnr(clean01, d01)}
        for k, v in self.quality_now.items():
            self.scores[k] += v
        self.scored += 1
        self.timer.record("metrics", self.clock() - t2)

    def output(self, noisy: np.ndarray, denoised: np.ndarray) -> None:
        """Hand the frame to the sink (file, folder, window, nothing) and count it."""
        clock = self.clock
        t3 = clock()
        status = (_status_line(self.frames + 1, t3 - self.t_loop, self.timer, self.source, self.quality_now,
                               self.monitor.snapshot()) if self.config.display else None)
        self.sink.write(denoised, noisy, status)
        self.timer.record("output", clock() - t3)
        self.frames += 1
        if self.first_s is None:
            self.first_s = clock() - self.t_start
        if self.sink.wants_stop:
            self.flag.reason = "closed from the window"

    def publish(self) -> None:
        """About twice a second: the live numbers to telemetry and the status line to ``on_status``."""
        clock = self.clock
        if clock() < self.next_status:
            return
        self.next_status = clock() + STATUS_EVERY_S
        if self.telemetry is not None:
            self.telemetry.update(_snapshot(self.frames, self.source, self.sink, self.quality_now, self.monitor.snapshot()),
                                  self.timer)
        if self.on_status is not None:
            self.on_status(_status_line(self.frames, clock() - self.t_loop, self.timer, self.source, self.quality_now,
                                        self.monitor.snapshot()))

    def tear_down(self, error: BaseException | None) -> BaseException | None:
        """Close what this run opened, fill and write the report; the error to raise (a new one if closing failed)."""
        config, report, flag, timer = self.config, self.report, self.flag, self.timer
        source, sink, monitor = self.source, self.sink, self.monitor
        flag.restore()
        report.saving = sink.stats() if sink is not None else {}
        if self.telemetry is not None:
            failed = error is not None and not isinstance(error, KeyboardInterrupt)
            self.telemetry.close(_snapshot(self.frames, source, sink, self.quality_now, monitor.snapshot()), timer,
                                 flag.reason, error=failed)
        if sink is not None and self.own_sink:
            try:
                (sink.abort if error is not None and not isinstance(error, KeyboardInterrupt) else sink.close)()
            except EdgeDenoiseError as exc:  # a video that did not read back whole was removed: say so, exit non-zero
                report.output = None
                if error is None:
                    error = exc
                    report.notices.append(str(exc))  # the caller prints it as the error
                else:
                    self.notice(str(exc))
        if source is not None:
            report.frames_read, report.dropped, report.corrupt = source.frames_read, source.dropped, source.corrupt
            report.skipped = list(source.skipped[:50])
            if self.own_source:
                source.close()
        report.frames = self.frames
        report.duration_s = self.elapsed
        report.fps = self.frames / self.elapsed if self.elapsed > 0 else 0.0
        report.stages_ms = timer.summary()
        inv = report.stages_ms.get("invoke", {}).get("mean_ms", 0.0)
        report.invoke_fps = 1000.0 / inv if inv else 0.0  # frames per second if invoke were all there was
        report.time_to_first_frame_s = self.first_s
        if self.noise is not None and self.scored:
            report.quality = {"noise": config.add_noise, **{f"{k}_mean": float(v / self.scored) for k, v in self.scores.items()}}
        report.noise_level = monitor.summary()
        report.stop_reason = flag.reason or "finished"
        report.device = device_info(self.engine) if self.engine is not None else device_info()
        if config.report:
            try:
                write_json_atomic(config.report, report.as_dict())
            except OSError as exc:  # e.g. a full disk: say so in one line, unless a first error is on its way
                if error is None or isinstance(error, KeyboardInterrupt):
                    error = EdgeDenoiseError(f"{config.report}: cannot write the report ({exc.strerror or exc})")
        return error


def run(config: RunConfig, *, source=None, engine=None, sink=None, on_status=None,
        stop: threading.Event | None = None, on_notice=None) -> RunReport:
    """Run the loop described by ``config``; ``source``/``engine``/``sink`` may be given pre-opened (tests, apps).

    ``on_status(line)`` is called about twice a second with a one-line summary; ``on_notice(line)``
    once per event worth a log line (metrics URL, saving stopped or resumed). The report is
    written to ``config.report`` (atomically) however the run ends, errors included.
    """
    t_start = time.perf_counter()
    noise = parse_noise(config.add_noise) if config.add_noise else None
    if config.display and sink is None:  # refuse before loading anything
        from edge_runtime.sinks import display_problem

        problem = display_problem()
        if problem:
            raise EdgeDenoiseError(f"--display: {problem}")
    report = RunReport(config=asdict(config), source=str(config.source),
                       started_at=datetime.now(timezone.utc).isoformat(timespec="seconds"))

    def notice(line: str) -> None:
        report.notices.append(line)
        if on_notice is not None:
            on_notice(line)

    if config.report:  # a run killed while writing its report left a hidden temp next to it
        from edge_runtime.atomic import remove_stale_temps

        remove_stale_temps(config.report)
    flag = _StopFlag(stop)
    flag.install()
    loop = _Loop(config, report, flag, noise, t_start, notice, on_status)
    error: BaseException | None = None
    try:
        loop.set_up(source, engine, sink)
        while not loop.should_stop():
            noisy = loop.capture()
            if noisy is None:
                break
            denoised = loop.denoise(noisy)
            if denoised is None:
                break
            loop.measure(noisy, denoised)
            loop.output(noisy, denoised)
            loop.publish()
        loop.elapsed = loop.clock() - loop.t_loop
    except BaseException as exc:  # still write the report, then let the error through
        error = exc
        flag.reason = flag.reason or (str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
        if isinstance(exc, KeyboardInterrupt):
            flag.reason = "interrupted (SIGINT)"
    finally:
        error = loop.tear_down(error)
    if error is not None and not isinstance(error, KeyboardInterrupt):
        raise error
    return report
