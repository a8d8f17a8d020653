"""Sweep identity and real Ray Tune search, on a real local Ray and a real MLflow store (SQLite):
every invocation is its own sweep, never reusing another's runs; Tune samples the search space
reproducibly from ``search_seed``; ASHA's early stops are recorded and shown apart."""

from __future__ import annotations

import json
import math
import tempfile
from dataclasses import replace
from pathlib import Path

import torch
from test_sweep import write_experiment

from srbench.models import build_model
from srbench.study.load import load_experiment
from srbench.study.plan import check_trials
from srbench.sweep.run import run_sweep
from srbench.sweep.search import tune_search
from srbench.tracking.names import TAG_CHECKPOINT, TAG_CONFIG_HASH, TAG_KIND, TAG_LAUNCHER, TAG_SWEEP
from srbench.tracking.store import Tracker
from srbench.train.checkpoint import load_checkpoint, save_checkpoint

from conftest import REPO


def trial_runs(tracker: Tracker, study: str, sweep: str | None = None):
    experiment = tracker.client.get_experiment_by_name(study)
    query = f"tags.`{TAG_KIND}` = 'trial'" + (f" and tags.`{TAG_SWEEP}` = '{sweep}'" if sweep else "")
    return tracker.client.search_runs([experiment.experiment_id], filter_string=query)


def sampled(experiment, trials: int) -> list[dict]:
    """The configurations Tune's search algorithm proposes for a sweep of ``experiment`` (the sweep's own
    param_space and search algorithm, asked directly as Tune's controller asks them), without running any."""
    from ray.tune.experiment import Experiment as TuneExperiment

    space, search_alg, samples = tune_search(experiment, check_trials(experiment, "smoke"), concurrency=trials)
    search_alg.add_configurations(
        [
            TuneExperiment(
                "draws", lambda config: None, config=space, num_samples=samples, storage_path=tempfile.mkdtemp()
            )
        ]
    )
    configs = []
    while (trial := search_alg.next_trial()) is not None:
        configs.append(trial.config)
    return configs


def test_tune_samples_the_search_space_reproducibly_from_search_seed(tmp_path):
    path = write_experiment(
        tmp_path,
        """
        EXPERIMENT = Experiment(name='lr_only', model={'name': 'srcnn'}, scale=3,
                                search_space={'lr': tune.loguniform(1e-5, 1e-2)}, num_samples=6)
    """,
    )
    experiment = load_experiment(path)

    def draws(seed: int) -> list[float]:
        return [config["search"]["lr"] for config in sampled(replace(experiment, search_seed=seed), 6)]

    first = draws(0)
    assert len(first) == 6 and len(set(first)) == 6 and all(1e-5 < lr < 1e-2 for lr in first)
    assert draws(0) == first  # the same seed samples the same values, in the same order
    assert set(draws(1)).isdisjoint(first)  # another seed, other values


def test_a_new_sweep_never_reuses_another_and_the_page_shows_the_latest(ray_session, tmp_path, monkeypatch, data_root):
    monkeypatch.chdir(tmp_path)
    study = str(REPO / "experiments" / "srcnn_ablation.py")
    first = run_sweep(study, budget="smoke", data_root=data_root, only="9-1-5_seed0")
    tracker = Tracker(f"sqlite:///{tmp_path / 'mlflow.db'}")
    [before] = trial_runs(tracker, "srcnn_ablation", first["sweep"])
    history = [(m.step, m.value) for m in tracker.client.get_metric_history(before.info.run_id, "train.loss")]

    second = run_sweep(study, budget="smoke", data_root=data_root, only="9-1-5_seed0", settings={"lr": 0.001})
    assert second["sweep"] != first["sweep"] and second["parent_run_id"] != first["parent_run_id"]
    assert second["finished"] == 1
    [after] = trial_runs(tracker, "srcnn_ablation", second["sweep"])
    assert after.info.run_id != before.info.run_id and float(after.data.params["lr"]) == 0.001
    # smoke's own lr is 1e-3: the same configuration as the first sweep's, and still trained again in its own sweep
    assert after.data.tags[TAG_CONFIG_HASH] == before.data.tags[TAG_CONFIG_HASH]
    assert [m.step for m in tracker.client.get_metric_history(after.info.run_id, "train.loss")] == [3, 6, 9, 12]
    # The first sweep's records are as they were.
    again = tracker.client.get_run(before.info.run_id)
    assert again.data.params == before.data.params and again.data.metrics == before.data.metrics
    assert again.info.status == "FINISHED"
    assert [(m.step, m.value) for m in tracker.client.get_metric_history(before.info.run_id, "train.loss")] == history
    assert "set.lr" not in tracker.client.get_run(first["parent_run_id"]).data.params
    assert json.loads(tracker.client.get_run(second["parent_run_id"]).data.params["set.lr"]) == 0.001
    # The page shows the latest sweep alone, never an average of the two.
    page = (tmp_path / "leaderboards-smoke" / "srcnn_ablation.md").read_text()
    [row] = [line for line in page.splitlines() if line.startswith("| 9-1-5 |")]
    assert after.info.run_id in row and before.info.run_id not in page and "±" not in row
    assert f"Sweep `{second['sweep']}`" in page and "--set lr=0.001 --only '9-1-5_seed0'" in page
    # The first sweep stays reachable by its id, and the two can be set side by side.
    from srbench.cli import main

    assert (
        main(
            [
                "leaderboard",
                "--experiment",
                "srcnn_ablation",
                "--sweep",
                first["sweep"],
                "--out",
                "first",
                "--data-root",
                str(data_root),
            ]
        )
        == 0
    )
    assert before.info.run_id in (tmp_path / "first" / "srcnn_ablation.md").read_text()
    assert (
        main(
            [
                "leaderboard",
                "--experiment",
                "srcnn_ablation",
                "--compare",
                first["sweep"],
                second["sweep"],
                "--out",
                "cmp",
                "--data-root",
                str(data_root),
            ]
        )
        == 0
    )
    compare = (tmp_path / "cmp" / "srcnn_ablation-compare.md").read_text()
    a = tracker.client.get_run(before.info.run_id).data.metrics["Set5.psnr_y"]
    b = after.data.metrics["Set5.psnr_y"]
    assert f"| 9-1-5 | {a:.2f} | {b:.2f} | {b - a:+.2f} |" in compare
    assert main(["sweeps", "srcnn_ablation"]) == 0


