"""The sweep on Ray: connect (a local Ray of its own, or a cluster), open the sweep's MLflow run, give Tune the
trials (a new ``Tuner``, or ``Tuner.restore`` for a resumed sweep), run them, and hand over to ``sweep.finish``."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import ray
from ray import tune

from srbench.scoped_env import scoped_env
from srbench.study.code import runtime_env, trial_code
from srbench.study.experiment import Experiment, trial_launcher
from srbench.sweep.cluster import TrialShape, check_storage_shared, init_ray, trials_at_once
from srbench.sweep.console import console, sweep_console
from srbench.sweep.driver import TRIAL_RETRIES, SweepContext, checkpoint_folder, trial_driver
from srbench.sweep.finish import Ended, finish_sweep
from srbench.sweep.preflight import STATE_FILE, Study, resume_command, study_digest
from srbench.sweep.search import TrialNamer, early_stop_scheduler, tune_search
from srbench.sweep.stops import stop_board, stops_early
from srbench.tracking.names import (
    TAG_BUDGET_NOTE,
    TAG_GIT_COMMIT,
    TAG_KIND,
    TAG_SOURCE_NAME,
    TAG_SOURCE_TYPE,
    TAG_STUDY,
    TAG_SWEEP,
    val_report_key,
)
from srbench.tracking.provenance import git_commit
from srbench.tracking.store import Tracker
from srbench.tracking.sweeps import setting_text
from srbench.tracking.uri import ui_command

# A Tune trial that only waits on its TorchTrainer reserves memory, no CPU, so the trial's workers can use every
# CPU (an empty bundle is rejected, and a CPU fraction would keep e.g. 2 workers x 1 CPU off a 2-CPU machine).
DRIVER_RESOURCES = {"memory": 64 * 1024 * 1024}
DRIVER_RETRIES = 1  # Ray Tune: restarts of a trial's driver (e.g. its node died); it finds its run and checkpoint


def launch(
    study: Study,
    sweep: str,
    address: str | None,
    tracking_uri: str,
    storage_uri: str,
    data_root: Path,
    max_concurrent: int | None,
    verbose: bool,
) -> dict[str, Any]:
    """Run the sweep's trials on Ray and finish the sweep; returns its summary."""
    e = study.experiment
    code = runtime_env(study.file, trial_code(t.config for t in study.trials))
    where = init_ray(address, code)
    shape = TrialShape(e.workers_per_trial, e.cpus_per_worker, e.gpus_per_worker)
    concurrency = trials_at_once(shape, where, max_concurrent or study.trial_count)
    if "://" not in storage_uri:
        check_storage_shared(Path(storage_uri), where)
    tracker = Tracker(tracking_uri, patient=True)
    experiment_id = tracker.experiment_id(e.name, e.description)
    parent = open_sweep_run(tracker, study, sweep, experiment_id, concurrency, storage_uri)
    view = tracker.save_sweep_view(experiment_id, sweep, study.trials[0].config.eval_sets)
    context = SweepContext(
        study=e.name,
        sweep=sweep,
        budget=study.budget,
        file=study.file,
        tracking_uri=tracking_uri,
        parent_run_id=parent,
        experiment_id=experiment_id,
        storage=storage_uri,
        data_root=str(data_root),
        workers=e.workers_per_trial,
        launcher=trial_launcher(e),
        cpus_per_worker=e.cpus_per_worker,
        gpus_per_worker=e.gpus_per_worker,
        experiment=e,
        settings=study.settings,
        bases={b.key: b for b in study.bases},
        plans={t.key: t for t in study.trials},
        study_code=str(Path(study.file).resolve()) if code is not None else None,
    )
    checkpoints = checkpoint_folder(context, "<trial>")
    announce(study, sweep, tracking_uri, experiment_id, parent, view, concurrency, checkpoints)
    trial_messages = console(sweep)  # held by the driver for the sweep
    stops = stop_board(sweep) if stops_early(e) else None  # likewise; a sweep under ASHA only
    tuner = _tuner(study, context, concurrency, verbose)
    # Keeping one checkpoint per trial makes Tune snapshot its state at every checkpoint, and warn about it in
    # three lines each time: a local snapshot is cheap, the warning noise.
    with scoped_env(TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S="0"), quiet_tune(verbose):
        with sigterm_as_sigint() as signals:
            grid = tuner.fit()
    trial_messages.shutdown()
    del stops
    summary = finish_sweep(
        tracker,
        Ended(
            sweep=sweep,
            study=e.name,
            file=study.file,
            budget=study.budget,
            tracking_uri=tracking_uri,
            experiment_id=experiment_id,
            parent_run_id=parent,
            view=view,
            resume=resume_command(study.file, sweep, tracking_uri, storage_uri),
            trial_count=study.trial_count,
            errors=sum(r.error is not None for r in grid),
            resumed=study.record is not None,
            slots=concurrency,
            sets=tuple(study.trials[0].config.eval_sets),
            scale=e.scale,
            data_root=data_root,
        ),
    )
    return {**summary, "signal": signals[0] if signals else None}


