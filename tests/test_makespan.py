"""Keeping slots busy: trials ordered by estimated cost, and the makespan figure."""

from __future__ import annotations

import pytest

from srbench.study.load import load_experiment
from srbench.study.plan import check_trials, trial_bases
from srbench.sweep.makespan import longest_first, makespan, trial_cost
from srbench.sweep.search import tune_search
from srbench.train.config import make_config

from conftest import REPO


def test_cost_follows_model_size_batch_patch_iterations_and_the_adversarial_phase():
    base = make_config({"name": "srcnn", "variant": "9-1-5"}, 3, "quick")
    assert trial_cost(make_config({"name": "srcnn", "variant": "9-5-5"}, 3, "quick")) > trial_cost(base)
    assert trial_cost(make_config({"name": "srcnn"}, 3, "quick", iterations=40_000)) == pytest.approx(
        2 * trial_cost(base)
    )
    assert trial_cost(make_config({"name": "srcnn"}, 3, "quick", batch_size=128)) == pytest.approx(2 * trial_cost(base))
    mse = make_config({"name": "srresnet"}, 4, "quick", iterations=1000)
    gan = make_config({"name": "srresnet"}, 4, "quick", iterations=1000, pretrain_iterations=0, adversarial_weight=1e-3)
    assert trial_cost(gan) > trial_cost(mse)


def test_the_srcnn_ablation_starts_its_widest_filters_first_and_its_smallest_net_last():
    experiment = load_experiment(REPO / "experiments" / "srcnn_ablation.py")
    trials = check_trials(experiment, "quick", bases=trial_bases(experiment))
    order = longest_first([t.key for t in trials], [t.config for t in trials])
    assert order[0] == "9-5-5_seed0" and order[-1] == "n32-16_seed2" and sorted(order) == sorted(t.key for t in trials)
    param_space, _, _ = tune_search(experiment, trials, concurrency=2)
    assert param_space["base"]["grid_search"] == order  # Tune starts grid points in this order


def test_makespan_against_the_ideal():
    span = makespan([(0, 10), (0, 4), (4, 8), (8, 12)], slots=2)
    assert (span.wall_s, span.trial_s, span.ideal_s) == (12, 22, 11) and span.ratio == pytest.approx(12 / 11)
    assert "1.09 x ideal" in span.describe()
    assert makespan([(5, None)], slots=2) is None