def test_sampled_trial_names_are_readable_and_unique_for_either_search():
    from srbench.study.plan import TrialBase, trial_name

    base = TrialBase(key="9-1-5_seed0", prefix="9-1-5", variant="9-1-5", seed=0, point={})
    assert trial_name(base, {}, "f7b34_00003") == "9-1-5_seed0"  # nothing sampled: the study's own name
    assert (
        trial_name(base, {"lr": 0.000316228, "batch_size": 32}, "f7b34_00003")
        == "9-1-5_lr=0.000316,batch_size=32_seed0_t3"
    )
    assert trial_name(base, {"lr": 0.00145}, "cd1730b4") == "9-1-5_lr=0.00145_seed0_cd1730b4"  # Optuna's trial ids


def test_optuna_search_proposes_values_inside_the_bounds(tmp_path):
    """Optuna (TPE, seeded) asked and told as Tune does: four proposals inside the bounds, reproducible."""
    from ray.tune.search.optuna import OptunaSearch

    path = write_experiment(
        tmp_path,
        """
        EXPERIMENT = Experiment(name='lr_optuna', model={'name': 'srcnn'}, scale=3, search_alg='optuna',
                                search_space={'lr': tune.loguniform(1e-5, 1e-2)}, num_samples=4, search_seed=3)
    """,
    )
    experiment = load_experiment(path)

    def proposals() -> list[float]:
        space, search_alg, samples = tune_search(experiment, check_trials(experiment, "smoke"), concurrency=1)
        assert isinstance(search_alg.searcher, OptunaSearch) and samples == 4 and space["base"] == "seed0"
        search_alg.set_search_properties("val/Set5/psnr_y", "max", space)
        rates = []
        for i in range(samples):
            lr = search_alg.suggest(f"trial{i}")["search"]["lr"]
            search_alg.on_trial_complete(f"trial{i}", {"val/Set5/psnr_y": 30 - abs(math.log10(lr) + 3)})
            rates.append(lr)
        return rates

    rates = proposals()
    assert len(set(rates)) == 4 and all(1e-5 < lr < 1e-2 for lr in rates)
    assert proposals() == rates  # search_seed makes Optuna's proposals reproducible too


def test_sweeps_and_leaderboard_mistakes_give_one_line(tmp_path, monkeypatch, capsys, data_root):
    from test_leaderboard import build_store

    from srbench.cli import main

    monkeypatch.chdir(tmp_path)
    assert main(["sweeps"]) == 2
    assert "no MLflow store at sqlite:///" in capsys.readouterr().err and not (tmp_path / "mlflow.db").exists()
    build_store(f"sqlite:///{tmp_path / 'mlflow.db'}")
    capsys.readouterr()
    for argv, fragment in (
        (["sweeps", "nope"], "study 'nope' has no srbench runs"),
        (
            ["leaderboard", "--experiment", "srcnn_ablation", "--sweep", "gone"],
            "no sweep 'gone' of study srcnn_ablation",
        ),
        (
            ["leaderboard", "--experiment", "srcnn_ablation", "--compare", "gone", "other"],
            "--compare: sweep 'gone' has no finished runs of srcnn_ablation",
        ),
    ):
        assert main([*argv, "--data-root", str(data_root)] if argv[0] == "leaderboard" else argv) == 2
        err = capsys.readouterr().err
        assert fragment in err and len(err.strip().splitlines()) == 1, err
    assert main(["sweeps", "srcnn_ablation"]) == 0
    assert "srcnn_ablation-quick-20261101-120000-abcd" in capsys.readouterr().out


