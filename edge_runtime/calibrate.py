"""Measure one camera's noise from a clip of a still scene, and replay it: ``edge-denoise calibrate``.

    profile = calibrate(CalibrateConfig(source="frames/", out="cam.json"))   # then: --noise profile:cam.json

A camera that watches the same scene frame after frame shows its noise as each pixel's temporal
variance. Binned by the pixel's temporal mean, that variance follows ``var = a * mean + b`` per
colour channel (shot noise grows with the signal, read noise does not), in units of the [0, 1]
intensity scale. The differences of consecutive frames (the scene cancels, the noise doubles)
give what the ISP leaves besides: the spatial autocorrelation of demosaicing and denoising, the
correlation between colour channels, row and column noise, and 8x8 block edges where the frames
were compressed. A clip with the lens covered (``--dark``) adds the black end of the range and
measures the fixed pattern. The replay (``replay_profile``, the noise kind ``profile:cam.json``)
draws Gaussian noise with exactly those statistics. Processed frames bend the line (a tone curve
lifts the shadows' noise), so the replay follows the measured variance curve within the range it
covers and the line beyond it; a and b stay the summary.

Frames are streamed: memory is a few float32 frames whatever the clip's length. numpy and OpenCV
only (device side: no TensorFlow).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edge_runtime.errors import EdgeDenoiseError

PROFILE_FORMAT = "edge-denoise-camera/1"
CHANNELS = ("R", "G", "B")
DEFAULT_FRAMES = 32
MIN_FRAMES = 8
BINS = 64  # intensity bins over [0, 1]
MIN_BIN_PIXELS = 64
MIN_BINS = 4
MIN_SPAN = 0.2  # the fitted bins must cover at least this much of full scale, or a and b are not separable
CLIP_SIGMAS = 3.0  # a bin closer than this many sigmas to 0 or 1 is distorted by clipping: not fitted
ACF_RADIUS = 3  # autocorrelation lags -3..3 in x and y; the replay kernel is (2R+1) x (2R+1)
MAX_SHIFT_PX = 1.0  # a frame shifted more than this against the first: the camera or the scene moved
SHIFT_MIN_RESPONSE = 0.8  # phase correlation peaks below this are not trusted
MAX_OUTLIERS = 0.05  # more pixels than this varying far above their bin's noise: something moved
MAX_DRIFT = 0.02  # frame brightness changing more than this (relative): auto exposure or flicker
WARN_DRIFT = 0.005
QUANT_VAR = 1.0 / (12.0 * 255.0**2)  # 8-bit rounding adds 1/12 LSB^2 to every measured variance
LOSSLESS_FOURCC = {"FFV1", "HFYU", "FFVH", "MPNG", "PNG ", "LAGS", "YUYV", "YUY2", "UYVY", "I420", "RGB3", "BGR3",
                   "GREY", "Y800", "RAW ", "rawv"}


@dataclass(frozen=True)
class CalibrateConfig:
    """One ``edge-denoise calibrate``: a clip of a still scene, optionally a dark clip, where to write."""

    source: str
    out: str = "cam.json"
    dark: str | None = None
    frames: int = DEFAULT_FRAMES

    def __post_init__(self) -> None:
        if isinstance(self.frames, bool) or not isinstance(self.frames, int) or self.frames < MIN_FRAMES:
            raise EdgeDenoiseError(f"--frames {self.frames}: calibration needs at least {MIN_FRAMES} frames "
                                   f"({DEFAULT_FRAMES} by default)")


# --- the replay -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class CameraProfile:
    """What the replay needs from a cam.json: per-channel noise line, spatial kernel, channel mix, rows."""

    a: tuple[float, float, float]
    b: tuple[float, float, float]
    kernel: tuple[tuple[float, ...], ...] = ((1.0,),)  # unit energy: filtering keeps the variance
    channel_mix: tuple[tuple[float, ...], ...] = ((1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, 0.0, 1.0))  # Cholesky factor
    row_sigma: tuple[float, float, float] = (0.0, 0.0, 0.0)
    column_sigma: tuple[float, float, float] = (0.0, 0.0, 0.0)
    fixed_sigma: tuple[float, float, float] = (0.0, 0.0, 0.0)  # fixed pattern (dark clip), drawn anew per image
    curve: tuple | None = None  # per channel (means, variances) measured; None: the line a * x + b everywhere
    path: str = ""


def _triple(value, name: str, path: str) -> tuple[float, float, float]:
    try:
        out = tuple(float(v) for v in value)
    except (TypeError, ValueError):
        raise EdgeDenoiseError(f"{path}: '{name}' must be three numbers (R, G, B)") from None
    if len(out) != 3 or not all(math.isfinite(v) for v in out):
        raise EdgeDenoiseError(f"{path}: '{name}' must be three finite numbers (R, G, B)")
    return out  # type: ignore[return-value]


def profile_from_dict(data: dict, path: str = "profile") -> CameraProfile:
    """A CameraProfile from cam.json's content; a missing or malformed field raises one line."""
    if not isinstance(data, dict) or not isinstance(data.get("channels"), dict):
        raise EdgeDenoiseError(f"{path}: not a camera profile (no 'channels'; write one with edge-denoise calibrate)")
    try:
        chans = [data["channels"][c] for c in CHANNELS]
        a, b = _triple([c["a"] for c in chans], "a", path), _triple([c["b"] for c in chans], "b", path)
    except (KeyError, TypeError):
        raise EdgeDenoiseError(f"{path}: camera profile lacks a or b for channels {', '.join(CHANNELS)}") from None
    replay = data.get("replay") or {}
    if min(a) < 0 and not replay.get("curve"):
        raise EdgeDenoiseError(f"{path}: negative shot-noise slope a {a} and no measured curve: not a usable profile")
    kernel = np.asarray(replay.get("kernel", [[1.0]]), np.float64)
    if kernel.ndim != 2 or kernel.shape[0] % 2 == 0 or kernel.shape[1] % 2 == 0 or not np.isfinite(kernel).all() \
            or not (kernel**2).sum() > 0:
        raise EdgeDenoiseError(f"{path}: replay kernel must be an odd-sized 2D array of finite numbers")
    kernel = kernel / np.sqrt((kernel**2).sum())
    mix = np.asarray(replay.get("channel_mix", np.eye(3)), np.float64)
    if mix.shape != (3, 3) or not np.isfinite(mix).all():
        raise EdgeDenoiseError(f"{path}: replay channel_mix must be a 3x3 array of finite numbers")
    zeros = (0.0, 0.0, 0.0)
    curve = None
    if replay.get("curve") is not None:
        try:
            curve = tuple((tuple(float(v) for v in replay["curve"][c][0]), tuple(float(v) for v in replay["curve"][c][1]))
                          for c in CHANNELS)
        except (KeyError, TypeError, ValueError, IndexError):
            raise EdgeDenoiseError(f"{path}: replay curve must give [means, variances] for {', '.join(CHANNELS)}") from None
        if any(len(m) != len(v) or len(m) < 2 or list(m) != sorted(m) or min(v) < 0 for m, v in curve):
            raise EdgeDenoiseError(f"{path}: replay curve needs at least two increasing means and variances >= 0 per channel")
    return CameraProfile(
        a=a, b=b, kernel=tuple(tuple(float(v) for v in row) for row in kernel),
        channel_mix=tuple(tuple(float(v) for v in row) for row in mix),
        row_sigma=_triple(replay.get("row_sigma", zeros), "row_sigma", path),
        column_sigma=_triple(replay.get("column_sigma", zeros), "column_sigma", path),
        fixed_sigma=_triple(replay.get("fixed_sigma", zeros), "fixed_sigma", path), curve=curve, path=path)


