"""The checks of ci/arm64.sh: is what ran on emulated arm64 the same as what ran on x86?

Runs on the x86 side (the checkout's venv), so tests/test_arm64_script.py can run every check without qemu;
only ``load`` runs inside the arm64 root. Each check prints one line per file with the measured number, and
exits 1 with one line naming the file and the cause when it fails.

What runs for each shipped file of the default model (``plan``) follows what a model run costs under qemu
(CPU seconds per 128x128 or 480x640 frame, measured with QEMU_CPU=cortex-a76: int8 128x128 0.6, fp16
128x128 5.6, dynamic 480x640 15, fp16 480x640 106): every file is loaded on both runtimes (``load``, no
model run); 128x128 files get doctor, run --demo and denoise on ai-edge-litert and x86, doctor and run on
tflite-runtime 2.14, and for fp16 files --fp16-arith; larger int8 and dynamic files get one denoised
sample compared with x86; larger float files are only loaded (the same graph as their 128x128 file).

Tolerances, held per precision of the file (its sidecar's ``precision``):
- denoised images, max |arm64 - x86| over all pixels, in 8-bit steps: int8 files 3 (XNNPACK's Arm and x86
  kernels may requantize a value to the neighbouring code, worth several steps at the output; 0 measured),
  dynamic files 6 (activations are quantized on the fly, per kernel; 4 measured), fp16 and fp32 files 1
  (float kernels differ in summation order and fused multiply-add; 0 measured); and the mean over all pixels
  at most 0.5 steps for every file, so a shift of the whole image cannot hide under the maximum;
- --fp16-arith against fp32 arithmetic on the same Arm CPU: 6 steps (half precision keeps 11 significant
  bits; 4 measured, mean 0.21);
- the demo's mean denoised SSIM (same frames, same noise seed): 0.002 for int8 and dynamic, 0.0005 for float.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
STEPS = {"int8": 3, "dynamic": 6, "fp16": 1, "fp32": 1, "float32": 1}
MEAN_STEPS = 0.5
FP16_ARITH_STEPS = 6
XNNPACK_REQUIRED = ("ai-edge-litert",)  # runtimes on which doctor must report XNNPACK delegation for every file
FULL_PIXELS = 128 * 128  # files up to this size run every command under emulation
CALIBRATE_RELATIVE = 0.005  # calibrate's a and b on arm64 against x86: the same numpy arithmetic, within 0.5 %
SSIM = {"int8": 0.002, "dynamic": 0.002, "fp16": 0.0005, "fp32": 0.0005, "float32": 0.0005}


class CheckFailed(Exception):
    """One line that says which file failed which check, and why."""


def sidecar(model: Path) -> dict:
    path = model.with_suffix(".json")
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}


def precision_of(model: Path) -> str:
    return sidecar(model).get("precision") or "fp32"


def _load_json(path: Path, what: str) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CheckFailed(f"{path}: no {what} (the command failed: see its output)") from None
    except ValueError:
        raise CheckFailed(f"{path}: not JSON ({what}; the command crashed: see its output)") from None


def check_doctor(doctor_json: Path, runtime: str, model: Path, arch: str = "aarch64") -> str:
    """doctor --json from the device: the runtime imports, the model loads (or is refused exactly as its sidecar
    says), XNNPACK delegates, the smoke run denoises frames, and the userland is 64-bit Arm."""
    checks = {c["name"]: c for c in _load_json(doctor_json, "doctor --json output").get("checks", [])}
    name = model.stem

    def get(check: str) -> dict:
        if check not in checks:
            raise CheckFailed(f"{name} on {runtime}: doctor has no '{check}' check")
        return checks[check]

    py = get("python")
    if arch not in py["detail"]:
        raise CheckFailed(f"{name}: doctor did not run on {arch} ({py['detail']})")
    rt = get("runtime")
    data = rt.get("data") or {}
    if data.get("name") != runtime or rt["status"] == "fail":
        raise CheckFailed(f"{name}: expected runtime {runtime}, doctor says {rt['status']}: {rt['detail']}")
    version = data.get("version", "?")
    loaded = get("model")
    refused = load_verdict(model, runtime, version, loaded["status"] == "ok", loaded["detail"])
    if refused:
        return refused
    xnn = get("xnnpack")
    partitions = (xnn.get("data") or {}).get("partitions") or 0
    # tflite-runtime 2.14's default XNNPACK delegate takes float operators only: its int8 files run on the
    # built-in kernels, which doctor warns about; ai-edge-litert must delegate every file.
    if (xnn["status"] != "ok" or partitions < 1) and runtime in XNNPACK_REQUIRED:
        raise CheckFailed(f"{name} on {runtime} {version}: XNNPACK does not delegate ({xnn['detail']})")
    smoke = get("smoke run")
    frames = (smoke.get("data") or {}).get("frames") or 0
    if smoke["status"] != "ok" or frames < 1:
        raise CheckFailed(f"{name} on {runtime} {version}: smoke run failed ({smoke['detail']})")
    return (f"{name} on {runtime} {version}: loads, XNNPACK {partitions} partition(s) "
            f"({xnn['status']}: {xnn['detail']}), smoke run {frames} frame(s)")


def load_verdict(model: Path, runtime: str, version: str, loaded: bool, detail: str) -> str | None:
    """None when ``model`` loaded as it should; the line to print when it was refused as its sidecar says;
    CheckFailed when it does not load although its sidecar's min_runtime says it should (or the reverse)."""
    sys.path.insert(0, str(REPO))
    from edge_runtime.engine import runtime_problem

    name = model.stem
    expected = runtime_problem(sidecar(model), runtime, version)
    if expected:
        if not loaded and "needs" in detail:
            return f"{name} on {runtime} {version}: refused, as its sidecar says ({expected})"
        raise CheckFailed(f"{name} on {runtime} {version}: its sidecar says it cannot run here ({expected}), "
                          f"but it {'loads' if loaded else 'fails otherwise: ' + detail}")
    if not loaded:
        raise CheckFailed(f"{name} does not load on {runtime} {version} ({detail}), and its sidecar's "
                          f"min_runtime does not say so: the file needs a newer runtime than it claims")
    return None


