"""``srbench sweep``: every trial of an experiment as a Ray Tune trial, each one a Ray Train
``TorchTrainer`` DDP job, each one an MLflow child run under the sweep's parent run.

Layout (Ray Train V2 with Tune, the documented pattern for Ray >= 2.4x): a Tune function
trial (``_trial_driver``, a small CPU fraction) finds or creates the trial's MLflow run
and launches a ``TorchTrainer`` whose workers run the training loop
(``_train_worker``); ``TuneReportCallback`` forwards the workers' reports to Tune.
Checkpoints go through Ray to ``--storage``; ``FailureConfig`` restarts failed workers
from the last checkpoint, and a resumed sweep (``Tuner.restore``) skips finished trials
and continues unfinished ones from theirs.
"""

from __future__ import annotations

import fnmatch
import json
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from srbench.cluster import TrialShape, check_storage_shared, init_ray, trials_at_once
from srbench.errors import UserError
from srbench.experiment import Experiment, TrialSpec, expand_trials, load_experiment, with_overrides
from srbench.tracking import (TAG_KIND, TAG_STUDY, TAG_SWEEP, TAG_TRIAL, MetricLogger, Tracker, check_reachable,
                              flatten, git_commit, resolve_tracking_uri, software_versions, ui_command)

# The Tune trial only waits on its TorchTrainer: it reserves memory, no CPU, so the trial's workers
# can use every CPU (an empty bundle is rejected, and a CPU fraction would keep e.g. 2 workers x 1 CPU
# off a 2-CPU machine).
DRIVER_RESOURCES = {"memory": 64 * 1024 * 1024}
TRIAL_RETRIES = 2
STATE_FILE = "srbench_sweep.json"
TAG_WORKER_NODES = "ray.worker_nodes"  # Ray node id of each DDP rank, in rank order


@dataclass
class SweepContext:
    """What every trial needs, shipped to Ray with the trainable."""

    study: str
    sweep: str
    budget: str
    tracking_uri: str
    parent_run_id: str
    experiment_id: str
    storage: str
    data_root: str
    workers: int
    cpus_per_worker: float
    gpus_per_worker: float
    trials: dict[str, dict[str, Any]]  # key -> {"config": TrainConfig as a dict, "variant": name}


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
    import torch

    from srbench.train.config import TrainConfig
    from srbench.train.loop import Trainer

    os.environ["MLFLOW_TRACKING_URI"] = loop_config["tracking_uri"]  # never a worker-local ./mlruns
    context = ray.train.get_context()
    rank = context.get_world_rank()
    torch.set_num_threads(max(1, int(loop_config["cpus_per_worker"])))
    config = TrainConfig(**loop_config["config"])
    run_dir = Path(tempfile.mkdtemp(prefix=f"srbench-{loop_config['key']}-rank{rank}-"))
    callbacks: list[Any] = [_RayReport(rank)]
    tracker = None
    nodes = _worker_nodes(context.get_world_size())
    if rank == 0:
        tracker = Tracker(loop_config["tracking_uri"])
        tracker.set_tags(loop_config["run_id"], {TAG_WORKER_NODES: ",".join(nodes)})
        callbacks.append(MetricLogger(tracker, loop_config["run_id"]))
    checkpoint = ray.train.get_checkpoint()
    if checkpoint is not None:
        with checkpoint.as_directory() as folder:
            trainer = Trainer(config, run_dir, Path(loop_config["data_root"]), callbacks, show_progress=False,
                              resume_from=Path(folder) / "last.pt")
    else:
        trainer = Trainer(config, run_dir, Path(loop_config["data_root"]), callbacks, show_progress=False)
    results = trainer.fit()
    if rank == 0 and results is not None:
        _log_results(tracker, loop_config["run_id"], results, run_dir)


def _worker_nodes(world_size: int) -> list[str]:
    """The Ray node id of every rank, in rank order: where a trial's DDP workers ran."""
    import ray
    import torch.distributed as dist

    nodes = [ray.get_runtime_context().get_node_id()] * world_size
    if world_size > 1 and dist.is_initialized():
        dist.all_gather_object(nodes, nodes[0])
    return nodes


