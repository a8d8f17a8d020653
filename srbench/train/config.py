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
import functools
import hashlib
import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from srbench.data import DEFAULT_BENCHMARKS, absolute_set_fields, get_spec, set_label
from srbench.errors import UserError
from srbench.losses import CONTENT_LOSSES as VGG_CONTENT_LOSSES
from srbench.losses import PIXEL_LOSSES
from srbench.metrics import Metric, choose
from srbench.metrics.dists import split_setting as split_dists_setting
from srbench.models import MODELS, build_model, resolve_config
from srbench.models.interface import Traits, check_network
from srbench.models.pretrained import KEYWORDS as WEIGHT_KEYWORDS
from srbench.models.pretrained import check_setting as check_weights_setting
from srbench.models.registry import ModelEntry, entry_for, generator_names
from srbench.train.precision import PRECISIONS
from srbench.typecheck import check_fields, matches
from srbench.user_code import absolute_references

BUDGETS = ("smoke", "quick", "paper")
SCHEDULES = ("constant", "step", "multistep", "cosine")
CONTENT_LOSSES = ("pixel", *VGG_CONTENT_LOSSES)
OPTIMIZERS = ("adam", "sgd")
TARGET_RANGES = ("0,1", "-1,1")
# Bounds past which no run can work (memory, time, numbers the tables cannot print): refused before it starts.
MAX_ITERATIONS = 10**9  # SRCNN's paper recipe, the longest, is 6.25 million updates
MAX_BATCH = 65_536
MAX_PATCH = 4_096  # larger than any image of the catalogue's training sets
UPPER_BOUNDS = {
    "iterations": MAX_ITERATIONS,
    "pretrain_iterations": MAX_ITERATIONS,
    "batch_size": MAX_BATCH,
    "patch_size": MAX_PATCH,
}


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
    # DISTS scored with the final figures: none | TRUNK[,ALPHA_BETA] as srbench/metrics/dists.py says, e.g. imagenet
    dists_weights: str = "none"
    # Metrics scored with the final figures beside PSNR-Y, SSIM-Y and PSNR-RGB: registered names or import paths
    metrics: list[str] = field(default_factory=list)
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
        """The registered name, or the builder's import path."""
        return self.model.get("name") or self.model["builder"]

    @property
    def is_gan(self) -> bool:
        return self.adversarial_weight > 0

    @property
    def total_iterations(self) -> int:
        return self.pretrain_iterations + self.iterations if self.is_gan else self.iterations

    @property
    def weight_settings(self) -> dict[str, str]:
        """The weights options of metrics that this configuration sets."""
        return {"lpips_weights": self.lpips_weights, "dists_weights": self.dists_weights}

    def scored_metrics(self) -> list[Metric]:
        """What the final figures score: the protocol's, ``metrics``, and LPIPS / DISTS where their weights are set."""
        return choose(self.metrics, self.weight_settings)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


# Fields that do not change what is trained: two runs that differ only in them are seeds of one configuration.
# ``metrics`` and ``dists_weights`` choose what is scored at the end; leaving them out also keeps every earlier run's
# hash.
_NOT_IDENTITY = ("seed", "metrics", "dists_weights")
# Fields added since checkpoints and sweeps started saving configurations: a saved one without them gets the default.
_ADDED_FIELDS = ("metrics", "dists_weights")


def config_hash(config: TrainConfig) -> str:
    """The identity of a trained configuration: every model and training field except the seed (and what is
    scored, ``metrics``), plus the pixel digests of its training and evaluation sets. Runs with equal hashes
    differ only by their seed, so they are the only ones a leaderboard pools (as seeds)."""
    fields_ = {k: v for k, v in config.to_dict().items() if k not in _NOT_IDENTITY}
    sets = sorted({config.train_set, *config.eval_sets, *config.val_sets})
    payload = {"config": fields_, "data": {name: get_spec(name).set_digest for name in sets}}
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:16]


GENERIC_BUDGETS: dict[str, dict[str, Any]] = {
    # A network registered without a recipe of its own: Adam on MSE (PSNR is what it is scored on), cosine decay,
    # 48x48 HR patches (a multiple of 2, 3 and 4). There is no paper to copy: a study gives budgets={"paper": ...}.
    "smoke": dict(
        iterations=4, batch_size=2, patch_size=48, lr=1e-4, train_images=4, val_images=1, val_every=2, log_every=1
    ),
    "quick": dict(
        iterations=2000, batch_size=16, patch_size=48, lr=2e-4, lr_schedule="cosine", val_every=500, log_every=25
    ),
}


