"""Faults a new user hit in the device commands (issue 21), each pinned by the behaviour that fixes it.

Outputs are never read back as inputs, a video is whole or absent, a dynamic-shape model is
resized instead of running as 1x1 tiles, a save error pauses saving instead of ending the run,
every number is checked up front, and a stop signal is honoured between two tiles.
"""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import cv2
import numpy as np
import pytest
from test_corpus import Outcome
from test_runtime_cli import NO_TF
from test_sources import make_video
from tflite_fixtures import tflite_dir, uint8_model  # noqa: F401
from typer.testing import CliRunner

from edge_runtime.errors import EdgeDenoiseError
from edge_runtime.pipeline import FrameDenoiser, RunConfig, run

ROOT = Path(__file__).resolve().parents[1]


def photos(folder: Path, n: int, size: int = 72, name: str = "im{:03d}.png") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        cv2.imwrite(str(folder / name.format(i)), np.full((size, size, 3), 30 + 40 * i, np.uint8))
    return folder


def invoke(*args) -> Outcome:
    from edge_denoise.cli import app

    return Outcome(CliRunner().invoke(app, [str(a) for a in args]))


def cli(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", NO_TF, *map(str, args)], cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, "COLUMNS": "200"}, timeout=120)


def temp_files(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if ".tmp" in p.name]


@pytest.fixture(scope="module")
def engine(uint8_model):
    from edge_runtime.engine import load_engine

    return load_engine(uint8_model)


# --- 1. outputs read back as inputs -------------------------------------------------------------------------
@pytest.mark.parametrize("out_name", ["dn", "."])
def test_denoise_twice_into_a_folder_inside_the_input_never_reads_its_own_outputs(tmp_path, engine, out_name):
    from edge_runtime.batch import denoise_files

    inside = photos(tmp_path / "inside", 3)
    out = (inside / out_name).resolve()
    first = denoise_files([inside], out, engine)
    second = denoise_files([inside], out, engine)
    assert len(first.written) == 3 and not first.failed
    assert len(second.existing) == 3 and not second.written and not second.failed, second
    assert not list(out.rglob("inside/*/inside")), "no nested copies of the outputs"


def test_denoise_cli_rerun_into_the_input_folder_counts_the_originals_and_exits_0(tmp_path, uint8_model):
    inside = photos(tmp_path / "inside", 2)
    invoke("denoise", inside, "--out", inside / "dn", "--model", uint8_model)
    again = invoke("denoise", inside, "--out", inside / "dn", "--model", uint8_model)
    assert again.code == 0 and "0 written, 2 already there" in again.stdout and "0 skipped" in again.stdout, again.stdout


def test_run_on_a_folder_never_reads_the_frames_it_saved_inside_it(tmp_path, uint8_model):
    src = photos(tmp_path / "src", 3)
    config = RunConfig(source=str(src), model=str(uint8_model), save=str(src / "sub"))
    assert run(config).frames == 3
    assert run(config).frames == 3, "the second run reads the 3 photos, not the 3 frames saved by the first"
    with pytest.raises(EdgeDenoiseError, match="is the --source folder"):
        run(RunConfig(source=str(src), model=str(uint8_model), save=str(src)))


# --- 2. a video is whole or absent -----------------------------------------------------------------------------
def clip(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    return make_video(path, n=8, size=(64, 48))


@pytest.fixture
def disk_fills_during_video(monkeypatch):
    """Call it, and from then on cv2.VideoWriter's file loses its second half on release(), as on a full disk (no moov atom)."""
    real = cv2.VideoWriter

    class Truncating:
        def __init__(self, path, *args):
            self.path, self.w = path, real(path, *args)

        def isOpened(self):
            return self.w.isOpened()

        def write(self, frame):
            self.w.write(frame)

        def release(self):
            self.w.release()
            data = Path(self.path).read_bytes()
            Path(self.path).write_bytes(data[: len(data) // 2])

    def fill() -> None:
        monkeypatch.setattr(cv2, "VideoWriter", Truncating)

    fill.undo = monkeypatch.undo
    return fill


def test_a_video_cut_short_by_a_full_disk_is_named_removed_and_redone_by_the_rerun(tmp_path, uint8_model,
                                                                                disk_fills_during_video):
    video = clip(tmp_path / "in" / "clip.mp4")
    disk_fills_during_video()
    out = invoke("denoise", video, "--out", tmp_path / "dv", "--model", uint8_model)
    out.assert_refused("clip.mp4", "video not written completely")
    assert not (tmp_path / "dv" / "clip.mp4").exists() and not temp_files(tmp_path)
    disk_fills_during_video.undo()
    again = invoke("denoise", video, "--out", tmp_path / "dv", "--model", uint8_model)
    assert again.code == 0 and "1 written, 0 already there" in again.stdout, again.stdout


def test_a_partial_video_left_by_an_older_version_is_not_trusted_on_resume(tmp_path, uint8_model):
    video = clip(tmp_path / "clip.mp4")
    (tmp_path / "dv").mkdir()
    data = video.read_bytes()
    (tmp_path / "dv" / "clip.mp4").write_bytes(data[: len(data) // 2])  # mp4v's index is at the end: unplayable
    again = invoke("denoise", video, "--out", tmp_path / "dv", "--model", uint8_model)
    assert again.code == 0 and "1 written, 0 already there" in again.stdout, again.stdout
    assert int(cv2.VideoCapture(str(tmp_path / "dv" / "clip.mp4")).get(cv2.CAP_PROP_FRAME_COUNT)) == 8


def test_run_save_video_cut_short_exits_non_zero_writes_the_report_and_no_video(tmp_path, uint8_model,
                                                                              disk_fills_during_video):
    video = clip(tmp_path / "clip.mp4")
    disk_fills_during_video()
    out = invoke("run", "--source", video, "--model", uint8_model, "--save", tmp_path / "v.mp4",
                 "--min-free-mb", 0, "--report", tmp_path / "r.json")
    out.assert_refused("v.mp4", "video not written completely")
    assert "wrote" not in out.stdout and not (tmp_path / "v.mp4").exists() and not temp_files(tmp_path)
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["frames"] == 8 and report["output"] is None
    assert any("not written completely" in n for n in report["notices"])


def test_a_killed_runs_hidden_temp_video_is_removed_when_the_next_run_starts(tmp_path):
    from edge_runtime.sinks import VideoFileSink

    dead = tmp_path / ".x.4194999.tmp.mp4"  # above Linux's pid_max: no such process
    atomic = tmp_path / ".x.mp4.k2j4_a.tmp.mp4"
    live = tmp_path / f".x.{os.getppid()}.tmp.mp4"  # someone's write in progress
    other = tmp_path / ".x.y.4194999.tmp.mp4"  # x.y.mp4's, not ours to judge
    for p in (dead, atomic, live, other):
        p.write_bytes(b"half a video")
    VideoFileSink(tmp_path / "x.mp4")
    assert not dead.exists() and not atomic.exists() and live.exists() and other.exists()


def test_a_killed_runs_hidden_report_temp_is_removed_by_the_next_run(tmp_path, uint8_model):
    stale = tmp_path / ".r.json.q8z_1k.tmp.json"
    stale.write_text('{"half": ')
    run(RunConfig(source=str(photos(tmp_path / "src", 1)), model=str(uint8_model), report=str(tmp_path / "r.json")))
    assert not stale.exists() and json.loads((tmp_path / "r.json").read_text())["frames"] == 1


# --- 3. dynamic-shape models ---------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def dynamic_model(tflite_dir) -> Path:
    """A (None, None, 3) 3x3 box blur converted with from_keras_model: its file says [1, 1, 1, 3]."""
    path = tflite_dir / "box_blur_dynamic.tflite"
    if not path.exists():
        from corpus.make_corpus import dynamic_box_blur_tflite

        dynamic_box_blur_tflite(path)
    return path


def test_a_dynamic_shape_model_is_resized_to_the_frame_not_run_as_1x1_tiles(dynamic_model):
    from edge_runtime.engine import load_engine

    engine = load_engine(dynamic_model)
    assert engine.dynamic and engine.backend == "interpreter"
    rng = np.random.default_rng(0)
    frame = cv2.blur(rng.integers(0, 256, (150, 170, 3), dtype=np.uint8), (9, 9))
    out = FrameDenoiser(engine, tile=True)(frame)
    expected = cv2.blur(frame, (3, 3))
    assert abs(float(out.mean()) - float(frame.mean())) < 1.0
    assert np.abs(out[1:-1, 1:-1].astype(int) - expected[1:-1, 1:-1]).max() <= 1


def test_asking_the_compiled_backend_for_a_dynamic_shape_model_is_one_line(dynamic_model):
    from edge_runtime.engine import compiled_model_available, find_runtime, load_engine

    if find_runtime().name != "ai-edge-litert" or not compiled_model_available():
        pytest.skip("no CompiledModel API here")
    with pytest.raises(EdgeDenoiseError, match="dynamic-shape model .* needs --backend interpreter"):
        load_engine(dynamic_model, backend="compiled")


def test_a_frame_larger_than_a_dynamic_models_limit_is_tiled_with_the_same_result(dynamic_model, monkeypatch):
    import edge_runtime.pipeline as pipeline
    from edge_runtime.engine import load_engine

    rng = np.random.default_rng(1)
    frame = cv2.blur(rng.integers(0, 256, (200, 260, 3), dtype=np.uint8), (9, 9))
    whole = FrameDenoiser(load_engine(dynamic_model), tile=True)(frame).copy()
    monkeypatch.setattr(pipeline, "DYNAMIC_MAX_PIXELS", 96 * 96)
    monkeypatch.setattr(pipeline, "DYNAMIC_TILE", 96)
    tiled = FrameDenoiser(load_engine(dynamic_model), tile=True)
    out = tiled(frame)
    assert tiled.tiles_per_frame > 1 and engine_hw(tiled) == (96, 96)
    diff = np.abs(out.astype(int) - whole)[1:-1, 1:-1]  # the blur's zero padding at tile edges fades in the blend
    assert diff.mean() < 0.5 and diff.max() <= 16


def engine_hw(denoise: FrameDenoiser) -> tuple[int, int]:
    return denoise.engine.input_hw


def test_a_dynamic_shape_model_through_the_cli_keeps_the_brightness(tmp_path, dynamic_model):
    image = tmp_path / "p.png"
    cv2.imwrite(str(image), np.full((90, 110, 3), 56, np.uint8))
    out = invoke("denoise", image, "--out", tmp_path / "dn", "--model", dynamic_model)
    assert out.code == 0, out.messages
    assert abs(float(cv2.imread(str(tmp_path / "dn" / "p.png")).mean()) - 56.0) < 0.5


# --- 4. save errors pause saving ----------------------------------------------------------------------------------
def read_only(monkeypatch, folder: Path, code: int = errno.EROFS) -> None:
    """Every file opened for writing below ``folder`` fails with ``code``, as on a file system remounted
    read-only (EROFS) or a folder this user may not write (EACCES: tests run as root, where chmod is no test)."""
    import builtins
    import tempfile

    real_open, real_mkstemp = builtins.open, tempfile.mkstemp

    def refuse(path) -> None:
        if Path(path).resolve().is_relative_to(folder.resolve()):
            raise OSError(code, os.strerror(code), str(path))

    def open_(file, mode="r", *args, **kwargs):
        if any(c in mode for c in "wax+") and isinstance(file, (str, Path)):
            refuse(file)
        return real_open(file, mode, *args, **kwargs)

    def mkstemp(*args, dir=None, **kwargs):
        refuse(dir or ".")
        return real_mkstemp(*args, dir=dir, **kwargs)

    real_unlink, real_mkdir = Path.unlink, Path.mkdir

    def unlink(self, missing_ok=False):  # Linux checks for a read-only mount before it looks the name up
        if code == errno.EROFS:
            refuse(self)
        return real_unlink(self, missing_ok=missing_ok)

    def mkdir(self, *args, **kwargs):
        if not self.exists():
            refuse(self)
        return real_mkdir(self, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", open_)
    monkeypatch.setattr(tempfile, "mkstemp", mkstemp)
    monkeypatch.setattr(Path, "unlink", unlink)
    monkeypatch.setattr(Path, "mkdir", mkdir)


@pytest.mark.parametrize("code", [errno.EROFS, errno.EACCES])
@pytest.mark.parametrize("target", ["frames", "x.mp4"])
def test_a_read_only_save_target_pauses_saving_and_the_run_denoises_on_with_a_report(tmp_path, uint8_model,
                                                                                   monkeypatch, target, code):
    src = photos(tmp_path / "src", 4)
    read_only(monkeypatch, tmp_path / "ro", code)
    out = invoke("run", "--source", src, "--model", uint8_model, "--save", tmp_path / "ro" / target,
                 "--report", tmp_path / "r.json")
    monkeypatch.undo()
    assert out.code == 0 and "wrote" not in out.stdout, out.messages
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["frames"] == 4 and report["saving"]["saved"] == 0
    assert len([n for n in report["notices"] if os.strerror(code) in n]) == 1, report["notices"]


def test_a_read_only_folder_is_retried_quietly_and_saving_resumes(tmp_path):
    from edge_runtime.errors import WriteError
    from edge_runtime.sinks import DiskGuard, FrameSink

    class Flaky(FrameSink):
        fail = True

        def write(self, *a):
            if self.fail:
                raise WriteError("x: cannot write (Read-only file system)", errno.EROFS)

    now = [0.0]
    notices: list[str] = []
    inner = Flaky()
    guard = DiskGuard(inner, tmp_path, 0, clock=lambda: now[0], on_notice=notices.append, retry_after_error_s=10)
    from edge_runtime.sinks import ImageFolderSink

    inner.__class__ = type("FlakyFolder", (Flaky, ImageFolderSink), {})
    frame = np.zeros((4, 4, 3), np.uint8)
    for t in range(30):  # 30 s read-only, one frame a second
        now[0] = float(t)
        guard.write(frame)
    inner.fail = False
    now[0] = 45.0
    guard.write(frame)
    now[0] = 46.0
    guard.write(frame)
    assert len(notices) == 2 and "paused" in notices[0] and "resumed" in notices[1], notices
    assert guard.saving and guard.saved >= 1


def test_a_full_disk_with_min_free_mb_0_pauses_once_instead_of_flapping(tmp_path):
    from edge_runtime.errors import WriteError
    from edge_runtime.sinks import DiskGuard, ImageFolderSink

    class FullFolder(ImageFolderSink):
        def write(self, *a):
            if free["bytes"] < 2**20:
                raise WriteError("f.png: cannot write (No space left on device)", errno.ENOSPC)

    free, now, notices = {"bytes": 500_000}, [0.0], []
    guard = DiskGuard(FullFolder(tmp_path), tmp_path, 0, free_bytes=lambda p: free["bytes"], clock=lambda: now[0],
                      on_notice=notices.append)
    for t in range(20):
        now[0] = float(t)
        guard.write(np.zeros((4, 4, 3), np.uint8))
    assert len(notices) == 1 and "paused" in notices[0], notices
    free["bytes"] = 100 * 2**20
    now[0] = 30.0
    guard.write(np.zeros((4, 4, 3), np.uint8))
    assert guard.saving and len(notices) == 2 and "resumed" in notices[1]


# --- 5. numbers checked up front; a stop between two tiles ---------------------------------------------------------
@pytest.mark.parametrize("field,value,needle", [
    ("overlap", -5, "--overlap"), ("threads", 0, "--threads"), ("threads", 999, "--threads"),
    ("reconnect_s", -1.0, "--reconnect"), ("frames", 0, "--frames"), ("duration", float("nan"), "--duration"),
])
def test_run_config_refuses_impossible_numbers_for_python_callers_too(field, value, needle):
    with pytest.raises(EdgeDenoiseError, match=needle):
        RunConfig(**{field: value})


def test_an_overlap_of_half_a_tile_or_more_is_refused_before_any_frame(engine):
    FrameDenoiser(engine, tile=True, overlap=32)
    with pytest.raises(EdgeDenoiseError, match=r"--overlap 33: use 0 to 32 pixels .* 64x64 tiles"):
        FrameDenoiser(engine, tile=True, overlap=33)


def test_the_default_overlap_shrinks_to_fit_a_model_with_small_tiles(engine):
    from edge_runtime.pipeline import check_overlap

    assert check_overlap(16, (16, 16)) == 8 and check_overlap(16, (64, 64)) == 16
    with pytest.raises(EdgeDenoiseError, match="--overlap 12: use 0 to 8"):
        check_overlap(12, (16, 16))


@pytest.mark.parametrize("args,needle", [
    (["run", "--source", "{src}", "--overlap", "200", "--frames", "1"], "--overlap 200"),
    (["run", "--source", "{src}", "--overlap", "-5"], "--overlap must be zero or more"),
    (["run", "--source", "{src}", "--reconnect", "-1"], "--reconnect"),
    (["run", "--source", "{src}", "--threads", "999"], "--threads 999"),
    (["denoise", "{src}", "--out", "{tmp}/o", "--threads", "0"], "--threads 0"),
    (["denoise", "{src}", "--out", "{tmp}/o", "--overlap", "125"], "--overlap 125"),
])
def test_the_cli_refuses_bad_numbers_in_one_line_naming_the_option(tmp_path, uint8_model, args, needle):
    src = photos(tmp_path / "src", 1)
    out = invoke(*[a.format(src=src, tmp=tmp_path) for a in args], "--model", uint8_model)
    out.assert_refused(needle)
    if needle.startswith("--threads"):
        assert str(uint8_model) not in out.error, "the option is to blame, not the model file"


@pytest.mark.parametrize("size", ["0", "480x0", "big"])
def test_eval_refuses_a_bad_size_in_one_line(tmp_path, uint8_model, size):
    out = invoke("eval", uint8_model, "--data", photos(tmp_path / "data", 2), "--size", size, "--split", "all",
                 "--out", tmp_path / "eval")
    out.assert_refused(f"--size '{size}'", "HEIGHTxWIDTH")


def test_sigterm_in_the_middle_of_a_frame_stops_before_the_next_tile(tmp_path, engine):
    from edge_runtime.sources import FrameSource

    class OneHugeFrame(FrameSource):
        def read(self):
            self.frames_read += 1
            return np.full((640, 640, 3), 90, np.uint8)

    invokes = []
    real_invoke = engine.invoke

    def invoke_then_sigterm():
        invokes.append(1)
        real_invoke()
        if len(invokes) == 3:
            os.kill(os.getpid(), signal.SIGTERM)

    engine.invoke = invoke_then_sigterm
    try:
        report = run(RunConfig(model="unused", tile=True, report=str(tmp_path / "r.json")), engine=engine,
                     source=OneHugeFrame("big://"))
    finally:
        del engine.invoke
    assert report.stop_reason == "interrupted (SIGTERM)" and report.frames == 0
    assert len(invokes) == 3, f"{len(invokes)} tiles of 121 ran after the signal"


def test_a_caller_stop_event_ends_a_huge_frame_within_a_tile(engine):
    from edge_runtime.sources import FrameSource

    class Frames(FrameSource):
        def read(self):
            return np.full((1000, 1000, 3), 90, np.uint8)

    stop = threading.Event()
    real_invoke, calls = engine.invoke, []

    def counting():
        calls.append(1)
        real_invoke()
        stop.set()

    engine.invoke = counting
    try:
        report = run(RunConfig(model="unused", tile=True), engine=engine, source=Frames("big://"), stop=stop)
    finally:
        del engine.invoke
    assert report.stop_reason == "stopped by caller" and len(calls) == 1


# --- also found ------------------------------------------------------------------------------------------------------
def test_an_unwritable_log_json_is_refused_in_one_line(tmp_path, uint8_model):
    src = photos(tmp_path / "src", 1)
    (tmp_path / "afile").write_text("x")
    for path in (tmp_path / "afile" / "run.jsonl", tmp_path):
        out = invoke("run", "--source", src, "--model", uint8_model, "--log-json", path, "--report", tmp_path / "r.json")
        out.assert_refused("--log-json", str(path))


def test_a_log_json_that_fails_later_is_said_once(tmp_path):
    from edge_runtime.telemetry import Telemetry

    notices: list[str] = []
    telemetry = Telemetry(log_json=tmp_path / "run.jsonl", on_notice=notices.append)
    (tmp_path / "run.jsonl").unlink()
    (tmp_path / "run.jsonl").mkdir()  # now opening it for append fails
    for _ in range(3):
        telemetry._append("{}")
    assert len(notices) == 1 and "--log-json" in notices[0]


def test_a_glob_over_camera_folders_keeps_their_names_apart(tmp_path, engine):
    from edge_runtime.batch import denoise_files

    for cam in ("cam1", "cam2"):
        photos(tmp_path / "cams" / cam, 1, name="img{:03d}.png")
    result = denoise_files([str(tmp_path / "cams" / "*" / "img*.png")], tmp_path / "dn", engine)
    assert not result.failed and len(result.written) == 2
    assert sorted(p.relative_to(tmp_path / "dn").as_posix() for p in (tmp_path / "dn").rglob("*.png")) == [
        "cam1/img000.png", "cam2/img000.png"]


def test_the_same_file_given_twice_is_denoised_once_and_not_called_unusable(tmp_path, engine):
    from edge_runtime.batch import denoise_files

    src = photos(tmp_path / "src", 2)
    result = denoise_files([src / "im000.png", src / "im000.png", src], tmp_path / "dn", engine)
    assert not result.failed, result.failed
    assert sorted(Path(p).relative_to(tmp_path / "dn").as_posix() for p in result.written) == ["im000.png", "src/im001.png"]


def test_a_missing_or_broken_delegate_is_one_line_without_an_ignored_exception(tmp_path, uint8_model):
    broken = tmp_path / "libbroken.so"
    broken.write_text("not a shared library")
    for delegate in ("/nonexistent.so", broken):
        done = cli("run", "--source", "demo://", "--model", uint8_model, "--delegate", delegate, "--frames", 1)
        assert done.returncode == 2 and str(delegate) in done.stderr, done.stderr
        assert "Exception ignored" not in done.stderr and "Traceback" not in done.stderr, done.stderr


def test_the_interpreters_xnnpack_line_stays_off_the_terminal(tmp_path, uint8_model):
    done = cli("run", "--source", "demo://", "--model", uint8_model, "--backend", "interpreter", "--frames", 2)
    assert done.returncode == 0, done.stderr
    assert "XNNPACK" not in done.stderr and "INFO:" not in done.stderr, done.stderr


def test_a_precision_fallback_notice_is_recorded_in_the_report(tmp_path):
    from edge_runtime.pipeline import resolve_model
    from edge_runtime.zoo import list_models

    if not any(m["name"] == "fastnet" and m["precision"] == "dynamic" for m in list_models()):
        pytest.skip("no shipped fastnet dynamic file")
    try:
        resolve_model("fastnet", "int8", (480, 640), notice=lambda line: (_ for _ in ()).throw(AssertionError()))
    except AssertionError:
        pass
    else:
        pytest.skip("fastnet ships an int8 480x640 file now: no fallback to record")
    image = tmp_path / "p.png"
    cv2.imwrite(str(image), np.full((48, 64, 3), 90, np.uint8))
    report = run(RunConfig(source=str(image), model="fastnet", model_size=(480, 640), tile=False))
    assert any("has no int8 480x640 file" in n for n in report.notices), report.notices


def test_run_save_dir_twice_continues_the_numbering_instead_of_overwriting(tmp_path, uint8_model):
    src = photos(tmp_path / "src", 3)
    config = RunConfig(source=str(src), model=str(uint8_model), save=str(tmp_path / "frames"))
    run(config)
    first = (tmp_path / "frames" / "frame_000000.png").read_bytes()
    run(config)
    names = sorted(p.name for p in (tmp_path / "frames").iterdir())
    assert names == [f"frame_{i:06d}.png" for i in range(6)]
    assert (tmp_path / "frames" / "frame_000000.png").read_bytes() == first


def test_a_huge_frame_is_tiled_without_full_frame_float_buffers(engine):
    import tracemalloc

    frame = np.full((1500, 2000, 3), 90, np.uint8)  # 9 MB as uint8; the old merge held 3 float copies (93 MB)
    denoise = FrameDenoiser(engine, tile=True)
    tracemalloc.start()
    try:
        denoise(frame)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 2 * frame.nbytes, f"{peak / 2**20:.0f} MiB for a {frame.nbytes / 2**20:.0f} MiB frame"


def test_an_image_too_large_for_free_memory_is_refused_by_name_before_decoding(tmp_path, monkeypatch):
    import edge_runtime.images as images

    path = tmp_path / "big.png"
    cv2.imwrite(str(path), np.zeros((600, 800, 3), np.uint8))
    monkeypatch.setattr(images, "available_memory_bytes", lambda: 2 * 2**20)  # a device with 2 MiB free
    with pytest.raises(EdgeDenoiseError, match=r"big.png: image too large for the memory free .*800x600 needs about"):
        images.read_image_rgb(path)


def test_doctor_says_how_large_an_image_this_device_can_take(tmp_path):
    from test_doctor import check, make_host

    pi = make_host(tmp_path, files={"/proc/meminfo": "MemTotal: 1919000 kB\nMemAvailable: 61440 kB\n"})
    small = check(pi, "memory")
    assert small.status == "warn" and "60 MiB free" in small.detail and "images up to 8 MP" in small.detail
    big = check(make_host(tmp_path, files={"/proc/meminfo": "MemTotal: 8000000 kB\nMemAvailable: 6000000 kB\n"}),
                "memory")
    assert big.status == "ok" and "images up to 50 MP" in big.detail


def test_a_large_jpeg_decodes_to_the_same_pixels_in_less_memory(tmp_path, monkeypatch):
    import edge_runtime.images as images
    from PIL import Image

    rgb = cv2.resize(np.random.default_rng(0).integers(0, 256, (30, 40, 3), dtype=np.uint8), (400, 300))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees on display
    Image.fromarray(rgb).save(tmp_path / "r.jpg", quality=95, exif=exif.tobytes())
    small = images.read_image_rgb(tmp_path / "r.jpg")  # through Pillow
    monkeypatch.setattr(images, "LARGE_PIXELS", 1)
    large = images.read_image_rgb(tmp_path / "r.jpg")  # through OpenCV
    assert small.shape == large.shape == (400, 300, 3)
    assert np.abs(small.astype(int) - large).mean() < 1.0


def test_convert_says_how_many_images_the_gate_used_and_refuses_too_few(tmp_path):
    from test_convert import config_for, make_run

    from convert import convert_run

    model = make_run(tmp_path / "run")  # its test split holds 3 images
    lines: list[str] = []
    convert_run(config_for(model, tmp_path / "ok"), log=lines.append)
    assert any("quality gate on 3 test images" in line for line in lines), lines
    with pytest.raises(EdgeDenoiseError, match=r"found 2 readable image\(s\) in the test split; it needs at least 3 "
                                               r"for a 0.01 SSIM drop"):
        convert_run(config_for(model, tmp_path / "few", gate_count=2), log=lambda line: None)
    assert not list((tmp_path / "few").glob("*.tflite"))


def test_exit_status_tells_a_service_what_happened(tmp_path, uint8_model, monkeypatch):
    """0 finished, 2 a user error (one line), 3 a live source lost (systemd restarts), 130 interrupted."""
    import edge_runtime.pipeline as pipeline
    from edge_runtime.sources import LiveSource
    from test_resilience import FlakyCapture, bgr

    src = photos(tmp_path / "src", 1)
    assert invoke("run", "--source", src, "--model", uint8_model).code == 0
    assert invoke("run", "--source", src, "--model", uint8_model, "--threads", 0).code == 2
    monkeypatch.setattr(pipeline, "_open_source_for", lambda config, engine: LiveSource.from_capture(
        "v4l2:///dev/video0", FlakyCapture([(True, bgr(40))]), reconnect_s=0.2))
    lost = invoke("run", "--camera", 0, "--model", uint8_model, "--report", tmp_path / "r.json")
    assert lost.code == 3 and json.loads((tmp_path / "r.json").read_text())["source_lost"] is True


def test_every_guarantee_in_docs_reliability_names_a_test_that_exists():
    import re

    text = (ROOT / "docs" / "reliability.md").read_text()
    named = re.findall(r"`(test_\w+\.py)::(\w+)`", text)
    assert len(named) >= 30
    missing = [f"{f}::{n}" for f, n in named if f"def {n}(" not in (ROOT / "tests" / f).read_text()]
    assert not missing, missing
