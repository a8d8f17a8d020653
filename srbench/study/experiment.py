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

import difflib
import itertools
import json
import runpy
import sys
import traceback
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from srbench.data import DEFAULT_BENCHMARKS, absolute_set_fields
from srbench.errors import UserError
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
    # How and why a budget's recipe differs from the paper's, per budget name: recorded on the sweep, printed on its page.
    budget_notes: dict[str, str] = field(default_factory=dict)
    train_set: str = "BSDS200"
    eval_sets: list[str] = field(default_factory=lambda: list(DEFAULT_BENCHMARKS))
    # Metrics scored with the final figures beside PSNR-Y, SSIM-Y and PSNR-RGB: names or import paths (srbench.metrics)
    metrics: list[str] = field(default_factory=list)
    workers_per_trial: int = 1
    cpus_per_worker: float = 1
    gpus_per_worker: float = 0
    scheduler: str = "fifo"  # "asha": early-stop trials on the first validation set's PSNR
    seeds: list[int] = field(default_factory=lambda: [0])


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
class TrialSpec:
    """One trial with a fully resolved training configuration."""

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


def sampled_domains(experiment: Experiment) -> dict[str, Any]:
    """The search-space entries Ray Tune samples (everything but grids and fixed values)."""
    return {k: v for k, v in experiment.search_space.items() if _is_domain(v)}


def draws_per_base(experiment: Experiment) -> int:
    """Trials each (variant, grid point, seed) gives: ``num_samples`` where a search samples, else one."""
    return experiment.num_samples if sampled_domains(experiment) else 1


def trial_bases(experiment: Experiment) -> list[TrialBase]:
    """Every (variant, grid point, seed) of the experiment, in the study's order."""
    grid = {k: v["grid_search"] for k, v in experiment.search_space.items() if _is_grid(v)}
    fixed = {k: v for k, v in experiment.search_space.items() if not _is_grid(v) and not _is_domain(v)}
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
_STUDY_OWNED = {"seed": "a sweep's seeds are the study's 'seeds' field",
                "model.scale": "the scale is the study's 'scale' field"}


def resolve_trial(experiment: Experiment, budget: str, base: TrialBase, sampled: Mapping[str, Any],
                  settings: Mapping[str, Any] | None = None, file: str = "<experiment>",
                  key: str | None = None) -> TrialSpec:
    """The trial's validated configuration from its base, the values Tune sampled and ``--set`` settings
    (which override everything else)."""
    from srbench.train.config import make_config

    overrides = (experiment.variants or {"default": {}})[base.variant]
    for name, why in _STUDY_OWNED.items():
        if name in (settings or {}):
            raise UserError(f"--set {name}: {why}")
    model, training = dict(experiment.model), {}
    for name, value in {**overrides, **base.point, **sampled, **(settings or {})}.items():
        _apply(model, training, name, value)
    fields_ = {"train_set": experiment.train_set, "eval_sets": list(experiment.eval_sets),
               "metrics": list(experiment.metrics), **experiment.train,
               **experiment.budgets.get(budget, {}), **training, "seed": base.seed}
    try:
        config = make_config(model, experiment.scale, budget, **fields_)
    except UserError as exc:
        # load_experiment has validated the file without settings: a failure with them is theirs.
        where = "--set" if settings else f"{file}: variant '{base.variant}'" + (
            f" ({sampled_label(sampled)})" if sampled else "")
        raise UserError(f"{where}: {exc}") from None
    return TrialSpec(key=key or base.key, variant=base.variant, seed=base.seed,
                     params={**overrides, **base.point, **sampled}, config=config)


def _checked_values(domain: Any) -> list[Any]:
    """The values of a Tune domain at which a study is validated before Ray starts: its bounds, or every category."""
    from ray.tune.search.sample import Categorical, Float, Integer

    if isinstance(domain, Categorical):
        return list(domain.categories)
    if isinstance(domain, Integer):
        return [domain.lower, domain.upper - 1]  # Tune's integer upper bounds are exclusive
    if isinstance(domain, Float):
        return [domain.lower, domain.upper]
    return [domain.sample()]


