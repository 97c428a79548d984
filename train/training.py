"""Train one denoiser end to end and write a self-describing run folder.

run folder: model.keras (best val SSIM), config.json, manifest.json, history.csv,
curves.png, samples.png, metrics.json, and backup/ while a run is unfinished (for --resume).
"""

from __future__ import annotations

import platform
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edge_runtime.atomic import atomic_path, write_json_atomic
from edge_runtime.errors import EdgeDenoiseError
from edge_runtime.noise import parse_noise
from edge_runtime.signals import sigterm_as_keyboard_interrupt
from edge_runtime.splits import data_folder
from train.config import TrainConfig, load_config
from train.data import (LoadReport, load_images, make_manifest, noisy_pairs, parse_augment, read_manifest, train_dataset,
                        write_manifest)

SCHEDULES = ("constant", "cosine")
PRECISIONS = {"float32": "float32", "bfloat16": "mixed_bfloat16"}  # --precision -> Keras dtype policy


@dataclass
class TrainResult:
    run_dir: Path
    metrics: dict
    interrupted: bool = False
    load_report: LoadReport | None = None


def package_versions() -> dict[str, str]:
    """Versions of what shaped the run, for config.json."""
    from importlib import metadata

    out = {"python": platform.python_version()}
    for name in ("edge-denoise", "tensorflow", "tensorflow-cpu", "keras", "jax", "torch", "numpy", "scikit-image",
                 "opencv-python-headless"):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return out


def load_splits(config: TrainConfig, run_dir: Path, console=None) -> tuple[dict, dict[str, np.ndarray], LoadReport]:
    """Make or reuse the split manifest, then decode each split once into memory."""
    data_dir = Path(data_folder(config.data))
    if not data_dir.is_dir():
        raise EdgeDenoiseError(f"{data_dir}: data folder not found (pass --data DIR with one subfolder per class, or a flat folder)")
    manifest = read_manifest(config.split_manifest) if config.split_manifest else make_manifest(data_dir)
    write_manifest(run_dir / "manifest.json", manifest)
    report = LoadReport()
    arrays = {}
    wanted = {s: manifest["splits"][s][: config.max_images] if config.max_images else manifest["splits"][s] for s in manifest["splits"]}
    from rich.progress import Progress

    with Progress(console=console, transient=True) as bar:
        task = bar.add_task("decoding images", total=sum(len(v) for v in wanted.values()))
        for split, files in wanted.items():
            side = config.max_side if split == "train" and config.max_side else config.size  # the rest score at --size
            arrays[split] = load_images(data_dir, files, side, report, lambda n: bar.advance(task, n))
    return manifest, arrays, report


