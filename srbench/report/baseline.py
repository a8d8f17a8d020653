"""A page's reference points, computed with the evaluation protocol on the same images as the runs: the bicubic
baseline (its PSNR / SSIM and the weight-free metrics the runs scored), and the HR images themselves (their
no-reference figures, e.g. NIQE of HR)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import pandas as pd

from srbench.data import get_spec
from srbench.evaluate import evaluate_reference
from srbench.metrics import ALWAYS, METRICS, Metric, get_metric, prepare
from srbench.report.columns import PRIMARY

Figures = dict[str, float]  # a reference point's means on one set: "psnr", "ssim" and further metrics by name
DEFAULT_SETS = ("Set5", "Set14", "BSD100")
REFERENCE_ROWS = {  # a reference point's row on pages and CSVs: its name, and the command that scores it
    "bicubic": ("bicubic", "`srbench eval bicubic`"),
    "hr": ("HR (the images themselves)", "`srbench eval hr`"),
}


@dataclass(frozen=True)
class Baselines:
    """Per ``(scale, set)`` (whole sets) and ``(scale, set, limit)`` (a subset's first ``limit`` images): the
    bicubic baseline's figures and the HR images' (no-reference metrics only; empty where none was scored)."""

    bicubic: dict[tuple, Figures]
    hr: dict[tuple, Figures] = field(default_factory=dict)

    def of(self, source: str, scale: int, set_name: str, limit: int | None) -> Figures:
        table = self.bicubic if source == "bicubic" else self.hr
        return table.get((scale, set_name) if limit is None else (scale, set_name, limit), {})

    def psnr(self, scale: int, set_name: str, limit: int | None = None) -> float:
        return self.bicubic[(scale, set_name) if limit is None else (scale, set_name, limit)]["psnr"]


def reference_metrics(metrics: Sequence[Metric]) -> list[str]:
    """Of a page's further metrics, those its reference points can be scored with: srbench's own that need no
    weights (a user's metric is shown as its runs recorded it, never imported; learned weights would have to be
    the runs' own)."""
    return [m.name for m in metrics if m.name in METRICS and _weight_free(METRICS[m.name])]


def _weight_free(metric: Metric) -> bool:
    return metric.weights is None and metric.module.startswith("srbench.metrics")


def bicubic_scores(
    scales: Sequence[int],
    data_root: Path,
    sets: Sequence[str] = DEFAULT_SETS,
    limit: int | None = None,
    metrics: Sequence[str] = (),
) -> dict[tuple, Figures]:
    """``(scale, set)`` -> bicubic's figures over whole sets ("psnr", "ssim" and each of ``metrics``); with
    ``limit``, ``(scale, set, limit)`` -> the same over each set's first ``limit`` images (what a subset-scored trial
    is set beside). Each set is keyed by its name as given (``folder:/data/my_bench`` too), as the runs'
    ``eval_sets`` name it."""
    return _scores("bicubic", scales, data_root, sets, limit, metrics)


def hr_scores(
    scales: Sequence[int], data_root: Path, sets: Sequence[str], limit: int | None, metrics: Sequence[str]
) -> dict[tuple, Figures]:
    """The HR images' figures, keyed as ``bicubic_scores``: the no-reference ones among ``metrics``."""
    no_reference = [name for name in metrics if not get_metric(name).reference]
    return _scores("hr", scales, data_root, sets, limit, no_reference) if no_reference else {}


def _scores(
    source: str, scales: Sequence[int], data_root: Path, sets: Sequence[str], limit: int | None, metrics: Sequence[str]
) -> dict[tuple, Figures]:
    # Each set with its pixel digest, so the memo below never serves figures of a folder since rewritten.
    identified = tuple((name, get_spec(name).set_digest) for name in sets)
    scores = _reference_scores(source, tuple(sorted(set(scales))), identified, str(data_root), limit, tuple(metrics))
    return {key if limit is None else (*key, limit): dict(figures) for key, figures in scores}


def subset_limit(eval_images: str) -> int | None:
    """How many images per set a trial scored: ``"first 2 per set (subset)"`` -> 2, ``"all"`` -> None (rows that
    mix the two count as whole sets: they are flagged as not comparable anyway)."""
    counts = {int(m) for m in re.findall(r"first (\d+) per set", eval_images)}
    return counts.pop() if len(counts) == 1 and "all" not in eval_images else None


# A reference point's figures under the page's column names (the PSNR / SSIM cells are "psnr" and "ssim").
COLUMNS = {metric: column for column, metric in PRIMARY.items()}


@lru_cache(maxsize=16)
def _reference_scores(
    source: str,
    scales: tuple[int, ...],
    sets: tuple[tuple[str, str], ...],
    data_root: str,
    limit: int | None,
    metrics: tuple[str, ...],
) -> tuple:
    """Memoised per process: the figures depend only on the (digest-verified) benchmark images, named with their
    set digests in ``sets`` (name, digest)."""
    names = [*(ALWAYS if source == "bicubic" else ()), *metrics]
    scorers = prepare([get_metric(name) for name in names], {})
    return tuple(
        ((score.scale, name), tuple((COLUMNS.get(k, k), v) for k, v in score.figures.items() if k != "psnr_rgb"))
        for name, _ in sets
        for score in evaluate_reference(
            source, [get_spec(name)], list(scales), Path(data_root), download=True, scorers=scorers, limit=limit
        )
    )


def plot_baselines(agg: pd.DataFrame, baselines: Baselines, set_name: str) -> dict[tuple[int, str], float]:
    """Per (scale, budget) of the rows, bicubic's Y-PSNR on ``set_name`` over the images those rows were scored on
    (a subset's first images where a `smoke` budget scored only those)."""
    return {
        (scale, budget): baselines.psnr(scale, set_name, subset_limit("; ".join(group["eval_images"])))
        for (scale, budget), group in agg.groupby(["scale", "budget"])
    }
