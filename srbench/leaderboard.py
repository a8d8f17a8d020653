"""Leaderboards from MLflow: one markdown page per study plus an index.

Minimal for now: one row per trial run with its per-set Y-PSNR / SSIM, size, budget,
iterations, wall time, hardware and MLflow run id, in a stable order so the same MLflow
contents always give the same bytes.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from srbench.data import DEFAULT_BENCHMARKS
from srbench.tracking import TAG_KIND, Tracker


def runs_frame(tracker: Tracker, study: str) -> pd.DataFrame:
    experiment = tracker.client.get_experiment_by_name(study)
    if experiment is None:
        return pd.DataFrame()
    runs = tracker.client.search_runs([experiment.experiment_id], filter_string=f"tags.`{TAG_KIND}` = 'trial'")
    rows = []
    for run in runs:
        data = run.data
        row = {"trial": run.info.run_name, "run_id": run.info.run_id, "status": run.info.status,
               "budget": data.tags.get("budget", ""), "hardware": data.tags.get("hardware", ""),
               "eval_images": data.tags.get("eval_images", ""), "parameters": data.metrics.get("parameters"),
               "iterations": data.metrics.get("iterations"), "wall_time_s": data.metrics.get("wall_time_s")}
        for s in DEFAULT_BENCHMARKS:
            row[f"{s} PSNR"] = data.metrics.get(f"{s}.psnr_y")
            row[f"{s} SSIM"] = data.metrics.get(f"{s}.ssim_y")
        rows.append(row)
    return pd.DataFrame(rows).sort_values(["budget", "trial", "run_id"]).reset_index(drop=True) if rows else pd.DataFrame()


def _fmt(value, digits: int) -> str:
    return "" if value is None or pd.isna(value) else f"{value:.{digits}f}"


def render_study(study: str, frame: pd.DataFrame) -> str:
    lines = [f"# {study}", ""]
    if frame.empty:
        return "\n".join(lines + ["No finished runs yet.", ""])
    header = ["trial"] + [f"{s} PSNR / SSIM" for s in DEFAULT_BENCHMARKS] + ["params", "budget", "iterations",
                                                                              "wall time (s)", "hardware", "MLflow run"]
    lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for _, r in frame.iterrows():
        cells = [r["trial"]] + [f"{_fmt(r[f'{s} PSNR'], 2)} / {_fmt(r[f'{s} SSIM'], 4)}" for s in DEFAULT_BENCHMARKS]
        cells += [_fmt(r["parameters"], 0), r["budget"], _fmt(r["iterations"], 0), _fmt(r["wall_time_s"], 0),
                  r["hardware"], f"`{r['run_id']}`"]
        lines.append("| " + " | ".join(str(c) for c in cells) + " |")
    subsets = sorted({e for e in frame["eval_images"] if e and e != "all"})
    if subsets:
        lines += ["", f"Evaluated on a subset of the images ({'; '.join(subsets)}): not comparable with full-set figures."]
    return "\n".join(lines) + "\n"


def write_leaderboards(studies: Sequence[str], tracking_uri: str, out: Path) -> list[Path]:
    tracker = Tracker(tracking_uri)
    out.mkdir(parents=True, exist_ok=True)
    pages = []
    for study in studies:
        page = out / f"{study}.md"
        page.write_text(render_study(study, runs_frame(tracker, study)))
        pages.append(page)
    index = sorted(p.stem for p in out.glob("*.md") if p.name != "README.md")
    (out / "README.md").write_text("# Leaderboards\n\n" + "".join(f"- [{s}]({s}.md)\n" for s in index))
    return pages