def test_a_sweep_registers_its_best_run_once_and_another_sweep_gets_its_own_version(tmp_path):
    """Registering is retried after a tracking outage and repeated at the end of a resumed sweep: neither may
    add a second version of one sweep's run; a new sweep's pick is a new version under the alias."""
    from srbench.tracking.model_registry import log_trained_model, register_best

    tracker = Tracker(f"sqlite:///{tmp_path / 'mlflow.db'}")
    run = tracker.client.create_run(tracker.client.create_experiment("study", (tmp_path / "artifacts").as_uri()))
    network = {"name": "srcnn", "variant": "9-1-5"}
    save_checkpoint({"model": build_model(network).state_dict()}, tmp_path / "best.pt")
    log_trained_model(tracker.uri, run.info.run_id, network, tmp_path / "best.pt")
    first = register_best(tracker, "study", "smoke", "sweep-1", run.info.run_id, "Set5.psnr_y")
    again = register_best(tracker, "study", "smoke", "sweep-1", run.info.run_id, "Set5.psnr_y")
    other = register_best(tracker, "study", "smoke", "sweep-2", run.info.run_id, "Set5.psnr_y")
    assert first == again != other
    assert len(tracker.client.search_model_versions("name = 'study'")) == 2
    # The logged model lists each version once, however often registering was retried.
    logged = tracker.client.get_logged_model(tracker.client.get_run(run.info.run_id).outputs.model_outputs[0].model_id)
    listed = json.loads(logged.tags["mlflow.modelVersions"])
    assert listed == [{"name": "study", "version": int(first)}, {"name": "study", "version": int(other)}]
    assert tracker.client.get_model_version_by_alias("study", "best_smoke").version == other


def test_a_trial_trains_the_same_weights_in_its_tune_trial_as_on_a_ray_train_worker(
    ray_session, tmp_path, monkeypatch, data_root
):
    """One worker per trial trains in the Tune trial itself (no worker group to start); `--launcher train` puts
    the same trial on a Ray Train TorchTrainer worker (a gloo process group of one, DDP-wrapped): from the same
    seed on the CPU, the two give identical weights, and each run says which launcher trained it."""
    monkeypatch.chdir(tmp_path)
    study = write_experiment(
        tmp_path,
        """
        EXPERIMENT = Experiment(
            name="launchers", model={"name": "srcnn", "variant": "n32-16"}, scale=3,
            budgets={"smoke": {"iterations": 24, "val_every": 12, "log_every": 6, "eval_sets": ["Set5"],
                               "val_images": 1, "batch_size": 8}},
        )
    """,
    )
    tracker = Tracker(f"sqlite:///{tmp_path / 'mlflow.db'}")
    weights = {}
    for launcher in ("tune", "train"):
        summary = run_sweep(str(study), budget="smoke", data_root=data_root, launcher=launcher)
        assert summary["finished"] == 1, summary
        [run] = trial_runs(tracker, "launchers", summary["sweep"])
        assert run.data.tags[TAG_LAUNCHER] == launcher
        folder = Path(run.data.tags[TAG_CHECKPOINT])
        [last] = folder.rglob("last.pt")  # Tune and Ray Train each keep the trial's last checkpoint only
        weights[launcher] = load_checkpoint(last)["model"]
    assert weights["tune"].keys() == weights["train"].keys()
    for name, tensor in weights["tune"].items():
        assert torch.equal(tensor, weights["train"][name]), name


def test_the_sweeps_saved_view_averages_seeds_of_one_configuration_never_two(tmp_path):
    """The MLflow UI's view a sweep prints: a group row per configuration (variant and configuration hash), the
    average of its seeds; never one row over the whole sweep's trials, which would pool H, HL and ALL."""
    tracker = Tracker(f"sqlite:///{tmp_path / 'mlflow.db'}")
    experiment = tracker.client.create_experiment("study")
    key = tracker.save_sweep_view(experiment, "study-quick-1", ["Set5", "Set14"])
    state = json.loads(tracker.client.get_experiment(experiment).tags[f"mlflow.sharedViewState.{key}"])
    assert state["searchFilter"] == f"tags.`{TAG_SWEEP}` = 'study-quick-1'"
    assert [k["groupByData"] for k in state["groupBy"]["groupByKeys"]] == ["srbench.variant", TAG_CONFIG_HASH]
    assert state["selectedColumns"][:2] == ["metrics.`Set5.psnr_y`", "metrics.`Set5.ssim_y`"]
