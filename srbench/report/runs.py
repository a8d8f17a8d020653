"""A study's trial runs read from the tracking store into one table row per run (runs recorded under older names
read too), and the sweeps a page shows."""

from __future__ import annotations

import hashlib
import json

import pandas as pd

from srbench.data import set_label
from srbench.report.columns import PRIMARY, page_metrics
from srbench.study.load import shipped_studies
from srbench.tracking.names import (
    ITERATIONS_TRAINED,
    RESULTS_ARTIFACT,
    TAG_BUDGET,
    TAG_BUDGET_NOTE,
    TAG_CONDITION_SOURCE,
    TAG_CONFIG_HASH,
    TAG_EVAL_IMAGES,
    TAG_GIT_COMMIT,
    TAG_HARDWARE,
    TAG_KIND,
    TAG_LPIPS,
    TAG_METRICS,
    TAG_STOPPED_EARLY,
    TAG_SWEEP,
    TAG_VARIANT,
    TAG_VARIANT_ORDER,
    TAG_VGG_USED,
    final_metric,
    val_metric,
)
from srbench.tracking.store import Tracker

UNTRACKED = "(no sweep id)"  # runs recorded before sweeps had ids

# Run params that are bookkeeping, not configuration: never a reason to tell two rows apart.
UNORDERED = 10**6  # the place of a variant recorded before srbench.variant_order: after the others

_NOT_CONFIG = {"seed", "workers", "gpus_per_worker", "log_every", "val_every"}


def _eval_sets(params: dict[str, str]) -> tuple[str, ...]:
    try:
        return tuple(json.loads(params["eval_sets"]))
    except (KeyError, ValueError, TypeError):
        return ("Set5", "Set14", "BSD100")  # what every srbench run scored before eval_sets was recorded


def _legacy_hash(params: dict[str, str]) -> str:
    """Runs recorded before configuration hashes: their logged configuration, seed excluded."""
    text = json.dumps(sorted((k, v) for k, v in params.items() if k != "seed"))
    return "params:" + hashlib.sha256(text.encode()).hexdigest()[:12]


def load_runs(tracker: Tracker, study: str) -> pd.DataFrame:
    """One row per trial run of ``study`` that finished or was stopped early, with its sweep."""
    experiment = tracker.experiment_by_name(study)
    if experiment is None:
        return pd.DataFrame()
    runs = tracker.runs([experiment.experiment_id], f"tags.`{TAG_KIND}` = 'trial'")
    parents = {r.info.run_id: r for r in tracker.runs([experiment.experiment_id], f"tags.`{TAG_KIND}` = 'sweep'")}
    rows = []
    for run in runs:
        m, p, t = run.data.metrics, run.data.params, run.data.tags
        stopped = t.get(TAG_STOPPED_EARLY)
        if run.info.status != "FINISHED" and stopped is None:
            continue
        parent = parents.get(t.get("mlflow.parentRunId", ""))
        parent_params = parent.data.params if parent is not None else {}
        sets = _eval_sets(p)
        first_val = json.loads(p.get("val_sets", '["Set5"]'))[0]
        row = {
            "run_id": run.info.run_id,
            "run_name": run.info.run_name,
            "artifact_uri": run.info.artifact_uri,
            "sweep": t.get(TAG_SWEEP, UNTRACKED),
            "sweep_start": parent.info.start_time if parent is not None else run.info.start_time,
            "commit": (parent.data.tags if parent is not None else t).get(TAG_GIT_COMMIT, t.get("git_commit", "")),
            "budget_note": parent.data.tags.get(TAG_BUDGET_NOTE, "") if parent is not None else "",
            # `precision: auto` trains in bf16 on one node and fp32 on another: runs pool only within one.
            "config_hash": (t.get(TAG_CONFIG_HASH) or _legacy_hash(p))
            + (f"/{p['precision_used']}" if "precision_used" in p else ""),
            "stopped_at": int(stopped) if stopped is not None else None,
            "val_psnr": _value_at(tracker, run.info.run_id, val_metric(first_val), int(stopped))
            if stopped is not None
            else m.get(val_metric(first_val)),
            # (the fallbacks: names of runs recorded before srbench.run_names)
            "variant": t.get(TAG_VARIANT, p.get("variant", run.info.run_name)),
            "seed": int(p.get("seed", 0)),
            "order": int(t.get(TAG_VARIANT_ORDER, UNORDERED)),
            "scale": int(p.get("scale", 0)),
            "budget": t.get(TAG_BUDGET, ""),
            "hardware": t.get(TAG_HARDWARE, ""),
            "train_set": _training_data(p),
            "eval_images": t.get(TAG_EVAL_IMAGES, "all"),
            "vgg_weights": t.get(TAG_VGG_USED, t.get("vgg_weights", "none")),
            "condition_source": t.get(TAG_CONDITION_SOURCE, "none"),
            "lpips_label": t.get(TAG_LPIPS, "n/a"),
            "adversarial": float(p.get("adversarial_weight", 0) or 0) > 0,
            "sets": sets,
            "config": json.dumps({k: v for k, v in sorted(p.items()) if k not in _NOT_CONFIG}),
            "parameters": m.get("parameters"),
            "macs_per_mp": m.get("macs_per_mp"),
            "iterations": m.get(ITERATIONS_TRAINED, m.get("iterations")),
            "wall_time_s": m.get("wall_time_s"),
            "trials_at_once": int(parent_params.get("trials_at_once", 1)),
            "study_file": _study_file(study, parent_params.get("experiment_file", "")),
            "settings": " ".join(
                f"--set {k.removeprefix('set.')}={v}" for k, v in sorted(parent_params.items()) if k.startswith("set.")
            )
            + (f" --only '{parent_params['only']}'" if parent_params.get("only") else ""),
        }
        row["metric_specs"] = t.get(TAG_METRICS, "[]")
        for s in sets:
            for column, figure in (*PRIMARY.items(), *((x.name, x.name) for x in page_metrics([row["metric_specs"]]))):
                row[f"{s}.{column}"] = m.get(final_metric(s, figure))
        rows.append(row)
    if not rows:
        return pd.DataFrame()
    return (
        pd.DataFrame(rows).sort_values(["scale", "budget", "order", "variant", "seed", "run_id"]).reset_index(drop=True)
    )


