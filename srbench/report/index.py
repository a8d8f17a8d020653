"""The index of a folder of pages (``README.md``) and what it reads: a small JSON sidecar beside each page
(``<study>.json``) saying, per section, the scale, budget, sweep and commit the page shows."""

from __future__ import annotations

import datetime
import json
import sys
from pathlib import Path

import pandas as pd

from srbench.report.markdown import GENERATED
from srbench.report.runs import UNTRACKED
from srbench.report.table_csv import images_csv_name


def sidecar(page: Path) -> Path:
    return page.with_suffix(".json")


def page_sections(agg: pd.DataFrame) -> list[dict]:
    """Per (scale, budget) section of a page: the sweep it shows, when that sweep started and at which commit."""
    sections = []
    for (scale, budget), group in agg.groupby(["scale", "budget"], sort=True):
        first = group.iloc[0]
        started = datetime.datetime.fromtimestamp(int(first["sweep_start"]) / 1000, datetime.timezone.utc)
        sections.append(
            {
                "scale": int(scale),
                "budget": str(budget),
                "sweep": None if first["sweep"] == UNTRACKED else str(first["sweep"]),
                "started": f"{started:%Y-%m-%d %H:%M} UTC",
                "commit": (first["commit"] or "unknown")[:12],
            }
        )
    return sections


def write_sidecar(page: Path, study: str, sections: list[dict]) -> None:
    sidecar(page).write_text(json.dumps({"study": study, "sections": sections}, indent=1) + "\n")


def read_sections(page: Path) -> list[dict]:
    """The sections a page's sidecar lists; none for a page without one."""
    return json.loads(sidecar(page).read_text())["sections"] if sidecar(page).exists() else []


def study_files(page: Path) -> list[Path]:
    """The files a study's page is written with (besides its sidecar and pictures): the page and its CSVs."""
    return [page, page.with_suffix(".csv"), page.with_name(images_csv_name(page.stem))]


def page_budgets(page: Path) -> set[str] | None:
    """The budgets an existing page shows (none for no page); None where the page or one of its CSVs exists
    without a sidecar: srbench did not write it (or says nothing of what it shows)."""
    if any(f.exists() for f in study_files(page)) and not sidecar(page).exists():
        return None
    return {s["budget"] for s in read_sections(page)}


def describe(page: Path) -> str:
    """What the index says of a page: per section its budget, sweep and commit; nothing for a page that names
    no sweep."""
    described = [
        f"x{s['scale']} `{s['budget']}`, sweep `{s['sweep']}`, commit `{s['commit']}`"
        for s in read_sections(page)
        if s["sweep"] is not None
    ]
    return ": " + "; ".join(described) if described else ""


def _images_link(page: Path) -> str:
    """The page's per-image CSV, where it has one (pages written before it do not)."""
    name = images_csv_name(page.stem)
    return f", [per image]({name})" if page.with_name(name).exists() else ""


def write_index(out: Path) -> None:
    """``out/README.md``: every study page in the folder, with its CSVs and what it shows; a README.md that srbench
    did not write is kept, and said so."""
    index = out / "README.md"
    if index.exists() and GENERATED not in index.read_text(errors="replace"):
        print(f"kept {index}: srbench did not write it, so the folder's index is not written", file=sys.stderr)
        return
    pages = sorted(p for p in out.glob("*.md") if p.name != "README.md" and not p.stem.endswith("-compare"))
    index.write_text(
        "# Leaderboards\n\n"
        + GENERATED
        + "\n\n"
        + "".join(f"- [{p.stem}]({p.name}) ([CSV]({p.stem}.csv){_images_link(p)}){describe(p)}\n" for p in pages)
    )
