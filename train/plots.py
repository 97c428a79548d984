"""Pictures people would rather see than read: learning curves and image grids (PNG, atomic)."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from edge_runtime.atomic import atomic_path


def _figure():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: Path) -> None:
    plt = _figure()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=100, bbox_inches="tight", format="png")
    plt.close(fig)


def plot_curves(history_csv: Path, path: Path) -> None:
    """Loss (train, val) and val SSIM per epoch."""
    with open(history_csv, newline="") as fh:
        rows = list(csv.DictReader(fh))
    if not rows:
        return
    plt = _figure()
    epochs = [int(r["epoch"]) + 1 for r in rows]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.5))
    ax1.plot(epochs, [float(r["loss"]) for r in rows], label="train")
    if "val_loss" in rows[0]:
        ax1.plot(epochs, [float(r["val_loss"]) for r in rows], label="val")
    ax1.set(xlabel="epoch", ylabel="loss", title="loss")
    ax1.legend()
    for key, label in (("ssim_metric", "train"), ("val_ssim_metric", "val")):
        if key in rows[0]:
            ax2.plot(epochs, [float(r[key]) for r in rows], label=label)
    ax2.set(xlabel="epoch", ylabel="SSIM", title="SSIM (tf.image.ssim)")
    ax2.legend()
    _save(fig, path)


def plot_samples(clean: np.ndarray, noisy: np.ndarray, denoised: np.ndarray, path: Path) -> None:
    """A grid: one row per image, columns clean / noisy / denoised."""
    plot_grid({"clean": clean, "noisy": noisy, "denoised": denoised}, path)


def plot_grid(columns: dict[str, np.ndarray], path: Path, title: str | None = None) -> None:
    """Images in columns named by the dict keys, one row per image."""
    from edge_runtime.metrics import ssim

    plt = _figure()
    names = list(columns)
    n = len(next(iter(columns.values())))
    clean = columns.get("clean")
    fig, axes = plt.subplots(n, len(names), figsize=(2 * len(names), 2 * n), squeeze=False)
    for j, name in enumerate(names):
        for i in range(n):
            ax = axes[i][j]
            img = np.clip(columns[name][i], 0, 1)
            ax.imshow(img)
            ax.set_xticks([])
            ax.set_yticks([])
            label = name if i == 0 else ""
            if clean is not None and name != "clean":
                label = (label + "\n" if label else "") + f"SSIM {ssim(clean[i], img):.3f}"
            ax.set_title(label, fontsize=8)
    if title:
        fig.suptitle(title)
    _save(fig, path)


def plot_eval_grid(examples: dict[str, dict[str, np.ndarray]], path: Path) -> None:
    """The first noise spec's examples as a grid (eval.png); one more file per extra spec."""
    for k, (spec, columns) in enumerate(examples.items()):
        target = path if k == 0 else path.with_name(f"{path.stem}_{k}{path.suffix}")
        plot_grid(columns, target, title=f"noise {spec}")
