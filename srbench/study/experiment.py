"""The study spec: a study as one :class:`Experiment` object in a Python file, and its validation.

An experiment names a model family and scale, its variants (named configurations,
e.g. SRCNN "9-5-5" or SRGAN "SRGAN-VGG54") and/or a Ray Tune search space,
training and evaluation sets, per-budget overrides, resources per trial, an
optional scheduler and seeds. Keys in ``variants`` and ``search_space`` set a
model field as ``"model.<field>"`` and any training field by its name.

:func:`validate_experiment` checks every trial's configuration before Ray starts (``study.load`` runs the
file); mistakes are one-line :class:`UserError` s naming the file and field.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from typing import Any

from srbench.data import DEFAULT_BENCHMARKS, absolute_set_fields
from srbench.errors import UserError
from srbench.models.registry import entry_for
from srbench.study.launchers import LAUNCHERS
from srbench.study.plan import (
    STUDY_OWNED,
    TrialBase,
    apply_key,
    check_trials,
    is_domain,
    is_grid,
    sampled_domains,
    trial_bases,
)
from srbench.train.config import BUDGETS, has_recipe
from srbench.typecheck import check_fields
from srbench.user_code import absolute_references

SCHEDULERS = ("fifo", "asha")
RUN_NAME = "srbench_experiment"  # the module name a study file runs under, on the driver and in trial processes
SEARCH_ALGS = ("random", "optuna")


@dataclass(frozen=True)
class Experiment:
    name: str
    model: dict[str, Any]
    scale: int
    description: str = ""
    variants: dict[str, dict[str, Any]] = field(default_factory=dict)
    search_space: dict[str, Any] = field(default_factory=dict)  # Ray Tune domains (grid_search, choice, uniform...)
    num_samples: int = 1  # Tune draws per grid point (each draw samples every sampled domain afresh)
    search_alg: str = "random"  # "random": Tune's random sampling; "optuna": OptunaSearch (pip install srbench[optuna])
    search_seed: int = 0  # seeds the search algorithm: the same seed samples the same values
    train: dict[str, Any] = field(default_factory=dict)  # training fields for every budget
    budgets: dict[str, dict[str, Any]] = field(default_factory=dict)  # extra fields per budget name
    # How and why a budget's recipe differs from the paper's, per budget name: recorded on the sweep, printed on its
    # page.
    budget_notes: dict[str, str] = field(default_factory=dict)
    train_set: str = "BSDS200"
    eval_sets: list[str] = field(default_factory=lambda: list(DEFAULT_BENCHMARKS))
    # Metrics scored with the final figures beside PSNR-Y, SSIM-Y and PSNR-RGB: names or import paths (srbench.metrics)
    metrics: list[str] = field(default_factory=list)
    workers_per_trial: int = 1
    cpus_per_worker: float = 1
    gpus_per_worker: float = 0
    scheduler: str = "fifo"  # "asha": early-stop trials on the first validation set's PSNR
    launcher: str = "auto"  # LAUNCHERS
    seeds: list[int] = field(default_factory=lambda: [0])


def validate_experiment(experiment: Experiment, file: str) -> Experiment:
    """The study checked field by field, and every trial of it at every budget its network has a recipe for, so a
    mistake is one line naming the file and field before Ray starts."""

    def bad(name: str, why: str) -> UserError:
        return UserError(f"{file}: field '{name}' = {getattr(experiment, name)!r}: {why}")

    check_fields(experiment, bad)
    if not experiment.name.replace("_", "").replace("-", "").isalnum():
        raise bad("name", "use letters, digits, '-' and '_'")
    if "name" not in experiment.model and "builder" not in experiment.model:
        raise bad(
            "model",
            "a dict with 'name' (a registered network, e.g. {'name': 'srcnn'}) or 'builder' "
            "(an import path, e.g. {'builder': 'mylab.nets:TinySR'})",
        )
    try:
        entry_for(experiment.model)
    except UserError as exc:
        raise UserError(f"{file}: field 'model': {exc}") from None
    if experiment.scheduler not in SCHEDULERS:
        raise bad("scheduler", f"valid: {', '.join(SCHEDULERS)}")
    if experiment.search_alg not in SEARCH_ALGS:
        raise bad("search_alg", f"valid: {', '.join(SEARCH_ALGS)}")
    if experiment.workers_per_trial < 1:
        raise bad("workers_per_trial", "must be an integer >= 1")
    if experiment.launcher not in LAUNCHERS:
        raise bad("launcher", f"valid: {', '.join(LAUNCHERS)}")
    if experiment.cpus_per_worker <= 0 or experiment.gpus_per_worker < 0:
        raise UserError(f"{file}: cpus_per_worker must be > 0 and gpus_per_worker >= 0")
    if not experiment.seeds or len(set(experiment.seeds)) != len(experiment.seeds) or min(experiment.seeds) < 0:
        raise bad("seeds", "a non-empty list of distinct integers >= 0")
    if experiment.num_samples < 1:
        raise bad("num_samples", "must be an integer >= 1")
    for name in (*experiment.search_space, *(k for v in experiment.variants.values() for k in v)):
        if name in STUDY_OWNED:
            raise UserError(f"{file}: '{name}' in variants / search_space: {STUDY_OWNED[name]}")
    for name, domain in experiment.search_space.items():
        if not (is_grid(domain) or is_domain(domain)):
            raise UserError(
                f"{file}: search_space['{name}'] is not a Ray Tune domain (tune.grid_search, "
                f"tune.choice, tune.uniform, ...)"
            )
        if not (domain["grid_search"] if is_grid(domain) else getattr(domain, "categories", True)):
            raise UserError(f"{file}: search_space['{name}'] has no values to try: give it at least one")
    keys = [b.key for b in trial_bases(experiment)]
    if len(set(keys)) != len(keys):
        raise UserError(f"{file}: two trials share the name '{next(k for k in keys if keys.count(k) > 1)}'")
    if experiment.search_alg == "optuna":
        if not sampled_domains(experiment):
            raise bad(
                "search_alg",
                "optuna searches sampled domains (tune.uniform, tune.loguniform, tune.choice, ...); "
                "this search_space has none",
            )
        if len(trial_bases(experiment)) > 1:
            raise bad(
                "search_alg",
                "optuna searches one configuration space: give one variant, one seed and no "
                "tune.grid_search (or use search_alg='random')",
            )
    for name in ("budgets", "budget_notes"):
        for budget in getattr(experiment, name):
            if budget not in BUDGETS:
                raise UserError(f"{file}: {name}: unknown budget '{budget}'; valid: {', '.join(BUDGETS)}")
    experiment = _absolute_folder_sets(experiment)
    for budget in BUDGETS:  # every trial at every budget its network has a recipe for must be a valid configuration
        study_fields = {**experiment.train, **experiment.budgets.get(budget, {})}
        check_trials(
            experiment,
            budget,
            file,
            bases=[b for b in trial_bases(experiment) if _has_recipe(experiment, b, budget, study_fields, file)],
        )
    return experiment


def _has_recipe(experiment: Experiment, base: TrialBase, budget: str, study_fields: dict[str, Any], file: str) -> bool:
    """Whether the base's network has a recipe at ``budget``; a variant's unknown model names the file and variant."""
    try:
        return has_recipe(_base_model(experiment, base), budget, study_fields)
    except UserError as exc:
        raise UserError(f"{file}: variant '{base.variant}': {exc}") from None


def _base_model(experiment: Experiment, base: TrialBase) -> dict[str, Any]:
    """The model config of a trial base before Tune samples anything (its variant's and grid's ``model.`` keys)."""
    model: dict[str, Any] = dict(experiment.model)
    for key, value in {**(experiment.variants or {}).get(base.variant, {}), **base.point}.items():
        apply_key(model, {}, key, value)
    return model


def _absolute_folder_sets(experiment: Experiment) -> Experiment:
    """The study with its folder sets (``folder:<relative path>``) made absolute against the current directory:
    every trial resolves its configuration again on a Ray worker, which runs in another folder."""
    return replace(
        experiment,
        **absolute_set_fields({"train_set": experiment.train_set, "eval_sets": experiment.eval_sets}),
        metrics=absolute_references(experiment.metrics),
        train=absolute_set_fields(experiment.train),
        budgets={k: absolute_set_fields(v) for k, v in experiment.budgets.items()},
        variants={k: absolute_set_fields(v) for k, v in experiment.variants.items()},
    )


def trial_launcher(experiment: Experiment) -> str:
    """The launcher the trials use: ``auto`` made concrete."""
    if experiment.launcher == "auto":
        return "tune" if experiment.workers_per_trial == 1 else "train"
    return experiment.launcher


def with_overrides(experiment: Experiment, **changes: Any) -> Experiment:
    """A copy with some fields replaced (e.g. resources from the command line)."""
    valid = {f.name for f in fields(Experiment)}
    return replace(experiment, **{k: v for k, v in changes.items() if k in valid and v is not None})