def load_files(paths: list[Path]) -> dict:
    """Inside the root: load every file with this venv's runtime (Interpreter, no model run)."""
    sys.path.insert(0, str(REPO))
    from edge_runtime.engine import find_runtime, load_engine
    from edge_runtime.errors import EdgeDenoiseError

    runtime = find_runtime()
    files = []
    for path in paths:
        try:
            load_engine(path, threads=1, backend="interpreter")
            files.append({"file": path.name, "ok": True, "error": ""})
        except EdgeDenoiseError as exc:
            files.append({"file": path.name, "ok": False, "error": str(exc)})
    return {"runtime": runtime.name, "version": runtime.version, "files": files}


def check_loads(load_json: Path, runtime: str, models: Path) -> list[str]:
    """``load``'s output: this runtime, and every file loaded (or refused exactly as its sidecar says)."""
    data = _load_json(load_json, "load output")
    if data.get("runtime") != runtime:
        raise CheckFailed(f"{load_json}: expected {runtime}, the root's venv has {data.get('runtime')}")
    lines = []
    for entry in data["files"]:
        model = models / entry["file"]
        verdict = load_verdict(model, runtime, data["version"], entry["ok"], entry["error"])
        lines.append(verdict or f"{model.stem} loads on {runtime} {data['version']}")
    return lines


def check_report(arm_json: Path, x86_json: Path, frames: int, model: Path, runtime: str | None = None) -> str:
    """run --demo --report on arm64 and on x86: every frame denoised, same mean SSIM within SSIM[precision]."""
    name, prec = model.stem, precision_of(model)
    arm, x86 = _load_json(arm_json, "run report"), _load_json(x86_json, "run report")
    for side, rep in (("arm64", arm), ("x86", x86)):
        if rep.get("frames") != frames or not rep.get("quality"):
            raise CheckFailed(f"{name} ({side}): run --demo denoised {rep.get('frames')} of {frames} frames "
                              f"({rep.get('stop_reason')})")
    got = (arm.get("model") or {}).get("runtime")
    if runtime and got != runtime:
        raise CheckFailed(f"{name}: expected the run on {runtime}, it ran on {got}")
    a, b = arm["quality"]["denoised_ssim_mean"], x86["quality"]["denoised_ssim_mean"]
    diff, tol = abs(a - b), SSIM.get(prec, SSIM["int8"])
    where = f"{name} run --demo ({got} {(arm.get('model') or {}).get('backend')}, {prec})"
    if diff > tol:
        raise CheckFailed(f"{where}: mean SSIM {a:.5f} on arm64 against {b:.5f} on x86, "
                          f"difference {diff:.5f} > tolerance {tol}")
    return f"{where}: SSIM {a:.5f} arm64, {b:.5f} x86, |diff| {diff:.5f} <= {tol}"


def _read_rgb(path: Path):
    import numpy as np
    from PIL import Image

    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"), dtype=np.int16)


