"""`edge-denoise doctor`: each probe reads faked files and command output; a missing tool is a warn, never a hang."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import namedtuple
from pathlib import Path

import pytest
from test_runtime_cli import NO_TF
from tflite_fixtures import tflite_dir, uint8_model  # noqa: F401

from edge_runtime import doctor
from edge_runtime.doctor import FAIL, OK, WARN, CommandResult, Host, run_checks
from edge_runtime.engine import runtime_problem

ROOT = Path(__file__).resolve().parents[1]
Usage = namedtuple("Usage", "total used free")

V4L2_FORMATS = """ioctl: VIDIOC_ENUM_FMT
\tType: Video Capture

\t[0]: 'MJPG' (Motion-JPEG, compressed)
\t\tSize: Discrete 1920x1080
\t\t\tInterval: Discrete 0.033s (30.000 fps)
\t\tSize: Discrete 640x480
\t[1]: 'YUYV' (YUYV 4:2:2)
\t\tSize: Discrete 640x480
\t\tSize: Discrete 320x240
"""
BUILD_PIP = "Video I/O:\n    FFMPEG:                      YES\n    GStreamer:                   NO\n    v4l/v4l2:                    YES (linux/videodev2.h)\nGUI:                           NONE\n"


def make_host(tmp_path: Path, files: dict[str, str] | None = None, commands: dict | None = None,
              modules: dict | None = None, versions: dict | None = None, **kwargs) -> Host:
    """A Host over tmp_path as /, answering ``commands[(argv...)]`` (missing key: tool not installed)."""
    root = Path(tempfile.mkdtemp(prefix="root", dir=tmp_path))  # each host its own "/"
    for rel, text in (files or {}).items():
        p = root / rel.lstrip("/")
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
    commands = commands or {}
    modules = modules or {}
    versions = {"numpy": "1.26.4", "ai-edge-litert": "2.3.0", **(versions or {})}

    def run(argv, timeout=1.0):
        answer = commands.get(tuple(argv))
        if callable(answer):
            return answer()
        return answer

    def import_module(name):
        m = modules.get(name)
        if m is None:
            raise ImportError(f"No module named '{name}'")
        if isinstance(m, Exception):
            raise m
        return m

    defaults = dict(root=root, env={}, run=run, import_module=import_module, package_version=versions.get,
                    machine="aarch64", pointer_bits=64, python=(3, 11, 2), cpu_count=lambda: 4, usable_cores=lambda: 4,
                    disk_usage=lambda p: Usage(32 * 2**30, 8 * 2**30, 24 * 2**30), writable=lambda p: True)
    return Host(**{**defaults, **kwargs})


class FakeCv2:
    __version__ = "4.8.0"

    def __init__(self, build: str = BUILD_PIP):
        self.build = build

    def getBuildInformation(self):
        return self.build


def check(host: Host, name: str, **ctx):
    fn = dict(doctor.CHECKS)[name]
    return fn(host, {"model": None, "out_dir": None, "smoke_s": 0.2, "threads": 1, **ctx})


# --- Python, NumPy, runtime ---------------------------------------------------------------------------
def test_32_bit_userland_fails_and_says_to_flash_the_64_bit_os(tmp_path):
    c = check(make_host(tmp_path, machine="armv7l", pointer_bits=32), "python")
    assert c.status == FAIL and "32-bit userland" in c.detail and "64-bit" in c.fix
    c = check(make_host(tmp_path, machine="aarch64", pointer_bits=32), "python")
    assert c.status == FAIL and "64-bit kernel" in c.detail
    assert check(make_host(tmp_path), "python").status == OK


def test_tflite_runtime_under_numpy_2_fails_with_the_pin(tmp_path):
    host = make_host(tmp_path, modules={"tflite_runtime.interpreter": object()},
                     versions={"ai-edge-litert": None, "tflite-runtime": "2.14.0", "numpy": "2.1.0"})
    c = check(host, "numpy")
    assert c.status == FAIL and "numpy<2" in c.fix
    r = check(host, "runtime")
    assert r.status == WARN and r.detail.startswith("tflite-runtime 2.14.0") and "ai-edge-litert" in r.fix


def test_a_runtime_that_cannot_import_under_numpy_2_is_named_not_called_missing(tmp_path):
    broken = ImportError("numpy.core.multiarray failed to import")
    host = make_host(tmp_path, modules={"tflite_runtime.interpreter": broken},
                     versions={"ai-edge-litert": None, "tflite-runtime": "2.14.0", "numpy": "2.1.0"})
    c = check(host, "runtime")
    assert c.status == FAIL and "tflite-runtime is installed but does not import" in c.detail and "numpy<2" in c.fix


def test_no_runtime_at_all_fails_with_the_install_line(tmp_path):
    c = check(make_host(tmp_path, versions={"ai-edge-litert": None}), "runtime")
    assert c.status == FAIL and "pip install" in c.fix


def test_ai_edge_litert_with_numpy_2_is_fine(tmp_path):
    host = make_host(tmp_path, modules={"ai_edge_litert.interpreter": object()}, versions={"numpy": "2.4.0"})
    assert check(host, "runtime").detail == "ai-edge-litert 2.3.0"
    assert check(host, "numpy").status == OK


# --- OpenCV, cameras, display --------------------------------------------------------------------------
def test_pip_opencv_on_a_jetson_warns_to_use_jetpacks_opencv(tmp_path):
    host = make_host(tmp_path, files={"/proc/device-tree/model": "NVIDIA Jetson Orin Nano Developer Kit\0"},
                     modules={"cv2": FakeCv2()})
    c = check(host, "opencv")
    assert c.status == WARN and "gstreamer no" in c.detail and "--system-site-packages" in c.fix
    assert check(make_host(tmp_path, modules={"cv2": FakeCv2()}), "opencv").status == OK  # not a Jetson: fine


def test_opencv_missing_fails_with_the_pip_line(tmp_path):
    c = check(make_host(tmp_path), "opencv")
    assert c.status == FAIL and "opencv-python-headless" in c.fix


def test_cameras_are_listed_with_their_largest_size_per_format(tmp_path):
    host = make_host(tmp_path, files={"/dev/video0": "", "/dev/video1": ""}, commands={
        ("v4l2-ctl", "--device", "/dev/video0", "--list-formats-ext"): CommandResult(0, V4L2_FORMATS),
        ("v4l2-ctl", "--device", "/dev/video1", "--list-formats-ext"): CommandResult(0, "ioctl: VIDIOC_ENUM_FMT\n"),
    })
    c = check(host, "cameras")
    assert c.status == OK
    assert c.detail == "/dev/video0 (MJPG 1920x1080, YUYV 640x480)"  # video1 is a UVC metadata node


def test_missing_v4l2_ctl_is_a_warn_with_the_apt_line(tmp_path):
    c = check(make_host(tmp_path, files={"/dev/video0": ""}), "cameras")
    assert c.status == WARN and "/dev/video0 (formats unknown)" in c.detail and "v4l-utils" in c.fix


def test_no_camera_is_a_warn_that_names_every_kind(tmp_path):
    c = check(make_host(tmp_path), "cameras")
    assert c.status == WARN and c.detail.startswith("no camera found") and "picamera2://0" in c.fix


def test_picamera2_cameras_are_found_when_it_imports(tmp_path):
    import importlib.util

    spec = importlib.util.spec_from_file_location("fake_picamera2_for_doctor",
                                                  ROOT / "tests" / "fake_picamera2" / "picamera2" / "__init__.py")
    picamera2 = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(picamera2)
    pi = {"/proc/device-tree/model": "Raspberry Pi 5 Model B Rev 1.0\0"}
    c = check(make_host(tmp_path, files=pi, modules={"picamera2": picamera2}), "cameras")
    assert c.status == OK and c.detail == "picamera2://0 (fake_imx708)"
    c = check(make_host(tmp_path, files=pi), "cameras")
    assert c.status == WARN and "python3-picamera2" in c.fix and "--system-site-packages" in c.fix
    numpy2 = ValueError("numpy.dtype size changed, may indicate binary incompatibility. Expected 96 from C header, got 88")
    c = check(make_host(tmp_path, files=pi, modules={"picamera2": numpy2}), "cameras")
    assert c.status == WARN and "numpy<2" in c.fix


def test_jetson_csi_needs_nvarguscamerasrc(tmp_path):
    jetson = {"/etc/nv_tegra_release": "# R36 (release), REVISION: 4.0"}
    ok = make_host(tmp_path, files=jetson, commands={("gst-inspect-1.0", "nvarguscamerasrc"): CommandResult(0, "Factory Details")})
    assert "csi://N available" in check(ok, "cameras").detail
    c = check(make_host(tmp_path, files=jetson), "cameras")
    assert c.status == WARN and "nvidia-l4t-gstreamer" in c.fix


def test_display_present_with_headless_opencv_warns(tmp_path):
    assert check(make_host(tmp_path, modules={"cv2": FakeCv2()}), "display").detail.startswith("headless")
    c = check(make_host(tmp_path, env={"DISPLAY": ":0"}, modules={"cv2": FakeCv2()}), "display")
    assert c.status == WARN and "opencv-python" in c.fix


# --- CPU, power, temperature, disk ----------------------------------------------------------------------
def test_cpu_model_cores_and_a_powersave_governor(tmp_path):
    files = {"/proc/cpuinfo": "processor\t: 0\nBogoMIPS\t: 108.00\nModel\t\t: Raspberry Pi 5 Model B Rev 1.0\n",
             "/sys/devices/system/cpu/cpu0/cpufreq/scaling_governor": "powersave\n"}
    c = check(make_host(tmp_path, files=files), "cpu")
    assert c.status == WARN and c.detail == "Raspberry Pi 5 Model B Rev 1.0, 4 cores, governor powersave"
    assert "scaling_governor" in c.fix


@pytest.mark.parametrize("value, status, words", [
    ("0x0", OK, "no under-voltage"),
    ("0x50000", WARN, "under-voltage since boot, throttled since boot"),
    ("0x50005", FAIL, "under-voltage now, throttled now"),
])
def test_pi_throttling_bits_are_decoded(tmp_path, value, status, words):
    host = make_host(tmp_path, commands={("vcgencmd", "get_throttled"): CommandResult(0, f"throttled={value}\n")})
    c = check(host, "throttling")
    assert c.status == status and words in c.detail


def test_a_pi_without_vcgencmd_warns_and_other_boards_are_skipped(tmp_path):
    pi = make_host(tmp_path, files={"/proc/device-tree/model": "Raspberry Pi 4 Model B Rev 1.4\0"})
    c = check(pi, "throttling")
    assert c.status == WARN and "raspi-utils" in c.fix
    assert check(make_host(tmp_path), "throttling").status == OK


def test_vcgencmd_without_the_video_group_is_a_warn(tmp_path):
    host = make_host(tmp_path, commands={("vcgencmd", "get_throttled"): CommandResult(255, "", "VCHI initialization failed")})
    c = check(host, "throttling")
    assert c.status == WARN and "VCHI" in c.detail and "video" in c.fix


def test_temperature_from_vcgencmd_on_a_pi_else_the_hottest_thermal_zone(tmp_path):
    pi = make_host(tmp_path, files={"/proc/device-tree/model": "Raspberry Pi 5 Model B\0"},
                   commands={("vcgencmd", "measure_temp"): CommandResult(0, "temp=82.3'C\n")})
    c = check(pi, "temperature")
    assert c.status == WARN and c.detail.startswith("82.3 °C (vcgencmd)")
    zones = make_host(tmp_path, files={"/sys/class/thermal/thermal_zone0/temp": "45000\n",
                                             "/sys/class/thermal/thermal_zone1/temp": "51500\n"})
    assert check(zones, "temperature").detail == "51.5 °C (thermal_zone1)"


def test_jetson_power_mode_other_than_maxn_warns(tmp_path):
    jetson = {"/proc/device-tree/model": "NVIDIA Jetson Orin Nano Developer Kit\0"}
    host = make_host(tmp_path, files=jetson, commands={("nvpmodel", "-q"): CommandResult(0, "NV Power Mode: 15W\n2\n")})
    c = check(host, "jetson power")
    assert c.status == WARN and "15W" in c.detail and "nvpmodel -m 0" in c.fix
    maxn = make_host(tmp_path, files=jetson, commands={("nvpmodel", "-q"): CommandResult(0, "NV Power Mode: MAXN_SUPER\n2\n")})
    assert check(maxn, "jetson power").status == OK
    assert check(make_host(tmp_path, files=jetson), "jetson power").status == WARN  # nvpmodel missing


def test_disk_nearly_full_or_not_writable_fails(tmp_path):
    full = make_host(tmp_path, disk_usage=lambda p: Usage(32 * 2**30, 32 * 2**30, 50 * 2**20))
    assert check(full, "disk", out_dir=str(tmp_path)).status == FAIL
    low = make_host(tmp_path, disk_usage=lambda p: Usage(32 * 2**30, 31 * 2**30, 2**30))
    assert check(low, "disk", out_dir=str(tmp_path)).status == WARN
    ro = make_host(tmp_path, writable=lambda p: False)
    c = check(ro, "disk", out_dir=str(tmp_path))
    assert c.status == FAIL and "not writable" in c.detail


# --- bounded, never a crash ------------------------------------------------------------------------------
def test_a_hanging_tool_times_out_and_becomes_a_warn(tmp_path, monkeypatch):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    tool = bin_dir / "vcgencmd"
    tool.write_text("#!/bin/sh\nexec sleep 30\n")
    tool.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setattr(doctor, "COMMAND_TIMEOUT_S", 0.3)
    t0 = time.monotonic()
    [c] = run_checks(only=["throttling"], host=make_host(tmp_path, run=doctor.run_command))
    assert time.monotonic() - t0 < 5
    assert c.status == WARN and "timed out" in c.detail


def test_a_probe_that_raises_is_a_warn_and_the_others_still_run(tmp_path):
    def broken(argv, timeout=1.0):
        raise RuntimeError("driver exploded")

    checks = run_checks(only=["throttling", "python"], host=make_host(tmp_path, run=broken))
    assert [c.name for c in checks] == ["python", "throttling"]
    assert checks[1].status == WARN and "driver exploded" in checks[1].detail


# --- the model: min_runtime, XNNPACK, smoke run ----------------------------------------------------------
def test_model_checks_load_it_see_xnnpack_and_measure_fps(tmp_path, uint8_model):
    checks = run_checks(model=uint8_model, smoke_s=0.3, threads=1, only=["model", "xnnpack", "smoke run"])
    by = {c.name: c for c in checks}
    assert by["model"].status == OK and "64x64" in by["model"].detail
    assert by["xnnpack"].status == OK and by["xnnpack"].data["partitions"] >= 1
    assert by["smoke run"].status == OK and by["smoke run"].data["fps"] > 0 and "FPS" in by["smoke run"].detail


def test_no_model_is_a_warn_that_says_to_pass_one(tmp_path, monkeypatch):
    from edge_runtime import zoo

    monkeypatch.setattr(zoo, "SHIPPED_DIR", tmp_path / "none")
    checks = run_checks(only=["model", "smoke run"])
    assert [c.status for c in checks] == [WARN, WARN] and "--model" in checks[0].fix


def newer_runtime_copy(tmp_path: Path, model: Path, need: dict) -> Path:
    copy = tmp_path / "from_workstation.tflite"
    shutil.copy(model, copy)
    meta = json.loads(model.with_suffix(".json").read_text())
    copy.with_suffix(".json").write_text(json.dumps({**meta, "min_runtime": need}))
    return copy


def test_min_runtime_is_compared_per_runtime():
    assert runtime_problem({"min_runtime": {"tflite-runtime": "2.14.0"}}, "tflite-runtime", "2.14.0") is None
    assert runtime_problem({"min_runtime": {"tflite-runtime": "2.14.0"}}, "ai-edge-litert", "1.0.1") is None
    assert "needs tflite-runtime >= 2.14.0" in runtime_problem({"min_runtime": {"tflite-runtime": "2.14.0"}}, "tflite-runtime", "2.9.1")
    assert runtime_problem({"min_runtime": {"ai-edge-litert": "2.3.0"}}, "ai-edge-litert", "2.10.0") is None  # not a string compare
    only_litert = {"min_runtime": {"ai-edge-litert": "2.3.0", "note": "dynamic-range TRANSPOSE_CONV fails in tflite-runtime 2.14"}}
    problem = runtime_problem(only_litert, "tflite-runtime", "2.14.0")
    assert "ai-edge-litert >= 2.3.0" in problem and "TRANSPOSE_CONV" in problem
    assert runtime_problem({}, "tflite-runtime", "2.5.0") is None


def test_doctor_fails_a_model_that_needs_a_newer_runtime(tmp_path, uint8_model):
    copy = newer_runtime_copy(tmp_path, uint8_model, {"ai-edge-litert": "99.0.0"})
    [c] = run_checks(model=copy, only=["model"])
    assert c.status == FAIL and "needs ai-edge-litert >= 99.0.0, this device has 2.3.0" in c.detail


def test_run_refuses_a_model_that_needs_a_newer_runtime_in_one_line(tmp_path, uint8_model):
    copy = newer_runtime_copy(tmp_path, uint8_model, {"ai-edge-litert": "99.0.0"})
    r = subprocess.run([sys.executable, "-c", NO_TF, "run", "--demo", "--model", str(copy), "--frames", "1"],
                       cwd=ROOT, capture_output=True, text=True, timeout=120, env={**os.environ, "COLUMNS": "300"})
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "needs ai-edge-litert >= 99.0.0, this device has 2.3.0: pip install -U ai-edge-litert" in r.stderr


# --- the command ----------------------------------------------------------------------------------------------
def test_doctor_json_lists_every_check_within_10_seconds_without_tensorflow(tmp_path, uint8_model):
    t0 = time.monotonic()
    r = subprocess.run([sys.executable, "-c", NO_TF, "doctor", "--json", "--model", str(uint8_model), "--out", str(tmp_path)],
                       cwd=ROOT, capture_output=True, text=True, timeout=60)
    elapsed = time.monotonic() - t0
    assert elapsed < 10, elapsed
    data = json.loads(r.stdout)
    assert [c["name"] for c in data["checks"]] == [name for name, _ in doctor.CHECKS]
    assert all(c["status"] in (OK, WARN, FAIL) for c in data["checks"])
    assert all(c["fix"] for c in data["checks"] if c["status"] != OK)
    assert r.returncode == (1 if data["summary"]["fail"] else 0)
    smoke = next(c for c in data["checks"] if c["name"] == "smoke run")
    assert smoke["status"] == OK and smoke["data"]["fps"] > 0


def test_doctor_threads_follow_the_engines_rule_in_one_line():
    from typer.testing import CliRunner

    from edge_denoise.cli import app
    from edge_runtime.engine import MAX_THREADS
    from edge_runtime.errors import EdgeDenoiseError

    for bad in ("0", str(MAX_THREADS + 1)):
        result = CliRunner().invoke(app, ["doctor", "--threads", bad])
        assert isinstance(result.exception, EdgeDenoiseError), result.output
        assert str(result.exception).startswith(f"--threads {bad}: use a whole number from 1 to {MAX_THREADS}")
