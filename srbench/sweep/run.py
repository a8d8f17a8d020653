"""``srbench sweep``: every trial of an experiment as a Ray Tune trial, each one a Ray Train
``TorchTrainer`` DDP job, each one an MLflow child run under the sweep's parent run.

Layout (Ray Train V2 with Tune, the documented pattern for Ray >= 2.4x): a Tune function
trial (``_trial_driver``, a small CPU fraction) builds its configuration from the values
Tune chose, creates (or, when resumed, finds) its MLflow run and launches a
``TorchTrainer`` whose workers run the training loop (``_train_worker``);
``TuneReportCallback`` forwards the workers' reports to Tune, where the search algorithm
and scheduler (ASHA) read them.

Every invocation is a new sweep with its own id and parent run; its trials are found by
that id only, so nothing of another sweep is ever reused. Checkpoints go through Ray to
``--storage``; ``FailureConfig`` restarts failed workers from the last checkpoint, and
``--resume`` (``Tuner.restore``) continues an interrupted sweep with its own recorded
settings: finished trials are skipped, unfinished ones continue from their checkpoints.
"""

from __future__ import annotations

import contextlib
import fnmatch
import hashlib
import json
import os
import secrets
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from srbench.sweep.cluster import TrialShape, check_storage_shared, init_ray, trials_at_once
from srbench.data import set_label
from srbench.errors import UserError
from srbench.study.experiment import (Experiment, TrialBase, TrialSpec, check_trials, draws_per_base, find_study,
                                load_experiment, parse_settings, resolve_trial, sampled_domains, trial_bases,
                                trial_name, with_overrides)
from srbench.sweep.makespan import longest_first, makespan
from srbench.models.registry import entry_for
from srbench.tracking.model_registry import best_alias, register_best
from srbench.tracking.names import (ITERATIONS_TRAINED, PARAM_PRECISION_USED, STARTUP, TAG_BUDGET_NOTE, TAG_CHECKPOINT,
                               TAG_CONFIG_HASH, TAG_EVAL_IMAGES, TAG_GIT_COMMIT, TAG_KIND, TAG_SOURCE_NAME,
                               TAG_SOURCE_TYPE, TAG_STOPPED_EARLY, TAG_STUDY, TAG_SWEEP, TAG_TRAIN_SET_CACHE, TAG_TRIAL,
                               TAG_VARIANT, TAG_VARIANT_ORDER, TAG_WORKER_NODES, final_metric, val_report_key)
from srbench.tracking.records import record_configuration, record_results
from srbench.scoped_env import scoped_env
from srbench.sweep.console import console, sweep_console, writer
from srbench.study.code import register_study_models, runtime_env, trial_code
from srbench.tracking.sweeps import SweepRecord, setting_text, sweep_to_resume, trial_counts
from srbench.tracking.store import (OUTAGE_SINKS, MetricLogger, Tracker, check_store, git_commit, patiently,
                              resolve_tracking_uri, search_all_runs, store_exists, ui_command)

# The Tune trial only waits on its TorchTrainer: it reserves memory, no CPU, so the trial's workers
# can use every CPU (an empty bundle is rejected, and a CPU fraction would keep e.g. 2 workers x 1 CPU
# off a 2-CPU machine).
DRIVER_RESOURCES = {"memory": 64 * 1024 * 1024}
TRIAL_RETRIES = 2  # Ray Train: restarts of a trial's workers from its last checkpoint
DRIVER_RETRIES = 1  # Ray Tune: restarts of a trial's driver (e.g. its node died); it finds its run and checkpoint
STATE_FILE = "srbench_sweep.json"


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
    cpus_per_worker: float
    gpus_per_worker: float
    experiment: Experiment
    settings: dict[str, Any]
    bases: dict[str, TrialBase]  # base key -> base; Tune's param "base" picks one, sampled values come in "search"
    # The study file's absolute path where it registers or imports networks of its own (trial processes read it
    # first, from the copy Ray's runtime environment brought to their node), else None.
    study_code: str | None


# -- inside the Ray workers ---------------------------------------------------------------------

class _RayReport:
    """Forwards validations and the final result, with their checkpoint, to Ray Train: every rank
    reports (a Ray Train report is collective), rank 0 attaches the checkpoint. Training losses,
    far more frequent, go to MLflow only: each Ray report is a synchronisation."""

    def __init__(self, rank: int) -> None:
        self.rank = rank

    def report(self, iteration: int, metrics: dict[str, float], checkpoint: Path | None) -> None:
        import ray.train

        if checkpoint is None:
            return
        ray_checkpoint = None
        if checkpoint is not None and self.rank == 0:
            ray_checkpoint = ray.train.Checkpoint.from_directory(str(checkpoint))
        ray.train.report({"iteration": iteration, **metrics}, checkpoint=ray_checkpoint)


