"""A sweep's pre-flight, before Ray starts: the flags and the trials checked (resources, batch shares, data), the
table a dry run prints, and the sweep's identity (its id, and the digest a resume must still match)."""

from __future__ import annotations

import fnmatch
import hashlib
import json
import math
import secrets
import shlex
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ray.tune.search.sample import Categorical, LogUniform

from srbench.data import get_spec, set_label, status
from srbench.errors import UserError
from srbench.models.registry import entry_for
from srbench.outdir import check_output_folder
from srbench.study.experiment import Experiment, trial_launcher
from srbench.study.load import parse_settings
from srbench.study.plan import TrialBase, TrialPlan, check_trials, draws_per_base, sampled_domains, trial_bases
from srbench.sweep.cluster import TrialShape
from srbench.tracking.store import Tracker
from srbench.tracking.sweeps import SweepRecord, sweep_to_resume
from srbench.tracking.uri import check_store, resolve_tracking_uri, store_exists
from srbench.train.config import BUDGETS, TrainConfig
from srbench.train.data import check_trial_data

STATE_FILE = "srbench_sweep.json"  # beside Tune's state in a sweep's storage folder: what --resume checks


@dataclass
class Study:
    """A study as this sweep runs it: the file, its experiment, the budget, settings and trials (pre-flight's)."""

    file: str
    experiment: Experiment
    budget: str
    settings: dict[str, Any]
    only: str | None
    storage: str | None
    record: SweepRecord | None  # the sweep to resume, or None for a new one
    bases: list[TrialBase]  # the trial bases it runs (all, or those --only names)
    trials: list[TrialPlan]  # one per base, resolved (sampled domains at their lower bounds)

    @property
    def trial_count(self) -> int:
        return len(self.trials) * draws_per_base(self.experiment)


def prepare_study(
    file: str,
    experiment: Experiment,
    budget: str | None,
    tracking_uri: str | None,
    resume: bool | str,
    settings: dict[str, Any],
    only: str | None,
    storage: str | None,
) -> Study:
    """The study as this sweep runs it: a resumed sweep's own budget, settings, trials and storage; every trial
    (of ``--only``) validated, its shape checked."""
    record = resumed_sweep(experiment, budget, tracking_uri, resume, settings, only) if resume else None
    if record is not None:
        budget, only = record.budget, record.params.get("only") or None
        settings = parse_settings([f"{k}={v}" for k, v in record.settings.items()])
        storage = storage or record.params.get("storage")
    budget = budget or "quick"
    bases = trial_bases(experiment)
    if only is not None:  # --only '' matches no trial: said so, not taken for the whole study
        bases = [b for b in bases if fnmatch.fnmatch(b.key, only)]
        if not bases:
            raise UserError(
                f"--only '{only}' matches no trial; trials: {', '.join(b.key for b in trial_bases(experiment))}"
            )
    trials = check_trials(experiment, budget, file, settings, bases)
    check_trial_shape(experiment, trials, file)
    if experiment.search_alg == "optuna":
        require_optuna()
    return Study(file, experiment, budget, settings, only, storage, record, bases, trials)


def resumed_sweep(
    experiment: Experiment,
    budget: str | None,
    tracking_uri: str | None,
    resume: bool | str,
    settings: dict[str, Any],
    only: str | None,
) -> SweepRecord:
    """``--resume``: the interrupted sweep to continue, from a store that must already exist."""
    tracking_uri = resolve_tracking_uri(tracking_uri)
    check_store(tracking_uri)
    if not store_exists(tracking_uri):
        raise UserError(
            f"nothing to resume: no MLflow store at {tracking_uri}; give the --tracking-uri the sweep ran with"
        )
    record = sweep_to_resume(
        Tracker(tracking_uri), experiment.name, budget, resume if isinstance(resume, str) else None
    )
    check_resume_settings(record, settings, only)
    return record


def storage_of(study: Study) -> str:
    """Where Ray keeps the sweep's checkpoints: a folder (made absolute, proved writable) or an object-store URI."""
    if study.storage and "://" in study.storage:
        return study.storage
    folder = Path(study.storage or _default_storage()).expanduser().resolve()
    check_output_folder(folder, "--storage")
    return str(folder)


def _default_storage() -> Path:
    return (Path.cwd() / "ray_results").resolve()


def resume_command(file: str, sweep: str, tracking_uri: str, storage_uri: str) -> str:
    """How to continue the sweep from this folder and shell: with its store and checkpoints named where a bare
    ``--resume`` would look elsewhere (``./mlflow.db`` or $MLFLOW_TRACKING_URI, ``./ray_results``)."""
    command = f"python -m srbench sweep {shlex.quote(file)} --resume {sweep}"
    if tracking_uri != resolve_tracking_uri():
        command += f" --tracking-uri {shlex.quote(tracking_uri)}"
    if storage_uri != str(_default_storage()):
        command += f" --storage {shlex.quote(storage_uri)}"
    return command