def load_profile(path: str | Path) -> CameraProfile:
    """Read a cam.json written by ``calibrate``; a missing or corrupt file raises one line."""
    path = Path(path)
    if not path.is_file():
        raise EdgeDenoiseError(f"{path}: no such camera profile (write one with edge-denoise calibrate --out {path})")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise EdgeDenoiseError(f"{path}: unreadable camera profile ({exc})") from None
    return profile_from_dict(data, str(path))


def noise_variance(image01: np.ndarray, profile: CameraProfile) -> np.ndarray:
    """Per pixel and channel, the variance the profile gives a clean value: the measured curve within its
    range, the line a * x + b beyond it (held at the curve's end where the line falls or goes below 0)."""
    x = np.asarray(image01, np.float32)
    a, b = np.asarray(profile.a, np.float32), np.asarray(profile.b, np.float32)
    line = np.maximum(a * x + b, 0.0)
    if profile.curve is None:
        return line
    out = np.empty_like(x)
    for c, (means, variances) in enumerate(profile.curve):
        xc = x[..., c]
        inside = np.interp(xc, means, variances).astype(np.float32)
        if a[c] >= 0:  # beyond the measured range the physical line carries on, continuous at the ends
            low, high = variances[0] - (a[c] * means[0] + b[c]), variances[-1] - (a[c] * means[-1] + b[c])
            inside = np.where(xc < means[0], np.maximum(line[..., c] + low, 0.0), inside)
            inside = np.where(xc > means[-1], np.maximum(line[..., c] + high, 0.0), inside)
        out[..., c] = inside
    return out


def replay_profile(image01: np.ndarray, profile: CameraProfile, rng: np.random.Generator) -> np.ndarray:
    """Add the profile's noise to a clean HxWx3 image in [0, 1] (not clipped: the noise spec clips).

    White noise is mixed across channels (unit-norm rows keep each channel's variance 1), filtered
    with the unit-energy kernel (spatial correlation, variance still 1), scaled by the square root
    of ``noise_variance`` per pixel and channel, then row, column and fixed-pattern offsets are added.
    """
    import cv2

    x = np.asarray(image01, np.float32)
    h, w = x.shape[:2]
    z = rng.standard_normal(x.shape, dtype=np.float32)
    mix = np.asarray(profile.channel_mix, np.float32)
    if not np.array_equal(mix, np.eye(3, dtype=np.float32)):
        z = z @ mix.T
    kernel = np.asarray(profile.kernel, np.float32)
    if kernel.size > 1:
        z = cv2.filter2D(z, -1, kernel, borderType=cv2.BORDER_REFLECT)
    out = x + np.sqrt(noise_variance(x, profile)) * z
    for sigma, shape in ((profile.row_sigma, (h, 1, 1)), (profile.column_sigma, (1, w, 1)), (profile.fixed_sigma, None)):
        s = np.asarray(sigma, np.float32)
        if s.any():
            out += (rng.standard_normal(shape or x.shape, dtype=np.float32)) * s
    return out


