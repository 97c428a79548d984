"""``edge-denoise doctor``: is this machine ready to denoise a camera at boot, and if not, what to do.

    checks = run_checks(model="unet_int8_128x128.tflite")
    for c in checks:
        print(c.status, c.name, c.detail, c.fix)

Each check is a small function of a ``Host`` (the files it may read, the commands it may run,
the modules it may import) that returns ``Check(name, status, detail, fix)``. Every probe is
optional and bounded in time: a missing tool is a ``warn`` with the fix, never a crash or a hang.
Tests build a Host over a folder of fake /proc and /sys files with canned command output.
"""

from __future__ import annotations

import importlib
import os
import platform
import re
import shutil
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

OK, WARN, FAIL = "ok", "warn", "fail"
COMMAND_TIMEOUT_S = 2.0  # per external command (v4l2-ctl, vcgencmd, nvpmodel, gst-inspect-1.0)
CAMERA_BUDGET_S = 4.0  # all v4l2-ctl calls together; a Pi 5 has a dozen ISP nodes
MAX_V4L2_DEVICES = 12
PICAMERA2_TIMEOUT_S = 3.0
SMOKE_SECONDS = 2.0
DISK_WARN_BYTES = 2 * 2**30
DISK_FAIL_BYTES = 200 * 2**20  # run's --min-free-mb default: below it saving stops at once
DEFAULT_OUT = "/var/lib/edge-denoise"  # where the systemd unit saves
TEMP_WARN_C, TEMP_FAIL_C = 80.0, 85.0  # Pi firmware soft-throttles from 80 °C and hard-throttles at 85 °C


@dataclass
class Check:
    """One line of the doctor's answer: ok / warn / fail, what it found, and the fix for a warn or fail."""

    name: str
    status: str
    detail: str
    fix: str = ""
    seconds: float = 0.0
    data: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class CommandResult:
    """What an external command said (returncode 124: it timed out)."""

    returncode: int
    stdout: str
    stderr: str = ""


def run_command(argv: list[str], timeout: float = COMMAND_TIMEOUT_S) -> CommandResult | None:
    """Run a tool with a timeout; None when it is not installed."""
    exe = shutil.which(argv[0])
    if exe is None:
        return None
    try:
        p = subprocess.run([exe, *argv[1:]], capture_output=True, text=True, timeout=timeout,
                           stdin=subprocess.DEVNULL, errors="replace")
    except subprocess.TimeoutExpired:
        return CommandResult(124, "", f"timed out after {timeout:g} s")
    except OSError as exc:
        return CommandResult(126, "", str(exc))
    return CommandResult(p.returncode, p.stdout, p.stderr)


def _package_version(name: str) -> str | None:
    from importlib import metadata

    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def _cpu_count() -> int:
    return os.cpu_count() or 1


def _usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


@dataclass
class Host:
    """Everything the checks read from the machine; tests replace any part of it."""

    root: Path = Path("/")
    env: dict = field(default_factory=lambda: dict(os.environ))
    run: Callable[..., CommandResult | None] = run_command
    import_module: Callable = importlib.import_module
    package_version: Callable[[str], str | None] = _package_version
    machine: str = field(default_factory=platform.machine)
    pointer_bits: int = struct.calcsize("P") * 8
    python: tuple = tuple(sys.version_info[:3])
    cpu_count: Callable[[], int] = _cpu_count
    usable_cores: Callable[[], int] = _usable_cores
    disk_usage: Callable = shutil.disk_usage
    writable: Callable[[Path], bool] = lambda p: os.access(p, os.W_OK)

    def path(self, p: str) -> Path:
        return self.root / p.lstrip("/")

    def read(self, p: str) -> str | None:
        try:
            return self.path(p).read_bytes().rstrip(b"\0").decode(errors="replace")
        except OSError:
            return None

    def glob(self, pattern: str) -> list[str]:
        """Absolute paths (as seen on the real machine) matching ``pattern``, e.g. /dev/video*."""
        base = self.root
        return sorted("/" + str(p.relative_to(base)) for p in base.glob(pattern.lstrip("/")))

    def board(self) -> str:
        for p in ("/proc/device-tree/model", "/sys/firmware/devicetree/base/model"):
            text = self.read(p)
            if text:
                return text.strip()
        return ""

    def is_pi(self) -> bool:
        return "raspberry pi" in self.board().lower()

    def is_jetson(self) -> bool:
        board = self.board().lower()
        return "jetson" in board or "nvidia" in board or self.path("/etc/nv_tegra_release").exists()


