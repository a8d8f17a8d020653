"""Sweeps: experiment files, Ray Tune over Ray Train DDP trials, MLflow runs, fault tolerance, resume.

These tests use a real local Ray and a real MLflow store (SQLite) in a temporary folder."""

from __future__ import annotations

import json
import os
import re
import tempfile
import textwrap
from pathlib import Path

import pytest
import torch

from srbench.cli import main
from srbench.errors import UserError
from srbench.study.load import load_experiment
from srbench.sweep.preflight import resume_command
from srbench.sweep.run import run_sweep
from srbench.tracking.names import (
    FINAL_STEP,
    ITERATIONS_TRAINED,
    STARTUP,
    TAG_BUDGET,
    TAG_CHECKPOINT,
    TAG_KIND,
    TAG_LPIPS,
    TAG_RESUMED_AT,
    TAG_TRAIN_SET_CACHE,
    TAG_VARIANT,
    final_metric,
    val_metric,
)
from srbench.tracking.store import Tracker, fluent_tracking_uri
from srbench.tracking.uri import resolve_tracking_uri
from srbench.train.precision import resolve_precision

from conftest import REPO

STUDIES = ["srcnn_ablation", "srdensenet_ablation", "srgan_content_loss", "sftgan_ablation"]


def write_experiment(folder: Path, body: str, name: str = "study.py") -> Path:
    path = folder / name
    path.write_text("from ray import tune\nfrom srbench.experiment import Experiment\n" + textwrap.dedent(body))
    return path


@pytest.mark.parametrize(
    "body,fragments",
    [
        ("EXPERIMENT = Experiment(name='x', model={'name': 'srcnn'}, scale=3\n", ["study.py:", "syntax error"]),
        ("X = 1\n", ["study.py: defines no Experiment object"]),
        (
            "EXPERIMENT = Experiment(name='x', model={'name': 'edsr'}, scale=3)\n",
            ["field 'model'", "unknown model 'edsr'"],
        ),
        (
            "EXPERIMENT = Experiment(name='x', model={'name': 'srcnn'}, scale=3,\n"
            "                        variants={'a': {'model.variant': '9-7-5'}})\n",
            ["variant 'a'", "unknown variant '9-7-5'"],
        ),
        (
            "EXPERIMENT = Experiment(name='x', model={'name': 'srcnn'}, scale=3,\n"
            "                        search_space={'lr': tune.uniform(-1, 1)})\n",
            ["field 'lr'", "must be positive"],
        ),
        (
            "EXPERIMENT = Experiment(name='x', model={'name': 'srcnn'}, scale=3, search_space={'lr': 0.1})\n",
            ["search_space['lr'] is not a Ray Tune domain"],
        ),
        (  # an empty grid would run no trial of it (and the dry run showed the study's default for it)
            "EXPERIMENT = Experiment(name='x', model={'name': 'srcnn'}, scale=3,\n"
            "                        search_space={'lr': tune.grid_search([])})\n",
            ["search_space['lr'] has no values to try"],
        ),
        (
            "EXPERIMENT = Experiment(name='x', model={'name': 'srcnn'}, scale=3,\n"
            "                        search_space={'lr': tune.choice([])})\n",
            ["search_space['lr'] has no values to try"],
        ),
        (
            "EXPERIMENT = Experiment(name='x', model={'name': 'srcnn'}, scale=3, scheduler='pbt')\n",
            ["field 'scheduler'"],
        ),
        (
            "EXPERIMENT = Experiment(name='x', model={'name': 'sftgan'}, scale=2)\n",
            ["field 'scale' = 2 is not supported"],
        ),
        ("import nonexistent_module\n", ["study.py:3: ModuleNotFoundError"]),
        (
            "EXPERIMENT = Experiment(name='x', model={'name': 'srcnn'}, scale=3, budget_notes={'fast': 'x'})\n",
            ["budget_notes: unknown budget 'fast'", "smoke, quick, paper"],
        ),
        (
            "EXPERIMENT = Experiment(name='x', model={'name': 'srcnn'}, scale=3, budget_notes={'quick': 3})\n",
            ["field 'budget_notes'", "must be a dict"],
        ),
    ],
)
def test_bad_experiment_files_give_one_line_naming_file_and_field(tmp_path, capsys, body, fragments):
    path = write_experiment(tmp_path, body)
    with pytest.raises(UserError) as err:
        load_experiment(path)
    for fragment in fragments:
        assert fragment in str(err.value)
    code = main(["sweep", str(path), "--dry-run"])
    stderr = capsys.readouterr().err
    assert code == 2 and len(stderr.strip().splitlines()) == 1 and str(path) in stderr