# --- measuring a clip ---------------------------------------------------------------------------------
def _lags(radius: int) -> list[tuple[int, int]]:
    """The half-plane of (dy, dx) lags: the autocorrelation is symmetric, so the other half follows."""
    return [(dy, dx) for dy in range(radius + 1) for dx in range(-radius, radius + 1) if dy > 0 or dx >= 0]


@dataclass
class ClipStats:
    """Streaming statistics of a clip: per-pixel temporal mean and M2 (Welford), and sums over frame differences."""

    shape: tuple[int, int]
    n: int = 0
    mean: np.ndarray | None = None
    m2: np.ndarray | None = None
    low_hits: np.ndarray | None = None  # frames in which the pixel read 0
    high_hits: np.ndarray | None = None  # ... 255
    frame_means: list = field(default_factory=list)
    max_shift: float = 0.0
    acf: dict = field(default_factory=dict)  # (dy, dx) -> [sum of products per channel, pairs per channel]
    channel_cov: np.ndarray = field(default_factory=lambda: np.zeros((3, 3)))
    channel_n: float = 0.0
    rows: np.ndarray = field(default_factory=lambda: np.zeros(3))  # sum of squared row means of the difference
    cols: np.ndarray = field(default_factory=lambda: np.zeros(3))
    diff_sq: np.ndarray = field(default_factory=lambda: np.zeros(3))  # sum of squared differences (all pixels)
    highpass_sq: np.ndarray = field(default_factory=lambda: np.zeros(3))  # sum of squared high-passed differences
    block: np.ndarray = field(default_factory=lambda: np.zeros(4))  # gradients^2 at / off 8-px edges, counts
    pairs: int = 0
    _prev: np.ndarray | None = None
    _prev_u8: np.ndarray | None = None
    _gray0: np.ndarray | None = None
    _window: np.ndarray | None = None

    def add(self, frame_rgb: np.ndarray) -> None:
        import cv2

        x = frame_rgb.astype(np.float32) * np.float32(1.0 / 255.0)
        self.n += 1
        if self.mean is None:
            self.mean, self.m2 = x.copy(), np.zeros_like(x)
            self.low_hits = np.zeros(x.shape, np.uint16)
            self.high_hits = np.zeros(x.shape, np.uint16)
        else:
            delta = x - self.mean
            self.mean += delta / np.float32(self.n)
            self.m2 += delta * (x - self.mean)
        self.low_hits += frame_rgb == 0
        self.high_hits += frame_rgb == 255
        self.frame_means.append(x.mean(axis=(0, 1)))
        # the shift against the first frame, at half size (less noise); a weak peak (a scene without
        # texture) says nothing, and there the outlier count below catches motion instead
        gray = cv2.resize(cv2.cvtColor(x, cv2.COLOR_RGB2GRAY), None, fx=0.5, fy=0.5, interpolation=cv2.INTER_AREA)
        gray = cv2.GaussianBlur(gray, (0, 0), 1.5)
        if self._gray0 is None:
            self._gray0 = gray
            self._window = cv2.createHanningWindow(gray.shape[::-1], cv2.CV_32F)
        else:
            (dx, dy), response = cv2.phaseCorrelate(self._gray0, gray, self._window)
            if response > SHIFT_MIN_RESPONSE:
                self.max_shift = max(self.max_shift, 2.0 * float(np.hypot(dx, dy)))
        if self._prev is not None:
            self._add_difference(x - self._prev, frame_rgb)
        self._prev, self._prev_u8 = x, frame_rgb

    def _add_difference(self, d: np.ndarray, frame_rgb: np.ndarray) -> None:
        import cv2

        h, w = self.shape
        clipped = (frame_rgb == 0) | (frame_rgb == 255) | (self._prev_u8 == 0) | (self._prev_u8 == 255)
        valid = (~clipped).astype(np.float32)
        dm = d * valid
        for dy, dx in _lags(ACF_RADIUS):
            y0, x0, x1 = dy, max(0, dx), max(0, -dx)
            a = dm[: h - y0, x1 : w - x0]
            b = dm[y0:, x0 : w - x1 if x1 else w]
            va = valid[: h - y0, x1 : w - x0]
            vb = valid[y0:, x0 : w - x1 if x1 else w]
            sums = self.acf.setdefault((dy, dx), [np.zeros(3), np.zeros(3)])
            sums[0] += np.einsum("ijc,ijc->c", a, b, dtype=np.float64)
            sums[1] += np.einsum("ijc,ijc->c", va, vb, dtype=np.float64)
        flat = dm.reshape(-1, 3).astype(np.float64)
        self.channel_cov += flat.T @ flat
        self.channel_n += float(valid.all(axis=2).sum())
        centred = d - d.mean(axis=(0, 1))  # a global brightness step is not row noise
        self.rows += (centred.mean(axis=1) ** 2).sum(axis=0)
        self.cols += (centred.mean(axis=0) ** 2).sum(axis=0)
        self.diff_sq += (centred.astype(np.float64) ** 2).sum(axis=(0, 1))
        high = centred - cv2.blur(centred, (7, 7), borderType=cv2.BORDER_REFLECT)
        self.highpass_sq += (high.astype(np.float64) ** 2).sum(axis=(0, 1))
        gx = np.diff(dm, axis=1) ** 2  # gradient between columns j and j+1: block edges at j % 8 == 7
        edge = (np.arange(w - 1) % 8) == 7
        self.block += [gx[:, edge].sum(), gx[:, ~edge].sum(), gx[:, edge].size, gx[:, ~edge].size]
        self.pairs += 1