# --- Python, runtime, NumPy -------------------------------------------------------------------------
def check_python(host: Host, ctx: dict) -> Check:
    """Python version and architecture: a 32-bit userland has no ai-edge-litert wheel."""
    py = ".".join(str(v) for v in host.python)
    machine = host.machine.lower()
    bits = host.pointer_bits
    detail = f"Python {py} on {host.machine} ({bits}-bit userland)"
    if bits == 32 or machine.startswith(("armv6", "armv7", "armhf", "i386", "i686")):
        kernel = " on a 64-bit kernel" if machine in ("aarch64", "arm64", "x86_64") else ""
        return Check("python", FAIL, f"{detail}: 32-bit userland{kernel}, no ai-edge-litert wheel exists for it",
                     "flash Raspberry Pi OS (64-bit) Bookworm (or any aarch64 OS) and reinstall; until then only "
                     "'pip install tflite-runtime' on Python <= 3.11 works, with 'numpy<2'")
    if host.python < (3, 10):
        return Check("python", FAIL, f"{detail}: edge-denoise needs Python >= 3.10",
                     "use the OS's Python 3.11 (Bookworm, JetPack 6) or install python3.11 and recreate the venv")
    if machine not in ("aarch64", "arm64", "x86_64", "amd64"):
        return Check("python", WARN, f"{detail}: untested architecture",
                     "ai-edge-litert ships wheels for Linux aarch64 and x86_64, macOS arm64 and Windows x86_64")
    return Check("python", OK, detail)


NUMPY_ABI_HINTS = ("numpy.core.multiarray", "_ARRAY_API", "compiled using NumPy 1", "numpy 1.x", "NumPy 2",
                   "dtype size changed", "ndarray size changed")
NUMPY1_PIN = "pip install 'numpy<2' 'opencv-python-headless<4.12' in the venv"  # apt's modules are built for NumPy 1.x


def _find_runtime(host: Host, ctx: dict) -> dict:
    """Which LiteRT package imports here (cached in ctx): name, version, and why the others did not."""
    if "runtime" in ctx:
        return ctx["runtime"]
    found = {"name": None, "version": None, "errors": {}}
    for name, module in (("ai-edge-litert", "ai_edge_litert.interpreter"), ("tflite-runtime", "tflite_runtime.interpreter")):
        try:
            host.import_module(module)
        except Exception as exc:  # ImportError, or a NumPy ABI error raised while importing
            if host.package_version(name):
                found["errors"][name] = (str(exc).strip().splitlines() or [type(exc).__name__])[-1][:200]
            continue
        found["name"], found["version"] = name, host.package_version(name) or "?"
        break
    ctx["runtime"] = found
    return found


def check_runtime(host: Host, ctx: dict) -> Check:
    """Which LiteRT runtime loaded and its version (ai-edge-litert, else tflite-runtime)."""
    rt = _find_runtime(host, ctx)
    if rt["name"] == "ai-edge-litert":
        return Check("runtime", OK, f"ai-edge-litert {rt['version']}", data=rt)
    if rt["name"] == "tflite-runtime":
        return Check("runtime", WARN, f"tflite-runtime {rt['version']} (no longer released; no Python 3.12 wheels)",
                     "on a 64-bit OS: pip install ai-edge-litert (models converted by newer TensorFlow may need it)",
                     data=rt)
    if rt["errors"]:
        name, err = next(iter(rt["errors"].items()))
        if any(h.lower() in err.lower() for h in NUMPY_ABI_HINTS):
            return Check("runtime", FAIL, f"{name} is installed but does not import under NumPy: {err}",
                         "pip install 'numpy<2' (tflite-runtime builds are compiled against NumPy 1.x), "
                         "or pip install ai-edge-litert on a 64-bit OS", data=rt)
        return Check("runtime", FAIL, f"{name} is installed but does not import: {err}",
                     f"pip install --force-reinstall {name}", data=rt)
    bits32 = host.pointer_bits == 32 or host.machine.lower().startswith(("armv6", "armv7"))
    return Check("runtime", FAIL, "no LiteRT runtime installed",
                 "pip install tflite-runtime on Python <= 3.11 with 'numpy<2' (32-bit OS)" if bits32
                 else "pip install 'edge-denoise[edge]' (or: pip install ai-edge-litert)", data=rt)


