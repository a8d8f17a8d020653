"""Leaderboard pictures (matplotlib, PNG): PSNR vs parameters, validation curves, and a comparison strip (HR,
bicubic and each variant on the most detailed crop of each benchmark set's first image, with each crop's PSNR).
The pictures know nothing of training or of how the page names its rows: each row comes with its ``label``."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import torch  # noqa: E402
from matplotlib.ticker import EngFormatter, LogLocator, MaxNLocator  # noqa: E402
from PIL import Image  # noqa: E402

from srbench.crops import centre_box, crop, crop_box, crop_file  # noqa: E402
from srbench.data import get_spec, load_set, set_label  # noqa: E402
from srbench.degrade import bicubic_lr, imresize, modcrop  # noqa: E402
from srbench.metrics import Metric, get_metric, psnr  # noqa: E402
from srbench.report.baseline import Baselines, subset_limit  # noqa: E402
from srbench.tracking.names import val_metric  # noqa: E402
from srbench.tracking.store import Tracker  # noqa: E402

PSNR_Y = get_metric("psnr_y")  # what the pictures plot, as the registry names it
DIVERGED_DB = 3.0  # a curve that never comes within this of bicubic is named, not drawn to scale
LABEL_OFFSETS = ((4, 4), (4, -11), (4, 14), (4, -22))  # points apart, tried in turn so near labels do not overlap


def _save(fig: plt.Figure, path: Path, layout: bool = True) -> Path:
    if layout:  # a figure with a legend beside its panels lays itself out
        fig.tight_layout()
    fig.savefig(path, dpi=110, metadata={"Software": None})
    plt.close(fig)
    return path


def psnr_vs_parameters(
    study: str, agg: pd.DataFrame, baselines: dict[tuple[int, str], float], first_set: str, out: Path
) -> Path:
    """``baselines``: per (scale, budget) the bicubic Y-PSNR on the images its points were scored on."""
    fig, ax = plt.subplots(figsize=(6, 4))
    for (scale, budget), group in agg.groupby(["scale", "budget"], sort=True):
        ax.scatter(group["parameters"], group[f"{first_set}.psnr"], label=f"x{scale}, {budget}")
        ax.axhline(baselines[(scale, budget)], linestyle=":", color="grey")
    ax.set_xscale("log")
    # Short labels at 1, 2 and 5 per decade: matplotlib's own 2-9 x 10^n minor labels overlap over a decade or two.
    ax.xaxis.set_minor_locator(LogLocator(subs=(2.0, 5.0)))
    for axis_format in (ax.xaxis.set_major_formatter, ax.xaxis.set_minor_formatter):
        axis_format(EngFormatter(sep=""))
    ax.margins(0.15)  # room for the labels at the edges
    _annotate_apart(ax, fig, [(r["parameters"], r[f"{first_set}.psnr"], r["label"]) for _, r in agg.iterrows()])
    ax.set(
        xlabel="parameters",
        ylabel=f"{set_label(first_set)} {PSNR_Y.heading}",
        title=f"{study}: PSNR vs size (dotted: bicubic, same images)",
    )
    ax.legend(fontsize=8)
    return _save(fig, out / f"{study}-psnr-vs-params.png")


def perception_distortion(
    study: str, agg: pd.DataFrame, baselines: Baselines, metrics: list[Metric], sets: list[str], out: Path
) -> Path | None:
    """The perception-distortion plane (Blau and Michaeli, CVPR 2018): a panel per perceptual metric (rows) and set
    (columns), Y-PSNR against the metric, one point per configuration (mean over seeds, std as error bars; a colour
    and marker each, named in the legend: near points stay readable), bicubic and HR (a no-reference metric's figure
    of the HR images) as reference points, and each (scale, budget)'s Pareto front (ringed); None when no perceptual
    metric was scored."""
    if not metrics:
        return None
    fig, axes = plt.subplots(len(metrics), len(sets), figsize=(4 * len(sets) + 2.2, 3.4 * len(metrics)), squeeze=False)
    styles = _point_styles(agg)
    for metric, row in zip(metrics, axes):
        for set_name, ax in zip(sets, row):
            _plane_panel(ax, agg, baselines, metric, set_name, styles)
    handles = {text: handle for ax in axes.flat for handle, text in zip(*ax.get_legend_handles_labels())}
    fig.legend(handles.values(), handles.keys(), loc="center right", fontsize=7, frameon=False)
    fig.suptitle(
        f"{study}: perception against distortion\n(mean ± std over seeds; ringed: Pareto front; grey: bicubic, HR)",
        fontsize=9,
    )
    fig.tight_layout(rect=(0, 0, 1 - 2.0 / fig.get_figwidth(), 1))  # the legend's column on the right
    return _save(fig, out / f"{study}-perception-distortion.png", layout=False)


def _point_styles(agg: pd.DataFrame) -> dict[str, dict]:
    """A colour and marker per row label, the same in every panel."""
    colors, markers = plt.get_cmap("tab10").colors, "osD^v<>ph*"
    labels = list(dict.fromkeys(agg["label"]))
    return {
        label: {"color": colors[i % 10], "marker": markers[i // 10 % len(markers)]} for i, label in enumerate(labels)
    }


def _plane_panel(
    ax: plt.Axes, agg: pd.DataFrame, baselines: Baselines, metric: Metric, set_name: str, styles: dict[str, dict]
) -> None:
    column = f"{set_name}.{metric.name}"
    for (scale, budget), group in agg.groupby(["scale", "budget"], sort=True):
        points = group[group[column].notna()]
        if points.empty:
            continue
        for _, r in points.iterrows():
            ax.errorbar(
                r[f"{set_name}.psnr"],
                r[column],
                xerr=r[f"{set_name}.psnr.std"],
                yerr=r[f"{column}.std"],
                ms=5,
                capsize=2,
                linestyle="none",
                label=r["label"],
                **styles[r["label"]],
            )
        front = pareto_front(points[f"{set_name}.psnr"], points[column], metric.higher_is_better)
        ax.plot(*front, linestyle="--", marker="o", ms=10, mfc="none", color="black", lw=0.8, label="Pareto front")
        limit = subset_limit("; ".join(group["eval_images"]))
        bicubic, hr = (baselines.of(source, scale, set_name, limit) for source in ("bicubic", "hr"))
        if metric.name in bicubic:
            ax.scatter(
                [bicubic["psnr"]], [bicubic[metric.name]], marker="s", color="grey", zorder=3, label=f"bicubic x{scale}"
            )
        if metric.name in hr:
            ax.axhline(hr[metric.name], linestyle=":", color="grey", linewidth=1, label=f"HR x{scale}")
        ax.set_title(f"{set_label(set_name)}, x{scale}, {budget}", fontsize=8)
    ax.margins(0.1)
    better = "up" if metric.higher_is_better else "down"
    ax.set(xlabel=f"{PSNR_Y.heading}, better right", ylabel=f"{metric.heading} {metric.arrow}, better {better}")


def pareto_front(psnr: pd.Series, perceived: pd.Series, higher_is_better: bool) -> tuple[list[float], list[float]]:
    """The points no other point beats on both axes (higher PSNR, and a better perceptual figure), by PSNR: the
    front a reader compares configurations along."""
    sign = 1 if higher_is_better else -1
    front: list[tuple[float, float]] = []
    for x, y in sorted(zip(psnr, perceived), key=lambda p: (-p[0], -sign * p[1])):  # best PSNR first
        if not front or sign * y > sign * front[-1][1]:
            front.append((x, y))
    front.sort()
    return [x for x, _ in front], [y for _, y in front]


def _annotate_apart(ax: plt.Axes, fig: plt.Figure, points: list[tuple[float, float, str]]) -> None:
    """Label each point, trying the offsets of LABEL_OFFSETS in turn until its label's box (as drawn) overlaps
    no label placed before; the last offset where none is free."""
    fig.canvas.draw()  # the axes' limits and the text sizes as they will be drawn
    placed = []
    for x, y, text in sorted(points, key=lambda p: (p[0], p[1])):
        for offset in LABEL_OFFSETS:
            label = ax.annotate(text, (x, y), fontsize=7, xytext=offset, textcoords="offset points")
            box = label.get_window_extent(fig.canvas.get_renderer())
            if not any(box.overlaps(other) for other in placed) or offset == LABEL_OFFSETS[-1]:
                placed.append(box)
                break
            label.remove()


def psnr_vs_hyperparameters(study: str, agg: pd.DataFrame, first_set: str, out: Path) -> Path | None:
    """A search study's first-set PSNR against each searched field (one panel each)."""
    configs = [json.loads(c) for c in agg["config"]]
    keys = sorted({k for c in configs for k in c if len({x.get(k) for x in configs}) > 1})
    if not keys:
        return None
    fig, axes = plt.subplots(1, len(keys), figsize=(4 * len(keys), 3.5), squeeze=False)
    for ax, key in zip(axes[0], keys):
        values = [c.get(key) for c in configs]
        try:
            xs = [float(v) for v in values]
            if min(xs) > 0 and max(xs) / min(xs) > 10:
                ax.set_xscale("log")
        except (TypeError, ValueError):
            categories = sorted(set(map(str, values)))
            xs = [categories.index(str(v)) for v in values]
            ax.set_xticks(range(len(categories)), categories, fontsize=7)
        ax.scatter(xs, agg[f"{first_set}.psnr"])
        ax.set(xlabel=key.removeprefix("model."), ylabel=f"{set_label(first_set)} {PSNR_Y.heading}")
    fig.suptitle(f"{study}: PSNR against the searched settings")
    return _save(fig, out / f"{study}-search.png")


