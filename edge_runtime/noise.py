"""One noise language for training, evaluation and the device.

A spec is one or more steps joined by ``+``, applied left to right, each ``kind:value`` or
``kind:low-high`` (the value drawn per image, uniformly, from the range)::

    gaussian:0.1            additive Gaussian, sigma 0.1 of full scale
    gaussian:0.05-0.2       sigma drawn per image
    poisson:30              shot noise, 30 photons at full scale (lower is noisier)
    speckle:0.2             multiplicative: x + x * N(0, 0.2)
    saltpepper:0.05         5 % of pixels set to black or white
    motionblur:9            linear blur, kernel length 9 px, random angle
    jpeg:30-90              JPEG re-compression at quality 30 to 90 (lower is worse)
    camera:8-64             a camera's sensor noise at gain 8 to 64 (edge_runtime.camera_noise): unprocess
                            to raw, shot + read noise, demosaic, process back; 1 is bright, 100 very dim
    profile:cam.json        one measured camera's noise (edge-denoise calibrate; edge_runtime.calibrate): a whole
                            step, the value a path without ',', '+' or '@'
    motionblur:7+gaussian:0.05

Blind training mixes several corruptions: alternatives are separated by ``,`` and weighted
with ``@w`` (default 1); each image draws one alternative, then its strengths::

    gaussian:0-0.2@3,poisson:10-100,motionblur:3-9+gaussian:0.02-0.05

``blind`` names the farm-line mixture (low light, sensor noise of varying strength, motion
blur, compression; see BLIND); ``camera`` a camera's own noise at any gain, bright to dim, raw or
compressed (CAMERA); ``blind_camera`` both, camera noise weighted most (BLIND_CAMERA). Images are float32 in [0, 1], clipped to [0, 1] after every step.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from edge_runtime.errors import EdgeDenoiseError

# kind -> (lowest allowed value, highest allowed value, integer-valued?, what the value means)
KINDS: dict[str, tuple[float, float, bool, str]] = {
    "gaussian": (0.0, 1.0, False, "sigma in [0, 1]"),
    "poisson": (0.1, 1e6, False, "photons at full scale, > 0"),
    "speckle": (0.0, 2.0, False, "sigma in [0, 2]"),
    "saltpepper": (0.0, 1.0, False, "fraction of pixels in [0, 1]"),
    "motionblur": (1, 99, True, "kernel length in pixels, 1 to 99"),
    "jpeg": (0.0, 100.0, False, "quality 0 to 100, lower is worse (rounded; below 1 acts as 1)"),
    "camera": (0.0, 1000.0, False, "sensor gain, 1 (bright, clean) to 100 (dim, very noisy)"),
}
# What a camera on a farm line gives: sensor noise of any strength up to heavy (Gaussian, weighted
# most), low light (few photons), speckle, dead pixels, motion blur under noise, and JPEG
# compression of a noisy frame. The noise level is never given to the model.
BLIND = ("gaussian:0-0.2@3,poisson:5-100@2,speckle:0.05-0.3@1,saltpepper:0.005-0.05@1,"
         "motionblur:3-9+gaussian:0.01-0.05@1,gaussian:0.02-0.1+jpeg:30-90@1,poisson:10-60+jpeg:40-90@1")
# A camera from bright to dim (Brooks et al.'s whole shot-noise range), raw or as MJPG/RTSP gives it.
CAMERA = "camera:1-8@1,camera:8-32@2,camera:32-100@2,camera:4-48+jpeg:50-90@2"
# What the camera default is trained and gated on: camera noise first, motion blur alone (a conveyor under a
# slow shutter in good light), then what BLIND adds.
BLIND_CAMERA = "camera:1-8@2,camera:8-32@3,camera:32-100@3,camera:4-48+jpeg:50-90@3,motionblur:5-11@2," + BLIND
PRESETS: dict[str, str] = {"blind": BLIND, "camera": CAMERA, "blind_camera": BLIND_CAMERA}
_NUMBER = r"(\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?"
_STEP = re.compile(rf"^(?P<kind>[a-z_]+):(?P<low>{_NUMBER})(?:-(?P<high>{_NUMBER}))?$")
_WEIGHT = re.compile(rf"^(?P<chain>[^@]*)@(?P<weight>{_NUMBER})$")


@dataclass(frozen=True)
class NoiseStep:
    """One step of a spec: a kind and the range its strength is drawn from."""

    kind: str
    low: float
    high: float
    profile: object = None  # kind "profile": the loaded edge_runtime.calibrate.CameraProfile

    def apply(self, image01: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """This step on one float image (not clipped)."""
        if self.kind == "profile":
            from edge_runtime.calibrate import replay_profile

            return replay_profile(image01, self.profile, rng)
        return _APPLY[self.kind](image01, self.draw(rng), rng)

    def draw(self, rng: np.random.Generator) -> float:
        if self.low == self.high:
            return self.low
        if KINDS[self.kind][2]:
            return float(rng.integers(int(self.low), int(self.high) + 1))
        return float(rng.uniform(self.low, self.high))


@dataclass(frozen=True)
class NoiseSpec:
    """A parsed noise spec; ``apply`` corrupts one image or a batch.

    A chain has ``steps``; a mixture has ``choices`` (weight, chain) and no steps of its own.
    """

    text: str
    steps: tuple[NoiseStep, ...]
    choices: tuple[tuple[float, "NoiseSpec"], ...] = ()

    def apply(self, image01: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Corrupt an HxWx3 image or an NxHxWx3 batch (alternative and strength drawn per image)."""
        if image01.ndim == 4:
            return np.stack([self.apply(im, rng) for im in image01])
        if self.choices:
            weights = np.array([w for w, _ in self.choices])
            pick = int(rng.choice(len(self.choices), p=weights / weights.sum()))
            return self.choices[pick][1].apply(image01, rng)
        out = np.asarray(image01, dtype=np.float32)
        for step in self.steps:
            out = step.apply(out, rng)
            np.clip(out, 0.0, 1.0, out=out)
        return out

    def __str__(self) -> str:
        return self.text


