"""The Tune trial: resolves the trial's plan from the values Tune chose (once), finds or creates its MLflow run,
and trains it (``sweep.worker``) with one of two launchers:

* ``tune`` (one worker, the default there): in this process, on the CPUs and GPU the Tune trial reserved. No Ray
  Train worker group to start; Tune's ``FailureConfig`` restarts the trial from its last checkpoint.
* ``train`` (several DDP workers, or asked for): a Ray Train ``TorchTrainer`` whose workers train it, each rank on
  its own reserved resources; ``TuneReportCallback`` forwards their reports to Tune, and Ray Train's
  ``FailureConfig`` restarts the workers from the last checkpoint.

Either way the reports reach Tune, where the search algorithm and the scheduler read them."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ray.train
from ray import tune
from ray.train.torch import TorchConfig, TorchTrainer
from ray.tune.integration.ray_train import TuneReportCallback

from srbench.errors import UserError
from srbench.study.code import register_study_models
from srbench.study.experiment import Experiment
from srbench.study.plan import TrialBase, TrialPlan, resolve_trial
from srbench.sweep.console import writer
from srbench.sweep.stops import stopped_at, stops_early
from srbench.sweep.worker import TrialSession, WorkerJob, train_trial, train_worker
from srbench.tracking.names import (
    ITERATIONS_TRAINED,
    TAG_CHECKPOINT,
    TAG_CONFIG_HASH,
    TAG_KIND,
    TAG_LAUNCHER,
    TAG_STOPPED_EARLY,
    TAG_STUDY,
    TAG_SWEEP,
    TAG_TRIAL,
    TAG_VARIANT,
    TAG_VARIANT_ORDER,
)
from srbench.tracking.patience import OUTAGE_SINKS
from srbench.tracking.records import record_configuration
from srbench.tracking.store import Tracker

TRIAL_RETRIES = 2  # restarts of a trial's training from its last checkpoint (Ray Train's, or Tune's for `tune`)


@dataclass
class SweepContext:
    """What every trial needs, shipped to Ray with the trainable."""

    study: str
    sweep: str
    budget: str
    file: str
    tracking_uri: str
    parent_run_id: str
    experiment_id: str
    storage: str
    data_root: str
    workers: int
    launcher: str  # "tune" or "train" (resolved: never "auto")
    cpus_per_worker: float
    gpus_per_worker: float
    experiment: Experiment
    settings: dict[str, Any]
    bases: dict[str, TrialBase]  # base key -> base; Tune's param "base" picks one, sampled values come in "search"
    # base key -> its plan, resolved in the sweep's pre-flight, where nothing is sampled (sampled trials are
    # resolved by their driver, from the values Tune chose)
    plans: dict[str, TrialPlan]
    # The study file's absolute path where it registers or imports networks of its own (trial processes read it
    # first, from the copy Ray's runtime environment brought to their node), else None.
    study_code: str | None

    def plan(self, tune_config: dict[str, Any], key: str) -> TrialPlan:
        """The trial's plan from the values Tune chose."""
        sampled = tune_config.get("search", {})
        if not sampled:
            return self.plans[tune_config["base"]]
        return resolve_trial(
            self.experiment, self.budget, self.bases[tune_config["base"]], sampled, self.settings, self.file, key
        )


def trial_driver(tune_config: dict[str, Any], context: SweepContext) -> None:
    """Tune's function trainable: one trial, from its MLflow run to its DDP job's end."""
    started = time.time()
    key = tune.get_context().get_trial_name()
    if context.study_code:
        register_study_models(context.study_code)
    plan = context.plan(tune_config, key)
    # The driver waits out a tracking outage as the workers do: a trial never fails for a server restart.
    OUTAGE_SINKS[:] = [writer(context.sweep, f"trial {key}: ")]
    tracker = Tracker(context.tracking_uri, patient=True)
    run_id, finished = open_trial_run(tracker, context, plan)
    if finished is not None:
        # Finished before the sweep was interrupted (Tune's own state may lag): never train twice.
        tune.report(finished)
        return
    job = WorkerJob(
        plan=plan,
        sweep=context.sweep,
        run_id=run_id,
        tracking_uri=context.tracking_uri,
        data_root=context.data_root,
        cpus_per_worker=context.cpus_per_worker,
        gpus_per_worker=context.gpus_per_worker,
        trial_started=started,
        study_code=context.study_code,
        stop_watch=stops_early(context.experiment),
    )
    try:
        if context.launcher == "tune":
            train_trial(job, TrialSession())
        else:
            _trainer(context, job).fit()
    except Exception:
        tracker.finish(run_id, "FAILED")
        raise
    close_trial_run(tracker, context, key, run_id)


