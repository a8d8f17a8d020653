"""The orderings of variants a paper reports, checked on a page's runs: each step up an order paired by image
(``significance``), per set, with its interval, Holm-corrected p and verdict, and the note that says how to read
them."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from srbench.data import set_label
from srbench.report.columns import footnote, mean_std, paper_results
from srbench.report.significance import CONFIDENCE, RESAMPLES, SEED, Step, step_between, with_holm


def ordering_lines(
    study: str, group: pd.DataFrame, images: pd.DataFrame, sets: Sequence[str], footnotes: list[str]
) -> list[str]:
    """Whether each ordering of variants that the paper reports holds on these runs, per set: each step up the order
    tested on the images (paired), Holm-corrected over the section's steps per set; then a table of the steps."""
    if group["variant"].duplicated().any():  # several configurations per variant: no single figure to order
        return []
    rows = group.set_index("variant")
    orders = [
        (order, present)
        for order in paper_results(study, "orderings")
        if len(present := [v for v in order["increasing"] if v in rows.index]) >= 2
    ]
    if not orders:
        return []
    pairs = list(dict.fromkeys(pair for _, present in orders for pair in zip(present, present[1:])))
    steps = {s: with_holm({(a, b): step_between(images, rows.loc[a], rows.loc[b], s) for a, b in pairs}) for s in sets}
    lines = [_ordering_line(order, present, rows, steps, sets, footnotes) for order, present in orders]
    return [*lines, "", *_steps_table(pairs, steps, sets), "", STEPS_NOTE]


def _ordering_line(
    order: dict, present: list[str], rows: pd.DataFrame, steps: dict, sets: Sequence[str], footnotes: list[str]
) -> str:
    """One ordering: the paper's claim, and per set the variants' figures and whether each step up holds."""
    verdicts = []
    for s in sets:
        figures = ", ".join(mean_std(rows.loc[v, f"{s}.psnr"], rows.loc[v, f"{s}.psnr.std"], 2) for v in present)
        verdicts.append(f"{set_label(s)} {figures}: {_verdict([steps[s][pair] for pair in zip(present, present[1:])])}")
    missing = [v for v in order["increasing"] if v not in present]
    return (
        f"- Paper: {order['claim']} ({' < '.join(order['increasing'])})"
        f"[^{footnote(order['citation'], footnotes)}]. Here"
        f"{' (without ' + ', '.join(missing) + ')' if missing else ''}, "
        f"seeds {', '.join(str(int(rows.loc[v, 'seeds'])) for v in present)}: {'; '.join(verdicts)}."
    )


def _verdict(steps: Sequence[Step | str]) -> str:
    """An ordering holds where every step's interval lies above zero, does not where one lies below."""
    untested = [s for s in steps if isinstance(s, str)]
    if untested:
        return untested[0]
    signs = [s.sign for s in steps if isinstance(s, Step)]
    if min(signs) > 0:
        return "holds"
    if min(signs) < 0:
        return "**does not hold**"
    return "not resolved (a step's interval contains 0)"


STEP_WORDS = {1: "holds", 0: "not resolved", -1: "**reversed**"}


def _steps_table(pairs: Sequence[tuple[str, str]], steps: dict, sets: Sequence[str]) -> list[str]:
    """A row per step up the orders, a column per set: the difference, its interval, p and the step's verdict."""
    lines = ["| step | " + " | ".join(map(set_label, sets)) + " |", "|---|" + "---|" * len(sets)]
    for pair in pairs:
        cells = [
            step if isinstance(step, str) else f"{interval(step)}: {STEP_WORDS[step.sign]}"
            for step in (steps[s][pair] for s in sets)
        ]
        lines.append(f"| {pair[0]} → {pair[1]} | " + " | ".join(cells) + " |")
    return lines


def interval(step: Step) -> str:
    """A step's mean difference (dB), its interval, and its Holm-corrected p."""
    p = "p < 0.001" if step.p_holm < 0.001 else f"p = {step.p_holm:.3f}"
    return f"{step.difference:+.3f} [{step.low:+.3f}, {step.high:+.3f}], {p}"


PAIRED = (  # how a page's steps and a comparison's changes are tested, for their notes
    "in Y-PSNR (dB), paired by image: the mean over the set's images of each image's difference, each image's PSNR "
    "first averaged over a row's seeds (one seed is enough); in brackets its "
    f"{CONFIDENCE:.0%} confidence interval, a bootstrap over the images ({RESAMPLES:,} resamples, seed {SEED}); "
    "p, the two-sided Wilcoxon signed-rank test of the per-image differences, Holm-corrected over"
)
STEPS_NOTE = (
    f"A step A → B is B − A {PAIRED} this section's steps on the set. A step holds when its interval lies above 0 "
    "(the paper's direction), is reversed when it lies below 0, and is not resolved when it contains 0; an ordering "
    "holds when every step does. On few images p stays high even when every image agrees (5 images: at least "
    "0.0625 before the correction): the interval decides."
)