def quiet_tune(verbose: bool) -> contextlib.AbstractContextManager[None]:
    """Tune's newer output engine prints the experiment's settings and a TensorBoard hint even at verbosity 0; the
    older one prints nothing there: srbench's console speaks unless --verbose."""
    return contextlib.nullcontext() if verbose else scoped_env(RAY_AIR_NEW_OUTPUT="0")


@contextlib.contextmanager
def sigterm_as_sigint() -> Iterator[list[int]]:
    """SIGTERM (``kill``, schedulers, containers) stops the sweep as Ctrl-C does: forwarded as SIGINT to Tune's own
    handler, which ends the trials at their checkpoints and saves its state for ``--resume``. Yields the stop
    signals received (a process's handlers can be set from its main thread only: elsewhere, none is)."""
    received: list[int] = []

    def forward(signum: int, _frame: Any) -> None:
        received.append(signum)
        os.kill(os.getpid(), signal.SIGINT)

    if threading.current_thread() is not threading.main_thread():
        yield received
        return
    previous = signal.signal(signal.SIGTERM, forward)
    try:
        yield received
    finally:
        signal.signal(signal.SIGTERM, previous)


def _tuner(study: Study, context: SweepContext, concurrency: int, verbose: bool) -> Any:
    """A new sweep's ``Tuner`` (its Tune state written beside a note of what it is), or a resumed one's."""
    trainable = tune.with_resources(
        tune.with_parameters(trial_driver, context=context), trial_resources(study.experiment, context.launcher)
    )
    if study.record is not None:
        return tune.Tuner.restore(
            f"{context.storage}/{context.sweep}", trainable=trainable, resume_unfinished=True, resume_errored=True
        )
    metric = val_report_key(study.trials[0].config.val_sets[0])
    param_space, search_alg, num_samples = tune_search(study.experiment, study.trials, concurrency)
    namer = TrialNamer(context.bases)
    tuner = tune.Tuner(
        trainable,
        param_space=param_space,
        tune_config=tune.TuneConfig(
            metric=metric,
            mode="max",
            search_alg=search_alg,
            num_samples=num_samples,
            scheduler=early_stop_scheduler(study.experiment, context.sweep, metric, study.trials),
            trial_name_creator=namer,
            trial_dirname_creator=namer,
            # A trial that trains in its Tune trial hands its process to the next trial: imports, the MLflow
            # store's set-up and the environment scan of model logging are paid once per slot, not per trial.
            reuse_actors=context.launcher == "tune",
        ),
        run_config=tune.RunConfig(
            name=context.sweep,
            storage_path=context.storage,
            verbose=1 if verbose else 0,
            callbacks=[sweep_console(context.sweep, study.trials[0].config.val_sets[0], study.trial_count)],
            # A trial that trains in its Tune trial is restarted by Tune, from its last checkpoint (the only one
            # kept: it holds last.pt and best.pt); a Ray Train trial's workers are restarted by Ray Train.
            failure_config=tune.FailureConfig(
                max_failures=TRIAL_RETRIES if context.launcher == "tune" else DRIVER_RETRIES
            ),
            checkpoint_config=tune.CheckpointConfig(num_to_keep=1),
        ),
    )
    save_sweep_state(context.storage, context.sweep, context.parent_run_id, study)
    return tuner


