"""The LiteRT interpreter behind one small object: load a .tflite file, denoise uint8 RGB frames.

ai-edge-litert is the maintained runtime; tflite-runtime (last release 2.14) is the fallback
many Raspberry Pi images still carry. Whichever loaded is reported in ``runtime_name``.
"""

from __future__ import annotations

import atexit
import json
import os
import weakref
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edge_runtime.errors import EdgeDenoiseError
from edge_runtime.images import to_frame_rgb, to_image01


@dataclass(frozen=True)
class Runtime:
    """Which LiteRT Python package is in use."""

    name: str
    version: str
    interpreter_class: type
    load_delegate: object


def package_version(module: str, dist: str) -> str:
    """An imported package's version: its ``__version__`` when it has one, else the installed metadata.

    importlib.metadata imports email, zipfile, csv and socket, which a device process has no other
    use for (their memory counts in runtime_fps.py's peak RSS), so it is only the fallback."""
    import sys

    version = getattr(sys.modules.get(module), "__version__", None)
    if isinstance(version, str) and version:
        return version
    from importlib import metadata

    return metadata.version(dist)


def find_runtime() -> Runtime:
    """Import ai_edge_litert, else tflite_runtime; say clearly when the platform has neither."""
    try:
        from ai_edge_litert.interpreter import Interpreter, load_delegate

        return Runtime("ai-edge-litert", package_version("ai_edge_litert", "ai-edge-litert"), Interpreter, load_delegate)
    except ImportError:
        pass
    try:
        from tflite_runtime.interpreter import Interpreter, load_delegate

        return Runtime("tflite-runtime", package_version("tflite_runtime", "tflite-runtime"), Interpreter, load_delegate)
    except ImportError:
        pass
    raise EdgeDenoiseError(
        "no LiteRT runtime installed: 'pip install ai-edge-litert' (64-bit Linux, macOS, Windows); "
        "on 32-bit Raspberry Pi OS (armv7l, no ai-edge-litert wheel) use 'pip install tflite-runtime' on Python <= 3.11"
    )


def metadata_path(model_path: str | Path) -> Path:
    """The JSON sidecar that describes a converted file: ``x.tflite`` -> ``x.json``."""
    return Path(model_path).with_suffix(".json")


def read_metadata(model_path: str | Path) -> dict:
    """The sidecar's metadata, or {} when there is none; a corrupt sidecar is an error."""
    path = metadata_path(model_path)
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise EdgeDenoiseError(f"{path}: corrupt model metadata ({exc})") from None
    if not isinstance(data, dict):
        raise EdgeDenoiseError(f"{path}: corrupt model metadata (expected a JSON object)")
    return data


def version_tuple(text: str) -> tuple[int, ...]:
    """'2.14.0' -> (2, 14, 0); a suffix such as 'rc1' or '.dev0' is ignored."""
    parts = []
    for piece in str(text).split("."):
        digits = ""
        for ch in piece:
            if not ch.isdigit():
                break
            digits += ch
        if not digits:
            break
        parts.append(int(digits))
    return tuple(parts)


def runtime_problem(metadata: dict, runtime_name: str, runtime_version: str) -> str | None:
    """Why this runtime is too old for a file whose metadata names ``min_runtime``, or None when it is fine.

    ``min_runtime`` maps runtime names to the oldest version known to run the file, e.g.
    {"tflite-runtime": "2.14.0"}. ai-edge-litert succeeded tflite-runtime (every release is newer
    than 2.14), so a file that only names tflite-runtime runs on any ai-edge-litert; a file that
    names only ai-edge-litert is refused by tflite-runtime.
    """
    need = {k: v for k, v in (metadata.get("min_runtime") or {}).items() if k != "note" and isinstance(v, str)}
    if not need:
        return None
    note = (metadata.get("min_runtime") or {}).get("note")
    why = f" ({note})" if note else ""
    if runtime_name in need:
        if version_tuple(runtime_version) >= version_tuple(need[runtime_name]):
            return None
        upgrade = "pip install -U ai-edge-litert" if runtime_name == "ai-edge-litert" else "pip install ai-edge-litert (64-bit OS)"
        return (f"needs {runtime_name} >= {need[runtime_name]}, this device has {runtime_version}{why}: "
                f"{upgrade}, or convert with an older converter")
    if runtime_name == "ai-edge-litert" and "tflite-runtime" in need:
        return None
    wants = ", ".join(f"{k} >= {v}" for k, v in sorted(need.items()))
    return f"needs {wants}{why}; this device has {runtime_name} {runtime_version}: pip install ai-edge-litert (64-bit OS)"