def _train_worker(loop_config: dict[str, Any]) -> None:
    import ray.train
    import ray.train.torch
    import torch

    from srbench.train.config import TrainConfig
    from srbench.train.device import choose_device
    from srbench.train.loop import Trainer

    worker_started = time.time()
    if loop_config["study_file"]:
        register_study_models(loop_config["study_file"])
    os.environ["MLFLOW_TRACKING_URI"] = loop_config["tracking_uri"]  # never a worker-local ./mlruns
    context = ray.train.get_context()
    rank = context.get_world_rank()
    torch.set_num_threads(max(1, int(loop_config["cpus_per_worker"])))
    config = TrainConfig(**loop_config["config"])
    # Everything the run writes is logged to MLflow or reported to Ray storage: the folder goes at the end,
    # and a killed earlier attempt's (attempts of one trial never overlap) at the start.
    prefix = f"srbench-{loop_config['sweep']}-{loop_config['key']}-rank{rank}-"
    for stale in Path(tempfile.gettempdir()).glob(f"{prefix}*"):
        shutil.rmtree(stale, ignore_errors=True)
    run_dir = Path(tempfile.mkdtemp(prefix=prefix))
    monitor = None
    try:
        callbacks: list[Any] = []
        tracker = None
        nodes = _worker_nodes(context.get_world_size())
        if rank == 0:
            OUTAGE_SINKS[:] = [writer(loop_config["sweep"], f"trial {loop_config['key']}: ")]
            tracker = Tracker(loop_config["tracking_uri"])
            patiently(lambda: tracker.set_tags(loop_config["run_id"], {TAG_WORKER_NODES: ",".join(nodes)}),
                      "tagging the run")
            # MLflow first: a scheduler may stop the trial as soon as Ray has the report.
            callbacks.append(MetricLogger(tracker, loop_config["run_id"], watch_stop=loop_config["early_stop"]))
            # CPU, memory, disk, network (and GPU where nvidia-ml-py is installed) every 10 s, as MLflow logs them
            # ("system/..."); an attempt after a restart continues the steps of the one before.
            from mlflow.system_metrics.system_metrics_monitor import SystemMetricsMonitor

            monitor = SystemMetricsMonitor(loop_config["run_id"], resume_logging=True,
                                           tracking_uri=loop_config["tracking_uri"])
            monitor.start()
        callbacks.append(_RayReport(rank))
        checkpoint = ray.train.get_checkpoint()
        placement = {"device": choose_device(loop_config["gpus_per_worker"], ray.train.torch.get_device),
                     "gpus_per_worker": loop_config["gpus_per_worker"], "nodes": len(set(nodes))}
        if checkpoint is not None:
            with checkpoint.as_directory() as folder:
                trainer = Trainer(config, run_dir, Path(loop_config["data_root"]), callbacks, show_progress=False,
                                  resume_from=Path(folder) / "last.pt", **placement)
        else:
            trainer = Trainer(config, run_dir, Path(loop_config["data_root"]), callbacks, show_progress=False,
                              **placement)
        if rank == 0:
            started = (worker_started - loop_config["trial_started"], time.time() - loop_config["trial_started"])
            patiently(lambda: _log_startup(tracker, loop_config["run_id"], trainer, *started), "logging the start-up")
        results = trainer.fit()
        if rank == 0 and results is not None:
            record_results(tracker, loop_config["run_id"], results, run_dir)
    finally:
        if monitor is not None:
            monitor.finish()
        shutil.rmtree(run_dir, ignore_errors=True)


def _log_startup(tracker: Tracker, run_id: str, trainer: Any, worker_group_s: float, to_first_step_s: float) -> None:
    """Where a trial's start-up went (this attempt's): Ray worker group, training set, model; and the
    precision the workers resolved ``auto`` to. At the iteration the attempt starts from, once: a retried
    attempt that starts where the last one did keeps the first figures (no step is logged twice)."""
    tracker.log_params(run_id, {PARAM_PRECISION_USED: trainer.precision})
    tracker.set_tags(run_id, {TAG_TRAIN_SET_CACHE: "hit" if trainer.sampler.cached else "miss"})
    if any(m.step == trainer.iteration for m in tracker.client.get_metric_history(run_id, STARTUP[-1])):
        return
    figures = (worker_group_s, trainer.sampler.seconds, trainer.model_build_s, to_first_step_s)
    tracker.log_metrics(run_id, dict(zip(STARTUP, figures)), step=trainer.iteration)


def _worker_nodes(world_size: int) -> list[str]:
    """The Ray node id of every rank, in rank order: where a trial's DDP workers ran."""
    import ray
    import torch.distributed as dist

    nodes = [ray.get_runtime_context().get_node_id()] * world_size
    if world_size > 1 and dist.is_initialized():
        dist.all_gather_object(nodes, nodes[0])
    return nodes


# -- the Tune trial ------------------------------------------------------------------------------

