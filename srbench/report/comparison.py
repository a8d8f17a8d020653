"""The page comparing two sweeps of one study: each configuration's PSNR per set in both, the change, and, paired
by image, its interval and p."""

from __future__ import annotations

import math

import pandas as pd

from srbench.data import set_label
from srbench.report.columns import num
from srbench.report.markdown import GENERATED
from srbench.report.orderings import PAIRED, interval
from srbench.report.runs import study_sets
from srbench.report.significance import step_between, with_holm
from srbench.report.stats import aggregate


def render_comparison(study: str, runs: pd.DataFrame, images: pd.DataFrame, first: str, second: str) -> str:
    """Two sweeps side by side: each configuration's PSNR per set in both, the change (second − first) and, paired
    by image, its interval and p (``images``: the runs' per-image figures). Rows are matched by name (variant and
    searched values), since a changed setting changes the hash."""
    agg = {sweep: aggregate(runs[runs["sweep"] == sweep]) for sweep in (first, second)}
    sets = study_sets(runs[runs["sweep"].isin([first, second])])
    lines = [
        f"# {study}: sweep comparison",
        "",
        GENERATED,
        "",
        f"Y-PSNR (dB), mean over seeds; A = `{first}`, B = `{second}`; Δ = B − A.",
        "",
        "| variant | " + " | ".join(f"{n} A | {n} B | {n} Δ | {n} Δ paired" for n in map(set_label, sets)) + " |",
        "|---|" + "---|" * (4 * len(sets)),
    ]
    a, b = (agg[first].set_index("variant"), agg[second].set_index("variant"))
    both = sorted(set(a.index) & set(b.index))
    steps = {s: with_holm({v: step_between(images, a.loc[v], b.loc[v], s) for v in both}) for s in sets}
    for variant in sorted(set(a.index) | set(b.index)):
        cells = [variant]
        for s in sets:
            va = a.loc[variant, f"{s}.psnr"] if variant in a.index and f"{s}.psnr" in a else math.nan
            vb = b.loc[variant, f"{s}.psnr"] if variant in b.index and f"{s}.psnr" in b else math.nan
            cells += [num(va, 2), num(vb, 2), "" if math.isnan(va) or math.isnan(vb) else f"{vb - va:+.2f}"]
            step = steps[s].get(variant, "")
            cells.append(step if isinstance(step, str) else interval(step))
        lines.append("| " + " | ".join(cells) + " |")
    for sweep, frame in agg.items():
        commits = sorted(set(frame["commit"])) if not frame.empty else []
        lines += [
            "",
            f"`{sweep}`: {len(frame)} configuration(s), git commit {', '.join(f'`{c[:12]}`' for c in commits)}; "
            f"settings: {'; '.join(sorted(set(frame['settings']))) or 'none' if not frame.empty else 'none'}.",
        ]
    return "\n".join([*lines, "", COMPARE_NOTE]) + "\n"


COMPARE_NOTE = (
    f"Δ paired: B − A {PAIRED} this table's rows on the set. A change is resolved when its interval excludes 0."
)