def _valid_kinds() -> str:
    return (", ".join(KINDS) + ", profile:PATH (e.g. gaussian:0.1, gaussian:0.05-0.2, motionblur:7+gaussian:0.05, "
            "gaussian:0-0.2@3,poisson:10-100@1, or the preset " + ", ".join(PRESETS) + ")")


def parse_noise(text: str) -> NoiseSpec:
    """Parse a spec such as ``motionblur:7+gaussian:0.05``, a weighted list or a preset; bad parts raise one line."""
    text = str(text).strip()
    if not text:
        raise EdgeDenoiseError(f"bad noise spec '': empty; valid kinds: {_valid_kinds()}")
    expanded = PRESETS.get(text.lower(), text)
    if "," not in expanded and "@" not in expanded:
        return _parse_chain(expanded, text)
    choices = []
    for alternative in expanded.split(","):
        alternative = alternative.strip()
        weight = 1.0
        m = _WEIGHT.match(alternative)
        if m:
            alternative, weight = m["chain"].strip(), float(m["weight"])
        elif "@" in alternative:
            raise EdgeDenoiseError(f"bad noise spec '{text}': '{alternative}' needs CHAIN@WEIGHT with a positive number")
        if not alternative:
            raise EdgeDenoiseError(f"bad noise spec '{text}': empty alternative between commas; valid kinds: {_valid_kinds()}")
        if not (0 < weight < float("inf")):
            raise EdgeDenoiseError(f"bad noise spec '{text}': weight of '{alternative}' must be a positive number")
        choices.append((weight, _parse_chain(alternative, text)))
    return NoiseSpec(text=text, steps=(), choices=tuple(choices))


def _parse_chain(chain: str, text: str) -> NoiseSpec:
    """One alternative: steps joined by ``+``; errors quote the whole spec ``text``."""
    steps = []
    for part in chain.split("+"):
        part = part.strip()
        if part[:8].lower() == "profile:":  # the value is a path: case kept, loaded (and checked) now
            steps.append(_profile_step(part[8:].strip(), text))
            continue
        part = part.lower()
        m = _STEP.match(part)
        if not m:
            kind = part.split(":", 1)[0]
            why = (f"unknown kind '{kind}'" if kind not in KINDS
                   else f"'{part}' needs {kind}:VALUE or {kind}:LOW-HIGH with {KINDS[kind][3]}")
            raise EdgeDenoiseError(f"bad noise spec '{text}': {why}; valid kinds: {_valid_kinds()}")
        kind = m["kind"]
        if kind not in KINDS:
            raise EdgeDenoiseError(f"bad noise spec '{text}': unknown kind '{kind}'; valid kinds: {_valid_kinds()}")
        lo_ok, hi_ok, integer, meaning = KINDS[kind]
        low = float(m["low"])
        high = float(m["high"]) if m["high"] is not None else low
        if not (lo_ok <= low <= hi_ok and lo_ok <= high <= hi_ok) or high < low:
            raise EdgeDenoiseError(f"bad noise spec '{text}': '{part}' is out of range; {kind} takes {meaning}")
        if integer and (low != int(low) or high != int(high)):
            raise EdgeDenoiseError(f"bad noise spec '{text}': '{part}' must be a whole number; {kind} takes {meaning}")
        steps.append(NoiseStep(kind, low, high))
    return NoiseSpec(text=text if chain == text else chain, steps=tuple(steps))