def _trial_driver(tune_config: dict[str, Any], context: SweepContext) -> None:
    import ray.train
    from ray import tune
    from ray.train.torch import TorchConfig, TorchTrainer
    from ray.tune.integration.ray_train import TuneReportCallback

    key = tune.get_context().get_trial_name()
    if context.study_code:
        register_study_models(context.study_code)
    base = context.bases[tune_config["base"]]
    trial = resolve_trial(context.experiment, context.budget, base, tune_config.get("search", {}), context.settings,
                          context.file, key)
    tracker = Tracker(context.tracking_uri)
    # The driver waits out a tracking outage as the workers do: a trial never fails for a server restart.
    OUTAGE_SINKS[:] = [writer(context.sweep, f"trial {key}: ")]
    run_id, finished = patiently(lambda: _open_trial_run(tracker, context, trial, key), "starting the trial's run")
    if finished is not None:
        # Finished before the sweep was interrupted (Tune's own state may lag): never train twice.
        tune.report(finished)
        return
    use_gpu = context.gpus_per_worker > 0
    resources = {"CPU": context.cpus_per_worker, **({"GPU": context.gpus_per_worker} if use_gpu else {})}
    trainer = TorchTrainer(
        _train_worker,
        train_loop_config={"config": trial.config.to_dict(), "sweep": context.sweep, "key": key, "run_id": run_id,
                           "tracking_uri": context.tracking_uri, "data_root": context.data_root,
                           "cpus_per_worker": context.cpus_per_worker, "gpus_per_worker": context.gpus_per_worker,
                           "trial_started": time.time(),
                           "study_file": context.study_code,
                           "early_stop": context.experiment.scheduler == "asha"},
        torch_config=TorchConfig(backend="nccl" if use_gpu else "gloo"),
        scaling_config=ray.train.ScalingConfig(num_workers=context.workers, use_gpu=use_gpu,
                                               resources_per_worker=resources),
        run_config=ray.train.RunConfig(
            name=f"{context.sweep}-{key}", storage_path=context.storage,
            failure_config=ray.train.FailureConfig(max_failures=TRIAL_RETRIES),
            # Each report carries the run's whole checkpoint folder (last.pt and best.pt): the latest is all a
            # resume or a user needs.
            checkpoint_config=ray.train.CheckpointConfig(num_to_keep=1),
            callbacks=[TuneReportCallback()],
        ),
    )
    try:
        trainer.fit()
    except Exception:
        patiently(lambda: tracker.finish(run_id, "FAILED"), "ending the failed trial's run")
        raise
    patiently(lambda: _close_trial_run(tracker, context, key, run_id), "ending the trial's run")


def _open_trial_run(tracker: Tracker, context: SweepContext, trial: TrialSpec,
                    key: str) -> tuple[str, dict[str, float] | None]:
    """The trial's MLflow run, found (a resumed sweep) or created, with its configuration recorded; and, when
    that run already finished, its final metrics as Tune reports them. Safe to repeat after a failed attempt."""
    digest = config_hash_of(trial)
    tags = {TAG_SWEEP: context.sweep, TAG_TRIAL: key, TAG_KIND: "trial"}
    existing = tracker.find_run(context.experiment_id, tags)
    if existing is not None:
        run = tracker.client.get_run(existing)
        recorded = run.data.tags.get(TAG_CONFIG_HASH)
        if recorded != digest:  # the study file changed under a resumed sweep: never mix two configurations
            raise UserError(f"trial {key} of sweep {context.sweep} was started with configuration {recorded}, "
                            f"now resolves to {digest}: the study file changed; start a new sweep")
        if run.info.status == "FINISHED":
            return existing, {k.replace(".", "/"): v for k, v in run.data.metrics.items()}
    run_id = tracker.find_or_create_run(context.experiment_id, tags, run_name=key, parent_run_id=context.parent_run_id)
    record_configuration(tracker, run_id, trial.config, Path(context.data_root), source=context.file,
                         params={"workers": context.workers, "gpus_per_worker": context.gpus_per_worker},
                         tags={TAG_STUDY: context.study, TAG_VARIANT: trial.variant,
                               TAG_VARIANT_ORDER: _variant_order(context, trial.variant)})
    return run_id, None


def _close_trial_run(tracker: Tracker, context: SweepContext, key: str, run_id: str) -> None:
    """Where the trial's checkpoint is, and how its run ended: FINISHED, or KILLED when a scheduler stopped it."""
    tracker.set_tags(run_id, {TAG_CHECKPOINT: f"{context.storage}/{context.sweep}-{key}"})
    run = tracker.client.get_run(run_id)
    if TAG_STOPPED_EARLY in run.data.tags and ITERATIONS_TRAINED in run.data.metrics:
        # ASHA's decision reached the trial only after it had trained to the end and been scored: it finished.
        tracker.client.delete_tag(run_id, TAG_STOPPED_EARLY)
        run = tracker.client.get_run(run_id)
    tracker.finish(run_id, "KILLED" if TAG_STOPPED_EARLY in run.data.tags else "FINISHED")


def _variant_order(context: SweepContext, variant: str) -> int:
    return list(context.experiment.variants or {"default": {}}).index(variant)


def _total_iterations(context: SweepContext) -> Any:
    """A Tune trial's length in iterations, from its configuration (base and sampled values)."""
    def total(tune_config: dict[str, Any]) -> int:
        base = context.bases[tune_config["base"]]
        return resolve_trial(context.experiment, context.budget, base, tune_config.get("search", {}),
                             context.settings, context.file).config.total_iterations

    return total


def config_hash_of(trial: TrialSpec) -> str:
    from srbench.train.config import config_hash

    return config_hash(trial.config)


class TrialNamer:
    """Tune's trial names are srbench's (``9-5-5_seed0``, ``lr=0.000316_seed0_t3``), in Ray's console and storage."""

    def __init__(self, bases: dict[str, TrialBase]) -> None:
        self.bases = bases

    def __call__(self, trial: Any) -> str:
        return trial_name(self.bases[trial.config["base"]], trial.config.get("search", {}), trial.trial_id)