@pytest.mark.parametrize(
    "study,count",
    [("srcnn_ablation", 27), ("srdensenet_ablation", 9), ("srgan_content_loss", 5), ("sftgan_ablation", 2)],
)
def test_dry_run_prints_the_trials_and_starts_nothing(ray_starts, capsys, study, count):

    summary = run_sweep(str(REPO / "experiments" / f"{study}.py"), budget="quick", dry_run=True)
    out = capsys.readouterr().out
    assert len(summary["trials"]) == count and f"{count} trial(s)" in out and "trained in its Tune trial" in out
    perceptual = ", NIQE, LPIPS" if study in ("srgan_content_loss", "sftgan_ablation") else ""
    assert f"  scores: PSNR-Y, SSIM-Y, PSNR-RGB{perceptual} (the final figures" in out  # what its page will show
    if study == "srgan_content_loss":  # a recipe field that differs between trials is in each trial's row, whole
        assert re.search(r"SRResNet-MSE_seed0 .* lr=0\.0002 lr_schedule=cosine ", out), out
        assert re.search(r"SRGAN-VGG54_seed0 .* lr=0\.0001 lr_schedule=constant ", out), out
    assert ray_starts == []


def test_search_space_grid_and_samples_expand(tmp_path):
    from srbench.study.plan import check_trials, trial_bases

    path = write_experiment(
        tmp_path,
        """
        EXPERIMENT = Experiment(name='lr_study', model={'name': 'srcnn'}, scale=2,
                                search_space={'lr': tune.grid_search([1e-3, 1e-4]),
                                              'model.padding': tune.choice(['same'])},
                                seeds=[0, 1])
    """,
    )
    experiment = load_experiment(path)
    assert [b.key for b in trial_bases(experiment)] == [
        "lr=0.001_seed0",
        "lr=0.001_seed1",
        "lr=0.0001_seed0",
        "lr=0.0001_seed1",
    ]
    trials = check_trials(experiment, "smoke")
    assert len(trials) == 4 and {t.config.lr for t in trials} == {1e-3, 1e-4}
    assert all(t.config.model["padding"] == "same" for t in trials) and {t.seed for t in trials} == {0, 1}


def test_set_overrides_every_trial_after_variants_and_budgets():
    from srbench.study.load import parse_settings
    from srbench.study.plan import check_trials

    settings = parse_settings(["vgg_weights=/data/vgg19.pth", "lr=2e-4", "model.blocks=8", 'eval_sets=["Set5"]'])
    assert settings == {"vgg_weights": "/data/vgg19.pth", "lr": 2e-4, "model.blocks": 8, "eval_sets": ["Set5"]}
    experiment = load_experiment(REPO / "experiments" / "srgan_content_loss.py")
    trials = check_trials(experiment, "smoke", settings=settings)  # smoke's own vgg_weights is 'random'
    assert {t.config.vgg_weights for t in trials} == {"/data/vgg19.pth"} and {t.config.lr for t in trials} == {2e-4}
    assert {t.config.model["blocks"] for t in trials} == {8} and {tuple(t.config.eval_sets) for t in trials} == {
        ("Set5",)
    }
    assert [t.config.content_loss for t in trials] == ["pixel", "vgg22", "pixel", "vgg22", "vgg54"]  # variants kept


