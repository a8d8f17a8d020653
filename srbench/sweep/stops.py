"""A scheduler's early stop, carried to the trial through Ray (never through MLflow): ASHA decides on the sweep's
driver and posts the decision on a small actor named after the sweep; the trial's rank 0 asks it at every log
step and ends cleanly (checkpoint saved, Ray Train's workers and resources released), and the trial's driver then
ends its run KILLED at the iteration ASHA stopped it at. (Letting Tune kill the trial's actor would leave its Ray
Train worker group's resources reserved.)"""

from __future__ import annotations

from typing import Any

import ray
from ray.tune.schedulers import ASHAScheduler, TrialScheduler

from srbench.study.experiment import Experiment
from srbench.sweep.console import NAMESPACE


@ray.remote(num_cpus=0)
class StopBoard:
    """The sweep's stop decisions: trial name -> the iteration at which the scheduler stopped it."""

    def __init__(self) -> None:
        self.stops: dict[str, int] = {}

    def stop(self, key: str, iteration: int) -> bool:
        """Record a decision; False when the trial was stopped already."""
        if key in self.stops:
            return False
        self.stops[key] = iteration
        return True

    def stopped_at(self, key: str) -> int | None:
        return self.stops.get(key)


def stops_early(experiment: Experiment) -> bool:
    """Whether the study's scheduler may stop trials early; only such a sweep has a board (an actor: a process)."""
    return experiment.scheduler == "asha"


def stop_board(sweep: str) -> Any:
    """The sweep's board, created by the first caller (the driver, which holds it for the sweep: Ray removes an
    actor nobody holds) and found by name by the trials; it takes no CPU, so it never holds a trial's slot."""
    return StopBoard.options(name=f"stops-{sweep}", namespace=NAMESPACE, get_if_exists=True).remote()


class StopWatch:
    """A training callback (rank 0): whether the scheduler has stopped this trial."""

    def __init__(self, sweep: str, key: str) -> None:
        self.board, self.key = stop_board(sweep), key

    def report(self, iteration: int, metrics: dict[str, float], checkpoint: Any) -> None:
        pass  # it only answers stop_requested

    def stop_requested(self) -> bool:
        return ray.get(self.board.stopped_at.remote(self.key)) is not None


def stopped_at(sweep: str, key: str) -> int | None:
    """The iteration at which the scheduler stopped the trial, or None."""
    return ray.get(stop_board(sweep).stopped_at.remote(key))


class CooperativeASHA(ASHAScheduler):
    """ASHA whose stop decisions the trial carries out itself (see the module's docstring)."""

    def __init__(self, sweep: str, metric: str, max_t: int, grace_period: int) -> None:
        super().__init__(time_attr="iteration", max_t=max_t, grace_period=grace_period)
        self.sweep, self.val_metric = sweep, metric

    def on_trial_result(self, tune_controller: Any, trial: Any, result: dict[str, Any]) -> str:
        decision = super().on_trial_result(tune_controller, trial, result)
        # ASHA also says STOP at max_t, the trial's last validation: the trial still has its final scoring to do.
        if decision == TrialScheduler.STOP and result.get("iteration", self._max_t) < self._max_t:
            iteration, value = int(result["iteration"]), result.get(self.val_metric)
            if ray.get(stop_board(self.sweep).stop.remote(str(trial), iteration)):
                print(
                    f"trial {trial}: stopped early by ASHA at iteration {iteration}"
                    + (f" (validation {value:.2f} dB)" if value is not None else ""),
                    flush=True,
                )
        return TrialScheduler.CONTINUE
