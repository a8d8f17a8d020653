"""Experiment files: a study as one :class:`Experiment` object in a Python file.

An experiment names a model family and scale, its variants (named configurations,
e.g. SRCNN "9-5-5" or SRGAN "SRGAN-VGG54") and/or a Ray Tune search space,
training and evaluation sets, per-budget overrides, resources per trial, an
optional scheduler and seeds. Keys in ``variants`` and ``search_space`` set a
model field as ``"model.<field>"`` and any training field by its name.

:func:`load_experiment` runs the file and validates every trial's configuration
before Ray starts; mistakes are one-line :class:`UserError` s naming the file and field.
"""

from __future__ import annotations

import itertools
import json
import runpy
import traceback
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from srbench.data import DEFAULT_BENCHMARKS
from srbench.errors import UserError

SCHEDULERS = ("fifo", "asha")


@dataclass(frozen=True)
class Experiment:
    name: str
    model: dict[str, Any]
    scale: int
    description: str = ""
    variants: dict[str, dict[str, Any]] = field(default_factory=dict)
    search_space: dict[str, Any] = field(default_factory=dict)  # Ray Tune domains (grid_search, choice, uniform...)
    num_samples: int = 1  # draws from sampled domains (grid points are each run num_samples times)
    train: dict[str, Any] = field(default_factory=dict)  # training fields for every budget
    budgets: dict[str, dict[str, Any]] = field(default_factory=dict)  # extra fields per budget name
    train_set: str = "BSDS200"
    eval_sets: list[str] = field(default_factory=lambda: list(DEFAULT_BENCHMARKS))
    workers_per_trial: int = 1
    cpus_per_worker: float = 1
    gpus_per_worker: float = 0
    scheduler: str = "fifo"  # "asha": early-stop trials on the first validation set's PSNR
    seeds: list[int] = field(default_factory=lambda: [0])


@dataclass(frozen=True)
class TrialSpec:
    """One trial before Ray: a name and a fully resolved training configuration."""

    key: str
    variant: str
    seed: int
    params: dict[str, Any]  # the experiment keys this trial sets (variant fields + searched values)
    config: Any  # srbench.train.config.TrainConfig


def _apply(model: dict[str, Any], training: dict[str, Any], key: str, value: Any) -> None:
    if key.startswith("model."):
        model[key.removeprefix("model.")] = value
    else:
        training[key] = value


def _is_grid(value: Any) -> bool:
    return isinstance(value, Mapping) and set(value) == {"grid_search"}


def _is_domain(value: Any) -> bool:
    from ray.tune.search.sample import Domain

    return isinstance(value, Domain)


def _search_points(experiment: Experiment) -> list[dict[str, Any]]:
    """Grid points of the search space; sampled domains are checked at a few of their values."""
    grid = {k: v["grid_search"] for k, v in experiment.search_space.items() if _is_grid(v)}
    fixed = {k: v for k, v in experiment.search_space.items() if not _is_grid(v) and not _is_domain(v)}
    sampled = {k: v for k, v in experiment.search_space.items() if _is_domain(v)}
    points = [dict(zip(grid, combo), **fixed) for combo in itertools.product(*grid.values())] or [dict(fixed)]
    expanded = []
    for point in points:
        for draw in range(experiment.num_samples):
            expanded.append({**point, **{k: _sample(d, draw) for k, d in sampled.items()}})
    return expanded


def _sample(domain: Any, draw: int) -> Any:
    """A deterministic representative value of a Tune domain (for validation and dry runs)."""
    from ray.tune.search.sample import Categorical, Float, Integer

    if isinstance(domain, Categorical):
        return domain.categories[draw % len(domain.categories)]
    if isinstance(domain, (Float, Integer)):
        return domain.lower if draw % 2 == 0 else (domain.upper - 1 if isinstance(domain, Integer) else domain.upper)
    return domain.sample()


def parse_settings(items: list[str]) -> dict[str, Any]:
    """``["vgg_weights=random", "lr=1e-4"]`` -> ``{"vgg_weights": "random", "lr": 0.0001}`` (values read as
    JSON where they parse, e.g. numbers, true/false and lists, else as strings)."""
    settings = {}
    for item in items:
        key, sep, text = item.partition("=")
        if not sep or not key.strip():
            raise UserError(f"--set '{item}': expected KEY=VALUE, e.g. --set vgg_weights=/data/vgg19.pth")
        try:
            settings[key.strip()] = json.loads(text)
        except json.JSONDecodeError:
            settings[key.strip()] = text
    return settings


