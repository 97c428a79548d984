"""``edge-denoise calibrate``: measure one camera's noise into cam.json (edge_runtime.calibrate, no TensorFlow)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from edge_denoise.console import console, err_console


def calibrate(
    source: Annotated[str, typer.Option(help="A clip of a still scene with dark and bright parts: a folder of PNG frames, a video, a camera (0, picamera2://0, ...): anything run --source takes.")],
    out: Annotated[Path, typer.Option(help="The profile to write (a plot of the fit goes next to it, .png).")] = Path("cam.json"),
    dark: Annotated[Optional[str], typer.Option(help="Optional clip with the lens covered: adds the black end of the fit and measures the fixed pattern.")] = None,
    frames: Annotated[int, typer.Option(help="Read at most this many frames of each clip (at least 8).")] = 32,
) -> None:
    """Measure a camera's noise from a clip of a still scene; train for it with --noise profile:cam.json.

    It fits var = a * mean + b per colour channel and measures the noise's correlation, row and fixed-pattern noise and compression.

    Record with the camera fixed, the scene and the light still, and exposure, gain and white balance locked.
    """
    from edge_runtime.calibrate import CHANNELS, CalibrateConfig
    from edge_runtime.calibrate import calibrate as run_calibrate

    profile = run_calibrate(CalibrateConfig(source=source, out=str(out), dark=dark, frames=frames),
                            log=lambda line: err_console.print(line, highlight=False, soft_wrap=True))
    for line in profile["warnings"]:
        err_console.print(f"[yellow]warning[/]: {line}", highlight=False, soft_wrap=True)
    for name in CHANNELS:
        c = profile["channels"][name]
        console.print(f"{name}: var = {c['a']:.3g} * mean + {c['b']:.3g}  over {c['range'][0]:.2f}-{c['range'][1]:.2f} "
                      f"({c['bins_used']} bins, fit within {100 * c['fit_rms_relative']:.1f} % rms)", highlight=False, soft_wrap=True)
    corr = profile["correlation"]
    console.print(f"spatial correlation: lag 1 {corr['lag1_x']:.2f} (x) {corr['lag1_y']:.2f} (y), lag 2 {corr['lag2_x']:.2f} "
                  f"{corr['lag2_y']:.2f}; row noise sigma {max(profile['row_noise']['sigma']):.4f}", highlight=False, soft_wrap=True)
    console.print(f"wrote {out} and {out.with_suffix('.png')}; train for this camera with --noise profile:{out}", highlight=False, soft_wrap=True)