def read_clip(uri: str, frames: int, role: str = "--source") -> tuple[ClipStats, dict]:
    """Stream up to ``frames`` frames of ``uri`` into ClipStats; also say how the source is compressed."""
    from edge_runtime.sources import open_source

    with open_source(uri) as source:
        stats: ClipStats | None = None
        while stats is None or stats.n < frames:
            frame = source.read()
            if frame is None:
                break
            if stats is None:
                stats = ClipStats(frame.shape[:2])
            elif frame.shape[:2] != stats.shape:
                raise EdgeDenoiseError(f"{uri}: frame {stats.n + 1} is {frame.shape[0]}x{frame.shape[1]}, the first "
                                       f"was {stats.shape[0]}x{stats.shape[1]}: record the {role} clip at one resolution")
            stats.add(frame)
        compression = source_compression(source)
    if stats is None:
        raise EdgeDenoiseError(f"{uri}: no frames; calibration needs at least {MIN_FRAMES} frames of a still scene")
    return stats, compression


def source_compression(source) -> dict:
    """Whether the source's frames went through lossy compression, as far as its kind and format tell."""
    kind = type(source).__name__
    paths = getattr(source, "paths", None)
    if paths is not None:
        suffixes = sorted({Path(p).suffix.lower() for p in paths})
        lossy = [s for s in suffixes if s in (".jpg", ".jpeg", ".webp")]
        return {"lossy": bool(lossy), "how": f"{'/'.join(suffixes)} files"}
    capture = getattr(source, "capture", None)
    if capture is not None:  # a video file
        import cv2

        code = int(capture.get(cv2.CAP_PROP_FOURCC) or 0)
        fourcc = "".join(chr((code >> 8 * i) & 0xFF) for i in range(4)) if code else "?"
        return {"lossy": fourcc not in LOSSLESS_FOURCC, "how": f"video codec {fourcc.strip() or '?'}"}
    fmt = getattr(source, "format", None)
    if fmt:  # a V4L2 camera: MJPG is JPEG per frame, YUYV is not compressed
        return {"lossy": fmt not in LOSSLESS_FOURCC, "how": f"camera format {fmt}"}
    if "stream" in source.uri.split("://", 1)[0] or "://" in source.uri and not source.uri.startswith(("picamera2", "csi")):
        return {"lossy": True, "how": "network stream"}
    return {"lossy": False, "how": kind}


# --- fitting ---------------------------------------------------------------------------------------------
def _chi2_upper_ratio(dof: int) -> float:
    """The 99.9th percentile of a chi-square(dof)/dof sample variance over its median (Wilson-Hilferty)."""
    def quantile(z: float) -> float:
        c = 2.0 / (9.0 * dof)
        return (1.0 - c + z * math.sqrt(c)) ** 3
    return quantile(3.09) / quantile(0.0)


def bin_variances(mean: np.ndarray, var: np.ndarray, dof: int) -> list[dict]:
    """Per intensity bin: mean intensity, mean temporal variance (outliers cut), pixels, outliers, fittable."""
    ratio = _chi2_upper_ratio(dof)
    index = np.minimum((mean * BINS).astype(np.int64), BINS - 1)
    order = np.argsort(index, kind="stable")
    index, mean, var = index[order], mean[order], var[order]
    edges = np.searchsorted(index, np.arange(BINS + 1))
    out = []
    for k in range(BINS):
        lo, hi = edges[k], edges[k + 1]
        if hi - lo < MIN_BIN_PIXELS:
            continue
        v, m = var[lo:hi], mean[lo:hi]
        keep = v <= np.median(v) * ratio
        vm, mm = float(v[keep].mean()), float(m[keep].mean())
        sd = math.sqrt(max(vm, 0.0))
        fit = vm > 0 and mm - CLIP_SIGMAS * sd > 0.0 and mm + CLIP_SIGMAS * sd < 1.0
        out.append({"mean": mm, "var": vm, "pixels": int(keep.sum()), "outliers": int((~keep).sum()), "fit": bool(fit)})
    return out


