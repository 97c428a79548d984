"""Tune a quantization-aware model's int8 ranges on held-out images before export (``convert --tune-ranges N``).

Training learns each FakeQuant range as a running min/max: every value of every batch fits, so a
few rare large activations set a wide range and every other value gets coarser steps. Whether
clipping those few buys finer steps for the rest is an empirical question per tensor, so this asks
it: coordinate descent over the FakeQuant layers, each range scaled by a few factors (both ends,
so zero stays where it is), keeping a factor only if the model's SSIM with the rounding simulated
in Keras goes up. It scores on the run's validation split, never the test split the gate and
``eval`` score on, so the gate still measures images the tuning never saw.

One range is not tuned: the output's, just before the clip to [0, 1], is set to [0, 1], which holds
every value the clip lets through at the finest step. Tuned, SSIM narrowed it to [-0.48, 0.83] at
480x640, so the file clipped the nut's highlights, and scored that as a gain, probably because the clipped
pixels lost their rounding noise too.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

FACTORS = (0.8, 0.9, 0.95, 1.05)


@dataclass
class RangeTuning:
    """What tuning did: SSIM drop of the simulated int8 model against float, before and after, per range."""

    images: int
    split: str
    float_ssim: float
    drop_before: float
    drop_after: float
    seconds: float = 0.0
    ranges: dict[str, tuple[float, float]] = field(default_factory=dict)  # layer -> [low, high] after tuning
    scaled: dict[str, float] = field(default_factory=dict)  # layer -> overall factor, for those changed
    pinned: list[str] = field(default_factory=list)  # the output's range, set to [0, 1] and not tuned

    def as_dict(self) -> dict:
        return {"images": self.images, "split": self.split, "float_ssim": round(self.float_ssim, 6),
                "drop_before": round(self.drop_before, 6), "drop_after": round(self.drop_after, 6),
                "seconds": round(self.seconds, 1),
                "scaled": {k: round(v, 4) for k, v in self.scaled.items()}, "pinned": list(self.pinned),
                "ranges": {k: [round(lo, 5), round(hi, 5)] for k, (lo, hi) in self.ranges.items()}}


def tune_ranges(model, noisy01: np.ndarray, clean01: np.ndarray, split: str = "val", passes: int = 2,
                factors: tuple[float, ...] = FACTORS, log: Callable[[str], None] = print) -> RangeTuning:
    """Scale each FakeQuant range of ``model`` in place where that raises simulated-int8 SSIM on the images.

    ``model`` must be fully convolutional or built for the images' size. Its FakeQuant layers are
    identities at inference again when this returns (the float model, as the gate's reference needs);
    ``fake_quant_at_inference`` turns them on for int8 export.
    """
    from edge_runtime.errors import EdgeDenoiseError
    from edge_runtime.metrics import score
    from train.evaluate import run_denoiser
    from train.layers import clipped_fake_quants, fake_quant_at_inference, trained_fake_quants

    layers = trained_fake_quants(model)
    if not layers:
        raise EdgeDenoiseError(f"{model.name}: no trained FakeQuant layers; --tune-ranges needs a model trained with --quant-aware")
    pinned = [layer for layer in clipped_fake_quants(model) if layer in layers]
    for layer in pinned:
        layer.low.assign(0.0)
        layer.high.assign(1.0)
    layers = [layer for layer in layers if layer not in pinned]

    t0 = time.perf_counter()

    def ssim() -> float:
        return score(clean01, run_denoiser(lambda batch: np.asarray(model(batch, training=False)), noisy01)).ssim_mean

    fake_quant_at_inference(model, False)
    float_ssim = ssim()
    fake_quant_at_inference(model, True)
    best = start = ssim()
    log(f"tune ranges: {len(layers)} ranges on {len(noisy01)} {split} images ({len(pinned)} pinned to [0, 1]), "
        f"simulated int8 drop {float_ssim - best:.4f}")
    factors_kept: dict[str, float] = {}
    for p in range(passes):
        for layer in layers:
            low, high = float(layer.low.numpy()), float(layer.high.numpy())
            tried = {}
            for f in factors:
                layer.low.assign(low * f)
                layer.high.assign(high * f)
                tried[f] = ssim()
            f, s = max(tried.items(), key=lambda kv: kv[1])
            if s > best:
                best = s
                factors_kept[layer.name] = factors_kept.get(layer.name, 1.0) * f
            else:
                f = 1.0
            layer.low.assign(low * f)
            layer.high.assign(high * f)
        log(f"tune ranges: pass {p + 1}/{passes}, simulated int8 drop {float_ssim - best:.4f}")
    fake_quant_at_inference(model, False)
    tuned = {layer.name: (float(layer.low.numpy()), float(layer.high.numpy())) for layer in layers + pinned}
    scaled = {name: f for name, f in factors_kept.items() if abs(f - 1.0) > 1e-6}
    return RangeTuning(images=len(noisy01), split=split, float_ssim=float_ssim, drop_before=float_ssim - start,
                       drop_after=float_ssim - best, seconds=time.perf_counter() - t0, ranges=tuned, scaled=scaled,
                       pinned=[layer.name for layer in pinned])