def test_configuration_hash_ignores_the_seed_and_follows_every_field_and_the_data():
    from dataclasses import replace

    from srbench.train.config import config_hash, make_config

    base = make_config({"name": "srcnn"}, 3, "smoke")
    assert config_hash(base) == config_hash(replace(base, seed=7))
    assert config_hash(base) != config_hash(replace(base, lr=base.lr * 2))
    assert config_hash(base) != config_hash(replace(base, model={**base.model, "variant": "9-5-5"}))
    assert config_hash(base) != config_hash(replace(base, train_set="BSDS200"))  # other data, other digest


@pytest.mark.parametrize(
    "body,fragment",
    [
        ("search_alg='tpe'", "field 'search_alg' = 'tpe': valid: random, optuna"),
        ("search_seed='x'", "field 'search_seed' = 'x': must be an integer"),
        ("seeds=[0, 'one']", "field 'seeds'"),
        ("num_samples=True", "field 'num_samples' = True: must be an integer"),
        ("search_alg='optuna'", "optuna searches sampled domains"),
        (
            "search_alg='optuna', search_space={'lr': tune.uniform(1e-4, 1e-3)}, seeds=[0, 1]",
            "optuna searches one configuration space",
        ),
        ("search_space={'lr': tune.grid_search([1e-3, 1e-3])}", "two trials share the name 'lr=0.001_seed0'"),
    ],
)
def test_search_fields_are_validated_before_ray_starts(tmp_path, capsys, body, fragment):
    path = write_experiment(
        tmp_path, f"EXPERIMENT = Experiment(name='x', model={{'name': 'srcnn'}}, scale=3, {body})\n"
    )
    code = main(["sweep", str(path), "--dry-run"])
    err = capsys.readouterr().err
    assert code == 2 and fragment in err and len(err.strip().splitlines()) == 1, err


def test_missing_optuna_extra_is_named_before_ray_starts(tmp_path, monkeypatch, capsys):
    import sys

    path = write_experiment(
        tmp_path,
        "EXPERIMENT = Experiment(name='x', model={'name': 'srcnn'}, scale=3, "
        "search_alg='optuna', search_space={'lr': tune.uniform(1e-4, 1e-3)})\n",
    )
    monkeypatch.setitem(sys.modules, "optuna", None)  # as if it were not installed
    code = main(["sweep", str(path), "--dry-run"])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "search_alg 'optuna' needs the optuna extra: pip install -e \".[optuna]\"" in err


def child_runs(tracker: Tracker, study: str):
    experiment = tracker.client.get_experiment_by_name(study)
    return tracker.client.search_runs([experiment.experiment_id], filter_string=f"tags.`{TAG_KIND}` = 'trial'")