def fit_line(bins: list[dict]) -> tuple[float, float, float, list[dict], tuple[float, float]]:
    """Weighted, outlier-rejecting fit of var = a * mean + b over the fittable bins.

    Returns (a, b, rms relative error, bins marked ``used``, standard errors of a and b)."""
    use = [b for b in bins if b["fit"]]
    if len(use) < 2:
        return float("nan"), float("nan"), float("nan"), bins, (float("nan"), float("nan"))
    a = b0 = float("nan")
    for _ in range(4):
        x = np.array([b["mean"] for b in use])
        y = np.array([b["var"] for b in use])
        w = np.sqrt(np.array([b["pixels"] for b in use], np.float64)) / y  # relative errors, more pixels count more
        (a, b0), *_ = np.linalg.lstsq(np.stack([x, np.ones_like(x)], 1) * w[:, None], y * w, rcond=None)
        rel = (y - (a * x + b0)) / y
        spread = max(0.05, 4.0 * 1.4826 * float(np.median(np.abs(rel - np.median(rel)))))
        bad = np.abs(rel) > spread
        if not bad.any() or len(use) - bad.sum() < MIN_BINS:
            break
        use = [b for b, drop in zip(use, bad) if not drop]
    chosen = {id(b) for b in use}
    for b in bins:
        b["used"] = id(b) in chosen
    x = np.array([b["mean"] for b in use])
    y = np.array([b["var"] for b in use])
    rel = (y - (a * x + b0)) / y
    rms = float(np.sqrt(np.mean(rel**2)))
    w = np.sqrt(np.array([b["pixels"] for b in use], np.float64)) / y
    design = np.stack([x, np.ones_like(x)], 1) * w[:, None]
    scale = float(((rel * y * w) ** 2).sum() / max(len(use) - 2, 1))
    cov = np.linalg.pinv(design.T @ design) * scale  # standard errors from the scatter about the line
    se = (float(np.sqrt(max(cov[0, 0], 0.0))), float(np.sqrt(max(cov[1, 1], 0.0))))
    return float(a), float(b0), rms, bins, se


def autocorrelation(stats: ClipStats) -> np.ndarray:
    """The normalised spatial autocorrelation of the temporal noise, (2R+1) x (2R+1), averaged over channels."""
    r = ACF_RADIUS
    zero = stats.acf[(0, 0)][0] / np.maximum(stats.acf[(0, 0)][1], 1)
    acf = np.zeros((2 * r + 1, 2 * r + 1))
    for (dy, dx), (s, n) in stats.acf.items():
        value = float(np.mean((s / np.maximum(n, 1)) / np.maximum(zero, 1e-30)))
        acf[r + dy, r + dx] = acf[r - dy, r - dx] = value
    return acf