def check_resumable(study: Study, sweep: str, storage_uri: str) -> None:
    """A resumed sweep's Tune state is where it is looked for, and its study file still gives the same trials."""
    state_file = Path(storage_uri) / sweep / STATE_FILE if "://" not in storage_uri else None
    if state_file is not None and not state_file.exists():
        raise UserError(
            f"sweep {sweep}'s state is not in {storage_uri}: pass the --storage it ran with "
            f"({study.record.params.get('storage', 'unknown')})"
        )
    ran_with = study.record.params.get("launcher", "train")  # sweeps before the `tune` launcher used Ray Train
    if ran_with != trial_launcher(study.experiment):
        raise UserError(
            f"sweep {sweep} trained its trials with launcher '{ran_with}' (its checkpoints are that launcher's): "
            f"resume it with --launcher {ran_with}"
        )
    if study.record.params.get("study_digest") not in (None, study_digest(study.trials)):
        raise UserError(
            f"sweep {sweep}: the study file {study.file} no longer gives the trials it started with; "
            f"start a new sweep (without --resume)"
        )


def check_flags(
    budget: str | None, workers: int | None, cpus: float | None, gpus: float | None, max_concurrent: int | None
) -> None:
    """The command line's budget and resource flags, each a one-line error naming the flag."""
    if budget is not None and budget not in BUDGETS:
        raise UserError(f"--budget: '{budget}' is unknown; valid: {', '.join(BUDGETS)}")
    for flag, value, minimum in (
        ("--workers-per-trial", workers, 1),
        ("--cpus-per-worker", cpus, 1e-9),
        ("--gpus-per-worker", gpus, 0),
        ("--max-concurrent", max_concurrent, 1),
    ):
        if value is not None and not (math.isfinite(value) and value >= minimum):  # nan fails every comparison
            raise UserError(f"{flag} {value:g}: must be a finite number {'>= 0' if minimum == 0 else '> 0'}")
    if gpus is not None and gpus > 1:  # named here, not as the study file's field
        raise UserError(
            f"--gpus-per-worker {gpus:g}: a DDP worker drives one GPU; give more --workers-per-trial with "
            f"--gpus-per-worker 1 instead"
        )


def check_trial_shape(experiment: Experiment, trials: list[TrialPlan], file: str | Path) -> None:
    """Before Ray starts: GPUs per worker the loop can use, and batches that split into equal shares (DDP averages
    the workers' gradients as if their shares were equal)."""
    TrialShape(experiment.workers_per_trial, experiment.cpus_per_worker, experiment.gpus_per_worker).check_gpus(
        str(file)
    )
    if experiment.launcher == "tune" and experiment.workers_per_trial > 1:
        raise UserError(
            f"{file}: launcher 'tune' trains a trial in one process, but workers_per_trial is "
            f"{experiment.workers_per_trial}: use launcher 'train' (or 'auto') for DDP workers"
        )
    for t in trials:
        if t.config.batch_size % experiment.workers_per_trial:
            raise UserError(
                f"{file}: trial {t.key}: field 'batch_size' = {t.config.batch_size} does not split into "
                f"{experiment.workers_per_trial} equal shares (workers_per_trial); use a multiple of "
                f"{experiment.workers_per_trial}"
            )


def check_sweep_data(trials: list[TrialPlan], data_root: Path, download: bool, local_only: bool = False) -> None:
    """Each distinct data need of the trials checked once on the driver (see ``check_trial_data``), so missing
    data or a patch or scale that does not fit is one line before Ray starts, not a failure in every trial.
    ``local_only`` (a dry run): only the needs whose sets are all here, never downloading."""
    needs = {}
    for trial in trials:
        c = trial.config
        needs.setdefault(
            (c.train_set, c.train_images, c.patch_size, c.scale, tuple(c.val_sets), tuple(c.eval_sets), c.val_images), c
        )
    for config in needs.values():
        if not local_only or _all_here(config, data_root):
            check_trial_data(config, data_root, download and not local_only)


def _all_here(config: TrainConfig, data_root: Path) -> bool:
    specs = [get_spec(config.train_set, kind="train")] + [get_spec(n) for n in (*config.val_sets, *config.eval_sets)]
    return all((st := status(spec, data_root, check_pixels=False)).present and not st.missing for spec in specs)


def require_optuna() -> None:
    try:
        import optuna  # noqa: F401
    except ImportError:
        raise UserError(
            "search_alg 'optuna' needs the optuna extra: pip install -e \".[optuna]\" (or pip install optuna)"
        ) from None


LAUNCHED_BY = {"tune": "trained in its Tune trial", "train": "a Ray Train DDP worker group"}


