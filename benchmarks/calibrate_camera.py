"""Fit the denoiser to one camera: does calibrate recover a known camera, and does a fine-tune for it pay?

    .venv/bin/python benchmarks/calibrate_camera.py --out benchmarks/results/calibrate_camera.json

    # the fine-tune half (minutes of training: run it on an idle machine, with the default's Keras file)
    .venv/bin/python benchmarks/calibrate_camera.py --model runs/camnet/model.keras --data DIR \
        --epochs 3 --out benchmarks/results/calibrate_camera_finetune.json

A synthetic camera of known parameters records a still scene made of real photos (the bundled
pistachio samples tiled into one frame, or --photos DIR): per channel var = a * x + b, spatial
correlation from a demosaicing-like blur, colour correlation and row noise, written as lossless
PNG frames (edge_runtime.calibrate.simulate_clip). ``calibrate`` measures each clip; the table
gives the true and measured a and b and their errors (the issue asks for 10 %).

With --model and --data the fine-tune half runs as a user would: ``edge-denoise train --noise
profile:cam.json --init-from MODEL`` (the calibrated profile; same architecture, options and split as
the model's run folder, a fine-tuning learning rate), then ``edge-denoise eval`` scores the blind
model and the fine-tuned one on the test split under the camera's true noise (SSIM, PSNR).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "edge_runtime" / "samples"
TOLERANCE = 0.10

# Cameras from a bright, clean scene to a dim, noisy one (sRGB frames, [0, 1] units).
CAMERAS = {
    "bright": dict(a=(0.0008, 0.0006, 0.0010), b=(2e-5, 1.5e-5, 3e-5), blur=0.7, colour=0.2, row=0.0),
    "indoor": dict(a=(0.003, 0.002, 0.004), b=(1.5e-4, 1e-4, 2e-4), blur=0.8, colour=0.3, row=0.002),
    "dim": dict(a=(0.010, 0.007, 0.012), b=(8e-4, 6e-4, 1e-3), blur=1.0, colour=0.4, row=0.004),
}


def camera_profile(a, b, blur: float, colour: float, row: float):
    """A CameraProfile: the given noise line, a Gaussian blur's correlation, colour mixing and row noise."""
    import cv2

    from edge_runtime.calibrate import CameraProfile

    g = cv2.getGaussianKernel(7, blur)
    kernel = g @ g.T
    kernel /= np.sqrt((kernel**2).sum())
    corr = np.full((3, 3), colour) + np.eye(3) * (1 - colour)
    mix = np.linalg.cholesky(corr)
    return CameraProfile(a=tuple(a), b=tuple(b), kernel=tuple(map(tuple, kernel)), channel_mix=tuple(map(tuple, mix)),
                         row_sigma=(row,) * 3)


def profile_json(profile) -> dict:
    """The CameraProfile as a cam.json that profile:PATH reads (the camera's true noise, for evaluation)."""
    return {"format": "edge-denoise-camera/1", "source": "synthetic camera",
            "channels": {c: {"a": profile.a[i], "b": profile.b[i]} for i, c in enumerate("RGB")},
            "replay": {"kernel": [list(r) for r in profile.kernel], "channel_mix": [list(r) for r in profile.channel_mix],
                       "row_sigma": list(profile.row_sigma)}}


def scene(photos: Path, rows: int, cols: int, side: int = 160) -> np.ndarray:
    """Photos tiled into one still frame, float32 RGB in [0, 1]."""
    import cv2

    from edge_runtime.images import list_images, read_image_rgb

    paths = list_images(photos)[: rows * cols]
    if len(paths) < rows * cols:
        raise SystemExit(f"{photos}: {len(paths)} photos, {rows * cols} needed for a {rows}x{cols} scene")
    tiles = [cv2.resize(read_image_rgb(p), (side, side), interpolation=cv2.INTER_AREA) for p in paths]
    grid = np.concatenate([np.concatenate(tiles[r * cols:(r + 1) * cols], axis=1) for r in range(rows)], axis=0)
    return grid.astype(np.float32) / 255.0