def kernel_from_autocorrelation(acf: np.ndarray) -> np.ndarray:
    """A zero-phase unit-energy kernel whose autocorrelation is ``acf`` (square root of the power spectrum)."""
    r = acf.shape[0] // 2
    if np.abs(acf - (np.arange(acf.size) == acf.size // 2).reshape(acf.shape)).max() < 0.02:
        return np.ones((1, 1))  # white within the measurement: no filtering in the replay
    n = 32
    grid = np.zeros((n, n))
    for dy in range(-r, r + 1):
        for dx in range(-r, r + 1):
            grid[dy % n, dx % n] = acf[r + dy, r + dx]
    power = np.maximum(np.fft.fft2(grid).real, 0.0)
    k = np.fft.fftshift(np.fft.ifft2(np.sqrt(power)).real)
    c = n // 2
    k = k[c - r : c + r + 1, c - r : c + r + 1]
    return k / np.sqrt((k**2).sum())


def channel_mix(stats: ClipStats) -> tuple[np.ndarray, np.ndarray]:
    """(correlation between channels' noise, its Cholesky factor: the replay's channel mix)."""
    cov = stats.channel_cov / max(stats.channel_n, 1.0)
    sd = np.sqrt(np.maximum(np.diag(cov), 1e-30))
    corr = cov / np.outer(sd, sd)
    vals, vecs = np.linalg.eigh((corr + corr.T) / 2)
    fixed = vecs @ np.diag(np.maximum(vals, 1e-3)) @ vecs.T  # positive definite
    fixed /= np.sqrt(np.outer(np.diag(fixed), np.diag(fixed)))
    return corr, np.linalg.cholesky(fixed)


def line_noise(stats: ClipStats, acf: np.ndarray) -> dict:
    """Row and column noise: variance of row (column) means of the frame differences against what
    pixel noise with the measured spatial correlation alone would give; sigma in [0, 1] units."""
    h, w = stats.shape
    r = acf.shape[0] // 2
    pixel_var = stats.diff_sq / (stats.pairs * h * w)
    out = {}
    for name, measured_sum, count, length, along in (("rows", stats.rows, h, w, acf[r, :]), ("columns", stats.cols, w, h, acf[:, r])):
        measured = measured_sum / (stats.pairs * count)
        predicted = pixel_var / length * float(along.sum())
        ratio = measured / np.maximum(predicted, 1e-30)
        significant = ratio > 1.0 + 6.0 * math.sqrt(2.0 / (stats.pairs * count))
        sigma = np.where(significant, np.sqrt(np.maximum(measured - predicted, 0.0) / 2.0), 0.0)
        out[name] = {"sigma": [round(float(s), 6) for s in sigma], "variance_ratio": [round(float(v), 3) for v in ratio]}
    return out


def fixed_pattern(dark: ClipStats) -> dict:
    """Fixed-pattern noise of a dark clip: the high-pass of its temporal mean beyond what temporal noise explains."""
    import cv2

    mean = dark.mean
    high = mean - cv2.blur(mean, (7, 7), borderType=cv2.BORDER_REFLECT)
    unclipped = dark.low_hits == 0
    measured = np.array([float((high[..., c][unclipped[..., c]] ** 2).mean()) if unclipped[..., c].any() else 0.0
                         for c in range(3)])
    h, w = dark.shape
    temporal = dark.highpass_sq / (dark.pairs * h * w) / 2.0 / dark.n  # the mean's own noise after the high-pass
    excess = np.maximum(measured - temporal, 0.0)
    significant = measured > temporal * (1.0 + 6.0 * math.sqrt(2.0 / max(int(unclipped.sum() // 3), 1)))
    sigma = np.where(significant, np.sqrt(excess / (1.0 - 1.0 / 49.0)), 0.0)
    return {"sigma": [round(float(s), 6) for s in sigma], "clipped_at_black": round(float(1.0 - unclipped.mean()), 3)}


# --- the whole calibration -----------------------------------------------------------------------------------
def _check_clip(stats: ClipStats, uri: str) -> list[str]:
    """Refuse a clip that cannot be calibrated, in one line that says what to change; return warnings."""
    if stats.n < MIN_FRAMES:
        raise EdgeDenoiseError(f"{uri}: {stats.n} frame(s); calibration needs at least {MIN_FRAMES} frames of a "
                               f"still scene: record a longer clip (e.g. {DEFAULT_FRAMES} frames)")
    if stats.max_shift > MAX_SHIFT_PX:
        raise EdgeDenoiseError(f"{uri}: the scene moved between frames (up to {stats.max_shift:.1f} px): fix the camera "
                               f"on a stand and keep the scene still while recording")
    return []


def _check_drift(stats: ClipStats, acf: np.ndarray, uri: str) -> list[str]:
    """Refuse a clip whose brightness changed between frames (beyond what noise does to a frame's mean)."""
    means = np.array(stats.frame_means)
    h, w = stats.shape
    pixel_var = stats.diff_sq / (2.0 * stats.pairs * h * w)
    noise_sd = np.sqrt(pixel_var * max(float(acf.sum()), 1.0) / (h * w))  # a frame mean's own noise
    dev = np.abs(means - means.mean(axis=0))
    dev = np.where(dev > 5.0 * noise_sd, dev, 0.0)
    drift = float((dev / np.maximum(means.mean(axis=0), 0.05)).max())
    if drift > MAX_DRIFT:
        raise EdgeDenoiseError(f"{uri}: the brightness changed by up to {100 * drift:.1f} % between frames (auto "
                               f"exposure or a flickering light): lock exposure, gain and white balance, use steady light")
    return [f"{uri}: the brightness changed by up to {100 * drift:.1f} % between frames (auto exposure or flicker?)"] \
        if drift > WARN_DRIFT else []


def _check_range(stats: ClipStats, fits: dict, uri: str) -> list[str]:
    """Refuse fits over too little of the intensity range, saying whether the clip is saturated, dark or flat."""
    saturated = float((stats.high_hits >= max(stats.n // 4, 1)).mean())  # clipped in a quarter of the frames
    dark = float((stats.mean < 0.03).mean())
    spans = {c: f["range"][1] - f["range"][0] if f["range"] else 0.0 for c, f in fits.items()}
    narrow = [c for c, s in spans.items() if s < MIN_SPAN or fits[c]["bins_used"] < MIN_BINS]
    if not narrow:  # dark backgrounds and bright highlights are fine while the rest spans enough of the range
        return [f"{uri}: {100 * saturated:.0f} % of pixels saturated (left out of the fit)"] if saturated > 0.2 else []
    if saturated > 0.25:
        raise EdgeDenoiseError(f"{uri}: saturated ({100 * saturated:.0f} % of pixels at full scale): lower the exposure, "
                               f"the gain or the light")
    if dark > 0.25:
        raise EdgeDenoiseError(f"{uri}: too dark ({100 * dark:.0f} % of pixels below 3 % of full scale): raise the "
                               f"exposure or the light")
    if narrow:
        c = narrow[0]
        lo, hi = fits[c]["range"] or (0.0, 0.0)
        raise EdgeDenoiseError(f"{uri}: channel {c}'s intensities cover only {lo:.2f}-{hi:.2f} of full scale (at least "
                               f"{MIN_SPAN} needed): show a scene with dark and bright parts, e.g. a grey card half in shadow")


def _curve(bins: list[dict], offset: float) -> list[list[float]]:
    """[[means], [variances]] of the fitted bins of one channel, less ``offset`` (8-bit rounding, rows), for the replay."""
    used = sorted((b for b in bins if b.get("used")), key=lambda b: b["mean"])
    var = np.array([b["var"] for b in used])
    weight = np.array([b["pixels"] for b in used], np.float64)
    smooth = np.convolve(var * weight, np.ones(5), "same") / np.convolve(weight, np.ones(5), "same")  # 5 bins: less noise
    return [[round(b["mean"], 5) for b in used], [round(max(float(v) - offset, 0.0), 9) for v in smooth]]


def _compression_warning(uri: str, compression: dict) -> list[str]:
    lines = []
    if compression.get("lossy"):
        lines.append(f"{uri}: lossy compression ({compression['how']}) removes and reshapes noise, so this profile "
                     f"describes the compressed frames; record lossless frames (PNG, a YUYV or raw mode) if you can")
    ratio = compression.get("block_edge_ratio")
    if ratio is not None and ratio > 1.15 and not compression.get("lossy"):
        lines.append(f"{uri}: the noise jumps at 8-pixel block edges ({ratio:.2f}x): these frames were JPEG/MPEG "
                     f"compressed before they were saved")
    return lines


def calibrate(config: CalibrateConfig, log=lambda line: None) -> dict:
    """Measure the camera, write ``config.out`` (cam.json) and its plot (cam.png) atomically; return the profile dict."""
    from datetime import datetime, timezone

    from edge_runtime.atomic import write_json_atomic

    if not str(config.out).lower().endswith(".json"):
        raise EdgeDenoiseError(f"--out {config.out}: give a .json file, e.g. cam.json")
    stats, compression = read_clip(config.source, config.frames)
    warnings = _check_clip(stats, config.source)
    log(f"{config.source}: {stats.n} frames of {stats.shape[0]}x{stats.shape[1]}")
    dark = None
    if config.dark:
        dark, _ = read_clip(config.dark, config.frames, "--dark")
        if dark.n < MIN_FRAMES:
            raise EdgeDenoiseError(f"{config.dark}: {dark.n} frame(s); the dark clip needs at least {MIN_FRAMES} frames")
        log(f"{config.dark}: {dark.n} dark frames")
    blocks = stats.block
    compression["block_edge_ratio"] = round(float((blocks[0] / max(blocks[2], 1)) / max(blocks[1] / max(blocks[3], 1), 1e-30)), 3)
    warnings += _compression_warning(config.source, compression)

    fits, plot_bins = {}, {}
    for c, name in enumerate(CHANNELS):
        var = stats.m2[..., c].ravel() / (stats.n - 1)
        bins = bin_variances(stats.mean[..., c].ravel(), var, stats.n - 1)
        if dark is not None:
            dark_bins = bin_variances(dark.mean[..., c].ravel(), dark.m2[..., c].ravel() / (dark.n - 1), dark.n - 1)
            bins += [{**b, "dark": True} for b in dark_bins]
        a, b, rms, bins, se = fit_line(bins)
        used = [bb for bb in bins if bb.get("used")]
        outliers = sum(bb["outliers"] for bb in bins if not bb.get("dark")) / max(
            sum(bb["outliers"] + bb["pixels"] for bb in bins if not bb.get("dark")), 1)
        fits[name] = {"a": a, "b": b - QUANT_VAR if math.isfinite(b) else b,
                      "range": [round(min(bb["mean"] for bb in used), 4), round(max(bb["mean"] for bb in used), 4)] if used else None,
                      "bins_used": len(used), "fit_rms_relative": round(rms, 4), "outliers": outliers,
                      "a_se": se[0], "b_se": se[1]}
        plot_bins[name] = bins
    warnings += _check_range(stats, fits, config.source)
    worst = max(f["outliers"] for f in fits.values())
    if worst > MAX_OUTLIERS:
        raise EdgeDenoiseError(f"{config.source}: {100 * worst:.0f} % of pixels vary far more than noise does (something "
                               f"in the scene moved, or the light flickers): keep the scene and the light still")
    for name, f in fits.items():
        if not math.isfinite(f["a"]):
            raise EdgeDenoiseError(f"{config.source}: channel {name}'s noise could not be fitted: show a scene with dark "
                                   f"and bright parts, e.g. a grey card half in shadow")
        if f["a"] < 0:  # a tone curve (gamma) lifts shadows' noise above highlights': processed frames, not raw
            warnings.append(f"channel {name}: the noise falls with brightness (a = {f['a']:.2g}), as a camera's tone "
                            f"curve makes it; the replay follows the measured curve, not the line")
        if f["a"] >= 0 and f["fit_rms_relative"] <= 0.1 and f["b_se"] > 0.1 * abs(f["b"]):
            warnings.append(f"channel {name}: read noise b known to +-{100 * f['b_se'] / max(abs(f['b']), 1e-12):.0f} % only: "
                            f"record more frames (--frames 64) or a scene with more dark grey parts")
        if f["a"] >= 0 and f["fit_rms_relative"] > 0.1:
            warnings.append(f"channel {name}: the noise departs from a straight line by {100 * f['fit_rms_relative']:.0f} % "
                            f"rms (a tone curve?); the replay follows the measured curve")
    acf = autocorrelation(stats)
    kernel = kernel_from_autocorrelation(acf)
    corr, mix = channel_mix(stats)
    warnings += _check_drift(stats, acf, config.source)
    lines = line_noise(stats, acf)
    for c, (name, f) in enumerate(fits.items()):  # row and column offsets are replayed on their own, not in b
        f["b_fitted"] = f["b"] + QUANT_VAR
        f["b"] -= lines["rows"]["sigma"][c] ** 2 + lines["columns"]["sigma"][c] ** 2
        if f["b"] < 0:
            warnings.append(f"channel {name}: fitted read noise b = {f['b']:.2g} < 0 (clipped shadows?); the replay uses 0")
    r = ACF_RADIUS
    pattern = fixed_pattern(dark) if dark is not None else None
    if pattern and pattern["clipped_at_black"] > 0.5:
        warnings.append(f"{config.dark}: {100 * pattern['clipped_at_black']:.0f} % of dark pixels read 0 (the camera clips "
                        f"black): its read noise and fixed pattern are only partly visible")
    profile = {
        "format": PROFILE_FORMAT,
        "source": str(config.source),
        "dark_source": str(config.dark) if config.dark else None,
        "frames": stats.n,
        "dark_frames": dark.n if dark is not None else 0,
        "size": list(stats.shape),
        "units": "variance of [0, 1] intensities: var = a * mean + b; b_fitted is the line's intercept, b leaves out "
                 "8-bit rounding (1/12 LSB^2) and the row and column noise the replay adds apart",
        "channels": {name: {"a": round(f["a"], 8), "b": round(max(f["b"], 0.0), 9), "b_fitted": round(f["b_fitted"], 9),
                            "a_se": float(f"{f['a_se']:.2g}"), "b_se": float(f"{f['b_se']:.2g}"),
                            "range": f["range"], "bins_used": f["bins_used"], "fit_rms_relative": f["fit_rms_relative"],
                            "outlier_pixels": round(f["outliers"], 4)} for name, f in fits.items()},
        "correlation": {
            "lag1_x": round(float(acf[r, r + 1]), 4), "lag1_y": round(float(acf[r + 1, r]), 4),
            "lag2_x": round(float(acf[r, r + 2]), 4), "lag2_y": round(float(acf[r + 2, r]), 4),
            "autocorrelation": [[round(float(v), 4) for v in row] for row in acf],
            "between_channels": [[round(float(v), 4) for v in row] for row in corr],
        },
        "row_noise": lines["rows"],
        "column_noise": lines["columns"],
        "fixed_pattern": pattern or {"sigma": None, "note": "measured only with --dark (a clip with the lens covered)"},
        "compression": compression,
        "max_shift_px": round(stats.max_shift, 3),
        "replay": {
            "kernel": [[round(float(v), 6) for v in row] for row in kernel],
            "channel_mix": [[round(float(v), 6) for v in row] for row in mix],
            "row_sigma": lines["rows"]["sigma"],
            "column_sigma": lines["columns"]["sigma"],
            "fixed_sigma": pattern["sigma"] if pattern else [0.0, 0.0, 0.0],
            "curve": {name: _curve(plot_bins[name], fits[name]["b_fitted"] - fits[name]["b"]) for name in CHANNELS},
        },
        "warnings": warnings,
        "plot": str(Path(config.out).with_suffix(".png").name),
        "plot_renderer": "opencv",
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    write_fit_plot(Path(config.out).with_suffix(".png"), plot_bins, fits)
    write_json_atomic(config.out, profile)
    return profile


# --- the plot ------------------------------------------------------------------------------------------------
def write_fit_plot(path: str | Path, bins: dict[str, list[dict]], fits: dict[str, dict]) -> None:
    """Variance against mean per channel (dots: bins, hollow: not fitted) with each fitted line, drawn with OpenCV."""
    import cv2

    from edge_runtime.atomic import atomic_path

    width, height, left, right, top, bottom = 720, 480, 90, 20, 40, 50
    img = np.full((height, width, 3), 255, np.uint8)
    ymax = max([b["var"] for bs in bins.values() for b in bs if b.get("used")] + [1e-12]) * 1.3
    colours = {"R": (40, 40, 220), "G": (40, 160, 40), "B": (220, 80, 40)}  # BGR

    def px(x: float, y: float) -> tuple[int, int]:
        return (int(left + x * (width - left - right)), int(height - bottom - min(y / ymax, 1.05) * (height - top - bottom)))

    cv2.rectangle(img, px(0, 0), px(1, ymax), (0, 0, 0), 1)
    for t in np.linspace(0, 1, 6):
        cv2.putText(img, f"{t:.1f}", (px(t, 0)[0] - 10, height - bottom + 18), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 0, 0), 1)
        cv2.putText(img, f"{t * ymax:.1e}", (5, px(0, t * ymax)[1] + 4), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 0, 0), 1)
    cv2.putText(img, "temporal mean (0-1)", (width // 2 - 70, height - 12), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 1)
    cv2.putText(img, "temporal variance", (5, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 1)
    for i, (name, bs) in enumerate(bins.items()):
        colour = colours[name]
        for b in bs:
            cv2.circle(img, px(b["mean"], b["var"]), 3, colour, -1 if b.get("used") else 1, cv2.LINE_AA)
        a, b0 = fits[name]["a"], fits[name]["b_fitted"]
        if math.isfinite(a) and math.isfinite(b0):
            cv2.line(img, px(0, b0), px(1, a + b0), colour, 1, cv2.LINE_AA)
            cv2.putText(img, f"{name}: a={a:.3g} b={fits[name]['b']:.3g}", (left + 10, top + 18 + 18 * i),
                        cv2.FONT_HERSHEY_SIMPLEX, 0.5, colour, 1, cv2.LINE_AA)
    ok, buf = cv2.imencode(".png", img)
    if not ok:
        raise EdgeDenoiseError(f"{path}: could not encode the fit plot")
    with atomic_path(path) as tmp:
        tmp.write_bytes(buf.tobytes())


def simulate_clip(clean01: np.ndarray, profile: CameraProfile, frames: int, rng: np.random.Generator) -> list[np.ndarray]:
    """A still scene as a camera with ``profile`` would record it: ``frames`` uint8 RGB frames (tests, benchmarks).

    The fixed pattern is drawn once for the clip, as a sensor's is; everything else anew per frame."""
    from dataclasses import replace

    clean01 = np.asarray(clean01, np.float32)
    pattern = rng.standard_normal(clean01.shape, dtype=np.float32) * np.asarray(profile.fixed_sigma, np.float32)
    moving = replace(profile, fixed_sigma=(0.0, 0.0, 0.0))
    return [np.clip(np.rint((replay_profile(clean01, moving, rng) + pattern) * 255.0), 0, 255).astype(np.uint8)
            for _ in range(frames)]
