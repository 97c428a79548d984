"""The device loop: capture, (add noise), denoise, output, time every stage, stop cleanly, report.

    report = run(RunConfig(source="0", model="unet", frames=300, report="run.json"))

Live cameras hand over only their newest frame (stale ones are dropped and counted); files give
every frame in order. Frames of any size reach the model: resized to its input size, or cut into
overlapping full-resolution tiles that are blended back (``tile``; on by default for files).
Ctrl-C, SIGTERM, ``--frames``, ``--duration``, the end of the input and a camera that stops all
end the loop the same way: the sink is closed and the report is written.
"""

from __future__ import annotations

import signal
import threading
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from edge_runtime.errors import EdgeDenoiseError
from edge_runtime.timing import STAGES, StageTimer

STATUS_EVERY_S = 0.5


@dataclass(frozen=True)
class RunConfig:
    """Everything one ``edge-denoise run`` needs; saved inside the report."""

    source: str = "0"
    model: str = "unet"
    threads: int = 2
    delegate: str | None = None
    tile: bool | None = None  # None: tile files at full resolution, resize live frames
    overlap: int = 16
    add_noise: str | None = None
    noise_seed: int = 0
    display: bool = False
    save: str | None = None
    report: str | None = None
    frames: int | None = None
    duration: float | None = None
    capture_size: tuple[int, int] | None = None  # (width, height) requested from cameras
    reconnect_s: float = 3.0


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
    stop_reason: str = ""
    output: str | None = None
    model: dict = field(default_factory=dict)
    device: dict = field(default_factory=dict)
    started_at: str = ""

    def as_dict(self) -> dict:
        return asdict(self)


class FrameDenoiser:
    """Any-size uint8 RGB frame -> denoised uint8 RGB frame of the same size, through one engine.

    Resize mode scales to the model's input and back; tile mode runs overlapping model-sized tiles
    at full resolution and blends them. Buffers are made once per frame size and reused; the time
    of each stage of the last call is in ``times`` (preprocess, invoke, postprocess).
    """

    def __init__(self, engine, tile: bool = False, overlap: int = 16, clock=time.perf_counter):
        self.engine, self.tile, self.overlap, self.clock = engine, tile, overlap, clock
        h, w = engine.input_hw
        self._model_in = np.empty((h, w, 3), np.uint8)
        self._model_out = np.empty((h, w, 3), np.uint8)
        self._tile01 = np.empty((h, w, 3), np.float32)
        self._size = None
        self.times = (0.0, 0.0, 0.0)
        self.tiles_per_frame = 1

    def _prepare(self, hw: tuple[int, int]) -> None:
        from edge_runtime.tiling import TileMerger

        self._size = hw
        self._out = np.empty((*hw, 3), np.uint8)
        if self.tile and hw != self.engine.input_hw:
            mh, mw = self.engine.input_hw
            padded = (max(hw[0], mh), max(hw[1], mw))
            self._merger = TileMerger(padded, (mh, mw), self.overlap)
            self._merged = np.empty((*padded, 3), np.float32)
            self.tiles_per_frame = len(self._merger.positions)
        else:
            self._merger = None
            self.tiles_per_frame = 1

    def __call__(self, frame_rgb: np.ndarray) -> np.ndarray:
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
        self._merger.reset()
        for top, left in self._merger.positions:
            a = clock()
            engine.set_input_frame(image[top:top + mh, left:left + mw])
            b = clock()
            engine.invoke()
            c = clock()
            engine.get_output01_into(self._tile01)
            self._merger.add(self._tile01, top, left)
            d = clock()
            pre, inv, post = pre + b - a, inv + c - b, post + d - c
        a = clock()
        merged = self._merger.result(self._merged)
        merged *= 255.0
        np.rint(merged, out=merged)
        np.clip(merged, 0, 255, out=merged)
        self._out[...] = merged[: hw[0], : hw[1]]
        self.times = (pre, inv, post + clock() - a)
        return self._out


