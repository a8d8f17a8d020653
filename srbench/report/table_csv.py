"""A study's leaderboard as CSV: one row per configuration and set (and the bicubic rows), every figure unrounded;
and beside it every run's figures per image, from which anyone can recompute the page's statistics."""

from __future__ import annotations

import math

import pandas as pd

from srbench.data import set_label
from srbench.metrics import Metric
from srbench.report.baseline import REFERENCE_ROWS, Baselines, Figures
from srbench.report.columns import LISTED, num, page_metrics, references, scored, vgg_not_comparable

# The CSV's columns before and after each further metric's pair (value, std)
HEAD = (
    "study",
    "scale",
    "budget",
    "sweep",
    "config_hash",
    "variant",
    "set",
    "seeds",
    "psnr",
    "psnr_std",
    "ssim",
    "ssim_std",
)
TAIL = (
    "vgg_weights",
    "paper_psnr",
    "delta",
    "parameters",
    "macs_per_mp",
    "iterations",
    "wall_time_s",
    "hardware",
    "run_ids",
)


def render_csv(study: str, agg: pd.DataFrame, baselines: Baselines) -> str:
    rows = []
    sets = list(dict.fromkeys(s for row_sets in agg["sets"] for s in row_sets)) if not agg.empty else []
    extras = (
        [m for m in page_metrics(agg["metric_specs"]) if m.name in LISTED or scored(agg, m, sets)]
        if not agg.empty
        else []
    )
    for source, table in (("bicubic", baselines.bicubic), ("hr", baselines.hr)):
        for key, figures in sorted(
            table.items(), key=lambda item: (item[0][0], len(item[0]), item[0][2:], sets.index(item[0][1]))
        ):
            if key[0] in set(agg["scale"]):
                rows.append(_reference_row(study, source, key, figures, extras))
    for _, r in agg.iterrows():
        for s in r["sets"]:
            refs = references(study, r["scale"], r["variant"], s)
            rows.append(
                {
                    "study": study,
                    "scale": r["scale"],
                    "budget": r["budget"],
                    "sweep": r["sweep"],
                    "config_hash": r["config_hash"],
                    "variant": r["variant"],
                    "set": set_label(s),
                    "seeds": r["seeds"],
                    "psnr": num(r[f"{s}.psnr"], 4),
                    "psnr_std": num(r[f"{s}.psnr.std"], 4),
                    "ssim": num(r[f"{s}.ssim"], 5),
                    "ssim_std": num(r[f"{s}.ssim.std"], 5),
                    # one digit more than the page's
                    **{
                        f"{m.name}{tail}": num(r[f"{s}.{m.name}{std}"], m.digits + 1)
                        for m in extras
                        for tail, std in (("", ""), ("_std", ".std"))
                    },
                    "vgg_weights": r["vgg_weights"],
                    "paper_psnr": ";".join(f"{x['psnr']:.2f}" for x in refs),
                    "delta": ""
                    if vgg_not_comparable(r)
                    else ";".join(f"{r[f'{s}.psnr'] - x['psnr']:+.4f}" for x in refs),
                    "parameters": num(r["parameters"], 0),
                    "macs_per_mp": num(r["macs_per_mp"], 0),
                    "iterations": num(r["iterations"], 0),
                    "wall_time_s": num(r["wall_time_s"], 1),
                    "hardware": r["hardware"],
                    "run_ids": r["run_ids"],
                }
            )
    return pd.DataFrame(rows).to_csv(index=False, lineterminator="\n") if rows else ""


def _reference_row(study: str, source: str, key: tuple, figures: Figures, extras: list[Metric]) -> dict[str, str]:
    """Bicubic's or HR's row on one set (``key``: scale, set and, for a subset, its first images' count)."""
    name = REFERENCE_ROWS[source][0]
    row = dict.fromkeys(_columns(extras), "")  # the runs' rows' columns, in their order
    row.update(
        study=study,
        scale=key[0],
        variant=name if len(key) == 2 else f"{name} (first {key[2]} per set)",
        set=set_label(key[1]),
        psnr=num(figures.get("psnr", math.nan), 4),
        ssim=num(figures.get("ssim", math.nan), 5),
        **{m.name: num(figures.get(m.name, math.nan), m.digits + 1) for m in extras},
    )
    return row


def _columns(extras: list[Metric]) -> list[str]:
    further = [f"{m.name}{tail}" for m in extras for tail in ("", "_std")]
    return [*HEAD, *further, *TAIL]


def images_csv_name(study: str) -> str:
    """The per-image CSV beside a study's page."""
    return f"{study}-images.csv"


def render_images_csv(study: str, runs: pd.DataFrame, agg: pd.DataFrame, images: pd.DataFrame) -> str:
    """A row per finished run of the page, set and image (``images``: ``load_images``'s), in the page's row order,
    with what pools it (scale, budget, sweep, configuration hash; the row's name) and its seed; every figure
    unrounded (Python's shortest repr, which reads back to the same float)."""
    if agg.empty or images.empty:
        return ""
    pooled = agg[["scale", "budget", "sweep", "config_hash", "variant", "run_ids"]].assign(
        run_id=agg["run_ids"].str.split()
    )
    frame = pooled.drop(columns="run_ids").explode("run_id").merge(runs[["run_id", "seed"]], on="run_id")
    frame = frame.merge(images, on="run_id")  # an inner merge keeps the left order: the page's rows, then seeds
    return frame.assign(study=study)[["study", *frame.columns]].to_csv(index=False, lineterminator="\n")
