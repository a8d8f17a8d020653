"""Every name srbench gives to what it records in MLflow (tags, params, metrics, artifacts), in one place: the training
loop, the sweep, the tracker, the leaderboard and the pictures use these, never their own spellings.

Figures have one name each: validation curves are ``val.<set>.<figure>`` (one point per validation, step =
iteration), final figures ``<set>.<figure>`` (once, at ``FINAL_STEP``), training curves ``train.<name>``. The
loop reports the same figures to Ray with ``/`` (``val/Set5/psnr_y``), the separator Tune and the console use;
``mlflow_name`` maps one to the other."""

from __future__ import annotations

# Tags: what a run is
TAG_STUDY = "srbench.study"
TAG_SWEEP = "srbench.sweep"
TAG_TRIAL = "srbench.trial"
TAG_KIND = "srbench.kind"  # sweep | trial | train (an `srbench train --tracking-uri` run) | bench (a scored file)
TAG_RUN_DIR = "srbench.run_dir"  # a train run's folder: `train --resume` continues the same MLflow run
TAG_VARIANT = "srbench.variant"  # the study's name for the trial's row (9-5-5, HL, ...)
TAG_VARIANT_ORDER = "srbench.variant_order"  # the variant's place in the study file: pages keep the study's order
TAG_CONFIG_HASH = "srbench.config_hash"  # train.config.config_hash: equal only for runs that differ by seed alone
TAG_RESUMED_AT = "srbench.resumed_at"  # the iterations a trial's later attempts started from ("500", "200,600")
TAG_STOPPED_EARLY = "srbench.stopped_early"  # the iteration at which the scheduler (ASHA) stopped the trial
TAG_BUDGET_NOTE = "srbench.budget_note"  # on a sweep: how its budget's recipe differs from the paper's, and why
TAG_WORKER_NODES = "ray.worker_nodes"  # Ray node id of each DDP rank, in rank order
TAG_LAUNCHER = "srbench.launcher"  # tune (trained in its Tune trial) | train (a Ray Train TorchTrainer group)
TAG_VGG_USED = "vgg_weights_used"  # the VGG weights a perceptual loss used ("none" without one)
TAG_BUDGET = "budget"  # smoke | quick | paper (on a sweep run it is a param of the same name)
TAG_HARDWARE = "hardware"  # what the trial ran on, in words
TAG_NODES = "nodes"  # how many Ray nodes its DDP workers spanned
TAG_EVAL_IMAGES = "eval_images"  # "all", or "first N per set (subset)"
TAG_CONDITION_SOURCE = "condition_source"  # SFT-GAN's segmentation maps, in words ("none" for other models)
TAG_LPIPS = "lpips"  # the LPIPS weights, or why LPIPS is missing (a metric with weights: a tag of its name)
TAG_METRICS = "srbench.metrics"  # JSON: how pages show each metric the run scored (srbench.metrics.Metric.describe)
TAG_CHECKPOINT = "checkpoint"  # the folder where Ray keeps the trial's checkpoints
TAG_TRAIN_SET_CACHE = "train_set_cache"  # hit | miss: whether the node's prepared training set served the trial
TAG_GIT_COMMIT = "mlflow.source.git.commit"
TAG_SOURCE_NAME = "mlflow.source.name"  # the UI's Source column: the study file, beside the git commit
TAG_SOURCE_TYPE = "mlflow.source.type"
TAG_EXPERIMENT_KIND = "mlflow.experimentKind"  # what MLflow 3's UI opens an experiment on
MODEL_DEVELOPMENT = "custom_model_development"  # its runs view (the other kind, genai_development, opens on traces)
TAG_SHARED_VIEW = "mlflow.sharedViewState."  # + key: a saved runs view, opened by the UI's ?viewStateShareKey=key

TAG_BENCH = "srbench.bench"  # a bench's name: its runs are in the MLflow experiment bench-<name>
TAG_SHA256 = "srbench.sha256"  # a bench run's weights file, by its contents
TAG_BENCH_PROTOCOL = "srbench.bench_protocol"  # digest of what a bench scores (sets, metrics, protocol version)
TAG_BENCH_KEY = "srbench.bench_key"  # digest of the file, its network, scale and the protocol: reused where equal

# Params beyond the training configuration's own fields (``model.<field>`` for the model's)
PARAM_PRECISION_USED = "precision_used"  # what ``precision: auto`` resolved to on the trial's workers

# Metrics
FINAL_STEP = 0  # final figures: one value per run, at a step that does not depend on how long it trained
ITERATIONS_TRAINED = "iterations_trained"  # where the trial ended (the configured length is the param)
# Start-up: to the trial's training process (Ray Train's worker group; ~0 in the Tune trial itself), training set,
# networks, and from the trial's start to its first step
STARTUP = ("startup.worker_group_s", "startup.train_set_s", "startup.model_build_s", "startup.to_first_step_s")

# Artifacts
RESULTS_ARTIFACT = "results.json"  # a run's final figures, per set and per image (pages read the per-image ones)
PER_IMAGE_TABLE = "per_image.json"  # a bench run's figures per set and image, as an MLflow table (the UI shows it)


def _label(set_name: str) -> str:
    """A set's name in figures' names (``folder:/data/my_bench`` -> ``my_bench``), however a configuration names it."""
    from srbench.data.catalogue import set_label  # the data package loads torch: only when a name is made

    return set_label(set_name)


def final_metric(set_name: str, figure: str) -> str:
    """A final figure of a benchmark set: ``Set5.psnr_y``, ``my_bench.psnr_y`` for ``folder:/data/my_bench``."""
    return f"{_label(set_name)}.{figure}"


def val_metric(set_name: str, figure: str = "psnr_y") -> str:
    """A validation curve: ``val.Set5.psnr_y``."""
    return f"val.{_label(set_name)}.{figure}"


def val_report_key(set_name: str, figure: str = "psnr_y") -> str:
    """The same curve as the loop reports it to Ray Tune (schedulers and the console read it): ``val/Set5/psnr_y``."""
    return f"val/{_label(set_name)}/{figure}"


def mlflow_name(report_key: str) -> str:
    """The MLflow name of a figure the loop reports (``val/Set5/psnr_y`` -> ``val.Set5.psnr_y``)."""
    return report_key.replace("/", ".")