def _log_results(tracker: Tracker, run_id: str, results: dict[str, Any], run_dir: Path) -> None:
    from mlflow.entities import Metric

    now = int(time.time() * 1000)
    step = results["iterations"]
    metrics = [Metric(f"{s['set']}.{k}", s[k], now, step) for s in results["sets"]
               for k in ("psnr_y", "ssim_y", "psnr_rgb", "lpips") if s[k] is not None]
    metrics += [Metric("parameters", results["parameters"], now, step), Metric("macs_per_mp", results["macs_per_mp"], now, step),
                Metric("wall_time_s", results["wall_time_s"], now, step), Metric("iterations", step, now, step)]
    tracker.client.log_batch(run_id, metrics=metrics)
    tracker.set_tags(run_id, {"hardware": results["hardware"], "eval_images": results["eval_images"],
                              "vgg_weights": results["vgg_weights"] or "none",
                              "condition_source": results["condition_source"] or "none",
                              "lpips": results["lpips"] or "n/a"})
    tracker.client.log_artifact(run_id, str(run_dir / "results.json"))
    tracker.client.log_artifact(run_id, str(run_dir / "history.jsonl"))
    tracker.client.log_artifacts(run_id, str(run_dir / "crops"), artifact_path="crops")


# -- the Tune trial ------------------------------------------------------------------------------

def _trial_driver(tune_config: dict[str, Any], context: SweepContext) -> None:
    import ray.train
    from ray.train.torch import TorchConfig, TorchTrainer
    from ray.tune.integration.ray_train import TuneReportCallback

    key = tune_config["trial"]
    trial = context.trials[key]
    tracker = Tracker(context.tracking_uri)
    tags = {TAG_SWEEP: context.sweep, TAG_TRIAL: key, TAG_KIND: "trial"}
    done = tracker.find_run(context.experiment_id, tags)
    if done is not None and tracker.client.get_run(done).info.status == "FINISHED":
        # Finished before the sweep was interrupted (Tune's own state may lag): never train twice.
        from ray import tune

        tune.report({k.replace(".", "/"): v for k, v in tracker.client.get_run(done).data.metrics.items()})
        return
    run_id = tracker.find_or_create_run(context.experiment_id, tags, run_name=key, parent_run_id=context.parent_run_id)
    tracker.log_params(run_id, {**flatten("", trial["config"]), "variant": trial["variant"],
                                "workers": context.workers, "gpus_per_worker": context.gpus_per_worker})
    tracker.set_tags(run_id, {TAG_STUDY: context.study, "budget": context.budget, "git_commit": git_commit(),
                              **{f"version.{k}": v for k, v in software_versions().items()}})
    use_gpu = context.gpus_per_worker > 0
    resources = {"CPU": context.cpus_per_worker, **({"GPU": context.gpus_per_worker} if use_gpu else {})}
    trainer = TorchTrainer(
        _train_worker,
        train_loop_config={"config": trial["config"], "key": key, "run_id": run_id, "tracking_uri": context.tracking_uri,
                           "data_root": context.data_root, "cpus_per_worker": context.cpus_per_worker},
        torch_config=TorchConfig(backend="nccl" if use_gpu else "gloo"),
        scaling_config=ray.train.ScalingConfig(num_workers=context.workers, use_gpu=use_gpu,
                                               resources_per_worker=resources),
        run_config=ray.train.RunConfig(
            name=f"{context.sweep}-{key}", storage_path=context.storage,
            failure_config=ray.train.FailureConfig(max_failures=TRIAL_RETRIES),
            callbacks=[TuneReportCallback()],
        ),
    )
    try:
        trainer.fit()
    except Exception:
        tracker.finish(run_id, "FAILED")
        raise
    tracker.set_tags(run_id, {"checkpoint": f"{context.storage}/{context.sweep}-{key}"})
    tracker.finish(run_id)


# -- the driver ----------------------------------------------------------------------------------

def trial_table(experiment: Experiment, trials: list[TrialSpec], budget: str) -> str:
    lines = [f"study {experiment.name} ({experiment.description}), x{experiment.scale}, budget {budget}: "
             f"{len(trials)} trial(s)",
             f"  per trial: {experiment.workers_per_trial} DDP worker(s) x {experiment.cpus_per_worker:g} CPU"
             f"{f' + {experiment.gpus_per_worker:g} GPU' if experiment.gpus_per_worker else ''}",
             f"  {'trial':<22}{'settings':<52}{'iterations':>11}{'batch':>7}{'patch':>7}  evaluation"]
    for t in trials:
        c = t.config
        settings = " ".join(f"{k.removeprefix('model.')}={v}" for k, v in t.params.items()) or "-"
        its = f"{c.pretrain_iterations}+{c.iterations}" if c.pretrain_iterations else str(c.iterations)
        lines.append(f"  {t.key:<22}{settings[:51]:<52}{its:>11}{c.batch_size:>7}{c.patch_size:>7}  "
                     f"{','.join(c.eval_sets)}{' (subset)' if c.val_images else ''}")
    return "\n".join(lines)


