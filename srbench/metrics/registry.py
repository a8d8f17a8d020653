"""The metric registry: what each metric is (its name, label, direction, digits, what it needs) and how srbench
finds one, by name or by import path, as it finds networks.

A metric computes per-image values on ``(N, 3, H, W)`` uint8 RGB batches, SR against HR, with the protocol's
border shave (``shave`` pixels, the scale). srbench's own register when :mod:`srbench.metrics` is imported; a
user's register the same way from a study file or module (``register_metric(Metric(...))``), or are named by
their import path (``mylab.metrics:SHARPNESS``, ``path/metrics.py:SHARPNESS``). On a CPU, images are scored
side by side in several threads (``srbench.evaluate``): a metric's compute may run in two threads at once, as a
torch module in eval mode can.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import torch

from srbench.errors import UserError
from srbench.models.pretrained import WeightsUnavailable
from srbench.user_code import attribute_of, load_module, source_file, split_reference

# (sr, hr or None for a no-reference metric, shave) -> one float per image
Compute = Callable[[torch.Tensor, "torch.Tensor | None", int], torch.Tensor]
# (sr, hr, shave) -> several metrics' per-image values from one pass, by name
Joint = Callable[[torch.Tensor, torch.Tensor, int], dict[str, torch.Tensor]]
ALWAYS = ("psnr_y", "ssim_y", "psnr_rgb")  # what every evaluation scores: the protocol's figures
EXAMPLE = "mylab.metrics:SHARPNESS"


@dataclass(frozen=True)
class Weights:
    """What a metric with learned weights needs: the option that chooses them (a training field of the same name,
    ``eval --<option>``), how a setting loads them, and what runs and pages say where they cannot be had."""

    option: str  # e.g. "lpips_weights"
    load: Callable[[str], tuple[Compute, str]]  # setting -> (compute, label naming the weights, "not comparable")
    default: str = "imagenet"  # the setting when the metric is chosen by name alone
    unavailable: str = "n/a: weights unavailable"
    help: str = "the metric's weights"  # ``eval --<option> WEIGHTS``'s help: what WEIGHTS may be


@dataclass(frozen=True)
class Metric:
    name: str  # the key: per-image rows, results, MLflow (``Set5.<name>``), CSV columns
    label: str  # tables' heading, e.g. "PSNR-Y"
    higher_is_better: bool
    digits: int  # decimals in tables and pages
    compute: Compute | None = None  # None only where ``weights`` loads it
    unit: str = ""
    reference: bool = True  # False: SR alone is scored (compute gets hr=None)
    weights: Weights | None = None
    joint: Joint | None = None  # computes this metric with others in one pass (PSNR-Y and SSIM-Y share Y)
    column: bool = True  # a column on leaderboard pages (PSNR-RGB, a secondary figure, is not)
    perceptual: bool = False  # GAN pages show its column even where unscored, saying why
    file: str | None = None  # where its code is defined: filled in by register_metric (a sweep ships it)

    @property
    def arrow(self) -> str:
        return "↑" if self.higher_is_better else "↓"

    @property
    def heading(self) -> str:
        return f"{self.label} ({self.unit})" if self.unit else self.label

    @property
    def code(self) -> Callable[..., Any] | None:
        """The function that defines it (its compute, or its weights' loader): its identity, and its module's."""
        return self.compute or (self.weights.load if self.weights else None)

    @property
    def module(self) -> str:
        return self.code.__module__

    @property
    def source(self) -> str:
        """Where it is defined: registering the same code twice (a study file read again) is no conflict."""
        return f"{self.file or self.module}:{self.code.__qualname__}"

    def describe(self) -> dict[str, Any]:
        """How pages show it, as recorded on a run (pages never import a user's metric)."""
        return {name: getattr(self, name) for name in DESCRIBED}


DESCRIBED = ("name", "label", "unit", "higher_is_better", "digits", "column", "perceptual")


def described(description: Mapping[str, Any]) -> Metric:
    """A metric as a run recorded it (:meth:`Metric.describe`): enough to show it, nothing to compute it with."""
    return Metric(**{name: description[name] for name in DESCRIBED if name in description})


METRICS: dict[str, Metric] = {}


def register_metric(metric: Metric, replace_existing: bool = False) -> Metric:
    """Register ``metric`` under its name (a study file or module calls this at import); returns it as
    registered. A name registered by other code is refused unless ``replace_existing=True``."""
    if not isinstance(metric, Metric):
        raise UserError(f"register_metric: {metric!r} is not a srbench.metrics.Metric")
    if not metric.name.isidentifier():
        raise UserError(
            f"register_metric: name {metric.name!r} must be a Python identifier, e.g. 'sharpness' (it "
            f"names MLflow metrics and CSV columns)"
        )
    if metric.code is None:
        raise UserError(f"register_metric('{metric.name}'): give compute (or weights that load it)")
    metric = replace(metric, file=metric.file or source_file(metric.code))
    existing = METRICS.get(metric.name)
    if existing is not None and existing.source != metric.source and not replace_existing:
        raise UserError(
            f"register_metric('{metric.name}'): the name is taken by {existing.source}; choose another "
            f"name or pass replace_existing=True"
        )
    METRICS[metric.name] = metric
    return metric


def get_metric(name: str) -> Metric:
    metric = METRICS.get(name)
    if metric is None:
        raise UserError(
            f"unknown metric '{name}'; valid: {', '.join(sorted(METRICS))}, or your own as "
            f"package.module:NAME or file.py:NAME"
        )
    return metric


def find_metric(text: str) -> Metric:
    """A registered name, or an import path ``package.module:attr`` / ``path/file.py:attr`` whose attribute is a
    :class:`Metric` or whose module registers a metric of that name (registered here on first use)."""
    if ":" not in text:
        return get_metric(text)
    module_name, attribute = split_reference(text, "metric", "NAME", EXAMPLE)
    module = load_module(module_name, text, "metric")
    found = attribute_of(module, attribute)
    if isinstance(found, Metric):
        return register_metric(found)
    registered = METRICS.get(attribute)
    if registered is not None and registered.file == getattr(module, "__file__", None):  # the module registers it
        return registered
    raise UserError(
        f"metric '{text}': {module_name} has no Metric '{attribute}' (neither an attribute that is a "
        f"srbench.metrics.Metric nor a name it registers)"
    )


def weights_options() -> dict[str, Weights]:
    """The options choosing the weights of the metrics that take some (``lpips_weights``, ...), by name: eval's and
    bench's flags, a training configuration's fields."""
    return {m.weights.option: m.weights for m in METRICS.values() if m.weights is not None}


def choose(names: Sequence[str], settings: Mapping[str, str]) -> list[Metric]:
    """The metrics an evaluation scores, each once: the protocol's (``ALWAYS``), then ``names`` in order, then every
    metric whose weights option is set in ``settings`` (not ``"none"``: ``lpips_weights`` turns LPIPS on). A name
    is one metric: finding another of the same name refuses to register it."""
    weighted = [m.name for m in METRICS.values() if m.weights and settings.get(m.weights.option, "none") != "none"]
    return list({m.name: m for m in map(find_metric, [*ALWAYS, *names, *weighted])}.values())


@dataclass(frozen=True)
class Scorer:
    """A metric ready to score: its compute function with its weights loaded; ``compute`` is None where the
    weights could not be had (``note`` says so). ``note`` names the weights of a metric that takes some."""

    metric: Metric
    compute: Compute | None
    note: str | None = None

    @property
    def name(self) -> str:
        return self.metric.name

    @property
    def weights_label(self) -> str | None:
        """How a table names its weights (``LPIPS v0.1 AlexNet, trunk random (...: not comparable)``) or why it is
        unscored (``DISTS n/a: ...``); None for a metric without weights."""
        if self.note is None:
            return None
        return self.note if self.compute else f"{self.metric.label} {self.note}"


def prepare(metrics: Sequence[Metric], settings: Mapping[str, str], lenient: bool = False) -> list[Scorer]:
    """Scorers for ``metrics``, loading the weights ``settings`` choose (a weights option unset or ``"none"``:
    the metric's default). ``lenient``: weights that cannot be had leave the metric unscored, with a note, rather
    than failing (a trial finishes without LPIPS where ImageNet cannot be reached)."""
    return [_ready(metric, settings, lenient) for metric in metrics]


def _ready(metric: Metric, settings: Mapping[str, str], lenient: bool) -> Scorer:
    if metric.weights is None:
        return Scorer(metric, metric.compute)
    setting = settings.get(metric.weights.option, "none")
    try:
        compute, label = metric.weights.load(metric.weights.default if setting == "none" else setting)
    except WeightsUnavailable as exc:
        if not lenient:
            raise
        print(f"warning: {metric.label} will not be scored: {exc}", file=sys.stderr)
        return Scorer(metric, None, metric.weights.unavailable)
    return Scorer(metric, compute, label)


@torch.no_grad()  # grad mode is per thread: a scoring thread does not inherit its caller's
def score_batch(scorers: Sequence[Scorer], sr: torch.Tensor, hr: torch.Tensor, shave: int) -> dict[str, list[float]]:
    """Per-image values of every scorer on uint8 batches; metrics that share a joint pass are computed once."""
    wanted = {s.name for s in scorers if s.compute is not None}
    values: dict[str, torch.Tensor] = {}
    for scorer in scorers:
        if scorer.name not in wanted or scorer.name in values:
            continue
        metric = scorer.metric
        if metric.joint is not None:
            values.update(metric.joint(sr, hr, shave))
        else:
            values[scorer.name] = scorer.compute(sr, hr if metric.reference else None, shave)
    return {name: values[name].tolist() for name in (s.name for s in scorers) if name in wanted}
