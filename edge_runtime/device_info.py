"""What a benchmark or run report says about the machine it ran on."""

from __future__ import annotations

import os
import platform
import sys
from pathlib import Path


def cpu_model() -> str:
    """The CPU's marketing name (x86 'model name', Arm 'Hardware'/'Model'), or platform.processor()."""
    try:
        text = Path("/proc/cpuinfo").read_text(errors="replace")
    except OSError:
        text = ""
    for key in ("model name", "Hardware", "Model", "cpu model"):
        for line in text.splitlines():
            if line.split(":", 1)[0].strip() == key and ":" in line:
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


# The instruction-set extensions that move LiteRT/XNNPACK's speed: int8 dot products (VNNI, Arm dotprod and
# i8mm), bf16 and fp16 arithmetic, Intel AMX tiles. Two clouds' "Intel(R) Xeon(R) Processor" differ in these.
SPEED_FLAGS = ("avx2", "avx512f", "avx512_vnni", "avx_vnni", "avx512_bf16", "avx512_fp16", "amx_int8", "amx_bf16",
               "asimddp", "i8mm", "bf16", "fphp", "asimdhp", "sve")


def cpu_flags(cpuinfo: str | None = None) -> list[str]:
    """Which of SPEED_FLAGS this CPU reports (/proc/cpuinfo 'flags' on x86, 'Features' on Arm); [] where unknown."""
    try:
        text = Path("/proc/cpuinfo").read_text(errors="replace") if cpuinfo is None else cpuinfo
    except OSError:
        return []
    for line in text.splitlines():
        if line.split(":", 1)[0].strip() in ("flags", "Features") and ":" in line:
            present = set(line.split(":", 1)[1].split())
            return [f for f in SPEED_FLAGS if f in present]
    return []


def board_model() -> str | None:
    """The board name on Raspberry Pi and Jetson (device tree), else None."""
    for path in ("/proc/device-tree/model", "/sys/firmware/devicetree/base/model"):
        try:
            return Path(path).read_bytes().rstrip(b"\0").decode(errors="replace").strip()
        except OSError:
            continue
    return None


def device_info(engine=None) -> dict:
    """CPU, cores, OS, Python, library versions and (given an engine) the LiteRT runtime and model."""
    import numpy as np

    info = {
        "cpu": cpu_model(), "cpu_flags": cpu_flags(), "board": board_model(), "machine": platform.machine(),
        "cores": os.cpu_count(),
        "os": platform.platform(), "python": sys.version.split()[0], "numpy": np.__version__,
    }
    try:
        import cv2

        info["opencv"] = cv2.__version__
    except ImportError:
        info["opencv"] = None
    if engine is not None:
        info["runtime"] = engine.runtime.name
        info["runtime_version"] = engine.runtime.version
        info["model"] = engine.describe()
    return info


def rss_bytes(pid: int | None = None) -> int:
    """Resident memory now (Linux /proc/PID/statm) of this process, else its peak (getrusage); of
    another process ``pid``, 0 where /proc cannot tell (gone, or not Linux)."""
    try:
        pages = int(Path(f"/proc/{pid or 'self'}/statm").read_text().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        if pid is not None:
            return 0
        import resource

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return peak if sys.platform == "darwin" else peak * 1024


def peak_rss_bytes() -> int:
    """Peak resident memory of this process: VmHWM on Linux, where ru_maxrss survives fork+exec and can report
    the parent's; getrusage elsewhere (KiB on Linux, bytes on macOS)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    import resource

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024