def _early_stop_scheduler(context: SweepContext, metric: str, max_t: int, grace_period: int) -> Any:
    """ASHA whose stop decisions the trial carries out itself: the decision is tagged on the trial's MLflow run,
    the training loop sees the tag at its next log step and ends cleanly (checkpoint saved, Ray Train's workers
    and resources released), and the run ends KILLED with the iteration ASHA stopped it at. (Letting Tune kill
    the trial's actor would leave its Ray Train worker group's resources reserved.)"""
    from ray.tune.schedulers import ASHAScheduler, TrialScheduler

    class CooperativeASHA(ASHAScheduler):
        def on_trial_result(self, tune_controller: Any, trial: Any, result: dict[str, Any]) -> str:
            decision = super().on_trial_result(tune_controller, trial, result)
            # ASHA also says STOP at max_t, the trial's last validation: the trial still has its final scoring to do.
            if decision == TrialScheduler.STOP and result.get("iteration", max_t) < max_t:
                _record_early_stop(context, str(trial), int(result["iteration"]), result.get(metric))
            return TrialScheduler.CONTINUE

    return CooperativeASHA(time_attr="iteration", max_t=max_t, grace_period=grace_period)


def _record_early_stop(context: SweepContext, key: str, iteration: int, value: float | None) -> None:
    tracker = Tracker(context.tracking_uri)
    run_id = tracker.find_run(context.experiment_id, {TAG_SWEEP: context.sweep, TAG_TRIAL: key, TAG_KIND: "trial"})
    if run_id is None:
        return
    run = tracker.client.get_run(run_id)
    if TAG_STOPPED_EARLY in run.data.tags or run.info.status == "FINISHED":  # decided already, or came too late
        return
    tracker.set_tags(run_id, {TAG_STOPPED_EARLY: iteration})
    print(f"trial {key}: stopped early by ASHA at iteration {iteration}"
          + (f" (validation {value:.2f} dB)" if value is not None else ""), flush=True)


def _require_optuna() -> None:
    try:
        import optuna  # noqa: F401
    except ImportError:
        raise UserError("search_alg 'optuna' needs the optuna extra: pip install -e \".[optuna]\" "
                        "(or pip install optuna)") from None


def _search_alg(experiment: Experiment, concurrency: int) -> Any:
    """Random sampling seeded by ``search_seed`` (default), or Optuna's TPE with that seed; either runs at most
    ``concurrency`` trials at once (Tune ignores ``max_concurrent_trials`` for a search generator given to it)."""
    if experiment.search_alg == "optuna":
        _require_optuna()
        from ray.tune.search import ConcurrencyLimiter
        from ray.tune.search.optuna import OptunaSearch

        return ConcurrencyLimiter(OptunaSearch(seed=experiment.search_seed), max_concurrent=concurrency)
    from ray.tune.search.basic_variant import BasicVariantGenerator

    return BasicVariantGenerator(random_state=experiment.search_seed, max_concurrent=concurrency)


def tune_search(experiment: Experiment, trials: list[TrialSpec], concurrency: int) -> tuple[dict[str, Any], Any, int]:
    """What Tune searches: ``param_space`` (a grid over the trial bases, longest first, the sampled domains
    under "search"), the search algorithm and ``num_samples``."""
    from ray import tune

    sampled = sampled_domains(experiment)
    # A single base is a constant: Optuna cannot take a grid. Tune starts grid points in the grid's order.
    keys = longest_first([t.key for t in trials], [t.config for t in trials])
    param_space: dict[str, Any] = {"base": tune.grid_search(keys) if len(keys) > 1 else keys[0]}
    if sampled:
        param_space["search"] = dict(sampled)
    return param_space, _search_alg(experiment, concurrency), experiment.num_samples if sampled else 1


# -- the driver ----------------------------------------------------------------------------------

def trial_table(experiment: Experiment, trials: list[TrialSpec], budget: str) -> str:
    sampled = sampled_domains(experiment)
    count = len(trials) * draws_per_base(experiment)
    about = f" ({experiment.description})" if experiment.description else ""
    lines = [f"study {experiment.name}{about}, x{experiment.scale}, budget {budget}: "
             f"{count} trial(s)",
             f"  per trial: {experiment.workers_per_trial} DDP worker(s) x {experiment.cpus_per_worker:g} CPU"
             f"{f' + {experiment.gpus_per_worker:g} GPU' if experiment.gpus_per_worker else ''}"]
    if sampled:
        lines.append(f"  sampled by {experiment.search_alg} search (search_seed {experiment.search_seed}), "
                     f"{experiment.num_samples} draw(s) per row below: "
                     + ", ".join(f"{k} ~ {_describe_domain(d)}" for k, d in sampled.items())
                     + (f"; scheduler {experiment.scheduler}" if experiment.scheduler != "fifo" else ""))
    generic = list(dict.fromkeys(t.config.family for t in trials if not entry_for(t.config.model).budgets))
    lines.append("  training: " + recipe_summary(trials, set(sampled))
                 + (f" (srbench's generic recipe for networks registered without one: {', '.join(generic)}; "
                    f"the study's 'train' / 'budgets' override it)" if generic else ""))
    lines.append(f"  {'trial':<22}{'settings':<52}{'iterations':>11}{'batch':>8}{'patch':>8}  evaluation")
    for t in trials:
        c = t.config
        settings = " ".join(f"{k.removeprefix('model.')}={v}" for k, v in t.params.items() if k not in sampled) or "-"
        its = f"{c.pretrain_iterations}+{c.iterations}" if c.pretrain_iterations else str(c.iterations)
        its, batch, patch = ("sampled" if name in sampled else value for name, value in
                             (("iterations", its), ("batch_size", c.batch_size), ("patch_size", c.patch_size)))
        lines.append(f"  {t.key:<22}{settings[:51]:<52}{its:>11}{batch:>8}{patch:>8}  "
                     f"{','.join(set_label(s) for s in c.eval_sets)}{' (subset)' if c.val_images else ''}")
    return "\n".join(lines)


