"""The training callback that logs a run's metrics to MLflow over its iterations, never the same step twice."""

from __future__ import annotations

from pathlib import Path

from srbench.tracking.names import mlflow_name
from srbench.tracking.store import Tracker


class MetricLogger:
    """A training callback (rank 0) logging metrics over iterations, never the same step twice (a resumed trial
    recomputes the steps after its checkpoint exactly: the ones already logged stay as they are)."""

    def __init__(self, tracker: Tracker, run_id: str) -> None:
        self.tracker, self.run_id = tracker, run_id
        self.logged: dict[str, int] = {}
        for key in tracker.run(run_id).data.metrics:
            self.logged[key] = max((m.step for m in tracker.metric_history(run_id, key)), default=-1)

    def report(self, iteration: int, metrics: dict[str, float], checkpoint: Path | None) -> None:
        fresh = {mlflow_name(k): v for k, v in metrics.items() if iteration > self.logged.get(mlflow_name(k), -1)}
        if fresh:  # before Ray has the checkpoint of this step: a crash after it loses no figure
            self.tracker.log_metrics(self.run_id, fresh, step=iteration)
            for key in fresh:
                self.logged[key] = iteration