def save_best_callback(path: Path, initial_best: float = -np.inf, float32_twin=None):
    """A Keras callback that keeps the best model by val SSIM, written atomically.

    ``float32_twin`` (a model of the same layers built in float32) is what gets saved when training runs
    in bfloat16, so every model.keras converts and evaluates as a float32 model.
    """
    import keras

    class SaveBest(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.best = initial_best

        def on_epoch_end(self, epoch, logs=None):
            value = (logs or {}).get("val_ssim_metric", -np.inf)
            if value > self.best:
                self.best = value
                save_model(self.model, path, float32_twin)

    return SaveBest()


def save_model(model, path: Path, float32_twin=None) -> None:
    """Write ``model`` (through its float32 twin when training runs in bfloat16) atomically to ``path``."""
    if float32_twin is not None:
        float32_twin.set_weights(model.get_weights())
        model = float32_twin
    with atomic_path(path) as tmp:  # the temp name ends in .keras, as Keras wants
        model.save(tmp)


def _best_from_history(history_csv: Path) -> float:
    if not history_csv.exists():
        return -np.inf
    import csv

    with open(history_csv, newline="") as fh:
        rows = list(csv.DictReader(fh))
    values = [float(r["val_ssim_metric"]) for r in rows if r.get("val_ssim_metric")]
    return max(values, default=-np.inf)


def _write_error(exc: OSError, run_dir: Path) -> EdgeDenoiseError:
    what = exc.filename or run_dir
    return EdgeDenoiseError(
        f"{what}: cannot write ({exc.strerror or exc}); files already in {run_dir} are complete "
        f"(model.keras is the best so far): free space and continue with --resume --out {run_dir}"
    )


def _write_run_json(path: Path, data: dict) -> None:
    try:
        write_json_atomic(path, data)
    except OSError as exc:
        raise _write_error(exc, path.parent) from None


def prepare_run_dir(config: TrainConfig, resume: bool, overwrite: bool) -> Path:
    run_dir = Path(config.out)
    if run_dir.exists() and any(run_dir.iterdir()) and not (resume or overwrite):
        raise EdgeDenoiseError(f"{run_dir}: run folder already exists; pass --resume to continue it or --overwrite to start again")
    if overwrite and not resume and run_dir.exists():
        shutil.rmtree(run_dir)
    if resume and not (run_dir / "config.json").exists():
        raise EdgeDenoiseError(f"{run_dir}: nothing to resume (no config.json); start a new run without --resume")
    run_dir.mkdir(parents=True, exist_ok=True)
    return run_dir


def train(config: TrainConfig, *, resume: bool = False, overwrite: bool = False, callbacks=(), console=None, verbose: int = 1) -> TrainResult:
    """Train ``config.model`` on clean images with fresh synthetic noise; evaluate on the test split.

    Ctrl-C stops after writing what exists: the best model so far and a backup that
    ``resume=True`` continues from (keras.callbacks.BackupAndRestore).
    """
    spec = parse_noise(config.noise)
    check_options(config)  # before importing Keras: a typo costs a second, not ten
    augment = parse_augment(config.augment)
    from train.distribute import make_placement, worker_dir

    place = make_placement(config.strategy, config.peer_timeout)  # before any other TF op
    if not place.is_chief:  # only the chief writes --out; the others train in a temp dir removed at the end
        chief_backup = Path(config.out) / "backup"
        config = config.replace(out=str(worker_dir(config.out, place.cluster)))
        resume, overwrite = resume and (Path(config.out) / "config.json").exists(), True
        if resume:
            _reset_worker_dir(Path(config.out), chief_backup)

    import keras

    from train.models import size_multiple

    multiple = size_multiple(config.model, config.depth, config.scale, config.unshuffle)
    for name, side in (("--size", config.size), ("--crop", config.crop)):
        if side is not None and (side <= 0 or side % multiple):
            raise EdgeDenoiseError(f"{name} {side}: must be a positive multiple of {multiple} for {config.model} (depth {config.depth})")
    if config.crop and config.crop > config.size:
        raise EdgeDenoiseError(f"--crop {config.crop}: larger than --size {config.size}")
    if config.max_side and config.max_side <= config.size:
        raise EdgeDenoiseError(f"--max-side {config.max_side}: must be larger than --size {config.size} (or 0: off)")
    if resume and (Path(config.out) / "config.json").exists():
        config = load_config(Path(config.out) / "config.json").replace(epochs=config.epochs, out=config.out)
    config = config.replace(data=data_folder(config.data))  # saved with the run: convert finds its images there
    created = not Path(config.out).exists()
    run_dir = prepare_run_dir(config, resume, overwrite)
    try:
        manifest, arrays, report = load_splits(config, run_dir, console)
        if len(arrays["train"]) == 0:
            first = f"; first: {report.skipped[0][1]}" if report.skipped else ""
            raise EdgeDenoiseError(f"{config.data}: no readable training images ({len(report.skipped)} skipped{first})")
    except OSError as exc:
        raise _write_error(exc, run_dir) from None
    except EdgeDenoiseError:
        if created:  # a run that never started must not block the next try with "already exists"
            shutil.rmtree(run_dir, ignore_errors=True)
        raise
    if len(arrays["val"]) == 0:  # tiny folders: validate on training images rather than not at all
        arrays["val"] = arrays["train"][:4]
        if config.max_side:  # loaded larger for --max-side: back to --size, as every other split
            from edge_runtime.images import center_square

            arrays["val"] = np.stack([center_square(im, config.size) for im in arrays["val"]])
    if len(arrays["test"]) == 0:
        arrays["test"] = arrays["val"]

    keras.utils.set_random_seed(config.seed)
    _write_run_json(run_dir / "config.json", {
        "train": config.to_dict(), "manifest_hash": manifest["hash"], "versions": package_versions(),
        "keras_backend": keras.backend.backend(),
        "counts": {s: int(len(a)) for s, a in arrays.items()},
        "skipped": report.skipped, "converted": report.converted,
    })
    # the global batch and the learning rate grow with the replicas (the linear scaling rule)
    global_batch = config.batch_size * place.replicas
    steps = -(-len(arrays["train"]) // global_batch)
    with _scope(place):
        model, twin = compiled_model(config, steps, place.replicas, init=not resume)
    if config.epochs == 0:  # --init-from's weights with this run's options (e.g. --black-floor): no data pipeline, no step
        if not place.is_chief:
            shutil.rmtree(run_dir, ignore_errors=True)
            return TrainResult(run_dir, {}, False, report)
        try:
            save_model(model, run_dir / "model.keras", twin)
        except OSError as exc:
            raise _write_error(exc, run_dir) from None
        return TrainResult(run_dir, finish_run(config, run_dir, arrays["test"], manifest), False, report)
    crop, min_side = (config.crop or config.size, config.size) if config.max_side else (config.crop, None)
    ds = train_dataset(arrays["train"], spec, global_batch, config.seed, augment=augment, crop=crop, min_side=min_side)
    if place.multiworker:
        from train.distribute import patch_keras_for_multiworker, shard_by_data

        patch_keras_for_multiworker(model)
        ds = shard_by_data(ds)
    val_noisy, val_clean = noisy_pairs(arrays["val"], spec, config.seed + 1)
    history_csv = run_dir / "history.csv"
    if not resume:
        history_csv.unlink(missing_ok=True)
    cbs = [
        keras.callbacks.BackupAndRestore(str(run_dir / "backup")),
        keras.callbacks.CSVLogger(str(history_csv), append=True),
        save_best_callback(run_dir / "model.keras", _best_from_history(history_csv), twin),
        *callbacks,
    ]
    interrupted = False
    try:
        with sigterm_as_keyboard_interrupt():
            model.fit(ds, epochs=config.epochs, validation_data=(val_noisy, val_clean),
                      batch_size=global_batch, callbacks=cbs, verbose=verbose, shuffle=False)
    except KeyboardInterrupt:
        interrupted = True
    except OSError as exc:  # disk full while saving the best model, the backup or history.csv
        raise _write_error(exc, run_dir) from None
    if not place.is_chief:
        if not interrupted:  # a crashed worker keeps its backup for the restart
            shutil.rmtree(run_dir, ignore_errors=True)
        return TrainResult(run_dir, {}, interrupted, report)
    from train.plots import plot_curves

    if history_csv.exists():
        plot_curves(history_csv, run_dir / "curves.png")
    if not (run_dir / "model.keras").exists():
        return TrainResult(run_dir, {}, interrupted, report)
    metrics = finish_run(config, run_dir, arrays["test"], manifest)
    return TrainResult(run_dir, metrics, interrupted, report)


def compiled_model(config: TrainConfig, steps_per_epoch: int, replicas: int = 1, init: bool = True):
    """The model as training runs it, compiled -> (model, float32 twin to save, or None in float32).

    ``init``: start from ``config.init_from``'s weights (not when resuming: the backup has newer ones).
    """
    import keras

    from train.losses import make_loss, psnr_metric, ssim_metric
    from train.models import create_model

    with dtype_policy(PRECISIONS[config.precision]):
        model = create_model(config.model, **config.model_kwargs())
    twin = create_model(config.model, **config.model_kwargs()) if config.precision != "float32" else None
    if config.init_from and init and (fresh := init_weights(model, config.init_from)):
        print(f"note: --init-from {config.init_from}: {', '.join(fresh)} start from their initial weights "
              "(layers the options add)", file=sys.stderr)
    if config.background_margin:
        pass_negative_output(model)
    if config.quant_aware:  # validate (and keep the best) with int8 rounding on; training rounds anyway
        from train.layers import fake_quant_at_inference

        fake_quant_at_inference(model, True, only_trained=False)
    model.compile(optimizer=keras.optimizers.Adam(learning_rate(config, steps_per_epoch, replicas)),
                  loss=make_loss(config.loss, config.background_margin),
                  metrics=[ssim_metric, psnr_metric])
    return model, twin


def dtype_policy(name: str):
    """Build models under Keras dtype policy ``name`` ("float32", "mixed_bfloat16"), then restore the global one."""
    from contextlib import contextmanager

    import keras

    @contextmanager
    def scoped():
        before = keras.config.dtype_policy()
        keras.config.set_dtype_policy(name)
        try:
            yield
        finally:
            keras.config.set_dtype_policy(before)

    return scoped()


def pass_negative_output(model) -> None:
    """Let the model's output reach the loss below 0 while training (for --background-margin)."""
    from train.layers import ClipToUnit

    head = model.layers[-1]
    if not isinstance(head, ClipToUnit):
        raise EdgeDenoiseError(f"--background-margin needs a model whose output layer clips to [0, 1] (fastnet with "
                               f"--residual); {model.name}'s output layer is {type(head).__name__}")
    head.pass_negative = True


def _reset_worker_dir(worker: Path, chief_backup: Path) -> None:
    """Before a restarted non-chief worker resumes: a worker killed mid-save (SIGKILL, OOM) can leave a
    half-written model or backup file that then fails to open. Its files are throwaway; the chief's
    backup holds the same weights (every worker is restarted together), so it takes a copy of that."""
    for leftover in worker.iterdir():
        if leftover.name not in ("config.json", "manifest.json", "history.csv"):
            shutil.rmtree(leftover, ignore_errors=True) if leftover.is_dir() else leftover.unlink(missing_ok=True)
    if chief_backup.is_dir():
        shutil.copytree(chief_backup, worker / "backup")


def init_weights(model, path: str) -> list[str]:
    """Copy the weights of a trained .keras model into ``model`` (fine-tuning); one line if they do not fit.

    Layer by layer, by name: every layer of the trained model must find its namesake here with the same
    weight shapes. ``model`` may add layers of its own (the FakeQuant layers of --quant-aware, whose ranges
    are learnt anew; a part an option adds, such as camnet's --global-gate): their names are returned,
    and they start from their initial weights.
    """
    from train.evaluate import load_keras_model

    source = load_keras_model(path)
    mine = {layer.name: layer for layer in model.layers}
    pairs = []
    for layer in source.layers:
        theirs = layer.get_weights()
        if not theirs:
            continue
        target = mine.get(layer.name)
        if target is None or [w.shape for w in target.get_weights()] != [w.shape for w in theirs]:
            raise EdgeDenoiseError(f"--init-from {path}: its weights do not fit this model ({source.name}'s layer "
                                   f"{layer.name} has no match in {model.name}): "
                                   "give the same --model and options it was trained with")
        pairs.append((target, theirs))
    if not pairs:
        raise EdgeDenoiseError(f"--init-from {path}: none of its layers is in this model ({model.name}): "
                               "give the same --model and options it was trained with")
    matched = {t.name for t, _ in pairs}
    fresh = [name for name, layer in mine.items() if layer.trainable_weights and not name.endswith("_fq")
             and name not in matched]
    for target, theirs in pairs:
        target.set_weights(theirs)
    return fresh


def check_options(config: TrainConfig) -> None:
    """One clear line for a bad model option, before any image is decoded."""
    from train.losses import LOSSES
    from train.models import ATTENTION, BACKBONES, MODELS

    if config.model not in MODELS:
        raise EdgeDenoiseError(f"unknown model '{config.model}'; choose one of: {', '.join(MODELS)}")
    if config.loss not in LOSSES:
        raise EdgeDenoiseError(f"unknown loss '{config.loss}'; choose one of: {', '.join(LOSSES)}")
    parse_augment(config.augment)
    if config.epochs < 0 or (config.epochs == 0 and not config.init_from):
        raise EdgeDenoiseError(f"--epochs {config.epochs}: takes 1 or more, or 0 with --init-from (its model saved with "
                               "this run's options, no training step)")
    if config.precision not in PRECISIONS:
        raise EdgeDenoiseError(f"--precision {config.precision}: choose one of: {', '.join(PRECISIONS)}")
    if config.schedule not in SCHEDULES:
        raise EdgeDenoiseError(f"--schedule {config.schedule}: choose one of: {', '.join(SCHEDULES)}")
    if config.attention not in (None, *ATTENTION):
        raise EdgeDenoiseError(f"--attention {config.attention}: choose one of: none, {', '.join(ATTENTION)}")
    if config.model == "fastnet" and config.scale not in (2, 4):
        raise EdgeDenoiseError(f"--scale {config.scale}: fastnet takes 2 or 4")
    if config.unshuffle not in (1, 2, 4) or (config.unshuffle != 1 and config.model != "unet"):
        raise EdgeDenoiseError(f"--unshuffle {config.unshuffle}: the U-Net takes 1, 2 or 4 (other models: leave it at 1)")
    if config.quant_aware and config.model not in ("fastnet", "camnet"):
        raise EdgeDenoiseError("--quant-aware: only fastnet and camnet take it (other models: leave it off)")
    if config.impulse_reject and config.model not in ("fastnet", "camnet"):
        raise EdgeDenoiseError("--impulse-reject: only fastnet and camnet take it (other models: leave it off)")
    if not 0.0 < config.impulse_threshold < 1.0 or (config.impulse_threshold != TrainConfig.impulse_threshold
                                                     and not config.impulse_reject):
        raise EdgeDenoiseError(f"--impulse-threshold {config.impulse_threshold:g}: takes a distance between 0 and 1, "
                               "with --impulse-reject")
    if config.global_gate and config.model != "camnet":
        raise EdgeDenoiseError("--global-gate: only camnet takes it (other models: leave it off)")
    if config.level_input and (config.model != "camnet" or config.start_scale != 2):
        raise EdgeDenoiseError("--level-input: only camnet takes it, with --start-scale 2 (other models: leave it off)")
    if config.start_scale not in (2, 4) or (config.start_scale != TrainConfig.start_scale and config.model != "camnet"):
        raise EdgeDenoiseError(f"--start-scale {config.start_scale}: camnet starts at 1/2 (2) or 1/4 (4) resolution "
                               "(other models: leave it at 2)")
    if config.bottom_width < 0 or (config.bottom_width and config.model != "camnet"):
        raise EdgeDenoiseError(f"--bottom-width {config.bottom_width}: camnet takes a width of 0 (4 x --width) or more "
                               "(other models: leave it at 0)")
    if config.bottom_depth < 1 or (config.bottom_depth != TrainConfig.bottom_depth and config.model != "camnet"):
        raise EdgeDenoiseError(f"--bottom-depth {config.bottom_depth}: camnet takes 1 or more convs at 1/8 "
                               "(other models: leave it at 1)")
    if not 0.0 <= config.black_floor < 0.5 or (config.black_floor and not (config.model == "camnet" and config.residual)):
        raise EdgeDenoiseError(f"--black-floor {config.black_floor:g}: camnet with --residual takes a level from 0 up to 0.5 "
                               "(other models: leave it at 0)")
    if config.black_floor and config.background_margin:
        raise EdgeDenoiseError(f"--black-floor {config.black_floor:g} with --background-margin {config.background_margin:g}: "
                               "the floor sets the background to black itself; give one of the two")
    if config.full_res < 0 or (config.full_res and config.model != "camnet"):
        raise EdgeDenoiseError(f"--full-res {config.full_res}: camnet takes a width of 0 or more (other models: leave it at 0)")
    if config.background_margin < 0 or (config.background_margin and not (
            config.model in ("fastnet", "camnet") and config.residual)):
        raise EdgeDenoiseError(f"--background-margin {config.background_margin:g}: fastnet or camnet with --residual takes a margin "
                               "of 0 or more (other models: leave it at 0)")
    from train.distribute import STRATEGIES

    if config.strategy not in STRATEGIES:
        raise EdgeDenoiseError(f"--strategy {config.strategy}: choose one of: {', '.join(STRATEGIES)}")
    if config.model == "backbone_unet":
        if config.backbone not in BACKBONES:
            raise EdgeDenoiseError(f"--backbone {config.backbone}: choose one of: {', '.join(BACKBONES)}")
        if config.weights and not Path(config.weights).is_file():
            raise EdgeDenoiseError(f"--weights {config.weights}: no such weights file (ImageNet weights cannot be "
                                   f"downloaded here; pass a local no-top .h5 or .weights.h5 file)")


def learning_rate(config: TrainConfig, steps_per_epoch: int, replicas: int = 1):
    """A float for ``constant``; for ``cosine`` a CosineDecay from the rate to 0 over the whole run; times ``replicas``."""
    import keras

    rate = config.learning_rate * replicas
    if config.schedule == "cosine":
        return keras.optimizers.schedules.CosineDecay(rate, decay_steps=max(1, config.epochs * steps_per_epoch))
    return rate


def _scope(place):
    """The strategy's scope, or nothing when training runs without one."""
    from contextlib import nullcontext

    return place.strategy.scope() if place.strategy is not None else nullcontext()


def finish_run(config: TrainConfig, run_dir: Path, test_u8: np.ndarray, manifest: dict) -> dict:
    """Score the best model on the test split (skimage SSIM/PSNR) and draw samples.png."""
    from train.evaluate import load_denoiser, run_denoiser
    from train.plots import plot_samples

    from edge_runtime.metrics import score

    spec = parse_noise(config.noise)
    noisy, clean = noisy_pairs(test_u8, spec, config.seed + 2)
    denoiser = load_denoiser(run_dir / "model.keras")
    denoised = run_denoiser(denoiser, noisy)
    model_score, noisy_score = score(clean, denoised), score(clean, noisy)
    metrics = {
        "split": "test", "noise": config.noise, "size": config.size, "manifest_hash": manifest["hash"],
        "model": model_score.as_dict(), "noisy_input": noisy_score.as_dict(),
    }
    _write_run_json(run_dir / "metrics.json", metrics)
    plot_samples(clean[:6], noisy[:6], denoised[:6], run_dir / "samples.png")
    return metrics