RECIPE_FIELDS = ("train_set", "optimizer", "lr", "last_layer_lr_scale", "lr_schedule", "pixel_loss", "target_range",
                 "content_loss", "adversarial_weight", "precision")


def recipe_summary(trials: list[TrialSpec], sampled: set[str]) -> str:
    """The training recipe every trial shares (``field=value``; fields that vary are in the table, sampled ones
    say so), so a dry run shows what the study's file and budget resolve to."""
    values = {name: {json.dumps(getattr(t.config, name)) for t in trials} for name in RECIPE_FIELDS}
    return " ".join(f"{name}=sampled" if name in sampled else f"{name}={getattr(trials[0].config, name)}"
                    for name in RECIPE_FIELDS if name in sampled or len(values[name]) == 1)


def _describe_domain(domain: Any) -> str:
    from ray.tune.search.sample import Categorical, LogUniform

    if isinstance(domain, Categorical):
        return f"choice({', '.join(map(str, domain.categories))})"
    kind = "loguniform" if isinstance(getattr(domain, "sampler", None), LogUniform) else type(domain).__name__.lower()
    return f"{kind}({domain.lower:g}, {domain.upper:g})"


def summary_table(tracker: Tracker, experiment_id: str, sweep: str, sets: list[str], scale: int,
                  data_root: Path) -> str:
    """One line per trial of this sweep: status and final Y-PSNR / SSIM per set; the bicubic row first where
    the trials were scored on whole sets (a smoke trial's subset is not comparable with it)."""
    from srbench.report.leaderboard import bicubic_scores

    runs = search_all_runs(tracker, [experiment_id], f"tags.`{TAG_SWEEP}` = '{sweep}' and tags.`{TAG_KIND}` = 'trial'")
    width = max([22] + [len(r.info.run_name) + 2 for r in runs])
    lines = [f"  {'trial':<{width}}{'status':<22}" + "".join(f"{set_label(s) + ' PSNR / SSIM':>22}" for s in sets)]
    scored = [r for r in runs if final_metric(sets[0], "psnr_y") in r.data.metrics]
    if scored and all(r.data.tags.get(TAG_EVAL_IMAGES) == "all" for r in scored):
        bicubic = bicubic_scores([scale], data_root, sets)
        lines.append(f"  {'bicubic':<{width}}{'':<22}" + "".join(
            f"{bicubic[scale, s][0]:>14.2f} / {bicubic[scale, s][1]:.4f}" for s in sets))

    def figures(metrics: dict[str, float], s: str) -> str:
        psnr, ssim = metrics.get(final_metric(s, "psnr_y")), metrics.get(final_metric(s, "ssim_y"))
        return f"{psnr:>14.2f} / {ssim:.4f}" if psnr is not None and ssim is not None else f"{'-':>22}"

    for run in sorted(runs, key=lambda r: r.info.run_name):
        stopped = run.data.tags.get(TAG_STOPPED_EARLY)
        status = f"stopped early @{stopped}" if stopped else run.info.status
        lines.append(f"  {run.info.run_name:<{width}}{status:<22}" + "".join(figures(run.data.metrics, s) for s in sets))
    return "\n".join(lines)


def _check_resource_flags(workers: int | None, cpus: float | None, gpus: float | None,
                          max_concurrent: int | None) -> None:
    for flag, value, minimum in (("--workers-per-trial", workers, 1), ("--cpus-per-worker", cpus, 1e-9),
                                 ("--gpus-per-worker", gpus, 0), ("--max-concurrent", max_concurrent, 1)):
        if value is not None and value < minimum:
            raise UserError(f"{flag} {value:g}: must be {'>= 0' if minimum == 0 else '> 0'}")


def check_trial_shape(experiment: Experiment, trials: list[TrialSpec], file: str | Path) -> None:
    """Before Ray starts: GPUs per worker the loop can use, and batches that split into equal shares (DDP averages
    the workers' gradients as if their shares were equal)."""
    TrialShape(experiment.workers_per_trial, experiment.cpus_per_worker, experiment.gpus_per_worker).check_gpus(str(file))
    for t in trials:
        if t.config.batch_size % experiment.workers_per_trial:
            raise UserError(f"{file}: trial {t.key}: field 'batch_size' = {t.config.batch_size} does not split into "
                            f"{experiment.workers_per_trial} equal shares (workers_per_trial); use a multiple of "
                            f"{experiment.workers_per_trial}")