def check_numpy(host: Host, ctx: dict) -> Check:
    """NumPy version against the runtime in use: tflite-runtime builds break under NumPy 2."""
    version = host.package_version("numpy")
    if version is None:
        return Check("numpy", FAIL, "NumPy is not installed", "pip install 'edge-denoise[edge]'")
    from edge_runtime.engine import version_tuple

    rt = _find_runtime(host, ctx)
    major = (version_tuple(version) or (0,))[0]
    tflite_rt = rt["name"] == "tflite-runtime" or "tflite-runtime" in rt["errors"]
    if tflite_rt and major >= 2:
        return Check("numpy", FAIL, f"NumPy {version} with tflite-runtime (built against NumPy 1.x)",
                     "pip install 'numpy<2' in this venv, or move to ai-edge-litert on a 64-bit OS")
    with_rt = f" with {rt['name']} {rt['version']}" if rt["name"] else ""
    return Check("numpy", OK, f"NumPy {version}{with_rt}")


# --- OpenCV, cameras, display ---------------------------------------------------------------------
def _opencv(host: Host, ctx: dict) -> dict | None:
    """cv2's version and the build switches we care about (cached), or None when cv2 does not import."""
    if "opencv" not in ctx:
        try:
            cv2 = host.import_module("cv2")
            text = cv2.getBuildInformation()
        except Exception as exc:
            ctx["opencv"] = None
            ctx["opencv_error"] = (str(exc).strip().splitlines() or [type(exc).__name__])[-1][:200]
            return None

        def flag(label: str) -> bool:
            for line in text.splitlines():
                if line.strip().lower().startswith(label.lower() + ":"):
                    value = line.split(":", 1)[1].strip().upper()
                    return value.startswith("YES") or (label == "GUI" and value not in ("", "NONE", "NO"))
            return False

        ctx["opencv"] = {"version": getattr(cv2, "__version__", "?"), "v4l2": flag("v4l/v4l2"),
                         "ffmpeg": flag("FFMPEG"), "gstreamer": flag("GStreamer"), "gui": flag("GUI"),
                         "path": str(getattr(cv2, "__file__", ""))}
    return ctx["opencv"]


def check_opencv(host: Host, ctx: dict) -> Check:
    """The OpenCV build: V4L2 (USB cameras), FFmpeg (files, RTSP), GStreamer (Jetson CSI)."""
    cv = _opencv(host, ctx)
    if cv is None:
        error = ctx.get("opencv_error") or ""
        if any(h.lower() in error.lower() for h in NUMPY_ABI_HINTS):
            fix = "pip install 'numpy<2' in the venv (apt's OpenCV is built against NumPy 1.x)"
        elif host.is_jetson():
            fix = "use JetPack's OpenCV: sudo apt install python3-opencv and a venv made with --system-site-packages"
        else:
            fix = "pip install opencv-python-headless (part of the edge extra)"
        return Check("opencv", FAIL, f"OpenCV does not import ({ctx.get('opencv_error')})", fix)
    parts = ", ".join(f"{k} {'yes' if cv[k] else 'no'}" for k in ("v4l2", "ffmpeg", "gstreamer"))
    detail = f"OpenCV {cv['version']}: {parts}"
    if host.is_jetson() and not cv["gstreamer"]:
        return Check("opencv", WARN, f"{detail}: csi:// cameras need GStreamer (pip's opencv has none)",
                     "pip uninstall opencv-python opencv-python-headless in the venv, then use JetPack's OpenCV "
                     "(sudo apt install python3-opencv; venv made with --system-site-packages)", data=cv)
    if not cv["v4l2"] and sys.platform.startswith("linux"):
        return Check("opencv", WARN, f"{detail}: USB cameras need V4L2",
                     "pip install --force-reinstall opencv-python-headless (pip's Linux wheels have V4L2)", data=cv)
    if not cv["ffmpeg"]:
        return Check("opencv", WARN, f"{detail}: video files and RTSP need FFmpeg",
                     "pip install --force-reinstall opencv-python-headless, or apt's python3-opencv", data=cv)
    return Check("opencv", OK, detail, data=cv)


def parse_v4l2_formats(text: str) -> dict[str, tuple[int, int]]:
    """``v4l2-ctl --list-formats-ext`` -> {fourcc: largest (width, height)}."""
    formats: dict[str, tuple[int, int]] = {}
    current = None
    for line in text.splitlines():
        m = re.search(r"\[\d+\]:\s*'([^']+)'", line)
        if m:
            current = m.group(1).strip()
            formats.setdefault(current, (0, 0))
            continue
        sizes = re.findall(r"(\d+)x(\d+)", line) if current and "Size" in line else []
        for w, h in sizes:
            if int(w) * int(h) > formats[current][0] * formats[current][1]:
                formats[current] = (int(w), int(h))
    return formats


