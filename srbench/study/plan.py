"""A study resolved into trials: the (variant, grid point, seed) bases of a study, and each trial's typed
:class:`TrialPlan` (its validated ``TrainConfig``, name, variant, seed and sampled values) resolved once on the
driver, from the values Tune chose, and handed to the processes that train it."""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from srbench.errors import UserError
from srbench.train.config import TrainConfig, config_hash, make_config

if TYPE_CHECKING:
    from srbench.study.experiment import Experiment


@dataclass(frozen=True)
class TrialBase:
    """A trial before Tune samples it: a variant, one point of the grid (with the fixed values) and a seed.
    A study without sampled domains has exactly one trial per base, named by its key."""

    key: str  # e.g. "9-5-5_seed0", "lr=0.001_seed1"
    prefix: str  # the key without its seed part
    variant: str
    seed: int
    point: dict[str, Any]


@dataclass(frozen=True)
class TrialPlan:
    """One trial, fully resolved: what its processes train, and what its run records. Picklable, so the sweep's
    driver resolves it once and Ray carries it to the trial's workers."""

    key: str  # the trial's name in Tune and MLflow: "9-5-5_seed0", "lr=0.000316_seed0_t3"
    variant: str
    variant_order: int  # the variant's place in the study file: pages keep the study's order
    seed: int
    params: dict[str, Any]  # the experiment keys this trial sets (variant fields + searched values)
    config: TrainConfig

    @property
    def config_hash(self) -> str:
        """Everything the trial trains with except its seed, with its data's pixel digests (runs with equal
        hashes differ by seed alone)."""
        return config_hash(self.config)

    @property
    def total_iterations(self) -> int:
        return self.config.total_iterations


def apply_key(model: dict[str, Any], training: dict[str, Any], key: str, value: Any) -> None:
    if key.startswith("model."):
        model[key.removeprefix("model.")] = value
    else:
        training[key] = value


def is_grid(value: Any) -> bool:
    return isinstance(value, Mapping) and set(value) == {"grid_search"}


def is_domain(value: Any) -> bool:
    from ray.tune.search.sample import Domain  # Ray (about a second) only for a search space

    return isinstance(value, Domain)


def sampled_domains(experiment: Experiment) -> dict[str, Any]:
    """The search-space entries Ray Tune samples (everything but grids and fixed values)."""
    return {k: v for k, v in experiment.search_space.items() if is_domain(v)}


def draws_per_base(experiment: Experiment) -> int:
    """Trials each (variant, grid point, seed) gives: ``num_samples`` where a search samples, else one."""
    return experiment.num_samples if sampled_domains(experiment) else 1


def trial_bases(experiment: Experiment) -> list[TrialBase]:
    """Every (variant, grid point, seed) of the experiment, in the study's order."""
    grid = {k: v["grid_search"] for k, v in experiment.search_space.items() if is_grid(v)}
    fixed = {k: v for k, v in experiment.search_space.items() if not is_grid(v) and not is_domain(v)}
    points = [dict(zip(grid, combo), **fixed) for combo in itertools.product(*grid.values())] or [dict(fixed)]
    variants = experiment.variants or {"default": {}}
    bases = []
    for variant, point, seed in itertools.product(variants, points, experiment.seeds):
        gridded = ",".join(f"{k.removeprefix('model.')}={v}" for k, v in point.items() if k in grid)
        prefix = "_".join(p for p in (variant if experiment.variants else "", gridded) if p)
        key = "_".join(p for p in (prefix, f"seed{seed}") if p)
        bases.append(TrialBase(key=key, prefix=prefix, variant=variant, seed=seed, point=point))
    return bases


def _round(value: Any) -> str:
    return f"{value:.3g}" if isinstance(value, float) else str(value)


def sampled_label(sampled: Mapping[str, Any]) -> str:
    """``{"lr": 0.000316228, "batch_size": 32}`` -> ``"lr=0.000316,batch_size=32"``."""
    return ",".join(f"{k.removeprefix('model.')}={_round(v)}" for k, v in sampled.items())