def _profile_step(path: str, text: str) -> NoiseStep:
    from edge_runtime.calibrate import load_profile

    if not path:
        raise EdgeDenoiseError(f"bad noise spec '{text}': profile: needs the path of a cam.json, e.g. profile:cam.json")
    try:
        return NoiseStep("profile", 1.0, 1.0, load_profile(path))
    except EdgeDenoiseError as exc:
        raise EdgeDenoiseError(f"bad noise spec '{text}': {exc}") from None


def add_noise(image01: np.ndarray, spec: str | NoiseSpec, rng: np.random.Generator | int | None = None) -> np.ndarray:
    """Corrupt ``image01`` (HxWx3 or NxHxWx3, float in [0, 1]) with ``spec``."""
    if isinstance(spec, str):
        spec = parse_noise(spec)
    if not isinstance(rng, np.random.Generator):
        rng = np.random.default_rng(rng)
    return spec.apply(image01, rng)


def _gaussian(x: np.ndarray, sigma: float, rng: np.random.Generator) -> np.ndarray:
    return x + np.float32(sigma) * rng.standard_normal(x.shape, dtype=np.float32)  # float32 normals: cheaper than normal()


def _poisson(x: np.ndarray, photons: float, rng: np.random.Generator) -> np.ndarray:
    return (rng.poisson(x * photons) / photons).astype(np.float32)


def _speckle(x: np.ndarray, sigma: float, rng: np.random.Generator) -> np.ndarray:
    return x + x * (np.float32(sigma) * rng.standard_normal(x.shape, dtype=np.float32))


def _saltpepper(x: np.ndarray, amount: float, rng: np.random.Generator) -> np.ndarray:
    out = x.copy()
    hit = rng.random(x.shape[:2]) < amount
    salt = rng.random(x.shape[:2]) < 0.5
    out[hit & salt] = 1.0
    out[hit & ~salt] = 0.0
    return out


def motion_kernel(length: int, angle_deg: float) -> np.ndarray:
    """A normalised line kernel of ``length`` pixels at ``angle_deg``."""
    import cv2

    length = int(length)
    if length <= 1:
        return np.ones((1, 1), np.float32)
    k = np.zeros((length, length), np.float32)
    k[length // 2, :] = 1.0
    rot = cv2.getRotationMatrix2D(((length - 1) / 2.0, (length - 1) / 2.0), angle_deg, 1.0)
    k = cv2.warpAffine(k, rot, (length, length), flags=cv2.INTER_LINEAR)
    return k / k.sum()


def _motionblur(x: np.ndarray, length: float, rng: np.random.Generator) -> np.ndarray:
    import cv2

    kernel = motion_kernel(int(length), float(rng.uniform(0.0, 180.0)))
    return cv2.filter2D(x, -1, kernel, borderType=cv2.BORDER_REFLECT)


def _jpeg(x: np.ndarray, quality: float, rng: np.random.Generator) -> np.ndarray:
    import cv2

    bgr = np.clip(np.rint(x[..., ::-1] * 255.0), 0, 255).astype(np.uint8)
    ok, buf = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, max(1, int(round(quality)))])
    return cv2.imdecode(buf, cv2.IMREAD_COLOR)[..., ::-1].astype(np.float32) / 255.0


def _camera(x: np.ndarray, gain: float, rng: np.random.Generator) -> np.ndarray:
    from edge_runtime.camera_noise import camera_noise

    return camera_noise(x, gain, rng)


_APPLY = {
    "gaussian": _gaussian,
    "poisson": _poisson,
    "speckle": _speckle,
    "saltpepper": _saltpepper,
    "motionblur": _motionblur,
    "jpeg": _jpeg,
    "camera": _camera,
}
assert set(_APPLY) == set(KINDS)  # plus "profile:PATH", whose step applies its own CameraProfile (NoiseStep.apply)
