"""Hyperparameter search with KerasTuner over the U-Net's width, depth and learning rate.

The seed tuned "neuron counts and learning rate"; here the search has a trial and a time
budget, writes every trial to a table, and the winner to best.json, which
``edge-denoise train --config best.json`` reuses as it is.
"""

from __future__ import annotations

import csv
import io
import time
from dataclasses import dataclass, field
from pathlib import Path

from edge_runtime.atomic import write_json_atomic, write_text_atomic
from edge_runtime.errors import EdgeDenoiseError
from edge_runtime.noise import parse_noise
from train.config import TrainConfig


@dataclass(frozen=True)
class TuneConfig:
    """What to search and how long: the space, the algorithm and the budget."""

    base: TrainConfig
    out: str = "runs/tune"
    algorithm: str = "hyperband"  # or "bayesian"
    max_trials: int = 12
    max_epochs: int = 9  # per trial (Hyperband's top rung)
    time_budget_s: float | None = None
    widths: tuple[int, ...] = (16, 24, 32)
    depths: tuple[int, ...] = (2, 3)
    lr_range: tuple[float, float] = (1e-4, 3e-3)


@dataclass
class TuneResult:
    best: TrainConfig
    trials: list[dict] = field(default_factory=list)
    out: Path = Path("runs/tune")


def _tuner_class(algorithm: str):
    import keras_tuner as kt

    base = {"hyperband": kt.Hyperband, "bayesian": kt.BayesianOptimization}.get(algorithm)
    if base is None:
        raise EdgeDenoiseError(f"unknown search algorithm '{algorithm}'; choose hyperband or bayesian")

    class BudgetedTuner(base):
        """Stops starting new trials once the time budget is spent."""

        deadline: float | None = None

        def pre_create_trial(self):
            if self.deadline is not None and time.monotonic() > self.deadline:
                self.oracle.max_trials = len(self.oracle.trials)
            return super().pre_create_trial()

    return BudgetedTuner


def tune(config: TuneConfig, console=None, verbose: int = 1) -> TuneResult:
    """Search the space; return the best TrainConfig and every trial's score."""
    import keras
    import keras_tuner as kt

    from train.data import noisy_pairs, train_dataset
    from train.losses import make_loss, psnr_metric, ssim_metric
    from train.models import create_model
    from train.training import load_splits

    base = config.base
    spec = parse_noise(base.noise)
    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    _, arrays, _ = load_splits(base, out, console)
    if len(arrays["train"]) == 0:
        raise EdgeDenoiseError(f"{base.data}: no readable training images")
    if len(arrays["val"]) == 0:
        arrays["val"] = arrays["train"][:4]
    keras.utils.set_random_seed(base.seed)

    def build(hp):
        width = hp.Choice("width", list(config.widths))
        depth = hp.Choice("depth", list(config.depths))
        lr = hp.Float("learning_rate", *config.lr_range, sampling="log")
        model = create_model(base.model, width=width, depth=depth, residual=base.residual)
        model.compile(optimizer=keras.optimizers.Adam(lr), loss=make_loss(base.loss), metrics=[ssim_metric, psnr_metric])
        return model

    cls = _tuner_class(config.algorithm)
    common = dict(objective=kt.Objective("val_ssim_metric", direction="max"), seed=base.seed,
                  directory=str(out), project_name="tuner", overwrite=False)
    if config.algorithm == "hyperband":
        tuner = cls(build, max_epochs=config.max_epochs, factor=3, **common)
        tuner.oracle.max_trials = config.max_trials  # Hyperband takes no trial cap; the base oracle honours one
    else:
        tuner = cls(build, max_trials=config.max_trials, **common)
    tuner.deadline = time.monotonic() + config.time_budget_s if config.time_budget_s else None
    ds = train_dataset(arrays["train"], spec, base.batch_size, base.seed, crop=base.crop)
    val = noisy_pairs(arrays["val"], spec, base.seed + 1)
    tuner.search(ds, epochs=config.max_epochs, validation_data=val, verbose=verbose)

    trials = []
    for trial in tuner.oracle.trials.values():
        if trial.score is None:
            continue
        hp = trial.hyperparameters.values
        trials.append({"trial": trial.trial_id, "width": hp["width"], "depth": hp["depth"],
                       "learning_rate": hp["learning_rate"], "epochs": hp.get("tuner/epochs", config.max_epochs),
                       "val_ssim": trial.score})
    if not trials:
        raise EdgeDenoiseError(f"{out}: no trial finished within the budget; raise --time-budget or --max-trials")
    trials.sort(key=lambda t: -t["val_ssim"])
    top = trials[0]
    best = base.replace(width=int(top["width"]), depth=int(top["depth"]), learning_rate=float(top["learning_rate"]))
    write_json_atomic(out / "best.json", {"train": best.to_dict(), "val_ssim": top["val_ssim"], "trials": len(trials)})
    write_trials(trials, out)
    return TuneResult(best, trials, out)


def write_trials(trials: list[dict], out: Path) -> None:
    """trials.csv and trials.md, best first."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(trials[0]))
    writer.writeheader()
    writer.writerows(trials)
    write_text_atomic(out / "trials.csv", buf.getvalue())
    lines = ["| trial | width | depth | learning rate | epochs | val SSIM |", "|---|---|---|---|---|---|"]
    lines += [f"| {t['trial']} | {t['width']} | {t['depth']} | {t['learning_rate']:.2e} | {t['epochs']} | {t['val_ssim']:.4f} |"
              for t in trials]
    write_text_atomic(out / "trials.md", "\n".join(lines) + "\n")