# SRCNN's sweep, tracking and leaderboard are covered by the two-node test in test_cluster.py (and the
# search and sweep-identity tests); SRGAN's VGG content loss by test_train.py and its † page by
# test_leaderboard.py, while SFT-GAN's sweep covers the GAN path (adversarial phase, LPIPS) through Ray.
@pytest.mark.parametrize("study", ["srdensenet_ablation", "sftgan_ablation"])
def test_each_study_runs_a_smoke_trial_tracked_in_mlflow(ray_session, tmp_path, monkeypatch, data_root, study, capsys):
    monkeypatch.chdir(tmp_path)
    first = load_experiment(REPO / "experiments" / f"{study}.py")
    key = next(iter(first.variants)) + "_seed0"
    summary = run_sweep(str(REPO / "experiments" / f"{study}.py"), budget="smoke", data_root=data_root, only=key)
    assert summary["failed"] == 0 and summary["trials"] == summary["finished"] == 1 and not summary["interrupted"]
    # srbench's console: one line per trial event with its name and progress; Ray's table only with --verbose
    console = capsys.readouterr().out
    assert re.search(rf"{re.escape(key)}\s+started \(1 running, 0 waiting\)", console)
    assert re.search(rf"{re.escape(key)}\s+iteration \d+/\d+, Set5 \d+\.\d\d dB", console)
    assert re.search(rf"{re.escape(key)}\s+finished", console) and "Trial name" not in console
    assert re.search(r"PSNR / SSIM", console) and "viewStateShareKey=" in console
    tracker = Tracker(f"sqlite:///{tmp_path / 'mlflow.db'}")
    runs = child_runs(tracker, study)
    assert len(runs) == 1 and runs[0].info.status == "FINISHED" and runs[0].info.run_name == key
    metrics = runs[0].data.metrics
    gan = study in ("srgan_content_loss", "sftgan_ablation")  # their smoke budget scores LPIPS, random trunk
    for s in ("Set5", "Set14", "BSD100"):
        assert 0 < metrics[f"{s}.psnr_y"] < 100 and 0 < metrics[f"{s}.ssim_y"] <= 1
        assert (0 < metrics[f"{s}.lpips"] < 1) if gan else f"{s}.lpips" not in metrics
        assert (0 < metrics[f"{s}.niqe"] < 100) if gan else f"{s}.niqe" not in metrics
    assert ("not comparable" in runs[0].data.tags[TAG_LPIPS]) if gan else runs[0].data.tags[TAG_LPIPS] == "n/a"
    assert runs[0].data.params["model.name"] == first.model["name"] and runs[0].data.tags[TAG_BUDGET] == "smoke"
    assert runs[0].data.tags["mlflow.parentRunId"] == summary["parent_run_id"]
    # One name per figure (srbench.run_names): every metric name accounted for, final figures once at FINAL_STEP,
    # no name both a param and a metric or a tag.
    finals = {
        final_metric(s, f)
        for s in ("Set5", "Set14", "BSD100")
        for f in ("psnr_y", "ssim_y", "psnr_rgb", *(("lpips", "niqe") if gan else ()))  # GAN studies score NIQE
    }
    curves = {val_metric(s, f) for s in json.loads(runs[0].data.params["val_sets"]) for f in ("psnr_y", "ssim_y")}
    training = {m for m in metrics if m.startswith("train.")}
    assert (
        {"train.loss", "train.lr"}
        <= training
        <= {"train.loss", "train.lr", *(("train.content", "train.adversarial", "train.d_loss") if gan else ())}
    )
    scalars = {"parameters", "macs_per_mp", "wall_time_s", ITERATIONS_TRAINED, *STARTUP}
    assert {m for m in metrics if not m.startswith("system/")} == finals | curves | training | scalars
    assert any(m.startswith("system/") for m in metrics)
    for name in finals:
        assert [m.step for m in tracker.client.get_metric_history(runs[0].info.run_id, name)] == [FINAL_STEP]
    params, run_tags = runs[0].data.params, runs[0].data.tags
    assert not set(params) & set(metrics) and not set(params) & set(run_tags) and "model.scale" not in params
    assert run_tags[TAG_VARIANT] == next(iter(first.variants))
    # What MLflow's UI shows of a run: its source (the study file, with the commit) and its data sets
    assert runs[0].data.tags["mlflow.source.name"].endswith(f"{study}.py")
    inputs = {(d.dataset.name, d.tags[0].value) for d in runs[0].inputs.dataset_inputs}
    assert inputs == {(first.train_set, "training"), *((s, "evaluation") for s in ("Set5", "Set14", "BSD100"))}
    crops = [a.path for a in tracker.client.list_artifacts(runs[0].info.run_id, "crops")]
    assert sorted(crops) == [
        "crops/BSD100-101085-detail.png",
        "crops/Set14-baboon-detail.png",
        "crops/Set5-baby-detail.png",
    ]
    images = [a.path for a in tracker.client.list_artifacts(runs[0].info.run_id, "images")]
    assert any("Set14-baboon-detail" in path for path in images)  # also MLflow images, for the compare view
    page = (tmp_path / "leaderboards-smoke" / f"{study}.md").read_text()
    # SFT-GAN's smoke budget trains its VGG perceptual loss on random weights: its row is marked † (not comparable)
    label = next(iter(first.variants)) + (" †" if study == "sftgan_ablation" else "")
    assert f"| {label} |" in page and runs[0].info.run_id in page
    assert re.search(r"\| bicubic \(first \d+ per set\) \|", page)  # smoke scores subsets: bicubic on the same
    assert ("LPIPS ↓ Set5 / Set14 / BSD100" in page) == gan
    for picture in ("psnr-vs-params", "curves", "strip"):
        assert (
            f"({study}-{picture}.png)" in page and (tmp_path / "leaderboards-smoke" / f"{study}-{picture}.png").exists()
        )
    logged = [a.path for a in tracker.client.list_artifacts(summary["parent_run_id"], "leaderboard")]
    assert {f"leaderboard/{study}-strip.png", f"leaderboard/{study}.md", f"leaderboard/{study}.csv"} <= set(logged)
    # MLflow 3's UI opens a model-development experiment on its runs (not GenAI traces), with the study's note
    tags = tracker.client.get_experiment_by_name(study).tags
    assert (
        tags["mlflow.experimentKind"] == "custom_model_development" and tags["mlflow.note.content"] == first.description
    )
    assert not (tmp_path / "mlruns").exists()  # the workers did not fall back to a local ./mlruns
    # Start-up figures, the precision the workers used, one retained checkpoint, no temporary run folder left.
    assert 0 < metrics["startup.worker_group_s"] < metrics["startup.to_first_step_s"]
    assert metrics["startup.train_set_s"] >= 0 and metrics["startup.model_build_s"] > 0
    assert runs[0].data.params["precision_used"] == resolve_precision("auto", torch.device("cpu"))
    assert runs[0].data.tags[TAG_TRAIN_SET_CACHE] in ("hit", "miss")
    checkpoints = Path(runs[0].data.tags[TAG_CHECKPOINT])  # the trial's folder in its Tune experiment's storage
    assert TAG_RESUMED_AT not in runs[0].data.tags  # one attempt, from the start
    assert checkpoints.is_relative_to(tmp_path / "ray_results") and len(list(checkpoints.glob("checkpoint_*"))) == 1
    assert not list(Path(tempfile.gettempdir()).glob(f"srbench-{summary['sweep']}-{key}-rank*"))
    assert summary["makespan_ratio"] == pytest.approx(1.0)  # one trial, one slot
    # The trained network is an MLflow model of the trial, and the sweep's best is in the Model Registry.
    import mlflow.pytorch

    uri_before = os.environ.get("MLFLOW_TRACKING_URI")
    with fluent_tracking_uri(tracker.uri):
        network = mlflow.pytorch.load_model(f"runs:/{runs[0].info.run_id}/model", map_location="cpu")
    assert os.environ.get("MLFLOW_TRACKING_URI") == uri_before  # nothing leaks into the tests after this one
    lr = torch.rand(1, network.in_channels, 12, 12)
    conditions = [torch.full((1, 8, 48, 48), 1 / 8)] if getattr(network, "needs_condition", False) else []
    assert network(lr, *conditions).shape[-2:] == (12 * first.scale, 12 * first.scale)
    version = tracker.client.get_model_version_by_alias(study, "best_smoke")
    assert version.run_id == runs[0].info.run_id and version.tags["srbench.sweep"] == summary["sweep"]
    outputs = tracker.client.get_run(runs[0].info.run_id).outputs
    logged = tracker.client.get_logged_model(outputs.model_outputs[0].model_id)
    assert version.source == f"models:/{logged.model_id}"  # linked both ways, as mlflow.register_model links them
    assert json.loads(logged.tags["mlflow.modelVersions"]) == [{"name": study, "version": int(version.version)}]
    if not conditions:  # srbench eval scores the registered model like any checkpoint
        code = main(
            [
                "eval",
                "--model-uri",
                f"models:/{study}@best_smoke",
                "--tracking-uri",
                tracker.uri,
                "--sets",
                "Set5",
                "--data-root",
                str(data_root),
                "--json",
            ]
        )
        printed = capsys.readouterr()
        assert code == 0, printed.err
        scored = json.loads(printed.out)
        assert scored["results"][0]["scale"] == first.scale
        first_image = scored["results"][0]["per_image"][0]  # the smoke trial scored the first image of each set
        assert first_image["psnr_y"] == pytest.approx(metrics["Set5.psnr_y"], abs=1e-3)
        # a smoke sweep sets no best_quick: the error says which aliases there are
        code = main(
            [
                "eval",
                "--model-uri",
                f"models:/{study}@best_quick",
                "--tracking-uri",
                tracker.uri,
                "--sets",
                "Set5",
                "--data-root",
                str(data_root),
            ]
        )
        err = capsys.readouterr().err
        assert code == 2 and f"{study}'s aliases: best_smoke" in err and len(err.strip().splitlines()) == 1, err