def validation_curves(
    study: str,
    runs: pd.DataFrame,
    tracker: Tracker,
    first_set: str,
    out: Path,
    baselines: Baselines,
) -> Path | None:
    """Validation PSNR over iterations, one line per configuration (its first seed) in the study's order, with the
    bicubic level to beat. A curve that never came within DIVERGED_DB of bicubic is named under the plot instead
    of squeezing the others into a sliver; None when no run logged any."""
    curves = []  # (row, steps, values, whether it stayed far below bicubic)
    firsts = runs.sort_values(["seed", "run_id"]).drop_duplicates("config_hash")
    for _, r in firsts.sort_values(["order", "variant", "run_id"]).iterrows():
        history = sorted((m.step, m.value) for m in tracker.metric_history(r["run_id"], val_metric(first_set)))
        if history:
            steps, values = zip(*history)
            curves.append((r, steps, values, max(values) < baselines.psnr(r["scale"], first_set) - DIVERGED_DB))
    if not curves:
        return None
    shown = [c for c in curves if not c[3]] or curves  # all of them where every one stayed below
    off_scale = [
        f"{r['label']} (best {max(values):.2f} dB)" for r, _, values, far in curves if far and len(shown) < len(curves)
    ]
    fig, ax = plt.subplots(figsize=(6, 4.4 if off_scale else 4))
    for r, steps, values, _ in shown:
        ax.plot(steps, values, marker=".", label=f"{r['label']} (seed {r['seed']}, {r['budget']})")
    for scale in sorted(set(runs["scale"])):
        ax.axhline(
            baselines.psnr(scale, first_set),
            linestyle="--",
            color="grey",
            linewidth=1,
            label=f"bicubic x{scale} (whole {set_label(first_set)})",
        )
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set(
        xlabel="iteration",
        ylabel=f"validation {set_label(first_set)} {PSNR_Y.heading}",
        title=f"{study}: validation curves",
    )
    ax.legend(fontsize=7)
    if off_scale:
        fig.text(
            0.01,
            0.01,
            f"not drawn, more than {DIVERGED_DB:g} dB below bicubic throughout: " + ", ".join(off_scale),
            fontsize=7,
            wrap=True,
        )
    return _save(fig, out / f"{study}-curves.png")