def summary_table(tracker: Tracker, study: str, sweep: str) -> str:
    """One line per trial of this sweep: status and final Y-PSNR per set."""
    from srbench.data import DEFAULT_BENCHMARKS

    experiment = tracker.client.get_experiment_by_name(study)
    runs = tracker.client.search_runs([experiment.experiment_id],
                                      filter_string=f"tags.`{TAG_SWEEP}` = '{sweep}' and tags.`{TAG_KIND}` = 'trial'")
    lines = [f"  {'trial':<22}{'status':<10}" + "".join(f"{s + ' PSNR':>13}" for s in DEFAULT_BENCHMARKS)]
    for run in sorted(runs, key=lambda r: r.info.run_name):
        values = "".join(f"{run.data.metrics[f'{s}.psnr_y']:>13.2f}" if f"{s}.psnr_y" in run.data.metrics
                         else f"{'-':>13}" for s in DEFAULT_BENCHMARKS)
        lines.append(f"  {run.info.run_name:<22}{run.info.status:<10}{values}")
    return "\n".join(lines)


def _check_resource_flags(workers: int | None, cpus: float | None, gpus: float | None,
                          max_concurrent: int | None) -> None:
    for flag, value, minimum in (("--workers-per-trial", workers, 1), ("--cpus-per-worker", cpus, 1e-9),
                                 ("--gpus-per-worker", gpus, 0), ("--max-concurrent", max_concurrent, 1)):
        if value is not None and value < minimum:
            raise UserError(f"{flag} {value:g}: must be {'>= 0' if minimum == 0 else '> 0'}")