def new_sweep_id(study: str, budget: str) -> str:
    """Unique and sortable: ``srcnn_ablation-quick-20261122-101500-3fa2``."""
    return f"{study}-{budget}-{time.strftime('%Y%m%d-%H%M%S', time.gmtime())}-{secrets.token_hex(2)}"


def study_digest(trials: list[TrialSpec]) -> str:
    """What a resumed sweep must still resolve to: every trial's name and configuration hash."""
    text = json.dumps(sorted((t.key, config_hash_of(t)) for t in trials))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _resume_settings(record: SweepRecord, settings: dict[str, Any] | None, only: str | None) -> None:
    if settings:
        raise UserError(f"--set with --resume: sweep {record.sweep_id} continues with its own settings "
                        f"({' '.join(f'--set {k}={v}' for k, v in record.settings.items()) or 'none'}); "
                        f"start a new sweep to change them")
    if only:
        raise UserError(f"--only with --resume: sweep {record.sweep_id} continues with its own trials; "
                        f"start a new sweep to choose others")


# Smoke pages go beside, never over, the real ones (a smoke sweep from a checkout's root would replace them).
LEADERBOARD_FOLDERS = {"smoke": "leaderboards-smoke"}


def run_sweep(file: str, budget: str | None = None, address: str | None = None, tracking_uri: str | None = None,
              storage: str | None = None, max_concurrent: int | None = None, workers_per_trial: int | None = None,
              cpus_per_worker: float | None = None, gpus_per_worker: float | None = None,
              resume: bool | str = False, dry_run: bool = False, data_root: Path | None = None,
              only: str | None = None, settings: dict[str, Any] | None = None, download: bool = True,
              verbose: bool = False) -> dict[str, Any]:
    """Run a new sweep of the study in ``file``; ``resume=True`` continues the latest interrupted sweep of
    the study and budget, ``resume="<sweep id>"`` that one, each with the settings it was started with.
    ``verbose``: Ray Tune's status table besides srbench's console."""
    from srbench.data import resolve_data_root
    from srbench.train.config import BUDGETS

    if budget is not None and budget not in BUDGETS:
        raise UserError(f"--budget: '{budget}' is unknown; valid: {', '.join(BUDGETS)}")
    _check_resource_flags(workers_per_trial, cpus_per_worker, gpus_per_worker, max_concurrent)
    file = str(find_study(file))  # a shipped study by name: its installed file, recorded on the sweep as such
    experiment = with_overrides(load_experiment(file), workers_per_trial=workers_per_trial,
                                cpus_per_worker=cpus_per_worker, gpus_per_worker=gpus_per_worker)
    record = None
    if resume:
        tracking_uri = resolve_tracking_uri(tracking_uri)
        check_store(tracking_uri)
        if not store_exists(tracking_uri):
            raise UserError(f"nothing to resume: no MLflow store at {tracking_uri}; give the --tracking-uri the "
                            f"sweep ran with")
        record = sweep_to_resume(Tracker(tracking_uri), experiment.name, budget,
                                 resume if isinstance(resume, str) else None)
        _resume_settings(record, settings, only)
        budget = record.budget
        settings = parse_settings([f"{k}={v}" for k, v in record.settings.items()])
        only = record.params.get("only") or None
        storage = storage or record.params.get("storage")
    budget = budget or "quick"
    bases = trial_bases(experiment)
    if only:
        bases = [b for b in bases if fnmatch.fnmatch(b.key, only)]
        if not bases:
            raise UserError(f"--only '{only}' matches no trial; trials: "
                            f"{', '.join(b.key for b in trial_bases(experiment))}")
    trials = check_trials(experiment, budget, file, settings, bases)
    check_trial_shape(experiment, trials, file)
    if experiment.search_alg == "optuna":
        _require_optuna()
    count = len(trials) * draws_per_base(experiment)
    print(trial_table(experiment, trials, budget))
    if dry_run:
        return {"trials": [t.key for t in trials], "dry_run": True}

    tracking_uri = resolve_tracking_uri(tracking_uri)
    check_store(tracking_uri)
    storage_path = Path(storage or Path.cwd() / "ray_results").expanduser().resolve() if not (storage and "://" in storage) else None
    storage_uri = str(storage_path) if storage_path is not None else storage
    check_sweep_data(trials, resolve_data_root(data_root), download)
    if storage_path is not None:
        check_writable_folder(storage_path, "--storage")
    sweep = record.sweep_id if record is not None else new_sweep_id(experiment.name, budget)
    digest = study_digest(trials)
    if record is not None:
        state_file = storage_path / sweep / STATE_FILE if storage_path is not None else None
        if state_file is not None and not state_file.exists():
            raise UserError(f"sweep {sweep}'s state is not in {storage_uri}: pass the --storage it ran with "
                            f"({record.params.get('storage', 'unknown')})")
        if record.params.get("study_digest") not in (None, digest):
            raise UserError(f"sweep {sweep}: the study file {file} no longer gives the trials it started with; "
                            f"start a new sweep (without --resume)")

    import ray
    from ray import tune

    code = runtime_env(file, trial_code(t.config for t in trials))
    where = init_ray(address, code)
    concurrency = trials_at_once(TrialShape(experiment.workers_per_trial, experiment.cpus_per_worker,
                                            experiment.gpus_per_worker), where, max_concurrent or count)
    if storage_path is not None:
        check_storage_shared(storage_path, where)
    tracker = Tracker(tracking_uri)
    experiment_id = tracker.experiment_id(experiment.name, experiment.description)
    if record is not None:
        parent = record.parent_run_id
        tracker.client.update_run(parent, status="RUNNING")
    else:
        parent = tracker.client.create_run(experiment_id, run_name=sweep, tags={
            TAG_SWEEP: sweep, TAG_KIND: "sweep", TAG_STUDY: experiment.name, TAG_GIT_COMMIT: git_commit(),
            TAG_SOURCE_NAME: str(file), TAG_SOURCE_TYPE: "LOCAL",
            **({TAG_BUDGET_NOTE: experiment.budget_notes[budget]} if experiment.budget_notes.get(budget) else {})
        }).info.run_id
        tracker.log_params(parent, {"budget": budget, "experiment_file": str(file), "trials": count,
                                    "workers_per_trial": experiment.workers_per_trial,
                                    "cpus_per_worker": experiment.cpus_per_worker,
                                    "gpus_per_worker": experiment.gpus_per_worker, "trials_at_once": concurrency,
                                    "storage": storage_uri, "study_digest": digest, "only": only or "",
                                    "search_alg": experiment.search_alg, "search_seed": experiment.search_seed,
                                    "num_samples": experiment.num_samples, "scheduler": experiment.scheduler,
                                    **{f"set.{k}": setting_text(v) for k, v in (settings or {}).items()}})
    view = tracker.save_sweep_view(experiment_id, sweep, trials[0].config.eval_sets)
    print(f"sweep {sweep}{' (resumed)' if record is not None else ''}")
    print(f"MLflow: runs go to {tracking_uri} (experiment '{experiment.name}', parent run {parent}); "
          f"view them with: {ui_command(tracking_uri, experiment_id, view)}")
    print(f"Ray: {ray.cluster_resources().get('CPU', 0):g} CPU, {ray.cluster_resources().get('GPU', 0):g} GPU; "
          f"{concurrency} trial(s) at a time; checkpoints in {storage_uri}/{sweep}-<trial>")

    context = SweepContext(
        study=experiment.name, sweep=sweep, budget=budget, file=str(file), tracking_uri=tracking_uri,
        parent_run_id=parent, experiment_id=experiment_id, storage=storage_uri,
        data_root=str(resolve_data_root(data_root)), workers=experiment.workers_per_trial,
        cpus_per_worker=experiment.cpus_per_worker, gpus_per_worker=experiment.gpus_per_worker,
        experiment=experiment, settings=dict(settings or {}), bases={b.key: b for b in bases},
        study_code=str(Path(file).resolve()) if code is not None else None,
    )
    trial_messages = console(sweep)  # the trials' warnings reach this terminal through it
    trainable = tune.with_resources(tune.with_parameters(_trial_driver, context=context), DRIVER_RESOURCES)
    sweep_path = f"{storage_uri}/{sweep}"
    if record is not None:
        tuner = tune.Tuner.restore(sweep_path, trainable=trainable, resume_unfinished=True, resume_errored=True)
    else:
        metric = val_report_key(trials[0].config.val_sets[0])
        scheduler = None
        if experiment.scheduler == "asha":
            scheduler = _early_stop_scheduler(context, metric, max_t=max(t.config.total_iterations for t in trials),
                                              grace_period=min(t.config.val_every for t in trials))
        param_space, search_alg, num_samples = tune_search(experiment, trials, concurrency)
        tuner = tune.Tuner(
            trainable,
            param_space=param_space,
            tune_config=tune.TuneConfig(
                metric=metric, mode="max", search_alg=search_alg, scheduler=scheduler, num_samples=num_samples,
                trial_name_creator=TrialNamer(context.bases), trial_dirname_creator=TrialNamer(context.bases)),
            run_config=tune.RunConfig(name=sweep, storage_path=storage_uri, verbose=1 if verbose else 0,
                                      callbacks=[sweep_console(sweep, _total_iterations(context),
                                                               trials[0].config.val_sets[0], count)],
                                      failure_config=tune.FailureConfig(max_failures=DRIVER_RETRIES)),
        )
        if storage_path is not None:
            (storage_path / sweep).mkdir(parents=True, exist_ok=True)
            (storage_path / sweep / STATE_FILE).write_text(json.dumps(
                {"sweep": sweep, "parent_run_id": parent, "file": str(file), "budget": budget}) + "\n")
    # Tune's newer output engine prints the experiment's settings and a TensorBoard hint even at verbosity 0;
    # the older one prints nothing there: srbench's console speaks unless --verbose.
    with contextlib.nullcontext() if verbose else scoped_env(RAY_AIR_NEW_OUTPUT="0"):
        grid = tuner.fit()
    trial_messages.shutdown()
    errors = [r for r in grid if r.error is not None]
    # Count from MLflow, not from Tune: after Ctrl-C Tune returns with trials still unfinished. From here on
    # every call waits out a tracking outage, as the trials do: a sweep of hours must not end in a traceback.
    counts = patiently(lambda: trial_counts(tracker, experiment_id, sweep), "counting the sweep's trials")
    done = counts["finished"] + counts["stopped_early"]
    interrupted = not errors and done < count
    patiently(lambda: tracker.finish(parent, "FAILED" if errors else "KILLED" if interrupted else "FINISHED"),
              "ending the sweep's run")

    from srbench.report.leaderboard import write_leaderboards

    out = Path(LEADERBOARD_FOLDERS.get(budget, "leaderboards"))
    pages = patiently(lambda: write_leaderboards([experiment.name], tracking_uri, out, resolve_data_root(data_root)),
                      "writing the leaderboards") if done else []
    if pages:  # the page as this sweep wrote it, beside its run: markdown, CSV and pictures
        for file in [*pages, *(p.with_suffix(".csv") for p in pages), *sorted(out.glob(f"{experiment.name}-*.png"))]:
            patiently(lambda: tracker.client.log_artifact(parent, str(file), artifact_path="leaderboard"),
                      "storing the leaderboard with the sweep's run")
    if done:
        patiently(lambda: _register_best(tracker, experiment_id, experiment.name, budget, sweep,
                                         trials[0].config.eval_sets[0]), "registering the best trial's model")
    span = None if record is not None else patiently(lambda: _makespan(tracker, experiment_id, sweep, concurrency),
                                                     "reading the trials' times")
    if span is not None:
        patiently(lambda: tracker.log_metrics(parent, {"makespan_s": span.wall_s, "makespan_ideal_s": span.ideal_s,
                                                       "makespan_ratio": span.ratio}), "logging the makespan")
    summary = {"sweep": sweep, "parent_run_id": parent, "trials": count, "finished": counts["finished"],
               "stopped_early": counts["stopped_early"], "failed": len(errors), "interrupted": interrupted,
               "leaderboards": [str(p) for p in pages]}
    print(patiently(lambda: summary_table(tracker, experiment_id, sweep, list(trials[0].config.eval_sets),
                                          experiment.scale, resolve_data_root(data_root)), "reading the trials' figures"))
    print(f"sweep {sweep}: {counts['finished']} of {count} trials finished"
          + (f", {counts['stopped_early']} stopped early" if counts["stopped_early"] else "")
          + (f", {len(errors)} failed" if errors else "")
          + (f"; continue with: python -m srbench sweep {file} --resume {sweep}" if interrupted or errors else "")
          + (f"; leaderboard: {', '.join(summary['leaderboards'])}" if pages else "; no leaderboard: no finished trial"))
    if span is not None:
        print(f"sweep {sweep}: {span.describe()}")
        summary["makespan_ratio"] = span.ratio
    print(f"MLflow: {ui_command(tracking_uri, experiment_id, view)}")
    return summary


