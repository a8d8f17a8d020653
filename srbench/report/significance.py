"""Whether one configuration beats another on a set: per-image paired differences (each image's figure averaged
over a configuration's seeds first), a Wilcoxon signed-rank test, a seeded bootstrap confidence interval of the mean
difference, and Holm's correction over the steps of one family (a page section's steps on one set)."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TypeVar

import numpy as np
import pandas as pd
from scipy import stats

from srbench.data import set_label

RESAMPLES = 10_000
SEED = 0  # fixed: the same runs give the same intervals, so the same page, byte for byte
CONFIDENCE = 0.95
FIGURE = "psnr_y"  # the figure steps are judged on (dB)

K = TypeVar("K")


@dataclass(frozen=True)
class Step:
    """B − A on one set, over the images both configurations scored."""

    difference: float  # mean over images of the per-image difference
    low: float  # the confidence interval of that mean
    high: float
    p: float  # two-sided Wilcoxon signed-rank, uncorrected
    images: int
    p_holm: float = math.nan  # p after Holm's correction over the step's family

    @property
    def sign(self) -> int:
        """+1 where the interval lies above zero, -1 where below, 0 where it contains zero."""
        return 1 if self.low > 0 else -1 if self.high < 0 else 0


def image_means(images: pd.DataFrame, run_ids: Iterable[str], set_name: str, metric: str = FIGURE) -> pd.Series:
    """A configuration's figure per image of one set (as ``load_images`` labels it; index: image name), averaged
    over its runs (seeds)."""
    rows = images[images["run_id"].isin(set(run_ids)) & (images["set"] == set_name)]
    return rows.groupby("image")[metric].mean()


def paired_differences(a: pd.Series, b: pd.Series) -> np.ndarray:
    """``b - a`` per image both have a finite figure for, in image-name order (so the bootstrap never depends on
    the order runs were read in)."""
    diffs = (b - a).dropna().sort_index().to_numpy(dtype=float)
    return diffs[np.isfinite(diffs)]  # an SR image equal to its HR has an infinite PSNR: no difference to speak of


def bootstrap_interval(
    diffs: np.ndarray, confidence: float = CONFIDENCE, resamples: int = RESAMPLES, seed: int = SEED
) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean of ``diffs``, resampling images with replacement."""
    picks = np.random.default_rng(seed).integers(0, len(diffs), size=(resamples, len(diffs)))
    tail = (1 - confidence) / 2
    low, high = np.quantile(diffs[picks].mean(axis=1), [tail, 1 - tail])
    return float(low), float(high)


def wilcoxon_p(diffs: np.ndarray) -> float:
    """Two-sided Wilcoxon signed-rank p of ``diffs`` (zeros dropped); 1 where every difference is zero.

    A rank test rather than paired t: per-image PSNR differences are skewed (a few textured images move most), and
    a set of 5 or 14 images cannot show the normality a t-test assumes."""
    if not np.any(diffs):
        return 1.0
    return float(stats.wilcoxon(diffs).pvalue)


def paired_step(a: pd.Series, b: pd.Series) -> Step | None:
    """B − A from two configurations' per-image figures; None where they share fewer than two images (one image
    has nothing to resample: its interval would be a point, "holding" on one image)."""
    diffs = paired_differences(a, b)
    if len(diffs) < 2:
        return None
    return Step(float(diffs.mean()), *bootstrap_interval(diffs), wilcoxon_p(diffs), len(diffs))


def holm(pvalues: Sequence[float]) -> list[float]:
    """Holm's step-down adjusted p-values, in the given order: the i-th smallest of m is multiplied by m - i
    (i from 0), kept from decreasing, capped at 1."""
    adjusted = [math.nan] * len(pvalues)
    running = 0.0
    for rank, index in enumerate(sorted(range(len(pvalues)), key=lambda i: pvalues[i])):
        running = max(running, min(1.0, (len(pvalues) - rank) * pvalues[index]))
        adjusted[index] = running
    return adjusted


def with_holm(steps: Mapping[K, Step | str]) -> dict[K, Step | str]:
    """One family's steps with their Holm-corrected p; the reasons a step was not tested are kept as they are."""
    tested = {k: s for k, s in steps.items() if isinstance(s, Step)}
    corrected = holm([s.p for s in tested.values()])
    return {**steps, **{k: dataclasses.replace(s, p_holm=p) for (k, s), p in zip(tested.items(), corrected)}}


NO_PAIRS = "not tested (per-image figures for fewer than 2 shared images)"  # e.g. runs logged before per_image


def step_between(images: pd.DataFrame, a: pd.Series, b: pd.Series, set_name: str) -> Step | str:
    """B − A of two page rows (``aggregate``'s) on one set (a page's name for it), or why it is not tested: not on a
    subset of the set's images (the claim is about the set), nor without per-image figures of two shared images."""
    if (a["eval_images"], b["eval_images"]) != ("all", "all"):
        return "not tested (a subset of the set's images)"
    step = paired_step(*(image_means(images, r["run_ids"].split(), set_label(set_name)) for r in (a, b)))
    return step if step is not None else NO_PAIRS