def measure(name: str, params: dict, clean01: np.ndarray, frames: int, folder: Path, seed: int) -> dict:
    """Record the camera's clip as PNG frames, calibrate it, compare with the truth."""
    import cv2

    from edge_runtime.calibrate import CalibrateConfig, calibrate, simulate_clip

    profile = camera_profile(**params)
    clip = folder / name
    clip.mkdir(parents=True)
    for i, frame in enumerate(simulate_clip(clean01, profile, frames, np.random.default_rng(seed))):
        cv2.imwrite(str(clip / f"{i:04d}.png"), frame[..., ::-1])
    t0 = time.perf_counter()
    got = calibrate(CalibrateConfig(source=str(clip), out=str(folder / f"{name}.json"), frames=frames))
    seconds = time.perf_counter() - t0
    rows = []
    for i, c in enumerate("RGB"):
        ch = got["channels"][c]
        rows.append({"camera": name, "channel": c, "a_true": profile.a[i], "a": ch["a"],
                     "a_error": ch["a"] / profile.a[i] - 1, "b_true": profile.b[i], "b": ch["b"],
                     "b_error": ch["b"] / profile.b[i] - 1, "b_se": ch["b_se"], "range": ch["range"]})
    (folder / f"{name}_true.json").write_text(json.dumps(profile_json(profile)))
    return {"camera": name, "params": params, "rows": rows, "seconds": round(seconds, 2),
            "lag1_x": got["correlation"]["lag1_x"], "row_sigma": got["row_noise"]["sigma"],
            "profile": str(folder / f"{name}.json"), "true_profile": str(folder / f"{name}_true.json")}


def cli(*args: str) -> None:
    done = subprocess.run([sys.executable, "-m", "edge_denoise", *args], cwd=ROOT)
    if done.returncode:
        raise SystemExit(f"edge-denoise {args[0]} failed (exit {done.returncode})")


def fine_tune(model: Path, data: Path, cam: dict, out: Path, epochs: int, lr: float, max_images: int | None) -> dict:
    """Fine-tune ``model`` for the camera (its calibrated profile), then score both on its true noise."""
    run_dir = model.parent
    tuned = out / f"finetuned_{cam['camera']}"
    args = ["train", "--init-from", str(model), "--noise", f"profile:{cam['profile']}", "--data", str(data),
            "--out", str(tuned), "--epochs", str(epochs), "--lr", str(lr), "--overwrite"]
    if (run_dir / "config.json").exists():
        args += ["--config", str(run_dir / "config.json")]
    manifest = run_dir / "manifest.json"
    if manifest.exists():
        args += ["--split-manifest", str(manifest)]
    if max_images:
        args += ["--max-images", str(max_images)]
    t0 = time.perf_counter()
    cli(*args)
    train_s = time.perf_counter() - t0
    size = json.loads((tuned / "config.json").read_text()).get("train", {}).get("size", 128)  # score at the training size
    scores = {}
    for label, keras_file in (("blind default", model), ("fine-tuned", tuned / "model.keras")):
        eval_dir = out / f"eval_{cam['camera']}_{label.replace(' ', '_')}"
        cli("eval", str(keras_file), "--data", str(data), "--noise", f"profile:{cam['true_profile']}", "--split", "test",
            "--size", str(size), "--split-manifest", str(tuned / "manifest.json"), "--no-baselines", "--out", str(eval_dir),
            *(["--max-images", str(max_images)] if max_images else []))
        row = next(r for r in json.loads((eval_dir / "eval.json").read_text())["rows"] if r["method"] == "model")
        scores[label] = {"ssim": row["ssim_mean"], "psnr": row["psnr_mean"]}
    return {"camera": cam["camera"], "train_seconds": round(train_s, 1), "epochs": epochs, "lr": lr, **scores,
            "finetuned_model": str(tuned / "model.keras"), "command": "edge-denoise " + " ".join(args)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--photos", type=Path, default=SAMPLES, help="Folder of photos for the still scene.")
    ap.add_argument("--grid", default="3x4", help="Photos per scene, ROWSxCOLS (160 px each; 3x4 is 480x640).")
    ap.add_argument("--frames", type=int, default=32, help="Frames per clip.")
    ap.add_argument("--cameras", default=",".join(CAMERAS), help="Which synthetic cameras.")
    ap.add_argument("--model", type=Path, help="The blind default's Keras file: also fine-tune for each camera.")
    ap.add_argument("--data", type=Path, help="Clean images for the fine-tune and its evaluation (with --model).")
    ap.add_argument("--epochs", type=int, default=3, help="Fine-tune epochs.")
    ap.add_argument("--lr", type=float, default=5e-5, help="Fine-tune learning rate.")
    ap.add_argument("--max-images", type=int, help="At most N images per split (quick tries).")
    ap.add_argument("--work", type=Path, help="Keep clips, profiles and runs here (default: a temp folder).")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "calibrate_camera.json")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    if (args.model is None) != (args.data is None):
        ap.error("--model and --data go together (the fine-tune half needs both)")
    rows, cols = (int(v) for v in args.grid.lower().split("x"))
    clean = scene(args.photos, rows, cols)
    with tempfile.TemporaryDirectory(prefix="calibrate_camera_") as temp:  # clips are removed unless --work keeps them
        return run(args, clean, args.work or Path(temp), argv)


