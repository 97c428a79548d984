"""Denoise files in batch: images, folders, globs and videos, through the same frame path as ``run``.

Outputs go under one folder: ``x.jpg`` -> ``OUT/x.jpg``, a folder ``shots/`` -> ``OUT/shots/...``
(relative paths kept), a glob ``cams/*/img*.jpg`` -> ``OUT/cam1/img001.jpg``, a video ->
``OUT/name.mp4`` (every frame). Inputs are never overwritten and outputs never read back as inputs
(``--out`` inside an input folder is fine), every file is written atomically (a video is read back
before its rename), outputs that already exist are skipped unless ``overwrite``, and unreadable
files are named and skipped.
"""

from __future__ import annotations

import glob as globlib
import time
from dataclasses import dataclass, field
from pathlib import Path

from edge_runtime.atomic import remove_stale_temps
from edge_runtime.errors import EdgeDenoiseError, WriteError
from edge_runtime.images import IMAGE_SUFFIXES
from edge_runtime.sources import VIDEO_SUFFIXES
from edge_runtime.signals import sigterm_as_keyboard_interrupt

VIDEO_OUT_SUFFIXES = (".mp4", ".avi")


@dataclass
class BatchReport:
    """What a batch did: files written, already there, and the ones that failed with why."""

    written: list[str] = field(default_factory=list)
    existing: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    interrupted: str | None = None  # "SIGINT"/"SIGTERM" when a signal stopped the batch
    frames: int = 0
    corrupt_frames: int = 0
    seconds: float = 0.0


@dataclass(frozen=True)
class Job:
    """One input file and the output it becomes."""

    src: Path
    dst: Path
    kind: str  # "image" or "video"


def _is_under(path: Path, root: Path) -> bool:
    """True when ``path`` is ``root`` or inside it (both resolved)."""
    return path == root or root in path.parents


def glob_base(pattern: str) -> Path:
    """The folder a glob starts from: its leading components without wildcards ('cams/*/img*.jpg' -> 'cams')."""
    parts = Path(pattern).parts
    fixed = []
    for part in parts[:-1]:
        if globlib.has_magic(part):
            break
        fixed.append(part)
    return Path(*fixed) if fixed else Path(".")


def output_roots(folder: Path, out_dir: Path) -> list[Path]:
    """Where a batch writes below ``folder`` (resolved): never read back as input on a rerun.

    ``denoise shots --out shots/dn`` writes into shots/dn, ``denoise shots --out shots`` into shots/shots.
    """
    folder, out_dir = folder.resolve(), out_dir.resolve()
    return [root for root in (out_dir, out_dir / folder.name) if root != folder and _is_under(root, folder)]


def plan_jobs(inputs: list[str | Path], out_dir: str | Path, report: BatchReport) -> list[Job]:
    """Expand files, folders and globs into jobs; unusable inputs go to ``report.failed``.

    Folders keep their relative paths under ``OUT/<folder name>``, globs theirs below the glob's
    fixed folder (``cams/*/img*.jpg`` -> ``OUT/cam1/img001.jpg``), so no two inputs share a name.
    Files already under the output folder (an earlier run's outputs) are never inputs, and a file
    named twice is done once.
    """
    out_dir = Path(out_dir)
    out_resolved = out_dir.resolve()
    jobs: list[Job] = []

    def kind_of(p: Path) -> str | None:
        s = p.suffix.lower()
        return "image" if s in IMAGE_SUFFIXES else "video" if s in VIDEO_SUFFIXES else None

    def add(src: Path, rel: Path) -> None:
        kind = kind_of(src)
        if kind is None:
            report.failed.append((str(src), "not an image or video file"))
            return
        if kind == "video" and rel.suffix.lower() not in VIDEO_OUT_SUFFIXES:
            rel = rel.with_suffix(".mp4")
        jobs.append(Job(src, out_dir / rel, kind))

    for item in inputs:
        text = str(item)
        path = Path(text)
        if globlib.has_magic(text) and not path.exists():
            base = glob_base(text)
            matches = sorted(Path(p) for p in globlib.glob(text, recursive=True) if Path(p).is_file())
            matches = [m for m in matches if not _is_under(m.resolve(), out_resolved)]
            if not matches:
                report.failed.append((text, "no files match"))
            for m in matches:
                add(m, m.relative_to(base) if base != Path(".") else m)
        elif path.is_dir():
            skip = output_roots(path, out_dir)
            files = [p for p in sorted(path.rglob("*")) if p.is_file() and kind_of(p)
                     and not any(_is_under(p.resolve(), root) for root in skip)]
            if not files:
                report.failed.append((text, "folder has no images or videos"))
            for f in files:
                add(f, Path(path.resolve().name) / f.relative_to(path))
        elif path.is_file():
            add(path, Path(path.name))
        else:
            report.failed.append((text, "no such file or folder"))

    inputs_resolved = {j.src.resolve() for j in jobs}
    seen: dict[Path, Path] = {}
    seen_src: set[Path] = set()
    kept = []
    for job in jobs:
        src, dst = job.src.resolve(), job.dst.resolve()
        if src in seen_src:  # the same file given twice (a file and its folder, or two globs): once is enough
            continue
        seen_src.add(src)
        if dst in inputs_resolved:
            report.failed.append((str(job.src), f"output {job.dst} would overwrite an input; choose another --out"))
        elif dst in seen:
            report.failed.append((str(job.src), f"same output name as {seen[dst]} ({job.dst})"))
        else:
            seen[dst] = job.src
            kept.append(job)
    return kept


