"""``srbench sweep``: every trial of a study as a Ray Tune trial (trained in that trial itself, or by a Ray Train
``TorchTrainer`` DDP job where it has several workers) and an MLflow child run under the sweep's parent run;
then the study's leaderboards.

Every invocation is a new sweep with its own id and parent run; its trials are found by that id only, so nothing
of another sweep is ever reused. Checkpoints go through Ray to ``--storage``; ``FailureConfig`` restarts a failed
trial's training from its last checkpoint, and ``--resume`` (``Tuner.restore``) continues an interrupted sweep
with its own recorded settings: finished trials are skipped, unfinished ones continue from their checkpoints.

The steps, each in its own module: pre-flight (``sweep.preflight``), the Tune trial (``sweep.driver``), its training
process (``sweep.worker``), what Tune searches (``sweep.search``), what happens after (``sweep.finish``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from srbench.data import resolve_data_root
from srbench.study.experiment import with_overrides
from srbench.study.load import find_study, load_experiment
from srbench.sweep.preflight import (
    check_flags,
    check_resumable,
    check_sweep_data,
    new_sweep_id,
    prepare_study,
    storage_of,
    trial_table,
)
from srbench.tracking.uri import check_store, check_uri_form, resolve_tracking_uri


def run_sweep(
    file: str,
    budget: str | None = None,
    address: str | None = None,
    tracking_uri: str | None = None,
    storage: str | None = None,
    max_concurrent: int | None = None,
    workers_per_trial: int | None = None,
    cpus_per_worker: float | None = None,
    gpus_per_worker: float | None = None,
    launcher: str | None = None,
    resume: bool | str = False,
    dry_run: bool = False,
    data_root: Path | None = None,
    only: str | None = None,
    settings: dict[str, Any] | None = None,
    download: bool = True,
    verbose: bool = False,
) -> dict[str, Any]:
    """Run a new sweep of the study in ``file``; ``resume=True`` continues the latest interrupted sweep of
    the study and budget, ``resume="<sweep id>"`` that one, each with the settings it was started with.
    ``verbose``: Ray Tune's status table besides srbench's console."""
    check_flags(budget, workers_per_trial, cpus_per_worker, gpus_per_worker, max_concurrent)
    check_uri_form(resolve_tracking_uri(tracking_uri))  # a dry run too: the real one would fail on it
    file = str(find_study(file))  # a shipped study by name: its installed file, recorded on the sweep as such
    experiment = with_overrides(
        load_experiment(file),
        workers_per_trial=workers_per_trial,
        cpus_per_worker=cpus_per_worker,
        gpus_per_worker=gpus_per_worker,
        launcher=launcher,
    )
    study = prepare_study(file, experiment, budget, tracking_uri, resume, settings or {}, only, storage)
    if dry_run:  # a patch or scale the local data cannot hold is refused here too, without downloading
        check_sweep_data(study.trials, resolve_data_root(data_root), download, local_only=True)
    print(trial_table(experiment, study.trials, study.budget))
    if dry_run:
        return {"trials": [t.key for t in study.trials], "dry_run": True}
    tracking_uri = resolve_tracking_uri(tracking_uri)
    check_store(tracking_uri)
    data_root = resolve_data_root(data_root)
    check_sweep_data(study.trials, data_root, download)
    storage_uri = storage_of(study)
    sweep = study.record.sweep_id if study.record is not None else new_sweep_id(experiment.name, study.budget)
    if study.record is not None:
        check_resumable(study, sweep, storage_uri)
    # Ray (about a second to import) only past a dry run.
    from srbench.sweep.launch import launch

    return launch(study, sweep, address, tracking_uri, storage_uri, data_root, max_concurrent, verbose)