def _v4l2_cameras(host: Host) -> tuple[list[dict], str | None]:
    """V4L2 capture devices with their formats, and a note when formats could not be listed."""
    devices = [d for d in host.glob("/dev/video*") if d[len("/dev/video"):].isdigit()]
    found, note = [], None
    deadline = time.monotonic() + CAMERA_BUDGET_S
    for dev in devices[:MAX_V4L2_DEVICES]:
        if time.monotonic() > deadline:
            note = f"stopped listing formats after {CAMERA_BUDGET_S:g} s"
            found.append({"device": dev, "formats": None})
            continue
        r = host.run(["v4l2-ctl", "--device", dev, "--list-formats-ext"], timeout=COMMAND_TIMEOUT_S)
        if r is None:
            note = "v4l2-ctl not installed: formats unknown"
            found.append({"device": dev, "formats": None})
        elif r.returncode != 0:
            found.append({"device": dev, "formats": None, "error": (r.stderr.strip() or f"exit {r.returncode}")[:120]})
        else:
            formats = parse_v4l2_formats(r.stdout)
            if formats:  # nodes without capture formats (UVC metadata, ISP outputs) are not cameras
                found.append({"device": dev, "formats": {k: list(v) for k, v in formats.items()}})
    if len(devices) > MAX_V4L2_DEVICES:
        note = (note + "; " if note else "") + f"{len(devices) - MAX_V4L2_DEVICES} more /dev/video* nodes not probed"
    return found, note


def _call_with_timeout(fn, timeout: float):
    """fn() in a daemon thread; (result, None), or (None, why) on error or timeout (a hung driver)."""
    box: dict = {}

    def target():
        try:
            box["result"] = fn()
        except Exception as exc:
            box["error"] = (str(exc).strip().splitlines() or [type(exc).__name__])[-1][:200]

    t = threading.Thread(target=target, name="doctor-probe", daemon=True)
    t.start()
    t.join(timeout)
    if t.is_alive():
        return None, f"no answer within {timeout:g} s"
    return box.get("result"), box.get("error")


def _picamera2_cameras(host: Host) -> tuple[list[dict] | None, str | None]:
    def probe():
        module = host.import_module("picamera2")
        return [{"model": c.get("Model", "?"), "num": c.get("Num", i)}
                for i, c in enumerate(module.Picamera2.global_camera_info())]

    return _call_with_timeout(probe, PICAMERA2_TIMEOUT_S)


def check_cameras(host: Host, ctx: dict) -> Check:
    """Cameras: V4L2 devices and formats (v4l2-ctl), picamera2 cameras, CSI on Jetson."""
    v4l2, note = _v4l2_cameras(host)
    parts, fixes, status = [], [], OK
    for cam in v4l2:
        if cam["formats"]:
            fmts = ", ".join(f"{k} {w}x{h}" for k, (w, h) in cam["formats"].items())
            parts.append(f"{cam['device']} ({fmts})")
        else:
            parts.append(f"{cam['device']} (formats unknown{': ' + cam['error'] if cam.get('error') else ''})")
    if note:
        status = WARN
        fixes.append("sudo apt install v4l-utils (for v4l2-ctl)" if "v4l2-ctl" in note else note)
    data: dict = {"v4l2": v4l2}
    pi_cams, pi_error = _picamera2_cameras(host)
    if pi_cams:
        parts += [f"picamera2://{c['num']} ({c['model']})" for c in pi_cams]
        data["picamera2"] = pi_cams
    elif host.is_pi() and pi_error:
        status = WARN
        if any(h.lower() in pi_error.lower() for h in NUMPY_ABI_HINTS):  # apt's simplejpeg vs pip's NumPy 2
            fixes.append(f"picamera2 fails under this NumPy ({pi_error}): {NUMPY1_PIN}")
        else:
            fixes.append("picamera2 does not import here: sudo apt install python3-picamera2, and make the venv with "
                         "--system-site-packages so apt's picamera2 and libcamera are visible")
        data["picamera2_error"] = pi_error
    if host.is_jetson():
        r = host.run(["gst-inspect-1.0", "nvarguscamerasrc"], timeout=COMMAND_TIMEOUT_S)
        csi_ok = r is not None and r.returncode == 0
        data["csi"] = csi_ok
        if csi_ok:
            parts.append("csi://N available (nvarguscamerasrc)")
        else:
            status = WARN
            fixes.append("no nvarguscamerasrc: install JetPack's GStreamer (sudo apt install nvidia-l4t-gstreamer) "
                         "for csi:// cameras")
    if not parts:
        generic = ("plug in a USB camera (then: ls /dev/video*); Pi camera module: picamera2://0; "
                   "Jetson CSI: csi://0; in Docker pass --device /dev/video0")
        return Check("cameras", WARN, "no camera found" + (f" ({note})" if note else ""),
                     "; ".join(fixes + [generic]), data=data)
    return Check("cameras", status, "; ".join(parts), "; ".join(fixes), data=data)


