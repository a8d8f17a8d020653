"""The paired statistics a page judges its steps with: against scipy directly, and on cases checked by hand."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from srbench.report.significance import (
    NO_PAIRS,
    RESAMPLES,
    Step,
    bootstrap_interval,
    holm,
    image_means,
    paired_differences,
    paired_step,
    step_between,
    wilcoxon_p,
    with_holm,
)

# per-image differences of a plausible step: mostly up, one image down, skewed by one textured image
DIFFS = np.array([0.12, 0.05, 0.31, -0.02, 0.08, 0.09, 0.64, 0.03, 0.11, 0.07, 0.15, 0.04, 0.06, 0.10])


def test_wilcoxon_p_is_scipys_two_sided_signed_rank():
    assert wilcoxon_p(DIFFS) == stats.wilcoxon(DIFFS, alternative="two-sided").pvalue
    # by hand: 5 images all one way is 1 of the 2^5 sign patterns at each extreme, so p = 2/32
    assert wilcoxon_p(np.array([0.1, 0.2, 0.3, 0.4, 0.5])) == pytest.approx(2 / 32)


def test_identical_configurations_give_no_difference_and_p_one():
    same = pd.Series([30.1, 27.5, 33.0, 29.2, 31.4], index=list("abcde"))
    step = paired_step(same, same.copy())
    assert (step.difference, step.low, step.high, step.p, step.images, step.sign) == (0, 0, 0, 1.0, 5, 0)


def test_interval_of_all_positive_differences_lies_above_zero_and_is_seeded():
    low, high = bootstrap_interval(DIFFS)
    assert 0 < low < DIFFS.mean() < high
    assert bootstrap_interval(DIFFS) == (low, high)  # fixed seed: the same page every time
    assert bootstrap_interval(-np.abs(DIFFS))[1] < 0


def test_interval_agrees_with_scipys_percentile_bootstrap():
    """Another generator's resamples: the same interval to within the resampling noise (~1% of its width here)."""
    ours = bootstrap_interval(DIFFS)
    theirs = stats.bootstrap(
        (DIFFS,), np.mean, n_resamples=RESAMPLES, method="percentile", confidence_level=0.95, rng=1
    ).confidence_interval
    width = theirs.high - theirs.low
    assert ours == pytest.approx((theirs.low, theirs.high), abs=0.03 * width)


def test_a_constant_difference_has_no_width():
    assert bootstrap_interval(np.full(5, 0.2)) == pytest.approx((0.2, 0.2))


def test_holm_on_known_p_values():
    # sorted: 0.005 x 4 = 0.02, 0.01 x 3 = 0.03, 0.03 x 2 = 0.06, 0.04 x 1 = 0.04 -> kept from falling: 0.06
    assert holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert holm([0.5, 0.6]) == [1.0, 1.0]  # capped at 1
    assert holm([0.02]) == [0.02] and holm([]) == []


def test_with_holm_corrects_the_tested_steps_and_keeps_the_reasons():
    steps = {"a": Step(0.1, 0.05, 0.15, 0.01, 14), "b": "not tested (x)", "c": Step(0.2, 0.1, 0.3, 0.04, 14)}
    corrected = with_holm(steps)
    assert corrected["b"] == "not tested (x)"
    assert (corrected["a"].p_holm, corrected["c"].p_holm) == pytest.approx((0.02, 0.04))
    assert corrected["a"].p == 0.01  # the uncorrected p is kept


def test_seeds_are_averaged_per_image_and_only_shared_images_pair():
    images = pd.DataFrame(
        [
            ("r0", "Set5", "baby.png", 30.0),
            ("r1", "Set5", "baby.png", 31.0),  # the same configuration's second seed
            ("r0", "Set5", "bird.png", 20.0),
            ("r1", "Set5", "bird.png", 22.0),
            ("r0", "Set14", "baby.png", 99.0),  # another set: never mixed in
            ("r2", "Set5", "bird.png", 22.5),
            ("r2", "Set5", "baby.png", 30.0),
            ("r2", "Set5", "head.png", 25.0),  # only B scored it: no pair
        ],
        columns=["run_id", "set", "image", "psnr_y"],
    )
    a = image_means(images, ["r0", "r1"], "Set5")
    assert a.to_dict() == {"baby.png": 30.5, "bird.png": 21.0}
    b = image_means(images, ["r2"], "Set5")
    assert paired_differences(a, b).tolist() == [-0.5, 1.5]  # image-name order
    assert paired_differences(a[::-1], b).tolist() == [-0.5, 1.5]  # whatever order the runs were read in


def test_a_step_between_rows_scored_on_a_subset_or_without_per_image_figures_is_not_tested():
    images = pd.DataFrame(
        [("r0", "Set5", "a", 30.0), ("r0", "Set5", "b", 20.0), ("r1", "Set5", "a", 30.0), ("r1", "Set5", "b", 21.0)],
        columns=["run_id", "set", "image", "psnr_y"],
    )
    row = {"eval_images": "all", "run_ids": "r0"}
    step = step_between(images, pd.Series(row), pd.Series({**row, "run_ids": "r1"}), "set5")  # as a config spells it
    assert (step.difference, step.images) == (0.5, 2)
    subset = pd.Series({**row, "eval_images": "first 1 per set (subset)"})
    assert step_between(images, pd.Series(row), subset, "Set5") == "not tested (a subset of the set's images)"
    assert step_between(images, pd.Series(row), pd.Series({**row, "run_ids": "r9"}), "Set5") == NO_PAIRS


def test_one_shared_image_is_no_step():
    """One image's difference has nothing to resample: its interval would be a point, and 'hold'."""
    one = pd.Series([30.0], index=["baby.png"])
    assert paired_step(one, one + 0.5) is None