def check_images(arm_dir: Path, x86_dir: Path, model: Path, fp16_arith: bool = False) -> list[str]:
    """The denoised images, file by file: max |a - b| in 8-bit steps within the precision's tolerance."""
    name, prec = model.stem, precision_of(model)
    tol = FP16_ARITH_STEPS if fp16_arith else STEPS.get(prec, STEPS["int8"])
    what = "fp16 arithmetic against fp32 arithmetic (arm64)" if fp16_arith else "arm64 against x86"
    refs = sorted(p for p in x86_dir.rglob("*") if p.suffix.lower() == ".png")
    if not refs:
        raise CheckFailed(f"{name}: no denoised images in {x86_dir} (the reference command failed: see its output)")
    lines, worst = [], []
    for ref in refs:
        rel = ref.relative_to(x86_dir)
        other = arm_dir / rel
        if not other.exists():
            raise CheckFailed(f"{name} {rel}: not written on the other side ({other}): the command failed")
        a, b = _read_rgb(other), _read_rgb(ref)
        if a.shape != b.shape:
            raise CheckFailed(f"{name} {rel}: sizes differ, {a.shape} against {b.shape}")
        diff = abs(a - b)
        line = (f"{name} {rel}: {what}: max {int(diff.max())} step(s), mean {float(diff.mean()):.3f} "
                f"(tolerance {tol}, mean {MEAN_STEPS}, {prec})")
        lines.append(line)
        if diff.max() > tol or diff.mean() > MEAN_STEPS:
            worst.append(line)
    if worst:
        raise CheckFailed(worst[0].replace(f"(tolerance {tol}", f"beyond tolerance ({tol}") + (
            f"; {len(worst) - 1} more file(s) beyond it" if len(worst) > 1 else ""))
    return lines


def plan() -> list[str]:
    """'TIER PRECISION PATH' per shipped file of the default model: full, denoise or load (module docstring)."""
    lines = []
    for rel in default_model_files():
        meta = sidecar(REPO / rel)
        prec = meta.get("precision") or "fp32"
        h, w = meta.get("input_size") or (0, 0)
        tier = "full" if h * w <= FULL_PIXELS else "denoise" if prec in ("int8", "dynamic") else "load"
        lines.append(f"{tier} {prec} {rel}")
    return lines


def default_model_files() -> list[str]:
    """The default model's shipped .tflite files, relative to the repository (small frames first)."""
    sys.path.insert(0, str(REPO))
    from edge_runtime.zoo import DEFAULT_MODEL, list_models

    files = [m for m in list_models() if m["name"] == DEFAULT_MODEL and m["source"] == "shipped"]
    files.sort(key=lambda m: ((m["input_size"] or (0, 0))[0] * (m["input_size"] or (0, 0))[1], m["path"]))
    return [str(Path(m["path"]).resolve().relative_to(REPO)) for m in files]


def edge_deps(pyproject: Path, without: str) -> list[str]:
    """The edge extra's requirements minus one package (tflite-runtime's venv has no ai-edge-litert)."""
    import tomllib

    extra = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]
    reqs = extra["dependencies"] + extra["optional-dependencies"]["edge"]
    return [r for r in reqs if not r.replace("_", "-").lower().startswith(without.lower())]


def to_png(out_dir: Path, images: list[Path], crop: int | None = None) -> None:
    """The images as PNG, cut to their central ``crop`` x ``crop`` pixels when given."""
    from PIL import Image

    out_dir.mkdir(parents=True, exist_ok=True)
    for path in images:
        with Image.open(path) as im:
            im = im.convert("RGB")
            if crop:
                left, top = (im.width - crop) // 2, (im.height - crop) // 2
                im = im.crop((left, top, left + crop, top + crop))
            im.save(out_dir / f"{path.stem}.png")


def make_still_clip(out_dir: Path, image: Path, frames: int = 12) -> None:
    """A still scene recorded by a known camera (edge_runtime.calibrate.simulate_clip) as PNG frames."""
    import cv2
    import numpy as np

    from edge_runtime.calibrate import CameraProfile, simulate_clip
    from edge_runtime.images import read_image_rgb

    ramp = np.linspace(0.05, 0.95, 160, dtype=np.float32)[None, :, None] * np.ones((120, 1, 3), np.float32)
    photo = cv2.resize(read_image_rgb(image), (160, 120)).astype(np.float32) / 255.0
    scene = np.concatenate([ramp, photo], axis=0)  # a ramp for the range, a photo for texture
    profile = CameraProfile(a=(0.004, 0.003, 0.005), b=(2e-5, 1.5e-5, 3e-5))
    out_dir.mkdir(parents=True, exist_ok=True)
    for i, frame in enumerate(simulate_clip(scene, profile, frames, np.random.default_rng(0))):
        cv2.imwrite(str(out_dir / f"frame{i:03d}.png"), frame[..., ::-1])