def load_images(tracker: Tracker, runs: pd.DataFrame) -> pd.DataFrame:
    """Every finished run's per-image figures from its results.json: a row per run, set (as pages label it) and
    image, a column per metric scored (``psnr_y`` first: it is always scored); none for a run without them."""
    rows = []
    for run_id, uri in runs.loc[runs["stopped_at"].isna(), ["run_id", "artifact_uri"]].itertuples(index=False):
        results = tracker.artifact_json(uri, RESULTS_ARTIFACT) or {"sets": []}
        for scored in results["sets"]:
            rows += [
                {"run_id": run_id, "set": set_label(scored["set"]), **image} for image in scored.get("per_image", [])
            ]
    keys = ["run_id", "set", "image"]
    # "rank": which DDP worker scored the image, not a figure
    metrics = dict.fromkeys(["psnr_y", *(k for row in rows for k in row if k not in (*keys, "rank"))])
    return pd.DataFrame(rows, columns=[*keys, *metrics])


def _training_data(params: dict[str, str]) -> str:
    """What a run trained on, from its own parameters, named as the pages name sets (a folder set by its base name,
    never its path): ``T91``, ``BSDS200 (first 4 images)``; ``an unrecorded set`` for runs that predate the
    parameter."""
    name = set_label(params["train_set"]) if "train_set" in params else "an unrecorded set"
    limit = params.get("train_images", "None")
    return name if limit in ("None", "") else f"{name} (first {limit} images)"


def _value_at(tracker: Tracker, run_id: str, key: str, step: int) -> float | None:
    """A metric's value at one step (a stopped trial's validation when the scheduler decided)."""
    return next((m.value for m in tracker.metric_history(run_id, key) if m.step == step), None)


def _study_file(study: str, recorded: str) -> str:
    """The study file as a reader runs it: a shipped study from the repository, a user's own by its recorded path."""
    return f"experiments/{study}.py" if study in shipped_studies() else recorded


def select_sweeps(runs: pd.DataFrame, sweep: str | None = None) -> pd.DataFrame:
    """The runs of one sweep per budget: ``sweep`` where given, else the latest sweep with a finished run."""
    if runs.empty:
        return runs
    if sweep is not None:
        return runs[runs["sweep"] == sweep].reset_index(drop=True)
    finished = runs[runs["stopped_at"].isna()]
    latest = finished.sort_values("sweep_start").groupby("budget")["sweep"].last()
    return runs[runs["sweep"].isin(set(latest))].reset_index(drop=True)


def study_sets(runs: pd.DataFrame) -> list[str]:
    """The evaluation sets of the runs, in the study's order, as their ``eval_sets`` param names them (a folder set
    as ``folder:<path>``: its name alone could not be read again; ``set_label`` gives its column's heading)."""
    return list(dict.fromkeys(s for sets in runs["sets"] for s in sets))