def trial_table(experiment: Experiment, trials: list[TrialPlan], budget: str) -> str:
    sampled = sampled_domains(experiment)
    count = len(trials) * draws_per_base(experiment)
    about = f" ({experiment.description})" if experiment.description else ""
    lines = [
        f"study {experiment.name}{about}, x{experiment.scale}, budget {budget}: {count} trial(s)",
        f"  per trial: {experiment.workers_per_trial} worker(s) x {experiment.cpus_per_worker:g} CPU"
        f"{f' + {experiment.gpus_per_worker:g} GPU' if experiment.gpus_per_worker else ''}, "
        + LAUNCHED_BY[trial_launcher(experiment)],
    ]
    if sampled:
        lines.append(
            f"  sampled by {experiment.search_alg} search (search_seed {experiment.search_seed}), "
            f"{experiment.num_samples} draw(s) per row below: "
            + ", ".join(f"{k} ~ {describe_domain(d)}" for k, d in sampled.items())
            + (f"; scheduler {experiment.scheduler}" if experiment.scheduler != "fifo" else "")
        )
    generic = list(dict.fromkeys(t.config.family for t in trials if not entry_for(t.config.model).budgets))
    lines.append(
        "  training: "
        + recipe_summary(trials, set(sampled))
        + (
            f" (srbench's generic recipe for networks registered without one: {', '.join(generic)}; "
            f"the study's 'train' / 'budgets' override it)"
            if generic
            else ""
        )
    )
    scored = dict.fromkeys(m.label for t in trials for m in t.config.scored_metrics())
    lines.append(f"  scores: {', '.join(scored)} (the final figures, per evaluation set and image)")
    varying = varying_recipe(trials, set(sampled))
    rows = [_trial_row(t, set(sampled), varying) for t in trials]
    key, settings = (max(width, *(len(row[i]) + 2 for row in rows)) for i, width in ((0, 22), (1, 52)))  # whole
    lines.append(f"  {'trial':<{key}}{'settings':<{settings}}{'iterations':>11}{'batch':>8}{'patch':>8}  evaluation")
    lines += [f"  {r[0]:<{key}}{r[1]:<{settings}}{r[2]:>11}{r[3]:>8}{r[4]:>8}  {r[5]}" for r in rows]
    return "\n".join(lines)


def _trial_row(trial: TrialPlan, sampled: set[str], varying: list[str]) -> tuple[str, ...]:
    """A trial's row of the dry-run table: its name, what it sets (and the varying recipe fields it gets, e.g. a
    family's own lr), iterations, batch, patch and evaluation sets."""
    c = trial.config
    given = {k.removeprefix("model."): v for k, v in trial.params.items() if k not in sampled}
    recipe = {name: getattr(c, name) for name in varying if name not in given}
    settings = " ".join(f"{k}={v}" for k, v in {**given, **recipe}.items()) or "-"
    its = f"{c.pretrain_iterations}+{c.iterations}" if c.pretrain_iterations else str(c.iterations)
    its, batch, patch = (
        "sampled" if name in sampled else str(value)
        for name, value in (("iterations", its), ("batch_size", c.batch_size), ("patch_size", c.patch_size))
    )
    evaluation = f"{','.join(set_label(s) for s in c.eval_sets)}{' (subset)' if c.val_images else ''}"
    return trial.key, settings, its, batch, patch, evaluation


RECIPE_FIELDS = (
    "train_set",
    "optimizer",
    "lr",
    "last_layer_lr_scale",
    "lr_schedule",
    "pixel_loss",
    "target_range",
    "content_loss",
    "adversarial_weight",
    "precision",
)


def recipe_summary(trials: list[TrialPlan], sampled: set[str]) -> str:
    """The training recipe every trial shares (``field=value``; fields that vary are in each trial's row of the
    table, sampled ones say so), so a dry run shows what the study's file and budget resolve to."""
    varying = varying_recipe(trials, sampled)
    return " ".join(
        f"{name}=sampled" if name in sampled else f"{name}={getattr(trials[0].config, name)}"
        for name in RECIPE_FIELDS
        if name not in varying
    )


def varying_recipe(trials: list[TrialPlan], sampled: set[str]) -> list[str]:
    """The recipe's fields whose values differ between trials (not sampled ones)."""
    return [
        name
        for name in RECIPE_FIELDS
        if name not in sampled and len({json.dumps(getattr(t.config, name)) for t in trials}) > 1
    ]


def describe_domain(domain: Any) -> str:
    if isinstance(domain, Categorical):
        return f"choice({', '.join(map(str, domain.categories))})"
    kind = "loguniform" if isinstance(getattr(domain, "sampler", None), LogUniform) else type(domain).__name__.lower()
    return f"{kind}({domain.lower:g}, {domain.upper:g})"


def new_sweep_id(study: str, budget: str) -> str:
    """Unique and sortable: ``srcnn_ablation-quick-20261122-101500-3fa2``."""
    return f"{study}-{budget}-{time.strftime('%Y%m%d-%H%M%S', time.gmtime())}-{secrets.token_hex(2)}"


def study_digest(trials: list[TrialPlan]) -> str:
    """What a resumed sweep must still resolve to: every trial's name and configuration hash."""
    text = json.dumps(sorted((t.key, t.config_hash) for t in trials))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def check_resume_settings(record: SweepRecord, settings: dict[str, Any] | None, only: str | None) -> None:
    if settings:
        raise UserError(
            f"--set with --resume: sweep {record.sweep_id} continues with its own settings "
            f"({' '.join(f'--set {k}={v}' for k, v in record.settings.items()) or 'none'}); "
            f"start a new sweep to change them"
        )
    if only is not None:
        raise UserError(
            f"--only with --resume: sweep {record.sweep_id} continues with its own trials; "
            f"start a new sweep to choose others"
        )