def check_tflite_file(path: Path) -> None:
    """Refuse missing, empty and non-TFLite files before the interpreter sees them."""
    if not path.exists():
        raise EdgeDenoiseError(f"{path}: no such model file")
    size = path.stat().st_size
    if size == 0:
        raise EdgeDenoiseError(f"{path}: empty model file (0 bytes)")
    with open(path, "rb") as fh:
        head = fh.read(8)
    if len(head) < 8 or head[4:8] != b"TFL3":
        raise EdgeDenoiseError(f"{path}: not a TFLite model (no TFL3 flatbuffer identifier)")


BACKENDS = ("auto", "compiled", "interpreter")
MAX_THREADS = 64
DYNAMIC_START = 128  # a dynamic-shape model's first size, before the first frame resizes it


def check_threads(threads: int) -> int:
    """``threads`` as an int from 1 to MAX_THREADS, else one line saying what is allowed."""
    if isinstance(threads, bool) or not isinstance(threads, int) or not 1 <= threads <= MAX_THREADS:
        raise EdgeDenoiseError(f"--threads {threads}: use a whole number from 1 to {MAX_THREADS} "
                               f"(about the number of CPU cores; this machine has {os.cpu_count()})")
    return threads


def _load_delegate(runtime: Runtime, delegate: str) -> list:
    """[the loaded external delegate], or one line saying why not.

    LiteRT's Delegate.__init__ fails half-way on a bad library and its __del__ then prints an
    'Exception ignored' traceback when the half-made object is freed; that happens here, with the
    traceback filtered, so the user sees only the one line.
    """
    import gc
    import sys

    if "/" in delegate and not Path(delegate).exists():  # a bare name (libedgetpu.so.1) is looked up by the loader
        raise EdgeDenoiseError(f"--delegate {delegate}: no such file (give the path of the delegate's .so library)")
    old_hook = sys.unraisablehook

    def hook(unraisable) -> None:
        if getattr(unraisable.object, "__qualname__", "") != "Delegate.__del__":
            old_hook(unraisable)

    sys.unraisablehook = hook
    try:
        try:
            return [runtime.load_delegate(delegate)]
        except (ValueError, OSError, RuntimeError) as exc:
            message = _first_line(exc)
        gc.collect()
    finally:
        sys.unraisablehook = old_hook
    raise EdgeDenoiseError(f"{delegate}: cannot load delegate ({message})")
# XNNPACK delegate flags (tensorflow/lite/delegates/xnnpack/xnnpack_delegate.h): quantized signed and
# unsigned 8-bit operators; with --low-memory, indirection buffers rebuilt per run in a shared workspace
# instead of one persistent buffer per convolution (8 bytes x 9 taps per output pixel: 22 MB per 3x3 conv
# at VGA). Rebuilding them costs speed: up to 1.7x on the int8 VGA files (benchmarks/backends.py), so it is
# the user's trade, never the default.
XNNPACK_QS8, XNNPACK_QU8, XNNPACK_TRANSIENT_INDIRECTION_BUFFER = 0x1, 0x2, 0x20
COMPILED_XNNPACK_FLAGS = XNNPACK_QS8 | XNNPACK_QU8
# --fp16-arith: XNNPACK runs the float operators in half precision (TFLITE_XNNPACK_DELEGATE_FLAG_FORCE_FP16).
XNNPACK_FORCE_FP16 = 0x4
# Linux arm64 AT_HWCAP bits for ARMv8.2-A half-precision arithmetic (scalar and Advanced SIMD).
_AT_HWCAP, _HWCAP_FPHP, _HWCAP_ASIMDHP = 16, 1 << 9, 1 << 10


