"""TrainConfig: every setting of a training run, saved as JSON next to what it produced."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path

from edge_runtime.errors import EdgeDenoiseError


@dataclass(frozen=True)
class TrainConfig:
    """How to train one denoiser. Defaults train the U-Net the toolkit ships."""

    model: str = "unet"
    data: str | None = None  # clean images; None: $EDGE_DENOISE_DATA (edge_runtime.splits.data_folder)
    out: str = "runs/unet"
    noise: str = "gaussian:0.1"
    size: int = 128
    crop: int | None = None  # train on random crops of this side (faster epochs; the model is fully convolutional)
    epochs: int = 30
    batch_size: int = 16
    learning_rate: float = 1e-3
    width: int = 32
    depth: int = 3
    residual: bool = True
    loss: str = "mix"
    seed: int = 0
    split_manifest: str | None = None
    max_images: int | None = None  # cap per split, for quick tries and tests
    # every default from here on keeps the behaviour (and the layers) of runs made before the option existed
    augment: str | None = None  # e.g. "flip,rot90,light,jpeg" or "all" (train.data.AUGMENTATIONS)
    attention: str | None = None  # U-Net: None, "se" or "cbam"
    separable: bool = False  # U-Net and fastnet: depthwise-separable 3x3 convs
    schedule: str = "constant"  # or "cosine" (decays to 0 over epochs * steps)
    blocks: int = 4  # fastnet: residual blocks
    scale: int = 4  # fastnet: pixel-unshuffle factor, 2 or 4
    unshuffle: int = 1  # U-Net: run at 1/unshuffle resolution on pixel-unshuffled input (1, 2 or 4)
    backbone: str = "mobilenetv3"  # backbone_unet: mobilenetv3, efficientnet or resnet50
    weights: str | None = None  # backbone_unet: local pretrained encoder weights (.h5 / .weights.h5)
    init_from: str | None = None  # start from this trained .keras model (same architecture): fine-tuning
    background_margin: float = 0.0  # fastnet: push the black background this far below 0 (train.losses.make_loss)
    quant_aware: bool = False  # fastnet, camnet: simulate int8 rounding of every activation in training (train.layers.FakeQuant)
    impulse_reject: bool = False  # fastnet, camnet: a switching median in front of the network (train.layers.ImpulseReject)
    full_res: int = 0  # camnet: width of its full-resolution stage (0: none; train.camnet)
    impulse_threshold: float = 0.5  # with impulse_reject: the least distance from the 3x3 median that makes an impulse
    black_floor: float = 0.0  # camnet: output values below this become black (train.layers.BlackFloor)
    global_gate: bool = False  # camnet: scale the correction by a per-frame gate from the whole frame (train.camnet)
    start_scale: int = 2  # camnet: resolution of its first level, 1/2 or 1/4 (train.camnet)
    bottom_width: int = 0  # camnet: channels at 1/8 (0: 4 x width; train.camnet)
    bottom_depth: int = 1  # camnet: 3x3 convs at 1/8 after the strided one (train.camnet)
    level_input: bool = False  # camnet: the frame's noise level, measured in the graph, as an input (train.camnet)
    max_side: int = 0  # train crops at random scales, from the image at --size up to this side (0: --size only; train.data.random_crops)
    # batch_size and learning_rate are per replica; both scale with the replica count
    # "bfloat16": compute in bfloat16, keep float32 weights (Keras mixed_bfloat16); about 2x on CPUs with
    # AVX-512 BF16 or AMX and on recent GPUs; the saved model.keras is float32 either way
    precision: str = "float32"
    strategy: str = "auto"  # auto, mirrored or multiworker (train.distribute)
    peer_timeout: float = 120.0  # seconds to wait for a multi-worker peer or a collective op

    def fine_tune_notice(self) -> str | None:
        """One line when --init-from fine-tunes at the from-scratch learning rate, which can undo the model."""
        if self.init_from and self.learning_rate >= TrainConfig.learning_rate:
            return (f"fine-tuning {self.init_from} at --lr {self.learning_rate:g}, the rate for training from scratch, "
                    "can undo what it learnt in an epoch; the shipped fastnet's own fine-tuning used --lr 5e-5")
        return None

    def model_kwargs(self) -> dict:
        kwargs = {"width": self.width, "depth": self.depth, "residual": self.residual}
        if self.model == "unet":
            kwargs.update(attention=self.attention, separable=self.separable)
            if self.unshuffle != 1:  # absent from older runs' kwargs, which rebuild unchanged
                kwargs["unshuffle"] = self.unshuffle
        elif self.model == "fastnet":
            kwargs.update(blocks=self.blocks, scale=self.scale, separable=self.separable)
            if self.quant_aware:  # absent from older runs' kwargs, which rebuild unchanged
                kwargs["quant_aware"] = True
            if self.impulse_reject:
                kwargs["impulse_reject"] = True
                if self.impulse_threshold != TrainConfig.impulse_threshold:
                    kwargs["impulse_threshold"] = self.impulse_threshold
        elif self.model == "camnet":
            kwargs = {"width": self.width, "residual": self.residual}
            if self.full_res:
                kwargs["full_res"] = self.full_res
            if self.quant_aware:
                kwargs["quant_aware"] = True
            if self.impulse_reject:
                kwargs["impulse_reject"] = True
                if self.impulse_threshold != TrainConfig.impulse_threshold:
                    kwargs["impulse_threshold"] = self.impulse_threshold
            if self.global_gate:
                kwargs["global_gate"] = True
            if self.start_scale != TrainConfig.start_scale:
                kwargs["start_scale"] = self.start_scale
            if self.bottom_width:
                kwargs["bottom_width"] = self.bottom_width
            if self.bottom_depth != TrainConfig.bottom_depth:
                kwargs["bottom_depth"] = self.bottom_depth
            if self.level_input:
                kwargs["level_input"] = True
            if self.black_floor:
                kwargs["black_floor"] = self.black_floor
        elif self.model == "backbone_unet":
            kwargs.update(backbone=self.backbone, weights=self.weights)
        return kwargs

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def replace(self, **changes) -> "TrainConfig":
        return dataclasses.replace(self, **{k: v for k, v in changes.items() if v is not None})


def load_config(path: str | Path) -> TrainConfig:
    """Read a TrainConfig from JSON (``config.json`` of a run or ``best.json`` from tune)."""
    path = Path(path)
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise EdgeDenoiseError(f"{path}: no such config file") from None
    except ValueError as exc:
        raise EdgeDenoiseError(f"{path}: not valid JSON ({exc})") from None
    raw = raw.get("train", raw) if isinstance(raw, dict) else raw
    if not isinstance(raw, dict):
        raise EdgeDenoiseError(f"{path}: expected a JSON object of training settings")
    known = {f.name for f in dataclasses.fields(TrainConfig)}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise EdgeDenoiseError(f"{path}: unknown setting(s) {', '.join(unknown)}")
    return TrainConfig(**raw)