def _trainer(context: SweepContext, job: WorkerJob) -> TorchTrainer:
    use_gpu = context.gpus_per_worker > 0
    resources = {"CPU": context.cpus_per_worker, **({"GPU": context.gpus_per_worker} if use_gpu else {})}
    return TorchTrainer(
        train_worker,
        train_loop_config={"job": job},
        torch_config=TorchConfig(backend="nccl" if use_gpu else "gloo"),
        scaling_config=ray.train.ScalingConfig(
            num_workers=context.workers, use_gpu=use_gpu, resources_per_worker=resources
        ),
        run_config=ray.train.RunConfig(
            name=f"{context.sweep}-{job.plan.key}",
            storage_path=context.storage,
            failure_config=ray.train.FailureConfig(max_failures=TRIAL_RETRIES),
            # Each report carries the run's whole checkpoint folder (last.pt and best.pt): the latest is all a
            # resume or a user needs.
            checkpoint_config=ray.train.CheckpointConfig(num_to_keep=1),
            callbacks=[TuneReportCallback()],
        ),
    )


def open_trial_run(tracker: Tracker, context: SweepContext, plan: TrialPlan) -> tuple[str, dict[str, float] | None]:
    """The trial's MLflow run, found (a resumed sweep) or created, with its configuration recorded; and, when
    that run already finished, its final metrics as Tune reports them. Safe to repeat after a failed attempt."""
    tags = {TAG_SWEEP: context.sweep, TAG_TRIAL: plan.key, TAG_KIND: "trial"}
    existing = tracker.find_run(context.experiment_id, tags)
    if existing is not None:
        run = tracker.run(existing)
        recorded = run.data.tags.get(TAG_CONFIG_HASH)
        if recorded != plan.config_hash:  # the study file changed under a resumed sweep: never mix two configurations
            raise UserError(
                f"trial {plan.key} of sweep {context.sweep} was started with configuration {recorded}, "
                f"now resolves to {plan.config_hash}: the study file changed; start a new sweep"
            )
        if run.info.status == "FINISHED":
            return existing, {k.replace(".", "/"): v for k, v in run.data.metrics.items()}
    run_id = tracker.find_or_create_run(
        context.experiment_id, tags, run_name=plan.key, parent_run_id=context.parent_run_id
    )
    record_configuration(
        tracker,
        run_id,
        plan.config,
        Path(context.data_root),
        source=context.file,
        params={"workers": context.workers, "gpus_per_worker": context.gpus_per_worker},
        tags={
            TAG_STUDY: context.study,
            TAG_VARIANT: plan.variant,
            TAG_VARIANT_ORDER: plan.variant_order,
            TAG_LAUNCHER: context.launcher,
        },
    )
    return run_id, None


def checkpoint_folder(context: SweepContext, key: str) -> str:
    """Where a trial's checkpoints are: in its Tune trial's folder, or its Ray Train run's."""
    if context.launcher == "tune":
        return f"{context.storage}/{context.sweep}/{key}"
    return f"{context.storage}/{context.sweep}-{key}"


def close_trial_run(tracker: Tracker, context: SweepContext, key: str, run_id: str) -> None:
    """Where the trial's checkpoint is, and how its run ended: FINISHED, or KILLED at the iteration a scheduler
    stopped it at (a decision that reached the trial only after it had trained to the end and been scored is
    no stop: it finished)."""
    tracker.set_tags(run_id, {TAG_CHECKPOINT: checkpoint_folder(context, key)})
    stopped = stopped_at(context.sweep, key) if stops_early(context.experiment) else None
    if stopped is not None and ITERATIONS_TRAINED not in tracker.run(run_id).data.metrics:
        tracker.set_tags(run_id, {TAG_STOPPED_EARLY: stopped})
        tracker.finish(run_id, "KILLED")
    else:
        tracker.finish(run_id, "FINISHED")
