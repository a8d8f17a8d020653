"""The bicubic baseline of a page, computed with the evaluation protocol on the same images as the runs."""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

import pandas as pd

from srbench.data import get_spec
from srbench.evaluate import evaluate_bicubic


def bicubic_scores(
    scales: Sequence[int], data_root: Path, sets: Sequence[str] = ("Set5", "Set14", "BSD100"), limit: int | None = None
) -> dict[tuple, tuple[float, float]]:
    """``(scale, set)`` -> bicubic (Y-PSNR, Y-SSIM) over whole sets; with ``limit``, ``(scale, set, limit)`` -> the
    same over each set's first ``limit`` images (what a subset-scored trial is set beside). Each set is keyed by
    its name as given (``folder:/data/my_bench`` too), as the runs' ``eval_sets`` name it."""
    # Each set with its pixel digest, so the memo below never serves figures of a folder since rewritten.
    identified = tuple((name, get_spec(name).set_digest) for name in sets)
    scores = _bicubic_scores(tuple(sorted(set(scales))), identified, str(data_root), limit)
    return {key if limit is None else (*key, limit): value for key, value in scores}


def subset_limit(eval_images: str) -> int | None:
    """How many images per set a trial scored: ``"first 2 per set (subset)"`` -> 2, ``"all"`` -> None (rows that
    mix the two count as whole sets: they are flagged as not comparable anyway)."""
    counts = {int(m) for m in re.findall(r"first (\d+) per set", eval_images)}
    return counts.pop() if len(counts) == 1 and "all" not in eval_images else None


def bicubic_of(bicubic: dict, scale: int, set_name: str, limit: int | None) -> tuple[float, float]:
    return bicubic[(scale, set_name) if limit is None else (scale, set_name, limit)]


@lru_cache(maxsize=8)
def _bicubic_scores(
    scales: tuple[int, ...], sets: tuple[tuple[str, str], ...], data_root: str, limit: int | None
) -> tuple:
    """Memoised per process: the figures depend only on the (digest-verified) benchmark images, named with their
    set digests in ``sets`` (name, digest)."""
    return tuple(
        ((score.scale, name), (score.psnr_y, score.ssim_y))
        for name, _ in sets
        for score in evaluate_bicubic([get_spec(name)], list(scales), Path(data_root), download=True, limit=limit)
    )


def plot_baselines(agg: pd.DataFrame, bicubic: dict, set_name: str) -> dict[tuple[int, str], float]:
    """Per (scale, budget) of the rows, bicubic's Y-PSNR on ``set_name`` over the images those rows were scored on
    (a subset's first images where a `smoke` budget scored only those)."""
    return {
        (scale, budget): bicubic_of(bicubic, scale, set_name, subset_limit("; ".join(group["eval_images"])))[0]
        for (scale, budget), group in agg.groupby(["scale", "budget"])
    }
