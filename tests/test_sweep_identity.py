"""Sweep identity and real Ray Tune search, on a real local Ray and a real MLflow store (SQLite):
every invocation is its own sweep, never reusing another's runs; Tune samples the search space
reproducibly from ``search_seed``; ASHA's early stops are recorded and shown apart."""

from __future__ import annotations

import json
import math
from dataclasses import replace

import pytest
from test_sweep import write_experiment

from conftest import REPO
from srbench.experiment import load_experiment, trial_bases
from srbench.sweep import run_sweep, tune_search
from srbench.tracking import TAG_CONFIG_HASH, TAG_KIND, TAG_SWEEP, Tracker


@pytest.fixture(scope="module")
def ray_session():
    import ray

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


def trial_runs(tracker: Tracker, study: str, sweep: str | None = None):
    experiment = tracker.client.get_experiment_by_name(study)
    query = f"tags.`{TAG_KIND}` = 'trial'" + (f" and tags.`{TAG_SWEEP}` = '{sweep}'" if sweep else "")
    return tracker.client.search_runs([experiment.experiment_id], filter_string=query)


def test_tune_samples_the_search_space_reproducibly_from_search_seed(ray_session, tmp_path):
    from ray import tune

    path = write_experiment(tmp_path, """
        EXPERIMENT = Experiment(name='lr_only', model={'name': 'srcnn'}, scale=3,
                                search_space={'lr': tune.loguniform(1e-5, 1e-2)}, num_samples=6)
    """)
    experiment = load_experiment(path)

    def draws(seed: int, attempt: int) -> list[float]:
        chosen = replace(experiment, search_seed=seed)
        space, search_alg, samples = tune_search(chosen, trial_bases(chosen), concurrency=2)
        tuner = tune.Tuner(lambda config: None, param_space=space,
                           tune_config=tune.TuneConfig(search_alg=search_alg, num_samples=samples),
                           run_config=tune.RunConfig(storage_path=str(tmp_path / "tune"), name=f"s{seed}-{attempt}",
                                                     verbose=0))
        return sorted(r.config["search"]["lr"] for r in tuner.fit())

    first = draws(0, 0)
    assert len(first) == 6 and len(set(first)) == 6 and all(1e-5 < lr < 1e-2 for lr in first)
    assert draws(0, 1) == first  # the same seed samples the same values
    assert set(draws(1, 0)).isdisjoint(first)  # another seed, other values


def test_a_new_sweep_never_reuses_another_and_the_page_shows_the_latest(ray_session, tmp_path, monkeypatch, data_root):
    monkeypatch.chdir(tmp_path)
    study = str(REPO / "experiments" / "srcnn_ablation.py")
    first = run_sweep(study, budget="smoke", data_root=data_root, only="9-1-5*")
    tracker = Tracker(f"sqlite:///{tmp_path / 'mlflow.db'}")
    [before] = trial_runs(tracker, "srcnn_ablation", first["sweep"])
    history = [(m.step, m.value) for m in tracker.client.get_metric_history(before.info.run_id, "train.loss")]

    second = run_sweep(study, budget="smoke", data_root=data_root, only="9-1-5*", settings={"lr": 0.001})
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
    page = (tmp_path / "leaderboards" / "srcnn_ablation.md").read_text()
    [row] = [line for line in page.splitlines() if line.startswith("| 9-1-5 |")]
    assert after.info.run_id in row and before.info.run_id not in page and "±" not in row
    assert f"Sweep `{second['sweep']}`" in page and "--set lr=0.001 --only '9-1-5*'" in page
    # The first sweep stays reachable by its id, and the two can be set side by side.
    from srbench.cli import main

    assert main(["leaderboard", "--experiment", "srcnn_ablation", "--sweep", first["sweep"], "--out", "first",
                 "--data-root", str(data_root)]) == 0
    assert before.info.run_id in (tmp_path / "first" / "srcnn_ablation.md").read_text()
    assert main(["leaderboard", "--experiment", "srcnn_ablation", "--compare", first["sweep"], second["sweep"],
                 "--out", "cmp", "--data-root", str(data_root)]) == 0
    compare = (tmp_path / "cmp" / "srcnn_ablation-compare.md").read_text()
    a = tracker.client.get_run(before.info.run_id).data.metrics["Set5.psnr_y"]
    b = after.data.metrics["Set5.psnr_y"]
    assert f"| 9-1-5 | {a:.2f} | {b:.2f} | {b - a:+.2f} |" in compare
    assert main(["sweeps", "srcnn_ablation"]) == 0


def test_optuna_search_proposes_values_inside_the_bounds(ray_session, tmp_path):
    from ray import tune

    path = write_experiment(tmp_path, """
        EXPERIMENT = Experiment(name='lr_optuna', model={'name': 'srcnn'}, scale=3, search_alg='optuna',
                                search_space={'lr': tune.loguniform(1e-5, 1e-2)}, num_samples=4, search_seed=3)
    """)
    experiment = load_experiment(path)
    space, search_alg, samples = tune_search(experiment, trial_bases(experiment), concurrency=1)

    def score(config: dict) -> None:  # a stand-in for a trial: best near lr = 1e-3
        tune.report({"val/Set5/psnr_y": 30 - abs(math.log10(config["search"]["lr"]) + 3)})

    tuner = tune.Tuner(score, param_space=space,
                       tune_config=tune.TuneConfig(search_alg=search_alg, num_samples=samples, metric="val/Set5/psnr_y",
                                                   mode="max"),
                       run_config=tune.RunConfig(storage_path=str(tmp_path / "tune"), name="optuna", verbose=0))
    results = tuner.fit()
    rates = [r.config["search"]["lr"] for r in results]
    assert len(rates) == 4 and len(set(rates)) == 4 and all(1e-5 < lr < 1e-2 for lr in rates)
    assert not results.errors