def check_calibrate(arm_json: Path, x86_json: Path) -> str:
    """calibrate's per-channel a and b on arm64 match x86's within CALIBRATE_RELATIVE."""
    arm, x86 = _load_json(arm_json, "calibrate profile"), _load_json(x86_json, "calibrate profile")
    worst = 0.0
    for channel, want in x86["channels"].items():
        got = arm.get("channels", {}).get(channel)
        if got is None:
            raise CheckFailed(f"calibrate: {arm_json} has no channel {channel}")
        for key in ("a", "b"):
            rel = abs(got[key] - want[key]) / max(abs(want[key]), 1e-12)
            worst = max(worst, rel)
            if rel > CALIBRATE_RELATIVE:
                raise CheckFailed(f"calibrate: channel {channel} {key} {got[key]:.4g} on arm64, {want[key]:.4g} on x86 "
                                  f"({rel:.1%} apart, tolerance {CALIBRATE_RELATIVE:.1%})")
    return f"calibrate: a and b of {len(x86['channels'])} channels within {worst:.2%} of x86 (tolerance {CALIBRATE_RELATIVE:.1%})"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("doctor")
    p.add_argument("json", type=Path)
    p.add_argument("--runtime", required=True)
    p.add_argument("--model", type=Path, required=True)
    p.add_argument("--arch", default="aarch64", help="the machine doctor must have run on")
    p = sub.add_parser("report")
    p.add_argument("arm", type=Path)
    p.add_argument("x86", type=Path)
    p.add_argument("--frames", type=int, required=True)
    p.add_argument("--model", type=Path, required=True)
    p.add_argument("--runtime")
    p = sub.add_parser("images")
    p.add_argument("arm", type=Path)
    p.add_argument("x86", type=Path)
    p.add_argument("--model", type=Path, required=True)
    p.add_argument("--fp16-arith", action="store_true")
    sub.add_parser("models")
    sub.add_parser("plan")
    p = sub.add_parser("load")
    p.add_argument("models", type=Path, nargs="+")
    p = sub.add_parser("loads")
    p.add_argument("json", type=Path)
    p.add_argument("--runtime", required=True)
    p.add_argument("--models", type=Path, required=True, help="the folder with the files' sidecars")
    p = sub.add_parser("precision")
    p.add_argument("model", type=Path)
    p = sub.add_parser("deps")
    p.add_argument("pyproject", type=Path)
    p.add_argument("--without", required=True)
    p = sub.add_parser("still-clip")
    p.add_argument("out", type=Path)
    p.add_argument("--image", type=Path, required=True)
    p = sub.add_parser("calibrate")
    p.add_argument("arm", type=Path)
    p.add_argument("x86", type=Path)
    p = sub.add_parser("to-png")
    p.add_argument("out", type=Path)
    p.add_argument("--crop", type=int)
    p.add_argument("images", type=Path, nargs="+")
    args = parser.parse_args(argv)
    try:
        if args.cmd == "doctor":
            lines = [check_doctor(args.json, args.runtime, args.model, args.arch)]
        elif args.cmd == "report":
            lines = [check_report(args.arm, args.x86, args.frames, args.model, args.runtime)]
        elif args.cmd == "images":
            lines = check_images(args.arm, args.x86, args.model, args.fp16_arith)
        elif args.cmd == "models":
            lines = default_model_files()
        elif args.cmd == "plan":
            lines = plan()
        elif args.cmd == "load":
            print(json.dumps(load_files(args.models)))
            return 0
        elif args.cmd == "loads":
            lines = check_loads(args.json, args.runtime, args.models)
        elif args.cmd == "precision":
            lines = [precision_of(args.model)]
        elif args.cmd == "still-clip":
            make_still_clip(args.out, args.image)
            lines = []
        elif args.cmd == "calibrate":
            lines = [check_calibrate(args.arm, args.x86)]
        elif args.cmd == "deps":
            lines = edge_deps(args.pyproject, args.without)
        else:
            to_png(args.out, args.images, args.crop)
            lines = []
    except CheckFailed as exc:
        print(f"arm64: FAILED {exc}", file=sys.stderr)
        return 1
    for line in lines:
        print(line if args.cmd in ("models", "plan", "precision", "deps") else f"arm64 ok  {line}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
