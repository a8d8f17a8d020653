"""The statistics of a page's table: runs pooled per configuration (mean and sample std over seeds), the labels that
tell configurations apart, and whether a variant was searched (whether a claimed ordering holds is
``report.significance``'s)."""

from __future__ import annotations

import json
import math

import pandas as pd

from srbench.report.columns import PRIMARY, page_metrics
from srbench.report.runs import study_sets


def _labels(runs: pd.DataFrame) -> dict[str, str]:
    """A row name per configuration hash: the variant, plus the fields that tell its configurations apart
    where one variant has several (a search study)."""
    labels = {}
    for variant, group in runs.groupby("variant", sort=False):
        configs = {h: json.loads(c) for h, c in zip(group["config_hash"], group["config"])}
        keys = sorted({k for c in configs.values() for k in c})
        differing = [k for k in keys if len({c.get(k) for c in configs.values()}) > 1]
        for h, c in configs.items():
            searched = ",".join(f"{k.removeprefix('model.')}={_short(c.get(k))}" for k in differing)
            name = "_".join(p for p in (variant if variant != "default" or not searched else "", searched) if p)
            labels[h] = name or variant
    return labels


def _short(value: str | None) -> str:
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return str(value)
    return f"{number:.3g}"


def aggregate(runs: pd.DataFrame) -> pd.DataFrame:
    """Mean and sample standard deviation over seeds, per configuration hash of each sweep; finished runs only."""
    finished = runs[runs["stopped_at"].isna()]
    labels = _labels(finished)
    sets = study_sets(finished)
    columns = [*PRIMARY, *(m.name for m in page_metrics(finished["metric_specs"]))]
    rows = []
    for (scale, budget, sweep, config), group in finished.groupby(
        ["scale", "budget", "sweep", "config_hash"], sort=False
    ):
        first = group.iloc[0]
        row = {
            "scale": scale,
            "budget": budget,
            "sweep": sweep,
            "config_hash": config,
            "variant": labels[config],
            "study_variant": first["variant"],
            "order": first["order"],
            "seeds": len(group),
            "run_ids": " ".join(group["run_id"]),
            "hardware": "; ".join(sorted(set(group["hardware"]))),
            "train_set": "; ".join(sorted(set(group["train_set"]))),
            "eval_images": "; ".join(sorted(set(group["eval_images"]))),
            "vgg_weights": "; ".join(sorted(set(group["vgg_weights"]))),
            "condition_source": "; ".join(sorted(set(group["condition_source"]))),
            "lpips_label": "; ".join(sorted(set(group["lpips_label"]))),
            "adversarial": bool(group["adversarial"].any()),
            "sets": first["sets"],
            "config": first["config"],
            "commit": first["commit"],
            "sweep_start": first["sweep_start"],
            "budget_note": first["budget_note"],
            "study_file": first["study_file"],
            "metric_specs": first["metric_specs"],
        }
        for column in ("parameters", "macs_per_mp", "iterations", "wall_time_s"):
            row[column] = group[column].mean()
        row["trials_at_once"] = int(group["trials_at_once"].max())
        row["settings"] = "; ".join(sorted(set(group["settings"])))
        for s in sets:
            for metric in columns:
                values = group[f"{s}.{metric}"].dropna() if f"{s}.{metric}" in group else pd.Series(dtype=float)
                row[f"{s}.{metric}"] = values.mean() if len(values) else math.nan
                row[f"{s}.{metric}.std"] = values.std(ddof=1) if len(values) > 1 else math.nan
        rows.append(row)
    if not rows:
        return pd.DataFrame()
    return pd.DataFrame(rows).sort_values(["scale", "budget", "order", "variant"]).reset_index(drop=True)


def searched(group: pd.DataFrame) -> bool:
    """Whether a variant has several configurations here (a search study): then a top-k table and a plot."""
    return bool(group["study_variant"].duplicated().any())
