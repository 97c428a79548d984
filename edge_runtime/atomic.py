"""Atomic writes: a crash leaves the old file or the new one, never half of one."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _current_umask()


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temp path in the target's folder; on success it replaces ``path``, on error it is removed."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp" + path.suffix, dir=path.parent)
    os.fchmod(fd, 0o666 & ~_UMASK)  # mkstemp makes 0600 files; outputs should be as readable as open() makes them
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.replace(tmp_path, path)
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise


def write_text_atomic(path: str | Path, text: str) -> None:
    """Write text to ``path`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_json_atomic(path: str | Path, data: Any) -> None:
    """Write pretty JSON to ``path`` atomically."""
    write_text_atomic(path, json.dumps(data, indent=2, sort_keys=False, default=str) + "\n")


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's live process
        return True
    return True


def remove_stale_temps(path: str | Path) -> list[Path]:
    """Delete the hidden temp files that a killed earlier write of ``path`` left next to it.

    Two namings are ours: ``atomic_path``'s ``.NAME.<random>.tmp<suffix>`` and the video writer's
    ``.STEM.<pid>.tmp<suffix>``; a temp file whose pid is a live process other than this one is
    someone's write in progress and is left alone. Returns what was removed.
    """
    path = Path(path)
    removed: list[Path] = []
    if not path.parent.is_dir():
        return removed
    for prefix in (f".{path.name}.", f".{path.stem}."):
        for stale in path.parent.glob(f"{prefix}*.tmp{path.suffix}"):
            middle = stale.name[len(prefix):-len(f".tmp{path.suffix}")]
            if not middle or "." in middle:  # another file's temp (x.y.mp4's when cleaning for x.mp4)
                continue
            if middle.isdigit() and int(middle) != os.getpid() and _pid_alive(int(middle)):
                continue
            try:
                stale.unlink()
                removed.append(stale)
            except OSError:  # gone already, or a read-only folder: nothing to clean up there
                pass
    return removed
