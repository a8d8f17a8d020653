"""What a training run records on its MLflow run, for a sweep's trial and ``srbench train --tracking-uri`` alike:
its configuration (params, identity tags, data sets) before it trains, its final figures, artifacts and trained
network after. Every name comes from ``srbench.tracking.names``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from PIL import Image

from srbench.data import get_spec, set_folder
from srbench.evaluate import SetScore
from srbench.tracking.model_registry import log_trained_model
from srbench.tracking.names import (
    FINAL_STEP,
    ITERATIONS_TRAINED,
    RESULTS_ARTIFACT,
    TAG_BUDGET,
    TAG_CONDITION_SOURCE,
    TAG_CONFIG_HASH,
    TAG_EVAL_IMAGES,
    TAG_GIT_COMMIT,
    TAG_HARDWARE,
    TAG_LPIPS,
    TAG_METRICS,
    TAG_NODES,
    TAG_SOURCE_NAME,
    TAG_SOURCE_TYPE,
    TAG_VGG_USED,
    final_metric,
)
from srbench.tracking.provenance import flatten, git_commit, software_versions
from srbench.tracking.store import Tracker
from srbench.train.config import TrainConfig, config_hash


def record_configuration(
    tracker: Tracker,
    run_id: str,
    config: TrainConfig,
    data_root: Path,
    source: str,
    params: dict[str, Any],
    tags: dict[str, Any],
) -> None:
    """The training configuration as params (``model.scale`` is ``scale``, ``budget`` a tag: one name each) plus
    ``params``; identity tags (configuration hash, budget, commit, source, versions) plus ``tags``; data sets."""
    # ``metrics`` only where given: a run that scores just the protocol's figures has the params it always had.
    fields = {
        k: v
        for k, v in flatten("", config.to_dict()).items()
        if k not in ("model.scale", "budget") and (k != "metrics" or config.metrics)
    }
    tracker.log_params(run_id, {**fields, **params})
    tracker.set_tags(
        run_id,
        {
            TAG_CONFIG_HASH: config_hash(config),
            TAG_BUDGET: config.budget,
            TAG_GIT_COMMIT: git_commit(),
            TAG_SOURCE_NAME: source,
            TAG_SOURCE_TYPE: "LOCAL",
            **{f"version.{k}": v for k, v in software_versions().items()},
            **tags,
        },
    )
    tracker.log_datasets(run_id, trial_datasets(config, data_root))


def record_results(tracker: Tracker, run_id: str, results: dict[str, Any], run_dir: Path) -> None:
    """The final figures (once, at FINAL_STEP), what the run was trained and scored on, results.json,
    history.jsonl, the crops (files and MLflow images) and the trained network (its best checkpoint)."""
    figures = {
        final_metric(s.set, name): value
        for s in map(SetScore.from_dict, results["sets"])
        for name, value in s.figures.items()
    }
    scalars = {
        "parameters": results["parameters"],
        "macs_per_mp": results["macs_per_mp"],
        "wall_time_s": results["wall_time_s"],
        ITERATIONS_TRAINED: results["iterations"],
    }
    # One call, retried whole on a patient store: a figure is never logged twice.
    tracker.log_metrics(run_id, {**figures, **scalars}, step=FINAL_STEP)
    tags = {
        TAG_HARDWARE: results["hardware"],
        TAG_NODES: str(results["nodes"]),
        TAG_EVAL_IMAGES: results["eval_images"],
        TAG_VGG_USED: results["vgg_weights"] or "none",
        TAG_CONDITION_SOURCE: results["condition_source"] or "none",
        # How pages show the metrics scored (a user's too, without importing it); each weighted metric's weights
        # under its own name (LPIPS's, TAG_LPIPS, says n/a where it was not scored, as it always has).
        TAG_METRICS: json.dumps(results["metrics"]),
        TAG_LPIPS: "n/a",
        **results["metric_weights"],
    }
    tracker.set_tags(run_id, tags)
    for name in (RESULTS_ARTIFACT, "history.jsonl"):
        tracker.log_artifact(run_id, run_dir / name)
    tracker.log_artifacts(run_id, run_dir / "crops", artifact_path="crops")
    for crop_png in sorted((run_dir / "crops").glob("*.png")):  # also as MLflow images: the compare view shows them
        with Image.open(crop_png) as picture:
            picture.load()
        tracker.log_image(run_id, picture, key=f"crop {crop_png.stem}", step=FINAL_STEP)
    best = run_dir / "checkpoints" / "best.pt"
    log_trained_model(
        tracker.uri, run_id, results["config"]["model"], best if best.exists() else run_dir / "checkpoints" / "last.pt"
    )


def trial_datasets(config: TrainConfig, data_root: Path) -> list[tuple[str, str, str, str]]:
    """The trial's data sets as MLflow dataset inputs: name (a folder set's base name), pixel digest, folder (under
    the data root, or a folder set's own), and training or evaluation."""
    evaluation = list(dict.fromkeys([*config.val_sets, *config.eval_sets]))
    named = [(config.train_set, "training"), *((n, "evaluation") for n in evaluation)]
    return [
        (spec.name, spec.set_digest, str(set_folder(spec, data_root)), context)
        for spec, context in ((get_spec(name), context) for name, context in named)
    ]