def check_display(host: Host, ctx: dict) -> Check:
    """A display or not (--display needs one and an OpenCV with GUI)."""
    shown = host.env.get("DISPLAY") or host.env.get("WAYLAND_DISPLAY")
    cv = _opencv(host, ctx)
    if not shown:
        return Check("display", OK, "headless (DISPLAY and WAYLAND_DISPLAY unset): --display unavailable, "
                                    "use --save, --metrics-port or --log-json")
    if cv is not None and not cv["gui"]:
        return Check("display", WARN, f"display {shown}, but this OpenCV has no GUI (opencv-python-headless)",
                     "pip install opencv-python (with GUI) for --display; the service needs none")
    return Check("display", OK, f"display {shown}")


# --- CPU, power, temperature, disk --------------------------------------------------------------------
def _cpu_model(host: Host) -> str:
    text = host.read("/proc/cpuinfo") or ""
    for key in ("model name", "Hardware", "Model", "cpu model"):
        for line in text.splitlines():
            if ":" in line and line.split(":", 1)[0].strip() == key:
                return line.split(":", 1)[1].strip()
    return host.board() or host.machine


def check_cpu(host: Host, ctx: dict) -> Check:
    """CPU model, cores and frequency governor (powersave costs FPS)."""
    cores, usable = host.cpu_count(), host.usable_cores()
    gov = (host.read("/sys/devices/system/cpu/cpu0/cpufreq/scaling_governor") or "").strip()
    cores_text = f"{cores} cores" + (f" ({usable} usable here)" if usable != cores else "")
    detail = f"{_cpu_model(host)}, {cores_text}, governor {gov or 'not exposed'}"
    data = {"model": _cpu_model(host), "cores": cores, "usable": usable, "governor": gov or None}
    if gov == "powersave":
        return Check("cpu", WARN, detail, "echo performance | sudo tee /sys/devices/system/cpu/cpu*/cpufreq/scaling_governor "
                                          "(or ondemand); on Pi OS: sudo apt install cpufrequtils", data=data)
    return Check("cpu", OK, detail, data=data)


THROTTLE_BITS = {0: "under-voltage now", 1: "ARM frequency capped now", 2: "throttled now", 3: "soft temperature limit now",
                 16: "under-voltage since boot", 17: "frequency capped since boot", 18: "throttled since boot",
                 19: "soft temperature limit since boot"}


def decode_throttled(value: int) -> list[str]:
    """vcgencmd get_throttled bits -> what they mean."""
    return [text for bit, text in THROTTLE_BITS.items() if value & (1 << bit)]


def check_throttling(host: Host, ctx: dict) -> Check:
    """Raspberry Pi under-voltage and throttling (vcgencmd get_throttled)."""
    r = host.run(["vcgencmd", "get_throttled"], timeout=COMMAND_TIMEOUT_S)
    if r is None:
        if host.is_pi():
            return Check("throttling", WARN, "vcgencmd not installed: under-voltage and throttling unknown",
                         "sudo apt install raspi-utils (Bookworm; libraspberrypi-bin on older images)")
        return Check("throttling", OK, "not a Raspberry Pi (no vcgencmd)")
    m = re.search(r"throttled=(0x[0-9a-fA-F]+|\d+)", r.stdout)
    if r.returncode != 0 or not m:
        why = (r.stderr.strip() or r.stdout.strip() or f"exit {r.returncode}")[:120]
        return Check("throttling", WARN, f"vcgencmd get_throttled failed: {why}",
                     "add the user to the video group (sudo usermod -aG video $USER) and log in again")
    value = int(m.group(1), 0)
    flags = decode_throttled(value)
    data = {"throttled": hex(value), "flags": flags}
    if value & 0xF:
        return Check("throttling", FAIL, f"{hex(value)}: {', '.join(flags)}",
                     "use the official power supply (Pi 5: 5 V 5 A, Pi 4: 5 V 3 A) and a heatsink or fan", data=data)
    if value:
        return Check("throttling", WARN, f"{hex(value)}: {', '.join(flags)}",
                     "it happened since boot: check the power supply and cooling under load", data=data)
    return Check("throttling", OK, "0x0: no under-voltage or throttling since boot", data=data)


