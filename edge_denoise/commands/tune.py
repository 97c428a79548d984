"""``edge-denoise tune``: search width, depth and learning rate (train.tune.tune)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from edge_denoise.console import console, err_console, quiet_tensorflow


def tune(
    model: Annotated[str, typer.Option(help="Model name (the search space is width, depth, learning rate).")] = "unet",
    data: Annotated[Optional[Path], typer.Option(help="Folder of clean images. [default: $EDGE_DENOISE_DATA]")] = None,
    out: Annotated[Path, typer.Option(help="Folder for best.json, trials.csv/.md and the tuner state.")] = Path("runs/tune"),
    noise: Annotated[str, typer.Option(help="Noise spec.")] = "gaussian:0.1",
    size: Annotated[int, typer.Option(help="Image side in pixels.")] = 128,
    crop: Annotated[Optional[int], typer.Option(help="Train on random crops of this side.")] = None,
    algorithm: Annotated[str, typer.Option(help="hyperband or bayesian.")] = "hyperband",
    max_trials: Annotated[int, typer.Option(help="Trial budget.")] = 12,
    max_epochs: Annotated[int, typer.Option(help="Epochs per trial (Hyperband's top rung).")] = 9,
    time_budget: Annotated[Optional[float], typer.Option(help="Start no new trial after this many seconds.")] = None,
    widths: Annotated[str, typer.Option(help="Comma-separated widths to try.")] = "16,24,32",
    depths: Annotated[str, typer.Option(help="Comma-separated depths to try.")] = "2,3",
    batch_size: Annotated[int, typer.Option(help="Images per batch.")] = 16,
    max_images: Annotated[Optional[int], typer.Option(help="Use at most N images per split.")] = None,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
) -> None:
    """Search width, depth and learning rate with KerasTuner; write best.json for train --config."""
    quiet_tensorflow()
    from rich.table import Table

    from edge_runtime.errors import EdgeDenoiseError
    from edge_runtime.noise import parse_noise
    from train.config import TrainConfig
    from train.tune import TuneConfig
    from train.tune import tune as run_tune

    parse_noise(noise)

    def ints(text: str, name: str) -> tuple[int, ...]:
        try:
            values = tuple(int(v) for v in text.split(",") if v.strip())
        except ValueError:
            raise EdgeDenoiseError(f"--{name} {text}: expected comma-separated whole numbers, e.g. 16,24,32") from None
        if not values or min(values) <= 0:
            raise EdgeDenoiseError(f"--{name} {text}: expected positive whole numbers")
        return values

    base = TrainConfig(model=model, data=str(data) if data else None, out=str(out), noise=noise, size=size, crop=crop,
                       batch_size=batch_size, seed=seed, max_images=max_images)
    cfg = TuneConfig(base=base, out=str(out), algorithm=algorithm, max_trials=max_trials, max_epochs=max_epochs,
                     time_budget_s=time_budget, widths=ints(widths, "widths"), depths=ints(depths, "depths"))
    result = run_tune(cfg, console=err_console)
    table = Table(title=f"{len(result.trials)} trials, best first")
    for col in ("trial", "width", "depth", "learning rate", "epochs", "val SSIM"):
        table.add_column(col, justify="right")
    for t in result.trials:
        table.add_row(str(t["trial"]), str(t["width"]), str(t["depth"]), f"{t['learning_rate']:.2e}", str(t["epochs"]), f"{t['val_ssim']:.4f}")
    console.print(table)
    console.print(f"best config: {result.out / 'best.json'} (use: edge-denoise train --config {result.out / 'best.json'})")