def comparison_strip(
    study: str, runs: pd.DataFrame, tracker: Tracker, sets: list[str], data_root: Path, out: Path
) -> Path | None:
    """One row per benchmark set (its first image) and scale: the HR crop, bicubic, then each variant's SR crop
    (its first seed), each titled with its Y-PSNR against the HR crop; None when no run saved a crop. Rows of
    runs from before the detail crop show the centre crop those runs saved."""
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for set_name in sets:
            image_name, hr = load_set(get_spec(set_name), data_root, limit=1)[0]
            for scale in sorted(set(runs["scale"])):
                variants = runs[runs["scale"] == scale].drop_duplicates("variant")
                for legacy, box_of in ((False, crop_box), (True, centre_box)):
                    row = _strip_row(
                        set_name, image_name, modcrop(hr, scale), scale, variants, tracker, tmp, legacy, box_of
                    )
                    if row is not None:
                        rows.append(row)
                        break
    if not rows:
        return None
    columns = max(len(row) for row in rows)
    fig, axes = plt.subplots(len(rows), columns, figsize=(1.6 * columns, 1.9 * len(rows)), squeeze=False)
    for row, row_axes in zip(rows, axes):
        for ax in row_axes:
            ax.axis("off")
        for ax, (title, image) in zip(row_axes, row):
            if image is not None:
                ax.imshow(image.permute(1, 2, 0).numpy())
            ax.set_title(title, fontsize=6)
    return _save(fig, out / f"{study}-strip.png")


def _strip_row(
    set_name: str,
    image_name: str,
    hr: torch.Tensor,
    scale: int,
    variants: pd.DataFrame,
    tracker: Tracker,
    tmp: str,
    legacy: bool,
    box_of: Callable[[torch.Tensor], tuple[int, int, int]],
) -> list[tuple[str, torch.Tensor | None]] | None:
    """(title, image) panels of one strip row with the runs' crops of one kind; None when no run saved one."""
    box = box_of(hr)
    truth = crop(hr, box)
    panels = [
        (f"{set_label(set_name)} {Path(image_name).stem} HR", truth),
        (f"bicubic x{scale}", crop(imresize(bicubic_lr(hr, scale), scale=scale), box)),
    ]
    found = False
    for _, r in variants.iterrows():
        try:
            local = tracker.download_artifact(r["run_id"], f"crops/{crop_file(set_name, image_name, legacy)}", tmp)
        except Exception:  # a run without this crop: an empty panel
            panels.append((f"{r['label']}: no crop", None))
            continue
        found = True
        panels.append((r["label"], torch.from_numpy(np.array(Image.open(local).convert("RGB"))).permute(2, 0, 1)))
    if not found:
        return None
    return [
        (
            title
            if image is None or index == 0
            else f"{title}\n{float(psnr(image[None], truth[None])):.{PSNR_Y.digits}f} {PSNR_Y.unit}",
            image,
        )
        for index, (title, image) in enumerate(panels)
    ]