def budget_preset(
    entry: ModelEntry, budget: str, adversarial: bool = False, study_fields: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The recipe the model's registry entry gives for ``budget`` (its adversarial one where it has one and the
    trial is adversarial, as SRGAN's for SRResNet); a network registered without recipes gets
    ``GENERIC_BUDGETS``. A budget without a recipe needs the study's own fields (at least ``iterations``)."""
    if entry.role != "generator":
        raise UserError(
            f"field 'model': '{entry.name}' is a {entry.role}; a trial trains a generator: "
            f"{', '.join(generator_names())}"
        )
    if budget not in BUDGETS:
        raise UserError(f"field 'budget': '{budget}' is unknown; valid: {', '.join(BUDGETS)}")
    recipes = _recipes(entry, adversarial)
    if budget in recipes:
        return dict(recipes[budget])
    if "iterations" not in (study_fields or {}):
        raise UserError(
            f"model {entry.name} has no '{budget}' recipe: give its training fields in the study "
            f"(budgets={{'{budget}': {{'iterations': ..., ...}}}}) or use "
            f"{' / '.join(recipes)}"
        )
    return {}


def _recipes(entry: ModelEntry, adversarial: bool) -> Mapping[str, Mapping[str, Any]]:
    return entry.adversarial_budgets if adversarial and entry.adversarial_budgets else entry.budgets or GENERIC_BUDGETS


def has_recipe(model: Mapping[str, Any], budget: str, study_fields: Mapping[str, Any]) -> bool:
    """Whether a trial of ``model`` can run at ``budget``: the model's entry has a recipe for it, or the study
    gives the budget's training length itself."""
    return budget in _recipes(entry_for(model), False) or "iterations" in study_fields


def make_config(model: Mapping[str, Any], scale: int, budget: str = "quick", /, **overrides: Any) -> TrainConfig:
    """The resolved, validated config: the model's recipe for the budget, then ``overrides`` (any field)."""
    entry = entry_for(model)
    model = resolve_config({**model, "scale": scale} if "scale" in entry.fields() else model)
    adversarial = overrides.get("adversarial_weight", 0)
    preset = budget_preset(entry, budget, matches(adversarial, float) and adversarial > 0, overrides)
    names = {f.name for f in dataclasses.fields(TrainConfig)}
    unknown = [k for k in overrides if k not in names]
    if unknown:
        network = "; a network's field goes in --model-config (train) or model.<field> (sweep --set)"
        raise UserError(
            f"unknown training field '{unknown[0]}'; valid: {', '.join(sorted(names - set(RESERVED_FIELDS)))}"
            + (network if unknown[0].startswith("model.") else "")
        )
    reserved = [k for k in overrides if k in RESERVED_FIELDS]
    if reserved:
        raise UserError(
            f"'{reserved[0]}' is not a training field to override: set it with {RESERVED_FIELDS[reserved[0]]}"
        )
    # Folder sets and metric files by absolute path: the configuration travels to Ray workers, in other folders.
    overrides = absolute_set_fields(overrides)
    if "metrics" in overrides:
        overrides["metrics"] = absolute_references(overrides["metrics"])
    config = TrainConfig(model=model, scale=scale, budget=budget, **{**preset, **overrides})
    validate(config)
    return _keep_cadence(config, TrainConfig(model=model, scale=scale, budget=budget, **preset), overrides)


def config_from_dict(saved: Mapping[str, Any], source: str) -> TrainConfig:
    """A saved configuration (a checkpoint's, a sweep's), rebuilt through the same validation as a new one."""
    names = {f.name for f in dataclasses.fields(TrainConfig)}
    unknown = sorted(set(saved) - names)
    missing = sorted(names - set(saved) - set(_ADDED_FIELDS))
    if unknown or missing:
        raise UserError(
            f"{source}: the saved configuration does not match this srbench "
            f"({'unknown field ' + unknown[0] if unknown else 'missing field ' + missing[0]}); resume it "
            f"with the srbench version that started it"
        )
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


@functools.lru_cache(maxsize=256)
def _checked_traits(model_json: str, scale: int) -> Traits:
    model = json.loads(model_json)
    return check_network(build_model(model), scale, f"model {model.get('name') or model.get('builder')}")


def model_traits(model: Mapping[str, Any], scale: int) -> Traits:
    """The network's traits (channels, input kind, border, condition), checked with a probe input once per
    configuration and process (the zoo and a user's network alike)."""
    return _checked_traits(json.dumps(dict(model), sort_keys=True, default=str), scale)


RESERVED_FIELDS = {
    "model": "--model / model.<field> or the study's 'model'",
    "scale": "--scale or the study's 'scale'",
    "budget": "--budget",
}


def validate(config: TrainConfig) -> None:
    """Refuses a configuration that cannot train, naming the field, its value and what would be valid."""

    def bad(name: str, why: str) -> UserError:
        return UserError(f"field '{name}' = {getattr(config, name)!r}: {why}")

    check_fields(config, bad)
    _check_numbers(config, bad)
    _check_choices(config, bad)
    _check_network(config, bad)
    _check_metrics_and_sets(config, bad)


Refusal = Callable[[str, str], UserError]


def _check_numbers(config: TrainConfig, bad: Refusal) -> None:
    for f in dataclasses.fields(config):  # JSON's Infinity and NaN parse as floats
        if isinstance(getattr(config, f.name), float) and not math.isfinite(getattr(config, f.name)):
            raise bad(f.name, "must be a finite number")
    for name in ("iterations", "batch_size", "patch_size", "val_every", "log_every"):
        if getattr(config, name) < 1:
            raise bad(name, "must be a positive integer")
    for name, most in UPPER_BOUNDS.items():
        if getattr(config, name) > most:
            raise bad(name, f"must be at most {most:,}")
    for name in ("train_images", "val_images"):
        if getattr(config, name) is not None and getattr(config, name) < 1:
            raise bad(name, "must be >= 1 (or null: every image)")
    for name in ("eval_sets", "val_sets"):
        if not getattr(config, name):
            raise bad(name, 'give at least one benchmark set, e.g. ["Set5"]')
    if config.seed < 0:
        raise bad("seed", "must be >= 0")
    if config.pretrain_iterations < 0:
        raise bad("pretrain_iterations", "must be >= 0")


def _check_network(config: TrainConfig, bad: Refusal) -> None:
    """The patch against the network's input and border, and the losses the network can take."""
    network = model_traits(config.model, config.scale)
    if config.patch_size % config.scale and network.input_kind == "lr":
        raise bad("patch_size", f"must be a multiple of the scale ({config.scale}) for an LR-input model")
    smallest = max(config.scale, 2 * network.border + 1)  # one LR pixel; one output pixel past the 'valid' border
    if config.patch_size < smallest:
        raise bad("patch_size", f"must be at least {smallest} for {config.family} at x{config.scale}")
    discriminator = entry_for(config.model).discriminator
    if config.is_gan and discriminator is None:
        with_one = ", ".join(n for n, e in MODELS.items() if e.discriminator)
        raise bad(
            "adversarial_weight",
            f"model {config.family} has no discriminator to train against (registered "
            f"with one: {with_one}; register(..., discriminator='srgan_discriminator'))",
        )
    if config.content_loss != "pixel" and network.channels != 3:
        raise bad(
            "content_loss", f"VGG content losses need an RGB network; {config.family} has {network.channels} channel(s)"
        )


def _check_choices(config: TrainConfig, bad: Refusal) -> None:
    """The optimiser, its schedule and the losses: rates, names and ranges."""
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


def _check_metrics_and_sets(config: TrainConfig, bad: Refusal) -> None:
    """Weights settings, the metrics to score and the sets named, each known and each set listed once."""
    check_weights_setting("vgg_weights", config.vgg_weights)
    check_weights_setting("lpips_weights", config.lpips_weights, ("none", *WEIGHT_KEYWORDS))
    check_weights_setting("dists_weights", split_dists_setting(config.dists_weights)[0], ("none", *WEIGHT_KEYWORDS))
    try:
        config.scored_metrics()
    except UserError as exc:
        raise bad("metrics", str(exc)) from None
    get_spec(config.train_set, kind="train")
    for name in (*config.eval_sets, *config.val_sets):
        get_spec(name, kind="benchmark")
    for name in ("eval_sets", "val_sets"):  # a set's name makes its metrics' names: two alike would overwrite
        labels = [set_label(s) for s in getattr(config, name)]
        twice = next((label for label in labels if labels.count(label) > 1), None)
        if twice is not None:
            raise bad(
                name,
                f"two sets are named {twice} (a folder set goes by its folder's name): list each set "
                f"once, and rename one of two folders of the same name",
            )