def check_trials(experiment: Experiment, budget: str, file: str = "<experiment>",
                 settings: Mapping[str, Any] | None = None, bases: list[TrialBase] | None = None) -> list[TrialSpec]:
    """Validate every base (default: all) at ``budget`` with each sampled domain at its bounds and categories;
    returns each base's configuration at the lower bounds (what ``--dry-run`` shows)."""
    domains = {k: _checked_values(d) for k, d in sampled_domains(experiment).items()}
    draws = max((len(v) for v in domains.values()), default=1)
    checked = []
    for base in bases if bases is not None else trial_bases(experiment):
        specs = [resolve_trial(experiment, budget, base, {k: v[draw % len(v)] for k, v in domains.items()},
                               settings, file) for draw in range(draws)]
        checked.append(specs[0])
    return checked


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
    if "metrics" in settings:  # metric files too
        settings["metrics"] = absolute_references(settings["metrics"])
    return absolute_set_fields(settings)  # the trials resolve them on Ray workers, in other folders


def shipped_studies() -> dict[str, Path]:
    """The studies that ship with srbench (the repository's ``experiments/``, installed as ``srbench.studies``):
    name -> file."""
    from importlib import resources

    files = resources.files("srbench.studies").iterdir()
    return {f.name.removesuffix(".py"): Path(str(f)) for f in sorted(files, key=lambda f: f.name)
            if f.name.endswith(".py") and not f.name.startswith("_")}


def find_study(name_or_path: str | Path) -> Path:
    """A study file given by path, or a shipped study given by its bare name (``srcnn_ablation``)."""
    path = Path(name_or_path)
    if path.is_file():
        return path
    studies = shipped_studies()
    if path.parent == Path(".") and path.name.removesuffix(".py") in studies:
        return studies[path.name.removesuffix(".py")]
    if path.parent != Path("."):  # a path: the likeliest slip is in the file's name
        nearby = [f.name for f in path.parent.glob("*.py")] if path.parent.is_dir() else []
        guess = difflib.get_close_matches(path.name, nearby, n=1)
        raise UserError(f"experiment file {path} does not exist"
                        + (f"; did you mean {path.parent / guess[0]}?" if guess else ""))
    guess = difflib.get_close_matches(path.name.removesuffix(".py"), studies, n=1)
    raise UserError(f"experiment file {path} does not exist, and '{path}' is not a study srbench ships "
                    f"({', '.join(studies)})" + (f"; did you mean '{guess[0]}'?" if guess
                                                  else "; give the path of your own study file"))


