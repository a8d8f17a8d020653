"""Writing a study's leaderboard: its runs read from the tracking store, pooled, set beside the bicubic baseline
and the papers, rendered as a markdown page (``report.markdown``, its steps tested by ``report.significance``), CSVs
of the figures per configuration and per run and image (``report.table_csv``), pictures (``report.plots``) and a
sidecar the folder's index reads (``report.index``); and a page comparing two sweeps.

A page shows, per budget, one sweep (the latest, or the one asked for) and names it with its id and commit;
within it, only runs with the same configuration hash (the same configuration but for the seed) are pooled, as
mean ± sample std over seeds. Output is a pure function of the MLflow contents (stable order, fixed formats), and
needs no training machine.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from srbench.data import resolve_data_root
from srbench.errors import UserError
from srbench.report.baseline import (
    Baselines,
    bicubic_scores,
    hr_scores,
    plot_baselines,
    reference_metrics,
    subset_limit,
)
from srbench.report.columns import page_metrics, perceptual_metrics, scored, variant_label
from srbench.report.comparison import render_comparison
from srbench.report.index import page_budgets, page_sections, study_files, write_index, write_sidecar
from srbench.report.markdown import GENERATED, render_study
from srbench.report.plots import (
    comparison_strip,
    perception_distortion,
    psnr_vs_hyperparameters,
    psnr_vs_parameters,
    validation_curves,
)
from srbench.report.runs import load_images, load_runs, select_sweeps, study_sets
from srbench.report.stats import aggregate, searched
from srbench.report.table_csv import images_csv_name, render_csv, render_images_csv
from srbench.tracking.store import Tracker, quiet_downloads


def write_leaderboards(
    studies: Sequence[str],
    tracking_uri: str,
    out: Path,
    data_root: Path | None = None,
    sweep: str | None = None,
    replace: bool = False,
) -> list[Path]:
    """Write ``out/<study>.md``, ``.csv``, ``-images.csv`` and ``.json`` for each study (per budget its latest sweep,
    or ``sweep``), and the index ``out/README.md``. A page that shows a budget the store has no runs of (e.g. a
    committed `quick` page, and a store with only `smoke` runs) is kept, and said so, unless ``replace``."""
    data_root = resolve_data_root(data_root)
    tracker = Tracker(tracking_uri)
    out.mkdir(parents=True, exist_ok=True)
    pages = [
        page for study in studies if (page := write_study(study, tracker, out, data_root, sweep, replace)) is not None
    ]
    write_index(out)
    return pages


def write_study(
    study: str, tracker: Tracker, out: Path, data_root: Path, sweep: str | None, replace: bool
) -> Path | None:
    """One study's page, CSVs (figures per configuration, and per run and image), pictures and sidecar; None where
    an existing page is kept."""
    page = out / f"{study}.md"
    runs = select_sweeps(load_runs(tracker, study), sweep)
    agg = aggregate(runs) if not runs.empty else pd.DataFrame()
    shown = page_budgets(page)
    lost = shown - (set(agg["budget"]) if not agg.empty else set()) if shown is not None else None
    if (lost is None or lost) and not replace:
        if lost:
            kept = f"kept {page}: it shows budget(s) {', '.join(sorted(lost))}, which these runs would drop"
        else:
            found = ", ".join(str(f) for f in study_files(page) if f.exists())
            kept = f"kept {found}: no {page.stem}.json says srbench wrote it, or what it shows"
        print(f"{kept}; write elsewhere with --out DIR, or replace it with --replace", file=sys.stderr)
        return None
    references = baselines(runs, agg, data_root)
    with quiet_downloads():  # the crops each strip fetches, the runs' results
        pictures = draw_pictures(study, runs, agg, references, tracker, data_root, out) if not agg.empty else []
        images = load_images(tracker, runs) if not agg.empty else pd.DataFrame()
    stopped = runs[runs["stopped_at"].notna()] if not runs.empty else None
    page.write_text(render_study(study, agg, references, images, pictures, stopped))
    page.with_suffix(".csv").write_text(render_csv(study, agg, references))
    (out / images_csv_name(study)).write_text(render_images_csv(study, runs, agg, images))
    write_sidecar(page, study, page_sections(agg) if not agg.empty else [])
    return page


def baselines(runs: pd.DataFrame, agg: pd.DataFrame, data_root: Path) -> Baselines:
    """Bicubic and HR on the pages' sets and scales, on the images the rows were scored on (whole sets, or each
    subset a budget scored), with the protocol's figures and each weight-free metric the rows scored (NIQE of
    bicubic and of HR); and the first set's whole bicubic PSNR, the validation curves' level."""
    if agg.empty:
        return Baselines({})
    scales, sets = list(agg["scale"]), study_sets(runs)
    metrics = reference_metrics([m for m in page_metrics(agg["metric_specs"]) if scored(agg, m, sets)])
    limits = {subset_limit(e) for e in agg["eval_images"]}
    bicubic, hr = {}, {}
    for limit in limits:
        bicubic.update(bicubic_scores(scales, data_root, sets, limit, metrics))
        hr.update(hr_scores(scales, data_root, sets, limit, metrics))
    if None not in limits:  # pages of subsets: no whole set scored beyond the curves' (BSD100 is 100 images)
        bicubic.update(bicubic_scores(scales, data_root, sets[:1]))
    return Baselines(bicubic, hr)


def draw_pictures(
    study: str,
    runs: pd.DataFrame,
    agg: pd.DataFrame,
    baselines: Baselines,
    tracker: Tracker,
    data_root: Path,
    out: Path,
) -> list[Path]:
    """The page's pictures: PSNR against size (and against the searched values), validation curves, crops."""
    sets = study_sets(runs)
    # The pictures take the rows' names as they are; they know nothing of how the tables make them.
    agg = agg.assign(label=[variant_label(r) for _, r in agg.iterrows()])
    runs = runs.assign(label=[variant_label(r) for _, r in runs.iterrows()])
    finished = runs[runs["stopped_at"].isna()]
    pictures = [
        psnr_vs_parameters(study, agg, plot_baselines(agg, baselines, sets[0]), sets[0], out),
        perception_distortion(study, agg, baselines, perceptual_metrics(agg, sets), sets, out),
        psnr_vs_hyperparameters(study, agg, sets[0], out) if searched(agg) else None,
        validation_curves(study, runs, tracker, sets[0], out, baselines),
        comparison_strip(study, finished, tracker, sets, data_root, out),
    ]
    return [p for p in pictures if p is not None]


def write_comparison(study: str, tracking_uri: str, out: Path, first: str, second: str, replace: bool = False) -> Path:
    """``out/<study>-compare.md``: two sweeps of the study side by side. A file of that name srbench did not write
    is refused unless ``replace``."""
    if first == second:
        raise UserError(f"--compare: give two different sweeps (both are '{first}'); see 'srbench sweeps {study}'")
    page = out / f"{study}-compare.md"
    if page.exists() and GENERATED not in page.read_text(errors="replace") and not replace:
        raise UserError(f"{page} exists and srbench did not write it: write elsewhere with --out DIR, or --replace")
    tracker = Tracker(tracking_uri)
    runs = load_runs(tracker, study)
    known = set(runs["sweep"]) if not runs.empty else set()
    for sweep in (first, second):
        if sweep not in known:
            raise UserError(f"--compare: sweep '{sweep}' has no finished runs of {study}; see 'srbench sweeps {study}'")
    runs = runs[runs["sweep"].isin([first, second])]
    with quiet_downloads():
        images = load_images(tracker, runs)
    out.mkdir(parents=True, exist_ok=True)
    page.write_text(render_comparison(study, runs, images, first, second))
    return page
