"""A trial's training process, wherever its launcher started it: inside the Tune trial itself (one worker: no
Ray Train worker group to start) or as one rank of a Ray Train DDP job. Both run :func:`train_trial`, the same
code, through a :class:`TrialSession` that says which rank this is, which device it drives, where its last
checkpoint is and how reports reach Tune. It trains the plan the trial's driver resolved and, on rank 0, logs to
the trial's MLflow run."""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ray
import ray.train
import ray.train.torch
import torch
import torch.distributed as dist
from mlflow.system_metrics.system_metrics_monitor import SystemMetricsMonitor
from ray import tune

from srbench.study.code import register_study_models
from srbench.study.plan import TrialPlan
from srbench.sweep.console import writer
from srbench.sweep.stops import StopWatch
from srbench.tracking.logger import MetricLogger
from srbench.tracking.names import (
    PARAM_PRECISION_USED,
    STARTUP,
    TAG_RESUMED_AT,
    TAG_TRAIN_SET_CACHE,
    TAG_WORKER_NODES,
)
from srbench.tracking.patience import OUTAGE_SINKS
from srbench.tracking.records import record_results
from srbench.tracking.store import Tracker
from srbench.train.device import choose_device
from srbench.train.loop import Trainer


@dataclass(frozen=True)
class WorkerJob:
    """What a trial's driver hands its training process(es): the resolved plan and where its records go."""

    plan: TrialPlan
    sweep: str
    run_id: str
    tracking_uri: str
    data_root: str
    cpus_per_worker: float
    gpus_per_worker: float
    trial_started: float  # when the trial's driver started (time.time()): start-up is measured from it
    study_code: str | None  # the study file to run first where it registers networks of its own
    stop_watch: bool  # the sweep has a scheduler that may stop this trial early (ASHA)


class TrialSession:
    """Where a trial trains and how it speaks to Tune: the Tune trial itself, one process (the base class)."""

    rank, world_size = 0, 1

    def device(self, gpus: float) -> torch.device:
        # Ray sets CUDA_VISIBLE_DEVICES to the GPU it assigned the trial: that one is cuda:0 here.
        return choose_device(gpus, lambda: torch.device("cuda", 0))

    def last_checkpoint(self) -> AbstractContextManager[Path | None]:
        """The folder of the trial's last reported checkpoint (a restarted attempt's), or None."""
        checkpoint = tune.get_checkpoint()
        return nullcontext() if checkpoint is None else checkpoint.as_directory()

    def report(self, metrics: dict[str, Any], checkpoint: Path) -> None:
        tune.report(metrics, checkpoint=tune.Checkpoint.from_directory(str(checkpoint)))


class RayTrainSession(TrialSession):
    """One rank of a Ray Train ``TorchTrainer`` job, whose reports ``TuneReportCallback`` forwards to Tune."""

    def __init__(self) -> None:
        context = ray.train.get_context()
        self.rank, self.world_size = context.get_world_rank(), context.get_world_size()

    def device(self, gpus: float) -> torch.device:
        return choose_device(gpus, ray.train.torch.get_device)

    def last_checkpoint(self) -> AbstractContextManager[Path | None]:
        checkpoint = ray.train.get_checkpoint()
        return nullcontext() if checkpoint is None else checkpoint.as_directory()

    def report(self, metrics: dict[str, Any], checkpoint: Path) -> None:
        # A Ray Train report is collective: every rank reports, rank 0 attaches the checkpoint.
        attached = ray.train.Checkpoint.from_directory(str(checkpoint)) if self.rank == 0 else None
        ray.train.report(metrics, checkpoint=attached)


class SessionReport:
    """Forwards validations and the final result, with their checkpoint, to Tune through the session. Training
    losses, far more frequent, go to MLflow only: each report to Tune is a synchronisation (and under Ray Train a
    collective one). Each report carries the trial's length, for the sweep's console."""

    def __init__(self, session: TrialSession, total_iterations: int) -> None:
        self.session, self.total_iterations = session, total_iterations

    def report(self, iteration: int, metrics: dict[str, float], checkpoint: Path | None) -> None:
        if checkpoint is not None:
            self.session.report(
                {"iteration": iteration, "total_iterations": self.total_iterations, **metrics}, checkpoint
            )


def train_worker(loop_config: dict[str, Any]) -> None:
    """Ray Train's worker loop: ``loop_config["job"]`` is the trial's :class:`WorkerJob`."""
    train_trial(loop_config["job"], RayTrainSession())


