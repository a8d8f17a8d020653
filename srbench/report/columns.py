"""What pages and CSVs show in their columns, and how: the primary PSNR / SSIM cells and each further metric the
runs scored, a figure printed to its digits, a row's label, and the papers' figures set beside ours."""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from importlib import resources

import pandas as pd

from srbench.metrics import Metric, get_metric
from srbench.metrics.registry import described

PRIMARY = {"psnr": "psnr_y", "ssim": "ssim_y"}  # the "PSNR / SSIM" cells (with the papers' Δ): column -> metric

# srbench's metrics a page knows without a run's srbench.metrics tag (runs from before it scored LPIPS); the CSV has
# their columns even where no run scored them (its format since LPIPS).
LISTED = ("lpips",)


def num(value: float, digits: int) -> str:
    return "" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.{digits}f}"


def mean_std(mean: float, std: float, digits: int) -> str:
    text = num(mean, digits)
    return f"{text} ± {num(std, digits)}" if text and not math.isnan(std) else text


def paper_results(study: str, kind: str = "results") -> list[dict]:
    """The published figures (``results``) or variant orderings (``orderings``) for ``study``."""
    data = json.loads(resources.files("srbench").joinpath("paper_results.json").read_text())
    return [{**r, "citation": data["sources"][r["source"]]} for r in data[kind] if r["study"] == study]


def references(study: str, scale: int, variant: str, set_name: str) -> list[dict]:
    return [r for r in paper_results(study) if (r["scale"], r["variant"], r["set"]) == (scale, variant, set_name)]


def vgg_not_comparable(r: pd.Series) -> bool:
    """Whether the row's VGG content loss used weights other than torchvision's ImageNet ones."""
    return "not comparable" in r["vgg_weights"]


def variant_label(r: pd.Series) -> str:
    """The row's name, marked † where its VGG content loss makes it not comparable with the paper."""
    return str(r["variant"]) + (" †" if vgg_not_comparable(r) else "")


def page_metrics(recorded: Iterable[str]) -> list[Metric]:
    """The metrics a page may show beside PSNR / SSIM: ``LISTED``, then those the runs' ``srbench.metrics`` tags
    (``recorded``) describe, in the runs' order: a user's metric is shown as its run recorded it, never imported."""
    specs: dict[str, dict] = {}
    for text in dict.fromkeys(recorded):
        for spec in json.loads(text):
            specs.setdefault(spec["name"], spec)
    names = dict.fromkeys([*LISTED, *(n for n, spec in specs.items() if spec["column"] and n not in PRIMARY.values())])
    return [get_metric(name) if name in LISTED else described(specs[name]) for name in names]


def scored(frame: pd.DataFrame, metric: Metric, sets: Sequence[str]) -> bool:
    return bool(frame[[f"{s}.{metric.name}" for s in sets]].notna().any(axis=None))


def perceptual_metrics(frame: pd.DataFrame, sets: Sequence[str]) -> list[Metric]:
    """The perceived-quality metrics (NIQE, LPIPS, DISTS...) the rows scored: the perception-distortion plane's."""
    return [m for m in page_metrics(frame["metric_specs"]) if m.perceptual and scored(frame, m, sets)]


def footnote(note: str, footnotes: list[str]) -> int:
    """The number of ``note`` among a page's footnotes, added at the end the first time it is cited."""
    if note not in footnotes:
        footnotes.append(note)
    return footnotes.index(note) + 1
