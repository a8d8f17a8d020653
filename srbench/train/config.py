"""One trial's configuration: model, data, optimisation and budget, as a plain dataclass.

Every model family has three named budgets (``BUDGETS``): ``smoke`` (seconds on a CPU,
for tests; validates and evaluates on the first image(s) of each set only, and says so), ``quick`` (about 10-20
minutes per sweep trial on 2 CPU cores, i.e. one core per trial with two at once, at the default precision:
bf16 on this project's AVX512-BF16 CPUs, figures from ``benchmarks/step_speed.py --threads 1``) and
``paper`` (the paper's iterations, batch and patch sizes, for a GPU cluster). Any field can be
overridden; the resolved config, budget name included, is saved with every run.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import torch

from srbench.data import DEFAULT_BENCHMARKS, absolute_set_fields, get_spec, set_label
from srbench.errors import UserError
from srbench.losses import CONTENT_LOSSES as VGG_CONTENT_LOSSES
from srbench.losses import PIXEL_LOSSES
from srbench.models import build_model, get_entry, resolve_config
from srbench.models.pretrained import KEYWORDS as WEIGHT_KEYWORDS
from srbench.models.pretrained import check_setting as check_weights_setting
from srbench.train.precision import PRECISIONS
from srbench.typecheck import check_fields, matches

BUDGETS = ("smoke", "quick", "paper")
SCHEDULES = ("constant", "step", "multistep", "cosine")
CONTENT_LOSSES = ("pixel", *VGG_CONTENT_LOSSES)
OPTIMIZERS = ("adam", "sgd")
TARGET_RANGES = ("0,1", "-1,1")
DISCRIMINATORS = {"srresnet": "srgan_discriminator", "sftgan": "sftgan_discriminator"}  # of the GAN families


@dataclass
class TrainConfig:
    model: dict[str, Any]
    scale: int
    budget: str = "quick"
    train_set: str = "BSDS200"
    train_images: int | None = None  # use only the first N training images (smoke)
    eval_sets: list[str] = field(default_factory=lambda: list(DEFAULT_BENCHMARKS))
    val_sets: list[str] = field(default_factory=lambda: ["Set5"])
    val_images: int | None = None  # validate on the first N images of each set (smoke)
    iterations: int = 1000
    batch_size: int = 16
    patch_size: int = 96  # HR patch side (the network's input side for bicubic-input models)
    lr: float = 1e-4
    lr_schedule: str = "constant"
    lr_step: int = 0  # step schedule: multiply by lr_gamma every lr_step iterations
    lr_gamma: float = 0.1
    lr_milestones: list[int] = field(default_factory=list)  # multistep schedule: multiply by lr_gamma at each
    optimizer: str = "adam"  # adam | sgd (with ``momentum``: SRCNN's recipe)
    momentum: float = 0.9  # SGD only
    last_layer_lr_scale: float = 1.0  # the model's last layer at lr x this (SRCNN: 0.1, as 1e-5 against 1e-4)
    pixel_loss: str = "mse"  # mse | l1 | euclidean (Caffe's, SRCNN's: summed over a sample's pixels)
    # The range SR and HR are mapped to before the pixel loss and the discriminator: "0,1", or "-1,1" (SRGAN,
    # whose HR images are in [-1, 1], so its MSE is 4x that on [0, 1] against the adversarial term).
    target_range: str = "0,1"
    content_loss: str = "pixel"  # pixel | vgg22 | vgg54 (SRGAN's) | conv54_l1 (SFT-GAN's)
    vgg_weights: str = "imagenet"
    # LPIPS scored with the final figures: none | imagenet | a local alexnet-owt-7be5be79.pth | random
    lpips_weights: str = "none"
    adversarial_weight: float = 0.0  # > 0 makes it a GAN trial (SRGAN: 1e-3)
    pretrain_iterations: int = 0  # GAN: pixel-loss (MSE) pre-training of the generator first
    generator_init: str | None = None  # GAN: start the generator from this checkpoint instead
    discriminator_lr: float | None = None
    val_every: int = 500
    log_every: int = 50
    # auto: bf16 autocast + channels_last where the device runs bf16 natively, else fp32 (srbench/train/precision.py)
    precision: str = "auto"
    seed: int = 0

    @property
    def family(self) -> str:
        return self.model["name"]

    @property
    def is_gan(self) -> bool:
        return self.adversarial_weight > 0

    @property
    def total_iterations(self) -> int:
        return self.pretrain_iterations + self.iterations if self.is_gan else self.iterations

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def config_hash(config: TrainConfig) -> str:
    """The identity of a trained configuration: every model and training field except the seed, plus the
    pixel digests of its training and evaluation sets. Runs with equal hashes differ only by their seed,
    so they are the only ones a leaderboard pools (as seeds)."""
    fields_ = {k: v for k, v in config.to_dict().items() if k != "seed"}
    sets = sorted({config.train_set, *config.eval_sets, *config.val_sets})
    payload = {"config": fields_, "data": {name: get_spec(name).set_digest for name in sets}}
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _srcnn(budget: str) -> dict[str, Any]:
    """SRCNN (Dong et al., TPAMI 2016, Sec. 3.3 and 4; its Caffe solver): 33x33 sub-images of T91, batch 128,
    SGD with momentum 0.9 at 1e-4 (1e-5 for the last layer) on Caffe's Euclidean loss, N(0, 0.001) weights
    (the model's default), 8e8 backpropagations."""
    return {
        "smoke": dict(train_set="T91", iterations=12, batch_size=8, patch_size=33, lr=1e-3, last_layer_lr_scale=0.1,
                      train_images=4, val_images=2, val_every=6, log_every=3),
        # Quick differs from the paper in its optimiser: at the paper's SGD rates 9-1-5 is still below bicubic after
        # 3,000 updates of 128 (Set5 29.18 dB; the paper trains ~10^4 times longer). Adam at 1e-3 (1e-4 for the last
        # layer: the paper's ratio) with cosine decay; Adam at 3e-3 for every layer (the former quick) left
        # 9-3-3-3-5 dead at 12.66 dB on Set5. A sweep trial (1 CPU), 9-1-5 to 9-5-5: 24-69 ms/iteration in bf16 on
        # a Zen 4 EPYC (8-23 min); 84-216 ms in fp32 on a Zen 3 EPYC without AVX-512 (28-72 min).
        "quick": dict(train_set="T91", iterations=20_000, batch_size=64, patch_size=33, lr=1e-3, last_layer_lr_scale=0.1,
                      lr_schedule="cosine", val_every=2500, log_every=100),
        "paper": dict(train_set="T91", iterations=6_250_000, batch_size=128, patch_size=33, optimizer="sgd",
                      momentum=0.9, lr=1e-4, last_layer_lr_scale=0.1, pixel_loss="euclidean", val_every=100_000,
                      log_every=1000),
    }[budget]


def _srdensenet(budget: str) -> dict[str, Any]:
    return {
        "smoke": dict(iterations=4, batch_size=2, patch_size=32, lr=1e-4, train_images=4, val_images=1,
                      val_every=2, log_every=1),
        # A sweep trial (1 CPU, bf16): 1.07 s/iteration (ALL; fp32 2.3 s): ~18 min plus evaluation.
        "quick": dict(iterations=1000, batch_size=16, patch_size=64, lr=3e-4, lr_schedule="cosine",
                      val_every=500, log_every=25),
        # Paper: 25x25 LR patches (100x100 HR at x4), batch 32, Adam 1e-4 divided by 10 every 30 epochs.
        "paper": dict(iterations=500_000, batch_size=32, patch_size=100, lr=1e-4, lr_schedule="step",
                      lr_step=150_000, val_every=10_000, log_every=500),
    }[budget]


# SRGAN's value ranges (Ledig et al., Sec. 3.2): LR in [0, 1], HR (and so SR) in [-1, 1], MSE on [-1, 1].
_SRGAN_RANGE = dict(target_range="-1,1")


def _srresnet(budget: str) -> dict[str, Any]:
    return {
        "smoke": dict(iterations=4, batch_size=2, patch_size=32, lr=1e-4, train_images=4, val_images=1,
                      val_every=2, log_every=1, **_SRGAN_RANGE),
        # A sweep trial (1 CPU, bf16): 0.48 s/iteration (MSE; fp32 1.0 s): ~16 min plus evaluation.
        "quick": dict(iterations=2000, batch_size=16, patch_size=64, lr=2e-4, lr_schedule="cosine",
                      val_every=500, log_every=25, **_SRGAN_RANGE),
        # Paper: 96x96 HR patches, batch 16, Adam 1e-4, 1e6 updates (SRResNet).
        "paper": dict(iterations=1_000_000, batch_size=16, patch_size=96, lr=1e-4, val_every=20_000, log_every=500,
                      **_SRGAN_RANGE),
    }[budget]


def _srgan(budget: str) -> dict[str, Any]:
    """SRGAN: MSE pre-training of the generator at a constant rate, then 1e-3-weighted adversarial training."""
    return {
        "smoke": dict(iterations=3, pretrain_iterations=2, batch_size=2, patch_size=32, lr=1e-4, train_images=4,
                      val_images=1, val_every=5, log_every=1, adversarial_weight=1e-3, **_SRGAN_RANGE),
        # A sweep trial (1 CPU, bf16): ~0.5 s per pre-training iteration, 1.25 s (SFT-GAN) to 2.1 s (SRGAN-VGG54;
        # fp32 2.3 and 3.9 s) per adversarial one: 13-19 min plus evaluation. The speed-up of bf16 brought
        # these trials into the target; it bought no more iterations.
        "quick": dict(iterations=400, pretrain_iterations=600, batch_size=16, patch_size=64, lr=1e-4,
                      val_every=500, log_every=25, adversarial_weight=1e-3, **_SRGAN_RANGE),
        # Paper: SRResNet-MSE initialisation (1e6 updates at a constant 1e-4), then 1e5 updates at 1e-4 and 1e5 at
        # 1e-5, batch 16, 96x96 patches.
        "paper": dict(iterations=200_000, pretrain_iterations=1_000_000, batch_size=16, patch_size=96, lr=1e-4,
                      lr_schedule="step", lr_step=100_000, val_every=20_000, log_every=500, adversarial_weight=1e-3,
                      **_SRGAN_RANGE),
    }[budget]


def _sftgan(budget: str) -> dict[str, Any]:
    """SFT-GAN, as the authors' released training configuration has it (the paper gives no schedule): perceptual
    loss on VGG19 conv5_4 with L1 and no pixel term, adversarial weight 5e-3 (category loss on real and fake
    images), Adam 1e-4 halved at 50k/100k/150k/200k of 600k updates, batch 16, 96x96 patches, from a
    PSNR-oriented generator (srbench pre-trains it with MSE, as SRGAN does, where the authors load
    ``sft_net_ini.pth``). Not reproduced: the authors' 5x rate for the SFT layers and the rest of the
    generator frozen for the first 20k updates."""
    recipe = dict(content_loss="conv54_l1", adversarial_weight=5e-3, lr=1e-4)
    return {
        "smoke": dict(iterations=3, pretrain_iterations=2, batch_size=2, patch_size=32, train_images=4,
                      val_images=1, val_every=5, log_every=1, **recipe),
        # Quick keeps the recipe's losses and weights; like SRGAN's quick it is 600 + 400 updates of 16 64x64
        # patches at a constant rate (the schedule's first halving is at 50k).
        "quick": dict(iterations=400, pretrain_iterations=600, batch_size=16, patch_size=64, val_every=500,
                      log_every=25, **recipe),
        "paper": dict(iterations=600_000, pretrain_iterations=1_000_000, batch_size=16, patch_size=96,
                      lr_schedule="multistep", lr_milestones=[50_000, 100_000, 150_000, 200_000], lr_gamma=0.5,
                      val_every=20_000, log_every=500, **recipe),
    }[budget]


_PRESETS = {"srcnn": _srcnn, "srdensenet": _srdensenet, "srresnet": _srresnet, "sftgan": _sftgan}
TRAINABLE = tuple(_PRESETS)


def budget_preset(family: str, budget: str, adversarial: bool = False) -> dict[str, Any]:
    """The family's preset; an SRResNet trained adversarially (SRGAN) takes the GAN preset."""
    if family not in _PRESETS:
        raise UserError(f"field 'model': '{family}' is not trainable on its own; trainable: {', '.join(TRAINABLE)}")
    if budget not in BUDGETS:
        raise UserError(f"field 'budget': '{budget}' is unknown; valid: {', '.join(BUDGETS)}")
    return _srgan(budget) if adversarial and family == "srresnet" else _PRESETS[family](budget)


def make_config(model: Mapping[str, Any], scale: int, budget: str = "quick", /, **overrides: Any) -> TrainConfig:
    """The resolved, validated config: family budget preset, then ``overrides`` (any field)."""
    model = resolve_config({**model, "scale": scale} if "scale" in get_entry(model["name"]).fields() else model)
    adversarial = overrides.get("adversarial_weight", 0)
    preset = budget_preset(model["name"], budget, adversarial=matches(adversarial, float) and adversarial > 0)
    names = {f.name for f in dataclasses.fields(TrainConfig)}
    unknown = [k for k in overrides if k not in names]
    if unknown:
        raise UserError(f"unknown training field '{unknown[0]}'; valid: {', '.join(sorted(names - set(RESERVED_FIELDS)))}")
    reserved = [k for k in overrides if k in RESERVED_FIELDS]
    if reserved:
        raise UserError(f"'{reserved[0]}' is not a training field to override: set it with {RESERVED_FIELDS[reserved[0]]}")
    # Folder sets by absolute path: the configuration travels to Ray workers, which run in other folders.
    overrides = absolute_set_fields(overrides)
    config = TrainConfig(model=model, scale=scale, budget=budget, **{**preset, **overrides})
    validate(config)
    return _keep_cadence(config, TrainConfig(model=model, scale=scale, budget=budget, **preset), overrides)


def config_from_dict(saved: Mapping[str, Any], source: str) -> TrainConfig:
    """A saved configuration (a checkpoint's, a sweep's), rebuilt through the same validation as a new one."""
    names = {f.name for f in dataclasses.fields(TrainConfig)}
    unknown = sorted(set(saved) - names)
    missing = sorted(names - set(saved))
    if unknown or missing:
        raise UserError(f"{source}: the saved configuration does not match this srbench "
                        f"({'unknown field ' + unknown[0] if unknown else 'missing field ' + missing[0]}); resume it "
                        f"with the srbench version that started it")
    config = TrainConfig(**saved)
    try:
        validate(config)
    except UserError as exc:
        raise UserError(f"{source}: {exc}") from None
    return config


def _keep_cadence(config: TrainConfig, preset: TrainConfig, overrides: Mapping[str, Any]) -> TrainConfig:
    """A run made longer or shorter than its preset validates and logs as many times as the preset does,
    unless ``val_every`` / ``log_every`` are given too (smoke's every-6 validation would dominate 150 iterations)."""
    ratio = config.total_iterations / preset.total_iterations
    for name in ("val_every", "log_every"):
        if name not in overrides:
            setattr(config, name, max(1, round(getattr(preset, name) * ratio)))
    return config


def model_input_kind(model: Mapping[str, Any]) -> str:
    """'lr' or 'bicubic' (SRCNN-style), read off the model built on the meta device."""
    with torch.device("meta"):
        return build_model(model).input_kind


RESERVED_FIELDS = {"model": "--model / model.<field> or the study's 'model'", "scale": "--scale or the study's 'scale'",
                   "budget": "--budget"}


def validate(config: TrainConfig) -> None:
    def bad(name: str, why: str) -> UserError:
        return UserError(f"field '{name}' = {getattr(config, name)!r}: {why}")

    check_fields(config, bad)
    for name in ("iterations", "batch_size", "patch_size", "val_every", "log_every"):
        if getattr(config, name) < 1:
            raise bad(name, "must be a positive integer")
    for name in ("train_images", "val_images"):
        if getattr(config, name) is not None and getattr(config, name) < 1:
            raise bad(name, "must be >= 1 (or null: every image)")
    for name in ("eval_sets", "val_sets"):
        if not getattr(config, name):
            raise bad(name, "give at least one benchmark set, e.g. [\"Set5\"]")
    if config.seed < 0:
        raise bad("seed", "must be >= 0")
    if config.pretrain_iterations < 0:
        raise bad("pretrain_iterations", "must be >= 0")
    if config.patch_size % config.scale and model_input_kind(config.model) == "lr":
        raise bad("patch_size", f"must be a multiple of the scale ({config.scale}) for an LR-input model")
    for name in ("lr", "lr_gamma", "discriminator_lr"):
        if getattr(config, name) is not None and not getattr(config, name) > 0:
            raise bad(name, "must be positive")
    if config.lr_schedule not in SCHEDULES:
        raise bad("lr_schedule", f"valid: {', '.join(SCHEDULES)}")
    if config.lr_schedule == "step" and config.lr_step < 1:
        raise bad("lr_step", "the step schedule needs lr_step >= 1")
    if any(m < 1 for m in config.lr_milestones):
        raise bad("lr_milestones", "must be a list of positive iteration counts, e.g. [50000, 100000]")
    if config.lr_schedule == "multistep" and not config.lr_milestones:
        raise bad("lr_milestones", "the multistep schedule needs at least one milestone")
    if config.optimizer not in OPTIMIZERS:
        raise bad("optimizer", f"valid: {', '.join(OPTIMIZERS)}")
    if not 0 <= config.momentum < 1:
        raise bad("momentum", "must be in [0, 1)")
    if not config.last_layer_lr_scale > 0:
        raise bad("last_layer_lr_scale", "must be positive (1: the last layer at lr)")
    if config.target_range not in TARGET_RANGES:
        raise bad("target_range", f"valid: {', '.join(TARGET_RANGES)}")
    if config.content_loss not in CONTENT_LOSSES:
        raise bad("content_loss", f"valid: {', '.join(CONTENT_LOSSES)}")
    if config.precision not in PRECISIONS:
        raise bad("precision", f"valid: {', '.join(PRECISIONS)}")
    if config.pixel_loss not in PIXEL_LOSSES:
        raise bad("pixel_loss", f"valid: {', '.join(PIXEL_LOSSES)}")
    if config.adversarial_weight < 0:
        raise bad("adversarial_weight", "must be >= 0")
    if config.is_gan and config.family not in ("srresnet", "sftgan"):
        raise bad("adversarial_weight", "adversarial training needs a GAN generator (srresnet, sftgan)")
    if config.content_loss != "pixel" and config.family not in ("srresnet", "sftgan"):
        raise bad("content_loss", "VGG content losses need an RGB model (srresnet, sftgan)")
    check_weights_setting("vgg_weights", config.vgg_weights)
    check_weights_setting("lpips_weights", config.lpips_weights, ("none", *WEIGHT_KEYWORDS))
    get_spec(config.train_set, kind="train")
    for name in (*config.eval_sets, *config.val_sets):
        get_spec(name, kind="benchmark")
    for name in ("eval_sets", "val_sets"):  # a set's name makes its metrics' names: two alike would overwrite
        labels = [set_label(s) for s in getattr(config, name)]
        twice = next((label for label in labels if labels.count(label) > 1), None)
        if twice is not None:
            raise bad(name, f"two sets are named {twice} (a folder set goes by its folder's name): list each set "
                            f"once, and rename one of two folders of the same name")
