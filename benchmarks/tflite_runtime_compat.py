"""Do our .tflite files load and agree in the old tflite-runtime many Pi images carry?

Creates a throwaway venv with ``tflite-runtime==VERSION`` (default 2.14.0, its last release),
runs each given file there and in this interpreter's runtime (ai-edge-litert, else
tflite-runtime) on the same input, and prints max |difference| per file as a table and JSON,
plus the op versions and the converter's ``min_runtime_version`` from the flatbuffer.

    .venv/bin/python benchmarks/tflite_runtime_compat.py edge_runtime/models/*.tflite \
        --json benchmarks/results/tflite_runtime_compat.json

tflite-runtime has no wheels for Python > 3.11 (TF#62003): there the script skips cleanly.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import venv
from pathlib import Path

import numpy as np

WORKER = r"""
import json, sys
import numpy as np
from tflite_runtime.interpreter import Interpreter
path, inp, out = sys.argv[1:4]
try:
    it = Interpreter(model_path=path, num_threads=1)
    it.allocate_tensors()
    d = it.get_input_details()[0]
    it.set_tensor(d["index"], np.load(inp))
    it.invoke()
    np.save(out, it.get_tensor(it.get_output_details()[0]["index"]))
    print(json.dumps({"ok": True}))
except Exception as exc:
    print(json.dumps({"ok": False, "error": (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]}))
"""


def flatbuffer_info(path: Path) -> dict:
    """Op names with versions and the converter's min_runtime_version (needs TensorFlow; {} without)."""
    try:
        from tensorflow.lite.python import schema_py_generated as fb
    except ImportError:
        return {}
    buf = path.read_bytes()
    model = fb.Model.GetRootAsModel(buf, 0)
    names = {v: k for k, v in vars(fb.BuiltinOperator).items() if not k.startswith("_")}
    ops = []
    for i in range(model.OperatorCodesLength()):
        code = model.OperatorCodes(i)
        op = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())
        ops.append(f"{names.get(op, op)}:v{code.Version()}")
    min_rt = None
    for i in range(model.MetadataLength()):
        md = model.Metadata(i)
        if md.Name() == b"min_runtime_version":
            data = model.Buffers(md.Buffer()).DataAsNumpy()
            min_rt = bytes(data).split(b"\0")[0].decode()
    return {"ops": sorted(ops), "min_runtime_version": min_rt}


def local_interpreter():
    try:
        from ai_edge_litert.interpreter import Interpreter

        return "ai-edge-litert", Interpreter
    except ImportError:
        from tflite_runtime.interpreter import Interpreter

        return "tflite-runtime", Interpreter


def make_input(details: dict, seed: int = 0) -> np.ndarray:
    """A smooth-ish random image in [0, 1], quantized when the input is integer."""
    x = np.random.default_rng(seed).random(details["shape"], dtype=np.float32)
    dtype = np.dtype(details["dtype"])
    if dtype == np.float32:
        return x
    scale, zero = details["quantization"]
    info = np.iinfo(dtype)
    return np.clip(np.rint(x / scale + zero), info.min, info.max).astype(dtype)


def ensure_venv(where: Path, version: str) -> Path:
    py = where / "bin" / "python"
    if not py.exists():
        venv.create(where, with_pip=True)
    check = subprocess.run([str(py), "-c", "import tflite_runtime, sys; print(tflite_runtime.__version__)"],
                           capture_output=True, text=True)
    if check.returncode != 0 or check.stdout.strip() != version:
        subprocess.run([str(py), "-m", "pip", "install", "-q", f"tflite-runtime=={version}", "numpy<2"], check=True)
    return py


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("files", nargs="+", type=Path)
    ap.add_argument("--version", default="2.14.0", help="tflite-runtime version to test against")
    ap.add_argument("--venv", type=Path, default=None, help="reuse this venv (default: a throwaway temp one)")
    ap.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = ap.parse_args()

    if sys.version_info[:2] > (3, 11):
        print(f"skipped: tflite-runtime has no wheels for Python {sys.version_info[0]}.{sys.version_info[1]} (needs <= 3.11)")
        return 0
    tmp = tempfile.TemporaryDirectory(prefix="tflrt-compat-")
    try:
        py = ensure_venv(args.venv or Path(tmp.name) / "venv", args.version)
    except subprocess.CalledProcessError as exc:
        print(f"skipped: could not install tflite-runtime=={args.version} ({exc})")
        return 0
    worker = Path(tmp.name) / "worker.py"
    worker.write_text(WORKER)
    runtime_name, Interpreter = local_interpreter()
    rows = []
    for path in args.files:
        row = {"file": str(path), "local_runtime": runtime_name, "old_runtime": f"tflite-runtime {args.version}",
               **flatbuffer_info(path)}
        it = Interpreter(model_path=str(path), num_threads=1)
        it.allocate_tensors()
        x = make_input(it.get_input_details()[0])
        it.set_tensor(it.get_input_details()[0]["index"], x)
        it.invoke()
        ours = it.get_tensor(it.get_output_details()[0]["index"]).astype(np.float64)
        inp, out = Path(tmp.name) / "in.npy", Path(tmp.name) / "out.npy"
        np.save(inp, x)
        proc = subprocess.run([str(py), str(worker), str(path), str(inp), str(out)], capture_output=True, text=True,
                              env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
        try:
            status = json.loads(proc.stdout.strip().splitlines()[-1])
        except (ValueError, IndexError):
            status = {"ok": False, "error": (proc.stderr.strip().splitlines() or ["worker crashed"])[-1][:300]}
        row["loads"] = status["ok"]
        if status["ok"]:
            theirs = np.load(out).astype(np.float64)
            row["max_abs_diff"] = float(np.abs(ours - theirs).max())
        else:
            row["error"] = status["error"]
        rows.append(row)

    print(f"{'file':<44} {'loads':>5} {'max|diff|':>10}  min_runtime  note")
    for r in rows:
        diff = f"{r['max_abs_diff']:.3g}" if "max_abs_diff" in r else "-"
        print(f"{Path(r['file']).name:<44} {str(r['loads']):>5} {diff:>10}  {r.get('min_runtime_version') or '?':<11}  {r.get('error', '')}")
    if args.json:
        from edge_runtime.atomic import write_json_atomic

        write_json_atomic(args.json, rows)
        print(f"wrote {args.json}")
    tmp.cleanup()
    return 0 if all(r["loads"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