def _denoise_video(job: Job, denoise, report: BatchReport) -> None:
    from edge_runtime.sinks import VideoFileSink
    from edge_runtime.sources import open_source

    with open_source(str(job.src)) as source:
        with VideoFileSink(job.dst, source.fps) as sink:
            for frame in source:
                sink.write(denoise(frame))
            if sink.frames == 0:
                raise EdgeDenoiseError(f"{job.src}: no readable frames")
        report.frames += source.frames_read
        report.corrupt_frames += source.corrupt


def denoise_files(inputs: list[str | Path], out_dir: str | Path, engine, *, tile: bool = True, overlap: int = 16,
                  overwrite: bool = False, on_item=None) -> BatchReport:
    """Denoise every image and video in ``inputs`` into ``out_dir``; ``on_item(status, path, note)`` per file."""
    from edge_runtime.images import read_image_rgb, write_image_rgb
    from edge_runtime.pipeline import FrameDenoiser

    t0 = time.perf_counter()
    report = BatchReport()
    jobs = plan_jobs(inputs, out_dir, report)
    for src, why in report.failed:
        on_item and on_item("failed", src, why)
    denoise = FrameDenoiser(engine, tile=tile, overlap=overlap)
    with sigterm_as_keyboard_interrupt():
        for job in jobs:
            if job.dst.exists() and not overwrite and _whole(job):
                report.existing.append(str(job.dst))
                on_item and on_item("exists", str(job.dst), "already there")
                continue
            remove_stale_temps(job.dst)
            try:
                if job.kind == "image":
                    frame = denoise(read_image_rgb(job.src))
                    write_image_rgb(job.dst, frame)
                    report.frames += 1
                else:
                    _denoise_video(job, denoise, report)
            except BatchStopped:
                raise
            except WriteError as exc:  # disk full, read-only, gone: stop, the rest would fail too
                raise _stopped(exc, report) from None
            except OSError as exc:  # a write inside the video sink
                raise _stopped(EdgeDenoiseError(f"{job.dst}: cannot write ({exc.strerror or exc})"), report) from None
            except EdgeDenoiseError as exc:
                msg = str(exc)
                report.failed.append((str(job.src), msg[len(str(job.src)) + 2:] if msg.startswith(str(job.src)) else msg))
                on_item and on_item("failed", str(job.src), report.failed[-1][1])
                continue
            report.written.append(str(job.dst))
            on_item and on_item("written", str(job.dst), "")
    report.seconds = time.perf_counter() - t0
    return report


class BatchStopped(EdgeDenoiseError):
    """The batch cannot go on (an output cannot be written); ``report`` says what was finished."""

    def __init__(self, message: str, report: BatchReport):
        super().__init__(message)
        self.report = report


def _stopped(exc: EdgeDenoiseError, report: BatchReport) -> BatchStopped:
    done = len(report.written)
    return BatchStopped(f"{exc}; stopped after {done} file(s) written, all complete (rerun to continue)", report)


def _whole(job: Job) -> bool:
    """An existing output counts as done unless it is a video that does not read back whole
    (one cut short by a full disk before videos were checked at the end of writing)."""
    if job.kind != "video":
        return True
    from edge_runtime.sinks import video_problem

    return video_problem(job.dst) is None