def run(args, clean: np.ndarray, work: Path, argv) -> int:
    """Measure each camera (and fine-tune for it), print the table, write the JSON."""
    from rich.console import Console
    from rich.table import Table

    from edge_runtime.atomic import write_json_atomic

    results = [measure(name, CAMERAS[name], clean, args.frames, work, args.seed + i)
               for i, name in enumerate(n.strip() for n in args.cameras.split(","))]
    table = Table(title=f"calibrate on a synthetic camera: {clean.shape[0]}x{clean.shape[1]} scene of real photos, "
                        f"{args.frames} PNG frames")
    for col in ("camera", "ch", "a true", "a measured", "a error", "b true", "b measured", "b error", "b std. error", "range"):
        table.add_column(col, justify="left" if col in ("camera", "ch") else "right")
    worst = 0.0
    for r in (row for res in results for row in res["rows"]):
        worst = max(worst, abs(r["a_error"]), abs(r["b_error"]))
        table.add_row(r["camera"], r["channel"], f"{r['a_true']:.2e}", f"{r['a']:.2e}", f"{100 * r['a_error']:+.1f} %",
                      f"{r['b_true']:.2e}", f"{r['b']:.2e}", f"{100 * r['b_error']:+.1f} %", f"{r['b_se']:.1e}",
                      f"{r['range'][0]:.2f}-{r['range'][1]:.2f}")
    console = Console(width=150)
    console.print(table)
    console.print(f"worst error {100 * worst:.1f} % (target {100 * TOLERANCE:.0f} %): "
                  f"{'PASS' if worst <= TOLERANCE else 'FAIL'}")
    tuned = []
    if args.model:
        for res in results:
            tuned.append(fine_tune(args.model, args.data, res, work, args.epochs, args.lr, args.max_images))
            t = tuned[-1]
            console.print(f"{t['camera']}: blind SSIM {t['blind default']['ssim']:.4f} PSNR {t['blind default']['psnr']:.2f} dB"
                          f" -> fine-tuned SSIM {t['fine-tuned']['ssim']:.4f} PSNR {t['fine-tuned']['psnr']:.2f} dB"
                          f" ({t['train_seconds']:.0f} s of training)")
    write_json_atomic(args.out, {
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "command": "python benchmarks/calibrate_camera.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "scene": {"photos": str(args.photos.resolve().relative_to(ROOT)) if args.photos.resolve().is_relative_to(ROOT)
                  else str(args.photos), "grid": args.grid, "size": list(clean.shape[:2])},
        "frames": args.frames, "tolerance": TOLERANCE, "worst_error": round(worst, 4), "passed": worst <= TOLERANCE,
        "cameras": [{k: v for k, v in r.items() if k not in ("profile", "true_profile")} for r in results],
        "fine_tune": tuned or None,
    })
    print(f"wrote {args.out}")
    return 0 if worst <= TOLERANCE else 1


if __name__ == "__main__":
    sys.exit(main())