def trial_name(base: TrialBase, sampled: Mapping[str, Any], tune_trial_id: str) -> str:
    """Readable and unique within a sweep: the base key alone where nothing is sampled, else the variant,
    the rounded sampled values, the seed and the Tune trial's index or id (e.g. ``lr=0.000316_seed0_t3``)."""
    if not sampled:
        return base.key
    tail = tune_trial_id.rsplit("_", 1)[-1]  # random search: "<run>_00003"; Optuna: a bare hex id
    suffix = f"t{int(tail)}" if tail.isdigit() else tail[:8]
    return "_".join(p for p in (base.prefix, sampled_label(sampled), f"seed{base.seed}", suffix) if p)


# Keys a study sets for all its trials, which --set and the trials' own fields would otherwise be silently overruled in.
STUDY_OWNED = {
    "seed": "a sweep's seeds are the study's 'seeds' field",
    "model.scale": "the scale is the study's 'scale' field",
}


def resolve_trial(
    experiment: Experiment,
    budget: str,
    base: TrialBase,
    sampled: Mapping[str, Any],
    settings: Mapping[str, Any] | None = None,
    file: str = "<experiment>",
    key: str | None = None,
) -> TrialPlan:
    """The trial's validated configuration from its base, the values Tune sampled and ``--set`` settings
    (which override everything else)."""
    variants = experiment.variants or {"default": {}}
    overrides = variants[base.variant]
    for name, why in STUDY_OWNED.items():
        if name in (settings or {}):
            raise UserError(f"--set {name}: {why}")
    model, training = dict(experiment.model), {}
    for name, value in {**overrides, **base.point, **sampled, **(settings or {})}.items():
        apply_key(model, training, name, value)
    fields_ = {
        "train_set": experiment.train_set,
        "eval_sets": list(experiment.eval_sets),
        "metrics": list(experiment.metrics),
        **experiment.train,
        **experiment.budgets.get(budget, {}),
        **training,
        "seed": base.seed,
    }
    try:
        config = make_config(model, experiment.scale, budget, **fields_)
    except UserError as exc:
        # load_experiment has validated the file without settings: a failure with them is theirs.
        where = (
            "--set"
            if settings
            else f"{file}: variant '{base.variant}'" + (f" ({sampled_label(sampled)})" if sampled else "")
        )
        raise UserError(f"{where}: {exc}") from None
    return TrialPlan(
        key=key or base.key,
        variant=base.variant,
        variant_order=list(variants).index(base.variant),
        seed=base.seed,
        params={**overrides, **base.point, **sampled},
        config=config,
    )


def _checked_values(domain: Any) -> list[Any]:
    """The values of a Tune domain at which a study is validated before Ray starts: its bounds, or every category."""
    from ray.tune.search.sample import Categorical, Float, Integer  # Ray (about a second) only for a search space

    if isinstance(domain, Categorical):
        return list(domain.categories)
    if isinstance(domain, Integer):
        return [domain.lower, domain.upper - 1]  # Tune's integer upper bounds are exclusive
    if isinstance(domain, Float):
        return [domain.lower, domain.upper]
    return [domain.sample()]


def check_trials(
    experiment: Experiment,
    budget: str,
    file: str = "<experiment>",
    settings: Mapping[str, Any] | None = None,
    bases: list[TrialBase] | None = None,
) -> list[TrialPlan]:
    """Validate every base (default: all) at ``budget`` with each sampled domain at its bounds and categories;
    returns each base's configuration at the lower bounds (what ``--dry-run`` shows)."""
    domains = {k: _checked_values(d) for k, d in sampled_domains(experiment).items()}
    draws = max((len(v) for v in domains.values()), default=1)
    checked = []
    for base in bases if bases is not None else trial_bases(experiment):
        specs = [
            resolve_trial(experiment, budget, base, {k: v[draw % len(v)] for k, v in domains.items()}, settings, file)
            for draw in range(draws)
        ]
        checked.append(specs[0])
    return checked
