"""Leaderboard pictures (matplotlib, PNG): PSNR vs parameters, validation curves, and a visual
comparison strip (HR crop, bicubic, each variant) of the fixed crop every trial logs."""

from __future__ import annotations

import tempfile
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from PIL import Image  # noqa: E402

from srbench.data import get_spec, load_set  # noqa: E402
from srbench.degrade import bicubic_lr, imresize, modcrop  # noqa: E402
from srbench.leaderboard import variant_label  # noqa: E402
from srbench.run_names import val_metric  # noqa: E402
from srbench.tracking import Tracker  # noqa: E402
from srbench.train.loop import crop_box  # noqa: E402



def _save(fig: plt.Figure, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=110, metadata={"Software": None})
    plt.close(fig)
    return path


def psnr_vs_parameters(study: str, agg: pd.DataFrame, bicubic: dict, first_set: str, out: Path) -> Path:
    fig, ax = plt.subplots(figsize=(6, 4))
    for (scale, budget), group in agg.groupby(["scale", "budget"], sort=True):
        ax.scatter(group["parameters"], group[f"{first_set}.psnr"], label=f"x{scale}, {budget}")
        for _, r in group.iterrows():
            ax.annotate(variant_label(r), (r["parameters"], r[f"{first_set}.psnr"]), fontsize=7,
                        xytext=(3, 3), textcoords="offset points")
        ax.axhline(bicubic[(scale, first_set)][0], linestyle=":", color="grey")
    ax.set_xscale("log")
    ax.set(xlabel="parameters", ylabel=f"{first_set} Y-PSNR (dB)", title=f"{study}: PSNR vs size (dotted: bicubic)")
    ax.legend(fontsize=8)
    return _save(fig, out / f"{study}-psnr-vs-params.png")


def psnr_vs_hyperparameters(study: str, agg: pd.DataFrame, first_set: str, out: Path) -> Path | None:
    """A search study's first-set PSNR against each searched field (one panel each); None for other studies."""
    import json

    from srbench.leaderboard import searched

    if agg.empty or not searched(agg):
        return None
    configs = [json.loads(c) for c in agg["config"]]
    keys = sorted({k for c in configs for k in c if len({x.get(k) for x in configs}) > 1})
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
        ax.set(xlabel=key.removeprefix("model."), ylabel=f"{first_set} Y-PSNR (dB)")
    fig.suptitle(f"{study}: PSNR against the searched settings")
    return _save(fig, out / f"{study}-search.png")


def validation_curves(study: str, runs: pd.DataFrame, tracker: Tracker, first_set: str, out: Path,
                      bicubic: dict[tuple[int, str], tuple[float, float]]) -> Path | None:
    """Validation PSNR over iterations, one line per configuration (its first seed), with the bicubic level to beat;
    None when no run logged any."""
    fig, ax = plt.subplots(figsize=(6, 4))
    for _, r in runs.sort_values(["seed", "run_id"]).drop_duplicates("config_hash").sort_values(["variant", "run_id"]).iterrows():
        history = sorted((m.step, m.value) for m in tracker.client.get_metric_history(r["run_id"], val_metric(first_set)))
        if history:
            steps, values = zip(*history)
            ax.plot(steps, values, marker=".", label=f"{variant_label(r)} (seed {r['seed']}, {r['budget']})")
    if not ax.lines:
        plt.close(fig)
        return None
    for scale in sorted(set(runs["scale"])):
        ax.axhline(bicubic[(scale, first_set)][0], linestyle="--", color="grey", linewidth=1,
                   label=f"bicubic x{scale} (whole {first_set})")
    ax.set(xlabel="iteration", ylabel=f"validation {first_set} Y-PSNR (dB)", title=f"{study}: validation curves")
    ax.legend(fontsize=7)
    return _save(fig, out / f"{study}-curves.png")


def comparison_strip(study: str, runs: pd.DataFrame, tracker: Tracker, set_name: str, data_root: Path,
                     out: Path) -> Path | None:
    """HR crop, bicubic crop, then each variant's SR crop (first seed), for the set's first image."""
    image_name, hr = load_set(get_spec(set_name), data_root, limit=1)[0]
    stem = Path(image_name).stem
    panels, titles = [], []
    for scale in sorted(set(runs["scale"])):
        hr_s = modcrop(hr, scale)
        top, left, size = crop_box(hr_s)
        bic = imresize(bicubic_lr(hr_s, scale), scale=scale)
        panels += [hr_s[:, top : top + size, left : left + size], bic[:, top : top + size, left : left + size]]
        titles += ["HR", f"bicubic x{scale}"]
        first = runs[runs["scale"] == scale].drop_duplicates("variant")
        with tempfile.TemporaryDirectory() as tmp:
            for _, r in first.iterrows():
                try:
                    local = tracker.client.download_artifacts(r["run_id"], f"crops/{set_name}-{stem}.png", tmp)
                except Exception:  # a run without crops (older runs): leave it out of the strip
                    continue
                panels.append(np.asarray(Image.open(local).convert("RGB")).transpose(2, 0, 1))
                titles.append(f"{variant_label(r)} ({r['budget']})")
    if len(panels) <= 2:
        return None
    fig, axes = plt.subplots(1, len(panels), figsize=(1.6 * len(panels), 2.0))
    for ax, panel, title in zip(np.atleast_1d(axes), panels, titles):
        ax.imshow(np.asarray(panel).transpose(1, 2, 0))
        ax.set_title(title, fontsize=6)
        ax.axis("off")
    return _save(fig, out / f"{study}-strip.png")