def check_writable_folder(folder: Path, flag: str) -> None:
    """Create ``folder`` (with parents) and prove it writable, as a one-line error before anything starts."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as exc:
        raise UserError(f"{flag} {folder}: cannot create or write there ({exc.strerror or exc})") from None


def check_sweep_data(trials: list[TrialSpec], data_root: Path, download: bool) -> None:
    """Each distinct data need of the trials checked once on the driver (see ``check_trial_data``), so missing
    data or a patch or scale that does not fit is one line before Ray starts, not a failure in every trial."""
    from srbench.train.data import check_trial_data

    needs = {}
    for trial in trials:
        c = trial.config
        needs.setdefault((c.train_set, c.train_images, c.patch_size, c.scale, tuple(c.val_sets), tuple(c.eval_sets),
                          c.val_images), c)
    for config in needs.values():
        check_trial_data(config, data_root, download)


def _register_best(tracker: Tracker, experiment_id: str, study: str, budget: str, sweep: str, first_set: str) -> None:
    """The sweep's best finished trial (Y-PSNR on the study's first evaluation set) into the Model Registry."""
    figure = final_metric(first_set, "psnr_y")
    runs = [r for r in search_all_runs(tracker, [experiment_id], f"tags.`{TAG_SWEEP}` = '{sweep}' and "
                                       f"tags.`{TAG_KIND}` = 'trial' and attributes.status = 'FINISHED'")
            if figure in r.data.metrics]
    if not runs:
        return
    best = max(runs, key=lambda r: r.data.metrics[figure])
    version = register_best(tracker, study, budget, sweep, best.info.run_id, figure)
    print(f"Model Registry: {study} version {version} = trial {best.info.run_name} ({figure} "
          f"{best.data.metrics[figure]:.2f} dB), alias {best_alias(budget)}; load it with "
          f"mlflow.pytorch.load_model('models:/{study}@{best_alias(budget)}')")


def _makespan(tracker: Tracker, experiment_id: str, sweep: str, slots: int) -> Any:
    """How close the sweep's wall time came to its trials' total time / slots (a sweep run in one go)."""
    runs = search_all_runs(tracker, [experiment_id], f"tags.`{TAG_SWEEP}` = '{sweep}' and tags.`{TAG_KIND}` = 'trial'")
    return makespan([(r.info.start_time / 1000, r.info.end_time / 1000 if r.info.end_time else None) for r in runs],
                    slots)