def fp16_arith_problem() -> str | None:
    """Why this CPU cannot compute in half precision (``--fp16-arith``), or None where it can.

    XNNPACK's fp16 kernels need ARMv8.2-A fp16 arithmetic: the Pi 5's Cortex-A76 and Orin's A78
    have it, the Pi 4's A72 does not. Read from the kernel's AT_HWCAP (qemu-user reports its
    emulated CPU's there), not /proc/cpuinfo.
    """
    import ctypes
    import platform
    import sys

    machine = platform.machine().lower()
    if machine not in ("aarch64", "arm64"):
        return f"this CPU ({machine}) is not 64-bit Arm, and only ARMv8.2-A Arm CPUs compute in fp16 here"
    if sys.platform == "darwin":
        return None  # every Apple silicon core has FEAT_FP16
    try:
        getauxval = ctypes.CDLL(None).getauxval
        getauxval.restype, getauxval.argtypes = ctypes.c_ulong, [ctypes.c_ulong]
        hwcap = int(getauxval(_AT_HWCAP))
    except (OSError, AttributeError):
        return "cannot read this CPU's features (no getauxval)"
    if hwcap & _HWCAP_FPHP and hwcap & _HWCAP_ASIMDHP:
        return None
    return "this Arm CPU has no ARMv8.2-A fp16 arithmetic (fphp, asimdhp), e.g. the Pi 4's Cortex-A72"


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def compiled_model_available() -> bool:
    """True where ai-edge-litert has the CompiledModel API with XNNPACK flags (2.x; not tflite-runtime)."""
    import dataclasses

    try:
        from ai_edge_litert.compiled_model import CompiledModel  # noqa: F401
        from ai_edge_litert.cpu_options import CpuOptions
    except ImportError:
        return False
    return "xnnpack_flags" in {f.name for f in dataclasses.fields(CpuOptions)}


def wanted_backend(backend: str) -> str:
    """The backend asked for: ``backend`` itself, or for ``auto`` the ``EDGE_DENOISE_BACKEND`` environment variable."""
    return backend if backend != "auto" else os.environ.get("EDGE_DENOISE_BACKEND", "auto") or "auto"


def choose_backend(backend: str, runtime: Runtime, delegate: str | None, needs_compiled: bool = False) -> str:
    """``interpreter`` unless the run asks for what only LiteRT's CompiledModel does (``needs_compiled``:
    ``--low-memory``, ``--fp16-arith``) or for ``compiled`` itself.

    Both run the same XNNPACK kernels at the same speed (``benchmarks/backends.py``), but the
    Interpreter releases the GIL during invoke and CompiledModel holds it, so a live source's capture
    thread cannot drain the camera while the model runs (a 60 FPS camera's frames reached the sink
    57 ms old against 41 with camnet at VGA: ``benchmarks/live_latency.py``), and the Interpreter
    peaks 14 MiB lower in ``run``. ``auto`` (the default) also honours the ``EDGE_DENOISE_BACKEND``
    environment variable. External delegates (``--delegate``) plug into the Interpreter only.
    """

    wanted = wanted_backend(backend)
    if wanted not in BACKENDS:
        raise EdgeDenoiseError(f"unknown backend {wanted!r}: use one of {', '.join(BACKENDS)}")
    usable = runtime.name == "ai-edge-litert" and delegate is None and compiled_model_available()
    if wanted == "compiled" and not usable:
        why = "--delegate needs the interpreter" if delegate else f"{runtime.name} {runtime.version} has no CompiledModel API"
        raise EdgeDenoiseError(f"backend 'compiled' is not available here ({why}): use --backend interpreter")
    if wanted == "auto":
        return "compiled" if usable and needs_compiled else "interpreter"
    return wanted