def trial_resources(experiment: Experiment, launcher: str) -> dict[str, float]:
    """What a Tune trial reserves: its one worker's CPUs and GPU where it trains itself, else memory alone."""
    if launcher == "train":
        return DRIVER_RESOURCES
    gpus = {"GPU": experiment.gpus_per_worker} if experiment.gpus_per_worker else {}
    return {"CPU": experiment.cpus_per_worker, **gpus}


def open_sweep_run(
    tracker: Tracker, study: Study, sweep: str, experiment_id: str, concurrency: int, storage_uri: str
) -> str:
    """The sweep's parent run: running again (a resumed sweep), or created with what the sweep is."""
    if study.record is not None:
        tracker.set_running(study.record.parent_run_id)
        return study.record.parent_run_id
    e = study.experiment
    note = e.budget_notes.get(study.budget)
    parent = tracker.find_or_create_run(experiment_id, {TAG_SWEEP: sweep, TAG_KIND: "sweep"}, run_name=sweep)
    tracker.set_tags(
        parent,
        {
            TAG_STUDY: e.name,
            TAG_GIT_COMMIT: git_commit(),
            TAG_SOURCE_NAME: study.file,
            TAG_SOURCE_TYPE: "LOCAL",
            **({TAG_BUDGET_NOTE: note} if note else {}),
        },
    )
    tracker.log_params(
        parent,
        {
            "budget": study.budget,
            "experiment_file": study.file,
            "trials": study.trial_count,
            "workers_per_trial": e.workers_per_trial,
            "cpus_per_worker": e.cpus_per_worker,
            "gpus_per_worker": e.gpus_per_worker,
            "launcher": trial_launcher(e),
            "trials_at_once": concurrency,
            "storage": storage_uri,
            "study_digest": study_digest(study.trials),
            "only": study.only or "",
            "search_alg": e.search_alg,
            "search_seed": e.search_seed,
            "num_samples": e.num_samples,
            "scheduler": e.scheduler,
            **{f"set.{k}": setting_text(v) for k, v in study.settings.items()},
        },
    )
    return parent


def save_sweep_state(storage_uri: str, sweep: str, parent: str, study: Study) -> None:
    """Beside Tune's own state: what ``--resume`` checks it is resuming."""
    if "://" in storage_uri:
        return
    folder = Path(storage_uri) / sweep
    folder.mkdir(parents=True, exist_ok=True)
    (folder / STATE_FILE).write_text(
        json.dumps({"sweep": sweep, "parent_run_id": parent, "file": study.file, "budget": study.budget}) + "\n"
    )


def announce(
    study: Study,
    sweep: str,
    tracking_uri: str,
    experiment_id: str,
    parent: str,
    view: str,
    concurrency: int,
    checkpoints: str,
) -> None:
    """Which sweep this is, where its runs go and how to see them, and what Ray gives it."""
    resources = ray.cluster_resources()
    print(f"sweep {sweep}{' (resumed)' if study.record is not None else ''}")
    print(
        f"MLflow: runs go to {tracking_uri} (experiment '{study.experiment.name}', parent run {parent}); "
        f"view them with: {ui_command(tracking_uri, experiment_id, view)}"
    )
    print(
        f"Ray: {resources.get('CPU', 0):g} CPU, {resources.get('GPU', 0):g} GPU; "
        f"{concurrency} trial(s) at a time; checkpoints in {checkpoints}"
    )