def check_temperature(host: Host, ctx: dict) -> Check:
    """SoC temperature (vcgencmd measure_temp on a Pi, else the hottest thermal zone)."""
    temp, where = None, ""
    r = host.run(["vcgencmd", "measure_temp"], timeout=COMMAND_TIMEOUT_S) if host.is_pi() else None
    m = re.search(r"temp=([\d.]+)", r.stdout) if r is not None and r.returncode == 0 else None
    if m:
        temp, where = float(m.group(1)), "vcgencmd"
    else:
        for zone in host.glob("/sys/class/thermal/thermal_zone*/temp"):
            text = (host.read(zone) or "").strip()
            if text.lstrip("-").isdigit():
                value = int(text) / 1000.0
                if temp is None or value > temp:
                    temp, where = value, zone.split("/")[-2]
    if temp is None:
        return Check("temperature", OK, "no temperature sensor exposed")
    detail = f"{temp:.1f} °C ({where})"
    fix = "add a heatsink and fan (Pi 5: the Active Cooler), give the case airflow"
    if temp >= TEMP_FAIL_C:
        return Check("temperature", FAIL, f"{detail}: at the throttling limit", fix, data={"celsius": temp})
    if temp >= TEMP_WARN_C:
        return Check("temperature", WARN, f"{detail}: near the throttling limit", fix, data={"celsius": temp})
    return Check("temperature", OK, detail, data={"celsius": temp})


def check_jetson_power(host: Host, ctx: dict) -> Check:
    """Jetson power mode (nvpmodel -q): anything but MAXN caps clocks."""
    if not host.is_jetson():
        return Check("jetson power", OK, "not a Jetson")
    r = host.run(["nvpmodel", "-q"], timeout=COMMAND_TIMEOUT_S)
    if r is None:
        return Check("jetson power", WARN, "nvpmodel not installed: power mode unknown",
                     "sudo apt install nvidia-l4t-tools (part of JetPack)")
    m = re.search(r"NV Power Mode:\s*(\S+)", r.stdout)
    if not m:
        return Check("jetson power", WARN, f"nvpmodel -q said nothing usable ({(r.stderr or r.stdout).strip()[:120]})",
                     "run sudo nvpmodel -q by hand")
    mode = m.group(1)
    if "MAXN" not in mode.upper():
        return Check("jetson power", WARN, f"power mode {mode}: clocks capped",
                     "sudo nvpmodel -m 0 (MAXN on most modules; list modes: nvpmodel -p --verbose), then sudo jetson_clocks",
                     data={"mode": mode})
    return Check("jetson power", OK, f"power mode {mode}", data={"mode": mode})


def check_disk(host: Host, ctx: dict) -> Check:
    """Free disk where outputs go (--save stops below --min-free-mb, 200 MiB by default)."""
    target = Path(ctx.get("out_dir") or (DEFAULT_OUT if host.path(DEFAULT_OUT).is_dir() else "."))
    p = target.absolute()
    while not p.exists() and p != p.parent:
        p = p.parent
    usage = host.disk_usage(p)
    free_gib, total_gib = usage.free / 2**30, usage.total / 2**30
    detail = f"{free_gib:.1f} GiB free of {total_gib:.1f} GiB at {target}"
    data = {"path": str(target), "free_bytes": usage.free, "total_bytes": usage.total}
    if not host.writable(p):
        return Check("disk", FAIL, f"{detail}: not writable by this user",
                     f"sudo install -d -o $USER {target} (the systemd unit's StateDirectory= does this)", data=data)
    if usage.free < DISK_FAIL_BYTES:
        return Check("disk", FAIL, f"{detail}: --save would stop at once",
                     "free space, save elsewhere, or rotate: --keep N / --max-save-mb M", data=data)
    if usage.free < DISK_WARN_BYTES:
        return Check("disk", WARN, f"{detail}: little room for frames",
                     "rotate with --keep N or --max-save-mb M (saving stops by itself below --min-free-mb)", data=data)
    return Check("disk", OK, detail, data=data)