def train_trial(job: WorkerJob, session: TrialSession) -> None:
    """Train the trial's plan in this process, from its last checkpoint where it has one, reporting to Tune and
    (rank 0) logging to its MLflow run."""
    worker_started = time.time()
    if job.study_code:
        register_study_models(job.study_code)
    os.environ["MLFLOW_TRACKING_URI"] = job.tracking_uri  # never a worker-local ./mlruns
    torch.set_num_threads(max(1, int(job.cpus_per_worker)))
    nodes = _worker_nodes(session.world_size)
    run_dir = _fresh_run_dir(job, session.rank)
    tracker = monitor = None
    try:
        callbacks: list[Any] = []
        if session.rank == 0:
            OUTAGE_SINKS[:] = [writer(job.sweep, f"trial {job.plan.key}: ")]
            tracker = Tracker(job.tracking_uri, patient=True)
            tracker.set_tags(job.run_id, {TAG_WORKER_NODES: ",".join(nodes)})
            # MLflow first: a scheduler may stop the trial as soon as Tune has the report.
            callbacks.append(MetricLogger(tracker, job.run_id))
            if job.stop_watch:
                callbacks.append(StopWatch(job.sweep, job.plan.key))
            monitor = _system_metrics(job)
        callbacks.append(SessionReport(session, job.plan.total_iterations))
        trainer = _trainer(job, session, run_dir, callbacks, len(set(nodes)))
        if tracker is not None:
            _log_startup(
                tracker, job.run_id, trainer, worker_started - job.trial_started, time.time() - job.trial_started
            )
        results = trainer.fit()
        if tracker is not None and results is not None:
            record_results(tracker, job.run_id, results, run_dir)
    finally:
        if monitor is not None:
            monitor.finish()
        shutil.rmtree(run_dir, ignore_errors=True)


def _fresh_run_dir(job: WorkerJob, rank: int) -> Path:
    """A scratch folder for this attempt. Everything the run writes is logged to MLflow or reported to Ray storage:
    the folder goes at the end, and a killed earlier attempt's (attempts of one trial never overlap) here."""
    prefix = f"srbench-{job.sweep}-{job.plan.key}-rank{rank}-"
    for stale in Path(tempfile.gettempdir()).glob(f"{prefix}*"):
        shutil.rmtree(stale, ignore_errors=True)
    return Path(tempfile.mkdtemp(prefix=prefix))


def _system_metrics(job: WorkerJob) -> SystemMetricsMonitor:
    """CPU, memory, disk, network (and GPU where nvidia-ml-py is installed) every 10 s, as MLflow logs them
    ("system/..."); an attempt after a restart continues the steps of the one before."""
    monitor = SystemMetricsMonitor(job.run_id, resume_logging=True, tracking_uri=job.tracking_uri)
    monitor.start()
    return monitor


def _trainer(job: WorkerJob, session: TrialSession, run_dir: Path, callbacks: list[Any], nodes: int) -> Trainer:
    """The training loop on the device Ray assigned, from the trial's last checkpoint where it has one."""
    with session.last_checkpoint() as folder:
        return Trainer(
            job.plan.config,
            run_dir,
            Path(job.data_root),
            callbacks,
            show_progress=False,
            resume_from=Path(folder) / "last.pt" if folder is not None else None,
            device=session.device(job.gpus_per_worker),
            gpus_per_worker=job.gpus_per_worker,
            nodes=nodes,
        )


def _log_startup(
    tracker: Tracker, run_id: str, trainer: Trainer, worker_group_s: float, to_first_step_s: float
) -> None:
    """Where a trial's start-up went (this attempt's): Ray worker group, training set, model; and the
    precision the workers resolved ``auto`` to. At the iteration the attempt starts from, once: a retried
    attempt that starts where the last one did keeps the first figures (no step is logged twice). An attempt
    from a checkpoint also says so in the run's tags (``srbench.resumed_at``)."""
    tracker.log_params(run_id, {PARAM_PRECISION_USED: trainer.precision})
    tracker.set_tags(run_id, {TAG_TRAIN_SET_CACHE: "hit" if trainer.sampler.cached else "miss"})
    started = {m.step for m in tracker.metric_history(run_id, STARTUP[-1])}
    if trainer.iteration in started:
        return
    figures = (worker_group_s, trainer.sampler.seconds, trainer.model_build_s, to_first_step_s)
    tracker.log_metrics(run_id, dict(zip(STARTUP, figures)), step=trainer.iteration)
    resumed = sorted(step for step in started | {trainer.iteration} if step > 0)
    if resumed:
        tracker.set_tags(run_id, {TAG_RESUMED_AT: ",".join(map(str, resumed))})


def _worker_nodes(world_size: int) -> list[str]:
    """The Ray node id of every rank, in rank order: where a trial's DDP workers ran."""
    nodes = [ray.get_runtime_context().get_node_id()] * world_size
    if world_size > 1 and dist.is_initialized():
        dist.all_gather_object(nodes, nodes[0])
    return nodes