def resolve_model(model: str | Path) -> Path:
    """A .tflite path as given, or a shipped model found by name (``unet``, ``autoencoder``) through the zoo."""
    text = str(model)
    path = Path(text)
    if path.suffix.lower() == ".tflite" or path.exists() or "/" in text or "\\" in text:
        return path
    try:
        from edge_runtime import zoo
    except ImportError:
        raise EdgeDenoiseError(
            f"--model {text}: no shipped models in this install (edge_runtime/models/{text}_int8_*.tflite is "
            f"missing); pass a file: --model path/to/model.tflite"
        ) from None
    try:
        return Path(zoo.find_model(name=text))
    except EdgeDenoiseError as exc:
        # Not the default precision/size: any shipped model of that name (int8 first), or by file stem.
        models = [m for m in zoo.list_models() if text in (m["name"], Path(m["path"]).stem)]
        models.sort(key=lambda m: (m["precision"] != "int8", m["path"]))
        if models:
            return Path(models[0]["path"])
        missing = Path(zoo.SHIPPED_DIR) / f"{text}_int8_128x128.tflite"
        raise EdgeDenoiseError(f"--model {text}: {exc} (missing {missing}); or pass a file: --model path/to/model.tflite") from None


def _open_source_for(config: RunConfig, engine):
    from edge_runtime.sources import open_source, parse_uri

    spec = parse_uri(config.source)
    size = config.capture_size
    if size is None and spec.kind in ("camera", "picamera2", "csi", "demo"):
        size = (engine.input_hw[1], engine.input_hw[0])  # ask the camera for what the model takes
    return open_source(config.source, size=size, reconnect_s=config.reconnect_s)


def _status_line(frames: int, elapsed: float, timer: StageTimer, source, quality: dict | None) -> str:
    fps = frames / elapsed if elapsed > 0 else 0.0
    text = (f"{frames} frames  {fps:5.1f} FPS  invoke {timer.last_ms('invoke'):6.1f} ms  "
            f"dropped {source.dropped}  corrupt {source.corrupt}")
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