@pytest.mark.parametrize(
    "flags,fragment",
    [
        (["--tracking-uri", "http://127.0.0.1:9"], "MLflow tracking server http://127.0.0.1:9 is unreachable"),
        (
            ["--address", "127.0.0.1:9", "--tracking-uri", "sqlite:///unused.db"],
            "cannot reach the Ray cluster at 127.0.0.1:9",
        ),
        (["--budget", "huge"], "--budget: 'huge' is unknown"),
        (["--only", "nothing*"], "--only 'nothing*' matches no trial"),
        (["--only", ""], "--only '' matches no trial"),  # not the whole study
        (["--resume"], "nothing to resume: no MLflow store at sqlite:///"),
        (["--set", "lr"], "--set 'lr': expected KEY=VALUE"),
        (["--set", "learning_rate=0.1"], "--set: unknown training field 'learning_rate'"),
        (["--set", "lr=-1"], "--set: field 'lr' = -1: must be positive"),
        (["--set", "lpips_weights=imagnet"], "--set: field 'lpips_weights' = 'imagnet': valid: none, imagenet, random"),
        (["--workers-per-trial", "0"], "--workers-per-trial 0: must be a finite number > 0"),
        (
            ["--launcher", "tune", "--workers-per-trial", "2"],
            "launcher 'tune' trains a trial in one process, but workers_per_trial is 2",
        ),
        (["--gpus-per-worker", "-1"], "--gpus-per-worker -1: must be a finite number >= 0"),
        (["--cpus-per-worker", "0"], "--cpus-per-worker 0: must be a finite number > 0"),
        (["--max-concurrent", "0"], "--max-concurrent 0: must be a finite number > 0"),
    ],
)
def test_sweep_mistakes_are_caught_before_work_starts(tmp_path, monkeypatch, capsys, flags, fragment):
    monkeypatch.chdir(tmp_path)
    code = main(["sweep", str(REPO / "experiments" / "srcnn_ablation.py"), "--budget", "smoke", *flags])
    err = capsys.readouterr().err
    assert code == 2 and fragment in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "unused.db").exists()


def test_the_resume_command_names_the_store_and_checkpoints_a_bare_resume_would_not_find(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    here, checkpoints = resolve_tracking_uri(), str(tmp_path.resolve() / "ray_results")
    bare = "python -m srbench sweep 'my study.py' --resume s-1"
    assert resume_command("my study.py", "s-1", here, checkpoints) == bare
    elsewhere = f"sqlite:///{tmp_path / 'other dir' / 'mlflow.db'}"
    assert (
        resume_command("my study.py", "s-1", elsewhere, "/shared/runs")
        == f"{bare} --tracking-uri '{elsewhere}' --storage /shared/runs"
    )
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://mlflow.lab:5000")  # a resume in this shell finds that server
    assert resume_command("my study.py", "s-1", "http://mlflow.lab:5000", checkpoints) == bare
    assert resume_command("my study.py", "s-1", here, checkpoints) == f"{bare} --tracking-uri {here}"