def run_sweep(file: str, budget: str = "smoke", address: str | None = None, tracking_uri: str | None = None,
              storage: str | None = None, max_concurrent: int | None = None, workers_per_trial: int | None = None,
              cpus_per_worker: float | None = None, gpus_per_worker: float | None = None, resume: bool = False,
              dry_run: bool = False, data_root: Path | None = None, only: str | None = None,
              settings: dict[str, Any] | None = None) -> dict[str, Any]:
    from srbench.data import resolve_data_root
    from srbench.train.config import BUDGETS

    if budget not in BUDGETS:
        raise UserError(f"--budget: '{budget}' is unknown; valid: {', '.join(BUDGETS)}")
    _check_resource_flags(workers_per_trial, cpus_per_worker, gpus_per_worker, max_concurrent)
    experiment = with_overrides(load_experiment(file), workers_per_trial=workers_per_trial,
                                cpus_per_worker=cpus_per_worker, gpus_per_worker=gpus_per_worker)
    trials = expand_trials(experiment, budget, file, settings)
    if only:
        chosen = [t for t in trials if fnmatch.fnmatch(t.key, only)]
        if not chosen:
            raise UserError(f"--only '{only}' matches no trial; trials: {', '.join(t.key for t in trials)}")
        trials = chosen
    print(trial_table(experiment, trials, budget))
    if dry_run:
        return {"trials": [t.key for t in trials], "dry_run": True}

    tracking_uri = resolve_tracking_uri(tracking_uri)
    check_reachable(tracking_uri)
    storage_path = Path(storage or Path.cwd() / "ray_results").expanduser().resolve() if not (storage and "://" in storage) else None
    storage_uri = str(storage_path) if storage_path is not None else storage
    sweep = f"{experiment.name}-{budget}"
    state_file = (storage_path / sweep / STATE_FILE) if storage_path is not None else None
    if state_file is not None and state_file.exists() and not resume:
        raise UserError(f"a sweep of {experiment.name} at budget {budget} already exists in {storage_path / sweep}; "
                        f"pass --resume to continue it, or choose another --storage")
    if resume and (state_file is None or not state_file.exists()):
        raise UserError(f"nothing to resume: no sweep of {experiment.name} at budget {budget} in {storage_uri}")

    import ray
    from ray import tune

    where = init_ray(address)
    concurrency = trials_at_once(TrialShape(experiment.workers_per_trial, experiment.cpus_per_worker,
                                            experiment.gpus_per_worker), where, max_concurrent or len(trials))
    if storage_path is not None:
        check_storage_shared(storage_path, where)
    tracker = Tracker(tracking_uri)
    experiment_id = tracker.experiment_id(experiment.name)
    parent = tracker.find_or_create_run(experiment_id, {TAG_SWEEP: sweep, TAG_KIND: "sweep"}, run_name=sweep)
    tracker.log_params(parent, {"budget": budget, "experiment_file": str(file), "trials": len(trials),
                                "workers_per_trial": experiment.workers_per_trial,
                                "cpus_per_worker": experiment.cpus_per_worker,
                                "gpus_per_worker": experiment.gpus_per_worker, "trials_at_once": concurrency,
                                **{f"set.{k}": v for k, v in (settings or {}).items()}})
    tracker.set_tags(parent, {TAG_STUDY: experiment.name, "git_commit": git_commit()})
    print(f"MLflow: runs go to {tracking_uri} (experiment '{experiment.name}', parent run {parent}); "
          f"view them with: {ui_command(tracking_uri)}")
    print(f"Ray: {ray.cluster_resources().get('CPU', 0):g} CPU, {ray.cluster_resources().get('GPU', 0):g} GPU; "
          f"{concurrency} trial(s) at a time; checkpoints in {storage_uri}/{sweep}-<trial>")

    context = SweepContext(
        study=experiment.name, sweep=sweep, budget=budget, tracking_uri=tracking_uri, parent_run_id=parent,
        experiment_id=experiment_id, storage=storage_uri, data_root=str(resolve_data_root(data_root)),
        workers=experiment.workers_per_trial, cpus_per_worker=experiment.cpus_per_worker,
        gpus_per_worker=experiment.gpus_per_worker,
        trials={t.key: {"config": t.config.to_dict(), "variant": t.variant} for t in trials},
    )
    trainable = tune.with_resources(tune.with_parameters(_trial_driver, context=context), DRIVER_RESOURCES)
    scheduler = None
    if experiment.scheduler == "asha":
        from ray.tune.schedulers import ASHAScheduler

        first = trials[0].config.val_sets[0]
        scheduler = ASHAScheduler(metric=f"val/{first}/psnr_y", mode="max", time_attr="iteration",
                                  grace_period=trials[0].config.val_every)
    sweep_path = f"{storage_uri}/{sweep}"
    if resume:
        tuner = tune.Tuner.restore(sweep_path, trainable=trainable, resume_unfinished=True, resume_errored=True)
    else:
        tuner = tune.Tuner(
            trainable,
            param_space={"trial": tune.grid_search([t.key for t in trials])},
            tune_config=tune.TuneConfig(max_concurrent_trials=concurrency, scheduler=scheduler),
            run_config=tune.RunConfig(name=sweep, storage_path=storage_uri, verbose=1),
        )
        if state_file is not None:
            state_file.parent.mkdir(parents=True, exist_ok=True)
            state_file.write_text(json.dumps({"parent_run_id": parent, "file": str(file), "budget": budget}) + "\n")
    grid = tuner.fit()
    errors = [r for r in grid if r.error is not None]
    # Count from MLflow, not from Tune: after Ctrl-C Tune returns with trials still unfinished.
    finished = sum(1 for r in tracker.client.search_runs(
        [experiment_id], filter_string=f"tags.`{TAG_SWEEP}` = '{sweep}' and tags.`{TAG_KIND}` = 'trial'")
        if r.info.status == "FINISHED" and r.data.tags.get(TAG_TRIAL) in context.trials)
    interrupted = not errors and finished < len(trials)
    tracker.finish(parent, "FAILED" if errors else "KILLED" if interrupted else "FINISHED")

    from srbench.leaderboard import write_leaderboards

    pages = write_leaderboards([experiment.name], tracking_uri, Path("leaderboards"), resolve_data_root(data_root))
    for picture in sorted(Path("leaderboards").glob(f"{experiment.name}-*.png")):
        tracker.client.log_artifact(parent, str(picture), artifact_path="leaderboard")
    summary = {"sweep": sweep, "parent_run_id": parent, "trials": len(trials), "finished": finished,
               "failed": len(errors), "interrupted": interrupted, "leaderboards": [str(p) for p in pages]}
    print(summary_table(tracker, experiment.name, sweep))
    print(f"sweep {sweep}: {finished} of {len(trials)} trials finished"
          + (f", {len(errors)} failed" if errors else "")
          + (f"; continue with: python -m srbench sweep {file} --budget {budget} --resume" if finished < len(trials) else "")
          + f"; leaderboard: {', '.join(summary['leaderboards'])}")
    return summary