MEMORY_WARN_PIXELS = 12_000_000  # a phone or DSLR photo: a device that cannot take one is worth a warning


def check_memory(host: Host, ctx: dict) -> Check:
    """Free memory, and the largest image ``denoise`` can take in it (images.BYTES_PER_PIXEL_PEAK a pixel)."""
    from edge_runtime.images import BYTES_PER_PIXEL_PEAK, MAX_PIXELS, max_pixels_for

    text = host.read("/proc/meminfo") or ""
    fields = {line.split(":")[0]: line.split()[1] for line in text.splitlines() if ":" in line and len(line.split()) > 1}
    if "MemAvailable" not in fields:
        return Check("memory", OK, "free memory unknown here (no /proc/meminfo): images up to the "
                                   f"{MAX_PIXELS // 1_000_000} MP limit are tried")
    available = int(fields["MemAvailable"]) * 1024
    total = int(fields.get("MemTotal", fields["MemAvailable"])) * 1024
    largest = max_pixels_for(available)
    detail = (f"{available / 2**20:.0f} MiB free of {total / 2**20:.0f} MiB: images up to {largest / 1e6:.0f} MP "
              f"(about {BYTES_PER_PIXEL_PEAK} bytes a pixel; the limit is {MAX_PIXELS // 1_000_000} MP)")
    data = {"available_bytes": available, "total_bytes": total, "max_pixels": largest}
    if largest < MEMORY_WARN_PIXELS:
        return Check("memory", WARN, f"{detail}: larger photos are refused by name",
                     "close other programs, add swap, or shrink photos first (e.g. 'mogrify -resize 50% *.jpg')",
                     data=data)
    return Check("memory", OK, detail, data=data)


# --- the model: load, XNNPACK, 2-second smoke run -------------------------------------------------------
def _load_model(host: Host, ctx: dict):
    """The engine for --model, else the default shipped model (cached); (engine, None) or (None, Check)."""
    if "engine" in ctx:
        return ctx["engine"], ctx.get("model_check")
    from edge_runtime.engine import load_engine
    from edge_runtime.errors import EdgeDenoiseError
    from edge_runtime.zoo import resolve_model

    ctx["engine"] = None
    model = ctx.get("model")
    try:
        from edge_runtime.zoo import DEFAULT_MODEL

        path = resolve_model(model or DEFAULT_MODEL)
    except EdgeDenoiseError as exc:
        ctx["model_check"] = Check("model", WARN, f"no model to try: {exc}" if model else
                                   "no shipped model in this install and no --model given",
                                   "copy a converted model from the workstation and pass --model path/to/model.tflite "
                                   "(its .json sidecar next to it)")
        return None, ctx["model_check"]
    try:
        engine = load_engine(path, threads=ctx.get("threads") or min(4, host.cpu_count()))
    except EdgeDenoiseError as exc:
        ctx["model_check"] = Check("model", FAIL, str(exc),
                                   "convert again on the workstation (edge-denoise convert) and copy the .tflite "
                                   "with its .json, or upgrade the runtime: pip install -U ai-edge-litert")
        return None, ctx["model_check"]
    ctx["engine"] = engine
    meta = engine.metadata
    h, w = engine.input_hw
    ctx["model_check"] = Check("model", OK, f"{engine.name} {meta.get('precision', '?')} {h}x{w} ({path})",
                               data={"path": str(path), "input_hw": [h, w], "precision": meta.get("precision"),
                                     "min_runtime": meta.get("min_runtime")})
    return engine, ctx["model_check"]


def check_model(host: Host, ctx: dict) -> Check:
    """The model loads with this runtime (including its metadata's min_runtime)."""
    return _load_model(host, ctx)[1]


def delegated_nodes(engine) -> int | None:
    """How many nodes of the graph a delegate (XNNPACK by default) took over; None when unknown.

    The compiled backend runs on LiteRT's XNNPACK CPU accelerator and keeps its Interpreter for
    inspection only; allocating that one applies the same build's XNNPACK delegate, which shows
    what XNNPACK takes over.
    """
    try:
        if getattr(engine, "backend", "interpreter") == "compiled":
            engine.interpreter.allocate_tensors()
        ops = engine.interpreter._get_ops_details()
    except Exception:
        return None
    return sum(1 for op in ops if op.get("op_name") == "DELEGATE")