class InterpreterIO:
    """Input and output arrays of an allocated Interpreter: views into its tensors."""

    def __init__(self, interpreter, in_index: int, out_index: int):
        self.interpreter = interpreter
        self._in, self._out = interpreter.tensor(in_index), interpreter.tensor(out_index)

    def input(self) -> np.ndarray:
        return self._in()[0]

    def run(self) -> None:
        self.interpreter.invoke()

    def output(self) -> np.ndarray:
        return self._out()[0]


def _flush_c_stdio() -> None:
    """fflush(NULL): native libraries may hold log lines in a C stdio buffer until exit."""
    import ctypes

    try:
        ctypes.CDLL(None).fflush(None)
    except (OSError, AttributeError):
        pass


@contextmanager
def _quiet_native_stderr():
    """Keep LiteRT's native INFO/WARNING lines (accelerator registry, vendor plugins) off the terminal.

    They are written by C++ straight to file descriptor 2; what was written is returned in the list
    so an error can still quote it.
    """
    import sys
    import tempfile

    captured: list[str] = []
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):  # no real fd 2 (embedded interpreters, some test runners)
        yield captured
        return
    with tempfile.TemporaryFile(mode="w+b") as tmp:
        os.dup2(tmp.fileno(), 2)
        try:
            yield captured
        finally:
            _flush_c_stdio()
            os.dup2(saved, 2)
            os.close(saved)
            tmp.seek(0)
            captured.extend(tmp.read().decode("utf-8", "replace").splitlines())
            others = [line for line in captured if not _is_litert_log(line)]
            if others:  # anything else written meanwhile (another thread's warning) still reaches stderr
                sys.stderr.write("\n".join(others) + "\n")


def _is_litert_log(line: str) -> bool:
    """LiteRT's native log lines: 'INFO: [file.cc:12] ...', 'WARNING: ...', and their '└' continuation."""
    return line.startswith(("INFO: ", "WARNING: ", "ERROR: ", "VERBOSE: ", "└")) or not line.strip()


_OPEN_MODELS: "weakref.WeakSet[CompiledIO]" = weakref.WeakSet()


_COMPILED_ANY = False


@atexit.register
def _close_open_models() -> None:
    """Close compiled models quietly; LiteRT's static accelerator registry also logs its teardown
    after Python has finished, so fd 2 goes to /dev/null from here on (tracebacks are already out)."""
    for io in list(_OPEN_MODELS):
        io.close()
    if _COMPILED_ANY:
        _flush_c_stdio()
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, 2)
        except OSError:
            pass


class CompiledIO:
    """The same for a LiteRT CompiledModel: host arrays copied into and out of its tensor buffers.

    Chosen over the Interpreter because it takes XNNPACK flags: with transient indirection buffers
    the VGA int8 U-Net runs in about half the memory (benchmarks/runtime_fps.py), about 10 % slower
    (benchmarks/backends.py). ``TensorBuffer.read`` has no public form that fills an existing array,
    so each run allocates its output array (one frame's worth) where the Interpreter hands out a view.
    """

    def __init__(self, path: Path, threads: int, shape: tuple[int, ...], in_dtype: np.dtype, out_dtype: np.dtype,
                 xnnpack_flags: int = COMPILED_XNNPACK_FLAGS):
        from ai_edge_litert.compiled_model import CompiledModel
        from ai_edge_litert.cpu_options import CpuOptions
        from ai_edge_litert.hardware_accelerator import HardwareAccelerator
        from ai_edge_litert.options import Options

        options = Options(hardware_accelerators=HardwareAccelerator.CPU,
                          cpu_options=CpuOptions(num_threads=threads, xnnpack_flags=xnnpack_flags))
        self._x = np.zeros(shape, in_dtype)
        self._y = np.zeros(shape, out_dtype)
        # LiteRT sets itself up (environment, accelerators, XNNPACK plan) on the first run, so that
        # run happens here, inside the quiet block, on a blank frame.
        with _quiet_native_stderr() as log:
            try:
                self.model = CompiledModel.from_file(str(path), options=options)
                self._ins, self._outs = self.model.create_input_buffers(0), self.model.create_output_buffers(0)
                self.run()
            except (RuntimeError, ValueError) as exc:
                errors = [line for line in log if "ERROR" in line]
                detail = errors[-1].strip() if errors else _first_line(exc)
                raise EdgeDenoiseError(f"{path}: LiteRT cannot compile this model ({detail}); "
                                       "try --backend interpreter") from None
        global _COMPILED_ANY
        _COMPILED_ANY = True
        _OPEN_MODELS.add(self)

    def __del__(self) -> None:
        self.close()

    def close(self) -> None:
        """Release the model quietly (LiteRT logs every accelerator it tears down)."""
        if getattr(self, "model", None) is None:
            return
        with _quiet_native_stderr():
            self.model = self._ins = self._outs = None

    def input(self) -> np.ndarray:
        return self._x[0]

    def run(self) -> None:
        self._ins[0].write(self._x)
        self.model.run_by_index(0, self._ins, self._outs)
        self._y = self._outs[0].read(self._y.size, self._y.dtype).reshape(self._y.shape)

    def output(self) -> np.ndarray:
        return self._y[0]