def load_experiment(path: str | Path) -> Experiment:
    """Run an experiment file and return its validated :class:`Experiment` (the one object it defines)."""
    path = find_study(path)
    folder = str(path.resolve().parent)
    if folder not in sys.path:  # the study's sibling modules import as they would for a script there
        sys.path.insert(0, folder)
    try:
        namespace = runpy.run_path(str(path), run_name=RUN_NAME)
    except SyntaxError as exc:
        raise UserError(f"{path}:{exc.lineno}: syntax error: {exc.msg}") from None
    except UserError as exc:
        raise UserError(f"{path}: {exc}") from None
    except SystemExit as exc:  # a study file is run as code: it must define the study, not end srbench
        raise UserError(f"{path}: the file called exit({exc.code!r}) while it was read; a study file only "
                        f"defines EXPERIMENT = Experiment(...)") from None
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
    from srbench.models.registry import entry_for

    def bad(name: str, why: str) -> UserError:
        return UserError(f"{file}: field '{name}' = {getattr(experiment, name)!r}: {why}")

    check_fields(experiment, bad)
    if not experiment.name.replace("_", "").replace("-", "").isalnum():
        raise bad("name", "use letters, digits, '-' and '_'")
    if "name" not in experiment.model and "builder" not in experiment.model:
        raise bad("model", "a dict with 'name' (a registered network, e.g. {'name': 'srcnn'}) or 'builder' "
                           "(an import path, e.g. {'builder': 'mylab.nets:TinySR'})")
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
    if experiment.cpus_per_worker <= 0 or experiment.gpus_per_worker < 0:
        raise UserError(f"{file}: cpus_per_worker must be > 0 and gpus_per_worker >= 0")
    if not experiment.seeds or len(set(experiment.seeds)) != len(experiment.seeds) or min(experiment.seeds) < 0:
        raise bad("seeds", "a non-empty list of distinct integers >= 0")
    if experiment.num_samples < 1:
        raise bad("num_samples", "must be an integer >= 1")
    for name in (*experiment.search_space, *(k for v in experiment.variants.values() for k in v)):
        if name in _STUDY_OWNED:
            raise UserError(f"{file}: '{name}' in variants / search_space: {_STUDY_OWNED[name]}")
    for name, domain in experiment.search_space.items():
        if not (_is_grid(domain) or _is_domain(domain)):
            raise UserError(f"{file}: search_space['{name}'] is not a Ray Tune domain (tune.grid_search, "
                            f"tune.choice, tune.uniform, ...)")
    keys = [b.key for b in trial_bases(experiment)]
    if len(set(keys)) != len(keys):
        raise UserError(f"{file}: two trials share the name '{next(k for k in keys if keys.count(k) > 1)}'")
    if experiment.search_alg == "optuna":
        if not sampled_domains(experiment):
            raise bad("search_alg", "optuna searches sampled domains (tune.uniform, tune.loguniform, tune.choice, ...); "
                                    "this search_space has none")
        if len(trial_bases(experiment)) > 1:
            raise bad("search_alg", "optuna searches one configuration space: give one variant, one seed and no "
                                    "tune.grid_search (or use search_alg='random')")
    from srbench.train.config import BUDGETS, has_recipe

    for name in ("budgets", "budget_notes"):
        for budget in getattr(experiment, name):
            if budget not in BUDGETS:
                raise UserError(f"{file}: {name}: unknown budget '{budget}'; valid: {', '.join(BUDGETS)}")
    experiment = _absolute_folder_sets(experiment)
    for budget in BUDGETS:  # every trial at every budget its network has a recipe for must be a valid configuration
        study_fields = {**experiment.train, **experiment.budgets.get(budget, {})}
        check_trials(experiment, budget, file, bases=[
            b for b in trial_bases(experiment) if has_recipe(_base_model(experiment, b), budget, study_fields)])
    return experiment


def _base_model(experiment: Experiment, base: TrialBase) -> dict[str, Any]:
    """The model config of a trial base before Tune samples anything (its variant's and grid's ``model.`` keys)."""
    model: dict[str, Any] = dict(experiment.model)
    for key, value in {**(experiment.variants or {}).get(base.variant, {}), **base.point}.items():
        _apply(model, {}, key, value)
    return model


def _absolute_folder_sets(experiment: Experiment) -> Experiment:
    """The study with its folder sets (``folder:<relative path>``) made absolute against the current directory:
    every trial resolves its configuration again on a Ray worker, which runs in another folder."""
    return replace(experiment, **absolute_set_fields({"train_set": experiment.train_set,
                                                      "eval_sets": experiment.eval_sets}),
                   metrics=absolute_references(experiment.metrics),
                   train=absolute_set_fields(experiment.train),
                   budgets={k: absolute_set_fields(v) for k, v in experiment.budgets.items()},
                   variants={k: absolute_set_fields(v) for k, v in experiment.variants.items()})


def with_overrides(experiment: Experiment, **changes: Any) -> Experiment:
    """A copy with some fields replaced (e.g. resources from the command line)."""
    valid = {f.name for f in fields(Experiment)}
    return replace(experiment, **{k: v for k, v in changes.items() if k in valid and v is not None})
