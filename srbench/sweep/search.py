"""What Tune searches and how: the parameter space (the trial bases, longest first, and the sampled domains), the
search algorithm, the scheduler, and srbench's trial names in Tune."""

from __future__ import annotations

from typing import Any

from ray import tune
from ray.tune.search import ConcurrencyLimiter
from ray.tune.search.basic_variant import BasicVariantGenerator

from srbench.study.experiment import Experiment
from srbench.study.plan import TrialBase, TrialPlan, sampled_domains, trial_name
from srbench.sweep.makespan import longest_first
from srbench.sweep.stops import CooperativeASHA, stops_early


class TrialNamer:
    """Tune's trial names are srbench's (``9-5-5_seed0``, ``lr=0.000316_seed0_t3``), in Ray's console and storage."""

    def __init__(self, bases: dict[str, TrialBase]) -> None:
        self.bases = bases

    def __call__(self, trial: Any) -> str:
        return trial_name(self.bases[trial.config["base"]], trial.config.get("search", {}), trial.trial_id)


def _search_alg(experiment: Experiment, concurrency: int) -> Any:
    """Random sampling seeded by ``search_seed`` (default), or Optuna's TPE with that seed; either runs at most
    ``concurrency`` trials at once (Tune ignores ``max_concurrent_trials`` for a search generator given to it)."""
    if experiment.search_alg == "optuna":
        from ray.tune.search.optuna import OptunaSearch  # optional: pre-flight checked that optuna is installed

        return ConcurrencyLimiter(OptunaSearch(seed=experiment.search_seed), max_concurrent=concurrency)
    return BasicVariantGenerator(random_state=experiment.search_seed, max_concurrent=concurrency)


def tune_search(experiment: Experiment, trials: list[TrialPlan], concurrency: int) -> tuple[dict[str, Any], Any, int]:
    """What Tune searches: ``param_space`` (a grid over the trial bases, longest first, the sampled domains
    under "search"), the search algorithm and ``num_samples``."""
    sampled = sampled_domains(experiment)
    # A single base is a constant: Optuna cannot take a grid. Tune starts grid points in the grid's order.
    keys = longest_first([t.key for t in trials], [t.config for t in trials])
    param_space: dict[str, Any] = {"base": tune.grid_search(keys) if len(keys) > 1 else keys[0]}
    if sampled:
        param_space["search"] = dict(sampled)
    return param_space, _search_alg(experiment, concurrency), experiment.num_samples if sampled else 1


def early_stop_scheduler(experiment: Experiment, sweep: str, metric: str, trials: list[TrialPlan]) -> Any:
    """ASHA (the study's ``scheduler = "asha"``) over the trials' validations, its stops carried out by the trials
    themselves (``sweep.stops``); None for a study that runs every trial to its end."""
    if not stops_early(experiment):
        return None
    return CooperativeASHA(
        sweep,
        metric,
        max_t=max(t.total_iterations for t in trials),
        grace_period=min(t.config.val_every for t in trials),
    )