def run(config: RunConfig, *, source=None, engine=None, sink=None, on_status=None,
        stop: threading.Event | None = None) -> RunReport:
    """Run the loop described by ``config``; ``source``/``engine``/``sink`` may be given pre-opened (tests, apps).

    ``on_status(line)`` is called about twice a second with a one-line summary. The report is
    written to ``config.report`` (atomically) however the run ends, errors included.
    """
    from edge_runtime.atomic import write_json_atomic
    from edge_runtime.device_info import device_info
    from edge_runtime.engine import load_engine
    from edge_runtime.images import to_frame_rgb, to_image01
    from edge_runtime.metrics import psnr, ssim
    from edge_runtime.noise import parse_noise

    t_start = time.perf_counter()
    noise = parse_noise(config.add_noise) if config.add_noise else None
    if config.display and sink is None:  # refuse before loading anything
        from edge_runtime.sinks import display_problem

        problem = display_problem()
        if problem:
            raise EdgeDenoiseError(f"--display: {problem}")
    report = RunReport(config=asdict(config), source=str(config.source),
                       started_at=datetime.now(timezone.utc).isoformat(timespec="seconds"))
    flag = _StopFlag(stop)
    flag.install()
    timer = StageTimer(STAGES + (("noise", "metrics") if noise else ()))
    scores = {"noisy_ssim": [], "noisy_psnr": [], "denoised_ssim": [], "denoised_psnr": []}
    own_source = source is None
    own_sink = sink is None
    frames, elapsed, first = 0, 0.0, None
    error: BaseException | None = None
    try:
        if engine is None:
            engine = load_engine(resolve_model(config.model), threads=config.threads, delegate=config.delegate)
        report.model = engine.describe()
        if source is None:
            source = _open_source_for(config, engine)
        report.source = source.uri
        if hasattr(source, "should_stop"):
            source.should_stop = lambda: bool(flag)
        tile = (not source.live) if config.tile is None else config.tile
        denoise = FrameDenoiser(engine, tile=tile, overlap=config.overlap)
        if sink is None:
            from edge_runtime.sinks import open_sink

            sink = open_sink(config.save, display=config.display, fps=source.fps)
        report.output = sink.target
        rng = np.random.default_rng(config.noise_seed)
        if noise is not None:  # pay scikit-image's import before the loop, not in the first frame's metrics
            ssim(np.zeros((8, 8, 3), np.float32), np.zeros((8, 8, 3), np.float32))
        quality_now = None
        t_loop = time.perf_counter()
        next_status = t_loop + STATUS_EVERY_S
        clock = time.perf_counter
        while True:
            if flag:
                break
            if config.frames is not None and frames >= config.frames:
                flag.reason = f"--frames {config.frames} reached"
                break
            if config.duration is not None and clock() - t_loop >= config.duration:
                flag.reason = f"--duration {config.duration:g} s reached"
                break
            t0 = clock()
            clean = source.read()
            t1 = clock()
            if clean is None:
                if not flag:
                    flag.reason = source.stop_reason or "end of input"
                break
            timer.record("capture", t1 - t0)
            if noise is not None:
                noisy = to_frame_rgb(noise.apply(to_image01(clean), rng))
                timer.record("noise", clock() - t1)
            else:
                noisy = clean
            denoised = denoise(noisy)
            pre, inv, post = denoise.times
            timer.record("preprocess", pre)
            timer.record("invoke", inv)
            timer.record("postprocess", post)
            if noise is not None:
                t2 = clock()
                c01 = to_image01(clean)
                n01, d01 = to_image01(noisy), to_image01(denoised)
                quality_now = {"noisy_ssim": ssim(c01, n01), "noisy_psnr": psnr(c01, n01),
                               "denoised_ssim": ssim(c01, d01), "denoised_psnr": psnr(c01, d01)}
                for k, v in quality_now.items():
                    scores[k].append(v)
                timer.record("metrics", clock() - t2)
            t3 = clock()
            status = _status_line(frames + 1, t3 - t_loop, timer, source, quality_now) if config.display else None
            sink.write(denoised, noisy, status)
            timer.record("output", clock() - t3)
            frames += 1
            if first is None:
                first = clock() - t_start
            if sink.wants_stop:
                flag.reason = "closed from the window"
            if on_status is not None and clock() >= next_status:
                next_status = clock() + STATUS_EVERY_S
                on_status(_status_line(frames, clock() - t_loop, timer, source, quality_now))
        elapsed = clock() - t_loop
    except BaseException as exc:  # still write the report, then let the error through
        error = exc
        flag.reason = flag.reason or (str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
        if isinstance(exc, KeyboardInterrupt):
            flag.reason = "interrupted (SIGINT)"
    finally:
        flag.restore()
        if sink is not None and own_sink:
            (sink.abort if error is not None and not isinstance(error, KeyboardInterrupt) else sink.close)()
        if source is not None:
            report.frames_read, report.dropped, report.corrupt = source.frames_read, source.dropped, source.corrupt
            report.skipped = list(source.skipped[:50])
            if own_source:
                source.close()
        report.frames = frames
        report.duration_s = elapsed
        report.fps = frames / elapsed if elapsed > 0 else 0.0
        report.stages_ms = timer.summary()
        inv = report.stages_ms.get("invoke", {}).get("mean_ms", 0.0)
        report.invoke_fps = 1000.0 / inv if inv else 0.0  # frames per second if invoke were all there was
        report.time_to_first_frame_s = first
        if noise is not None and scores["noisy_ssim"]:
            report.quality = {"noise": config.add_noise, **{f"{k}_mean": float(np.mean(v)) for k, v in scores.items()}}
        report.stop_reason = flag.reason or "finished"
        report.device = device_info(engine) if engine is not None else device_info()
        if config.report:
            write_json_atomic(config.report, report.as_dict())
    if error is not None and not isinstance(error, KeyboardInterrupt):
        raise error
    return report