class TFLiteEngine:
    """One .tflite denoiser: fixed input HxWx3, float32 or integer I/O, quantization handled here."""

    def __init__(self, path: str | Path, threads: int = 2, delegate: str | None = None, backend: str = "auto",
                 fp16_arith: bool = False, low_memory: bool = False):
        self.path = Path(path)
        self.fp16_arith = bool(fp16_arith)
        self.low_memory = bool(low_memory)
        problem = fp16_arith_problem() if self.fp16_arith else None
        if problem:
            raise EdgeDenoiseError(f"--fp16-arith: {problem}; run without it (fp32 arithmetic)")
        check_tflite_file(self.path)
        self.runtime = find_runtime()
        self.metadata = read_metadata(self.path)
        problem = runtime_problem(self.metadata, self.runtime.name, self.runtime.version)
        if problem:  # refuse before the interpreter fails with "Didn't find op for builtin opcode"
            raise EdgeDenoiseError(f"{self.path}: this model {problem}")
        self.threads = check_threads(threads)
        delegates = _load_delegate(self.runtime, delegate) if delegate else None
        self.backend = choose_backend(backend, self.runtime, delegate, needs_compiled=self.fp16_arith or self.low_memory)
        self.backend_note = ""
        self._delegates = delegates
        try:
            # The Interpreter reads the graph (I/O details); it is also what runs it, unless compiled.
            # Kept quiet: LiteRT logs 'Created TensorFlow Lite XNNPACK delegate for CPU.' to fd 2.
            with _quiet_native_stderr():
                interpreter = self.runtime.interpreter_class(
                    model_path=str(self.path), num_threads=self.threads, experimental_delegates=delegates
                )
        except (ValueError, RuntimeError) as exc:
            raise EdgeDenoiseError(f"{self.path}: the interpreter cannot load this model ({_first_line(exc)})") from None
        inputs, outputs = interpreter.get_input_details(), interpreter.get_output_details()
        self.dynamic = _is_dynamic(inputs)
        if self.dynamic and self.backend == "compiled":  # CompiledModel runs the shapes the file was made with
            if wanted_backend(backend) == "compiled":
                raise EdgeDenoiseError(f"{self.path}: a dynamic-shape model ([-1, -1, -1, 3] input) needs "
                                       "--backend interpreter, which resizes it to each frame")
            self.backend, self.backend_note = "interpreter", "dynamic-shape model: run by the Interpreter, resized to each frame"
        self._interpreter = interpreter if self.backend == "interpreter" else None
        del interpreter  # compiled: freed before the compiled model allocates (peak RSS)
        if len(inputs) != 1 or len(outputs) != 1:
            raise EdgeDenoiseError(f"{self.path}: expected one input and one output, found {len(inputs)} and {len(outputs)}")
        self._in, self._out = inputs[0], outputs[0]
        shape = tuple(int(v) for v in self._in["shape"])
        out_shape = tuple(int(v) for v in self._out["shape"])
        if len(shape) != 4 or shape[0] != 1 or shape[3] != 3:
            raise EdgeDenoiseError(f"{self.path}: input shape {list(shape)} is not [1, H, W, 3] (an RGB denoiser)")
        if self.dynamic:  # [1, 1, 1, 3] until resized: start at the sidecar's size (or 128) and check the output there
            size = self.metadata.get("input_size") or [DYNAMIC_START, DYNAMIC_START]
            shape = out_shape = (1, int(size[0]), int(size[1]), 3)
            self._interpreter.resize_tensor_input(self._in["index"], list(shape), strict=True)
        if out_shape != shape:
            raise EdgeDenoiseError(f"{self.path}: output shape {list(out_shape)} differs from input shape {list(shape)}")
        self.delegate = delegate
        self.input_hw = (shape[1], shape[2])
        self.input_dtype = np.dtype(self._in["dtype"])
        self.output_dtype = np.dtype(self._out["dtype"])
        self.in_scale, self.in_zero = self._in["quantization"]
        self.out_scale, self.out_zero = self._out["quantization"]
        self._io = self._open_io(shape)
        self.name = self.metadata.get("name", self.path.stem)
        self._prepare_frame_path()

    def _open_io(self, shape: tuple[int, ...]):
        """The compiled model, or the Interpreter."""
        for wanted, option in ((self.fp16_arith, "--fp16-arith"), (self.low_memory, "--low-memory")):
            if wanted and self.backend != "compiled":
                raise EdgeDenoiseError(f"{self.path}: {option} needs the compiled backend (ai-edge-litert 2.x, which "
                                       f"passes XNNPACK flags); this run would use the {self.backend}")
        if self.backend == "compiled":
            flags = (COMPILED_XNNPACK_FLAGS | (XNNPACK_FORCE_FP16 if self.fp16_arith else 0)
                     | (XNNPACK_TRANSIENT_INDIRECTION_BUFFER if self.low_memory else 0))
            return CompiledIO(self.path, self.threads, shape, self.input_dtype, self.output_dtype, flags)
        interpreter = self.interpreter
        try:
            with _quiet_native_stderr():
                interpreter.allocate_tensors()
        except (ValueError, RuntimeError) as exc:
            raise EdgeDenoiseError(f"{self.path}: the interpreter cannot load this model ({_first_line(exc)})") from None
        if self.dynamic:
            self._check_resized_output(shape[1:3])
        return InterpreterIO(interpreter, self._in["index"], self._out["index"])

    def _check_resized_output(self, hw: tuple[int, int]) -> None:
        out_shape = [int(v) for v in self.interpreter.get_output_details()[0]["shape"]]
        if out_shape != [1, hw[0], hw[1], 3]:
            raise EdgeDenoiseError(f"{self.path}: at {hw[0]}x{hw[1]} this dynamic-shape model outputs {out_shape}, "
                                   f"not [1, {hw[0]}, {hw[1]}, 3]: not a same-size denoiser")

    def resize_input(self, hw: tuple[int, int]) -> None:
        """Resize a dynamic-shape model's input (and so its output) to ``hw``; the frame path follows.

        A fully convolutional denoiser exported with a (None, None, 3) input loads as [1, 1, 1, 3];
        run at that shape it would see 1x1 tiles and return a wrong image without an error.
        """
        hw = (int(hw[0]), int(hw[1]))
        if hw == self.input_hw:
            return
        if not self.dynamic:
            raise EdgeDenoiseError(f"{self.path}: fixed {self.input_hw[0]}x{self.input_hw[1]} input, cannot take {hw[0]}x{hw[1]}")
        interpreter = self.interpreter
        try:
            with _quiet_native_stderr():
                interpreter.resize_tensor_input(self._in["index"], [1, hw[0], hw[1], 3], strict=True)
                interpreter.allocate_tensors()
        except (ValueError, RuntimeError) as exc:
            raise EdgeDenoiseError(f"{self.path}: cannot run this dynamic-shape model at {hw[0]}x{hw[1]} "
                                   f"({_first_line(exc)})") from None
        self._check_resized_output(hw)
        self._io = InterpreterIO(interpreter, self._in["index"], self._out["index"])
        self.input_hw = hw
        self._prepare_frame_path()

    @property
    def interpreter(self):
        """The Interpreter over this file: the one that runs it, or (compiled backend) one made on
        first use for inspection only (tensor and op details), never allocated here."""
        if self._interpreter is None:
            self._interpreter = self.runtime.interpreter_class(
                model_path=str(self.path), num_threads=self.threads, experimental_delegates=self._delegates)
        return self._interpreter

    # --- the frame path: uint8 RGB in, uint8 RGB out, no per-frame allocation -------------------
    def _prepare_frame_path(self) -> None:
        """Work out once how a uint8 frame reaches the input tensor and how the output becomes one.

        A uint8-I/O model quantized with scale 1/255 and zero point 0 takes the frame's bytes as they
        are (no conversion: copied straight into the input tensor). Everything else goes through
        one preallocated float32 buffer. The arrays ``self._io`` hands out may be views into the
        interpreter's tensors, which must not be held across ``invoke()``.
        """
        h, w = self.input_hw
        self.zero_copy_input = bool(
            self.input_dtype == np.uint8 and self.in_zero == 0 and abs(self.in_scale * 255.0 - 1.0) < 1e-3
        )
        # Float scratch only where a conversion needs it (3.7 MB each at VGA).
        needs_in_scratch = not self.zero_copy_input and self.input_dtype != np.float32
        self._buf01 = np.empty((h, w, 3), np.float32) if needs_in_scratch else None
        self._out_frame: np.ndarray | None = None  # made on first use without ``out``
        # Output codes -> pixels: 256-entry lookup tables indexed by the output's raw byte (an int8
        # code's byte is its two's complement), applied with cv2.LUT, which makes no index array
        # (np.take would widen a VGA frame's indices to 7 MB of intp every frame).
        if self.output_dtype in (np.uint8, np.int8):
            codes = np.arange(256, dtype=np.uint8).view(self.output_dtype).astype(np.float32)
            self._out_lut = np.clip(np.rint((codes - self.out_zero) * self.out_scale * 255.0), 0, 255).astype(np.uint8)
            self._out_lut01 = np.clip((codes - self.out_zero) * self.out_scale, 0.0, 1.0).astype(np.float32)
        else:
            self._out_lut = self._out_lut01 = None
        # A uint8 output with scale 1/255 and zero point 0 (camnet's) is already the frame: its lookup table is the
        # identity, so it is copied as it is (run's postprocess at VGA 0.37 -> 0.09-0.12 ms p50; results/epyc/zero_copy_output/).
        self.zero_copy_output = bool(
            self.output_dtype == np.uint8 and np.array_equal(self._out_lut, np.arange(256, dtype=np.uint8))
        )
        self._out01 = np.empty((h, w, 3), np.float32) if self._out_lut is None else None

    def set_input_frame(self, frame_rgb: np.ndarray) -> None:
        """Write one uint8 RGB frame of exactly the input size into the input tensor (the one conversion place)."""
        x = self._io.input()
        if self.zero_copy_input:
            x[...] = frame_rgb
        elif self.input_dtype == np.float32:
            np.multiply(frame_rgb, np.float32(1.0 / 255.0), out=x, dtype=np.float32)
        else:
            np.multiply(frame_rgb, np.float32(1.0 / (255.0 * self.in_scale)), out=self._buf01, dtype=np.float32)
            self._buf01 += np.float32(self.in_zero)
            info = np.iinfo(self.input_dtype)
            np.rint(self._buf01, out=self._buf01)
            np.clip(self._buf01, info.min, info.max, out=self._buf01)
            x[...] = self._buf01
        del x

    def get_output_frame(self, out: np.ndarray | None = None) -> np.ndarray:
        """The output tensor as uint8 RGB, written into ``out`` (or an engine-owned buffer reused per call)."""
        import cv2

        if out is None:
            if self._out_frame is None:
                self._out_frame = np.empty((*self.input_hw, 3), np.uint8)
            out = self._out_frame
        y = self._io.output()
        if self.zero_copy_output:
            np.copyto(out, y)
        elif self._out_lut is not None:
            cv2.LUT(y.view(np.uint8), self._out_lut, dst=out)
        else:
            np.multiply(y, np.float32(255.0), out=self._out01)
            np.rint(self._out01, out=self._out01)
            np.clip(self._out01, 0, 255, out=self._out01)
            out[...] = self._out01
        del y
        return out

    def get_output01_into(self, out: np.ndarray) -> np.ndarray:
        """The output tensor as float32 [0, 1] written into ``out`` (HxWx3 float32); used to blend tiles."""
        import cv2

        y = self._io.output()
        if self._out_lut01 is not None:
            cv2.LUT(y.view(np.uint8), self._out_lut01, dst=out)
        else:
            np.clip(y, 0.0, 1.0, out=out)
        del y
        return out

    def denoise_frame(self, frame_rgb: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """Denoise one uint8 RGB frame of exactly the model's input size; returns uint8 RGB."""
        if frame_rgb.shape[:2] != self.input_hw:
            raise EdgeDenoiseError(
                f"{self.path}: model takes {self.input_hw[0]}x{self.input_hw[1]} frames, got {frame_rgb.shape[0]}x{frame_rgb.shape[1]}"
            )
        self.set_input_frame(frame_rgb)
        self.invoke()
        return self.get_output_frame(out)

    def describe(self) -> dict:
        """What a report needs to say about this model and runtime."""
        return {
            "path": str(self.path), "name": self.name, "input_hw": list(self.input_hw),
            "input_dtype": str(self.input_dtype), "output_dtype": str(self.output_dtype),
            "zero_copy_input": self.zero_copy_input, "zero_copy_output": self.zero_copy_output, "threads": self.threads, "delegate": self.delegate,
            "runtime": self.runtime.name, "runtime_version": self.runtime.version, "backend": self.backend,
            "backend_note": self.backend_note, "fp16_arith": self.fp16_arith, "low_memory": self.low_memory,
            "metadata": self.metadata,
        }

    def invoke(self) -> None:
        self._io.run()

    # --- floats in [0, 1] (the quality gate, eval, bench): through the frame path, as devices run it ---
    def denoise01(self, image01: np.ndarray) -> np.ndarray:
        """Denoise one HxWx3 float image in [0, 1] of exactly the model's input size, the way a device does.

        The image is rounded to a uint8 RGB frame, denoised by ``denoise_frame`` and read back as
        float: the one conversion path, so the gate and eval score what cameras get.
        """
        if image01.shape[:2] != self.input_hw:
            raise EdgeDenoiseError(
                f"{self.path}: model takes {self.input_hw[0]}x{self.input_hw[1]} images, got {image01.shape[0]}x{image01.shape[1]}"
            )
        return to_image01(self.denoise_frame(to_frame_rgb(image01)))

    def __call__(self, batch01: np.ndarray) -> np.ndarray:
        """Denoise an NxHxWx3 batch image by image (same call as train.evaluate's Keras wrapper)."""
        return np.stack([self.denoise01(x) for x in batch01])


def _is_dynamic(inputs: list[dict]) -> bool:
    """True when the input's height or width is -1 in the shape signature (a (None, None, 3) Keras input)."""
    signature = inputs[0].get("shape_signature") if inputs else None
    return signature is not None and len(signature) == 4 and (int(signature[1]) < 0 or int(signature[2]) < 0)


def load_engine(path: str | Path, threads: int = 2, delegate: str | None = None, backend: str = "auto",
                fp16_arith: bool = False, low_memory: bool = False) -> TFLiteEngine:
    """Load a .tflite denoiser with ``threads`` CPU threads (XNNPACK on by default); see ``choose_backend``."""
    return TFLiteEngine(path, threads=threads, delegate=delegate, backend=backend, fp16_arith=fp16_arith,
                        low_memory=low_memory)