def expand_trials(experiment: Experiment, budget: str, file: str = "<experiment>",
                  settings: Mapping[str, Any] | None = None) -> list[TrialSpec]:
    """Every trial of the experiment at ``budget``, each validated by ``make_config``; ``settings``
    (``--set``: model fields as ``model.<field>``, training fields by name) override every trial."""
    from srbench.train.config import make_config

    trials = []
    variants = experiment.variants or {"default": {}}
    for (variant, overrides), point, seed in itertools.product(variants.items(), _search_points(experiment),
                                                               experiment.seeds):
        model, training = dict(experiment.model), {}
        for key, value in {**overrides, **point, **(settings or {})}.items():
            _apply(model, training, key, value)
        fields_ = {"train_set": experiment.train_set, "eval_sets": list(experiment.eval_sets), **experiment.train,
                   **experiment.budgets.get(budget, {}), **training, "seed": seed}
        try:
            config = make_config(model, experiment.scale, budget, **fields_)
        except UserError as exc:
            # load_experiment has validated the file without settings: a failure with them is theirs.
            where = "--set" if settings else f"{file}: variant '{variant}'"
            raise UserError(f"{where}: {exc}") from None
        searched = ",".join(f"{k.removeprefix('model.')}={v}" for k, v in point.items())
        key = "_".join(p for p in (variant if experiment.variants else "", searched, f"seed{seed}") if p)
        trials.append(TrialSpec(key=key, variant=variant, seed=seed, params={**overrides, **point}, config=config))
    keys = [t.key for t in trials]
    if len(set(keys)) != len(keys):
        raise UserError(f"{file}: two trials share the name '{next(k for k in keys if keys.count(k) > 1)}'")
    return trials


def load_experiment(path: str | Path) -> Experiment:
    """Run an experiment file and return its validated :class:`Experiment` (the one object it defines)."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"experiment file {path} does not exist")
    try:
        namespace = runpy.run_path(str(path), run_name="srbench_experiment")
    except SyntaxError as exc:
        raise UserError(f"{path}:{exc.lineno}: syntax error: {exc.msg}") from None
    except UserError as exc:
        raise UserError(f"{path}: {exc}") from None
    except Exception as exc:
        frame = next((f for f in reversed(traceback.extract_tb(exc.__traceback__)) if f.filename == str(path)), None)
        where = f"{path}:{frame.lineno}" if frame else str(path)
        raise UserError(f"{where}: {type(exc).__name__}: {exc}") from None
    found = [v for v in namespace.values() if isinstance(v, Experiment)]
    if len(found) != 1:
        what = "no Experiment object" if not found else f"{len(found)} Experiment objects"
        raise UserError(f"{path}: defines {what}; define exactly one, e.g. EXPERIMENT = Experiment(...)")
    return validate_experiment(found[0], str(path))


def validate_experiment(experiment: Experiment, file: str) -> Experiment:
    from srbench.models import get_entry

    def bad(name: str, why: str) -> UserError:
        return UserError(f"{file}: field '{name}' = {getattr(experiment, name)!r}: {why}")

    if not isinstance(experiment.name, str) or not experiment.name.replace("_", "").replace("-", "").isalnum():
        raise bad("name", "use letters, digits, '-' and '_'")
    if not isinstance(experiment.model, Mapping) or "name" not in experiment.model:
        raise bad("model", "a dict with at least 'name', e.g. {'name': 'srcnn'}")
    try:
        get_entry(experiment.model["name"])
    except UserError as exc:
        raise UserError(f"{file}: field 'model': {exc}") from None
    if experiment.scheduler not in SCHEDULERS:
        raise bad("scheduler", f"valid: {', '.join(SCHEDULERS)}")
    if not isinstance(experiment.workers_per_trial, int) or experiment.workers_per_trial < 1:
        raise bad("workers_per_trial", "must be an integer >= 1")
    if experiment.cpus_per_worker <= 0 or experiment.gpus_per_worker < 0:
        raise UserError(f"{file}: cpus_per_worker must be > 0 and gpus_per_worker >= 0")
    if not experiment.seeds or len(set(experiment.seeds)) != len(experiment.seeds):
        raise bad("seeds", "a non-empty list of distinct integers")
    if experiment.num_samples < 1:
        raise bad("num_samples", "must be >= 1")
    for name, domain in experiment.search_space.items():
        if not (_is_grid(domain) or _is_domain(domain)):
            raise UserError(f"{file}: search_space['{name}'] is not a Ray Tune domain (tune.grid_search, "
                            f"tune.choice, tune.uniform, ...)")
    from srbench.train.config import BUDGETS

    for budget in experiment.budgets:
        if budget not in BUDGETS:
            raise UserError(f"{file}: budgets: unknown budget '{budget}'; valid: {', '.join(BUDGETS)}")
    for budget in BUDGETS:  # every trial at every budget must be a valid configuration
        expand_trials(experiment, budget, file)
    return experiment


def with_overrides(experiment: Experiment, **changes: Any) -> Experiment:
    """A copy with some fields replaced (e.g. resources from the command line)."""
    valid = {f.name for f in fields(Experiment)}
    return replace(experiment, **{k: v for k, v in changes.items() if k in valid and v is not None})