def check_xnnpack(host: Host, ctx: dict) -> Check:
    """XNNPACK on: the default CPU delegate took over the model's graph."""
    engine, _ = _load_model(host, ctx)
    if engine is None:
        return Check("xnnpack", WARN, "unknown: no model loaded", "pass --model path/to/model.tflite")
    n = delegated_nodes(engine)
    if n is None:
        return Check("xnnpack", WARN, "unknown: this runtime does not list its graph's nodes",
                     "pip install -U ai-edge-litert")
    if n == 0:
        return Check("xnnpack", WARN, "no node delegated: XNNPACK is off in this runtime build (CPU kernels only, slower)",
                     "pip install -U ai-edge-litert (its wheels apply XNNPACK by default)")
    backend = getattr(engine, "backend", "interpreter")
    return Check("xnnpack", OK, f"on ({n} delegated partition{'s' if n != 1 else ''}, {engine.threads} threads, "
                 f"{backend} backend)", data={"partitions": n, "threads": engine.threads, "backend": backend})


def check_smoke_run(host: Host, ctx: dict) -> Check:
    """A short run of the model on synthetic frames (default 2 s) with its measured FPS."""
    engine, _ = _load_model(host, ctx)
    if engine is None:
        return Check("smoke run", WARN, "skipped: no model loaded", "pass --model path/to/model.tflite")
    from edge_runtime.pipeline import RunConfig, run
    from edge_runtime.sinks import FrameSink
    from edge_runtime.synthetic import SyntheticSource

    seconds = float(ctx.get("smoke_s", SMOKE_SECONDS))
    report = run(RunConfig(source="synthetic://", model=str(engine.path), duration=seconds, threads=engine.threads),
                 source=SyntheticSource(engine.input_hw, hold=1, loop=True, uri="synthetic://"), engine=engine, sink=FrameSink())
    if report.frames == 0:
        return Check("smoke run", FAIL, f"no frame denoised in {seconds:g} s ({report.stop_reason})",
                     "run edge-denoise --debug run --demo --model ... to see the error")
    inv = report.stages_ms.get("invoke", {})
    h, w = engine.input_hw
    return Check("smoke run", OK, f"{report.frames} frames of {h}x{w} in {report.duration_s:.1f} s: {report.fps:.1f} FPS "
                                  f"(invoke p50 {inv.get('p50_ms', 0):.1f} ms, {engine.threads} threads)",
                 data={"frames": report.frames, "fps": report.fps, "invoke_p50_ms": inv.get("p50_ms"),
                       "invoke_fps": report.invoke_fps, "threads": engine.threads})


CHECKS: tuple[tuple[str, Callable[[Host, dict], Check]], ...] = (
    ("python", check_python),
    ("numpy", check_numpy),
    ("runtime", check_runtime),
    ("opencv", check_opencv),
    ("cameras", check_cameras),
    ("display", check_display),
    ("cpu", check_cpu),
    ("throttling", check_throttling),
    ("temperature", check_temperature),
    ("jetson power", check_jetson_power),
    ("disk", check_disk),
    ("memory", check_memory),
    ("model", check_model),
    ("xnnpack", check_xnnpack),
    ("smoke run", check_smoke_run),
)


def run_checks(model: str | Path | None = None, out_dir: str | Path | None = None, smoke_s: float = SMOKE_SECONDS,
               threads: int | None = None, host: Host | None = None, only: list[str] | None = None) -> list[Check]:
    """Every check in CHECKS (or those named in ``only``), in order; a probe that raises becomes a warn."""
    host = host or Host()
    ctx: dict = {"model": str(model) if model else None, "out_dir": str(out_dir) if out_dir else None,
                 "smoke_s": smoke_s, "threads": threads}
    results = []
    for name, fn in CHECKS:
        if only and name not in only:
            continue
        t0 = time.perf_counter()
        try:
            check = fn(host, ctx)
        except Exception as exc:  # a probe's own bug must not hide the other checks
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
            check = Check(name, WARN, f"probe failed: {type(exc).__name__}: {first}",
                          "run edge-denoise --debug doctor and report the traceback")
        check.seconds = round(time.perf_counter() - t0, 3)
        results.append(check)
    return results


def summarize(checks: list[Check]) -> dict:
    """Counts per status and the worst one."""
    counts = {s: sum(1 for c in checks if c.status == s) for s in (OK, WARN, FAIL)}
    worst = FAIL if counts[FAIL] else WARN if counts[WARN] else OK
    return {**counts, "worst": worst}
