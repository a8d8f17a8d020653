"""Whether two sweeps of one study left the same records: the study's leaderboard page and CSV (ids, times,
commits and wall times masked) and the names of the MLflow runs, metrics, params and tags in each folder's local
store. For checking that a change of srbench's code leaves what a sweep records as it was.

    python scripts/compare_sweep_records.py BEFORE_FOLDER AFTER_FOLDER --study srcnn_ablation --budget smoke

Each folder is where `srbench sweep` ran (its `mlflow.db` and `leaderboards-<budget>/` or `leaderboards/`).
Prints each difference as a unified diff; exits 0 when all are the same, 1 otherwise.
"""

from __future__ import annotations

import argparse
import difflib
import re
import sqlite3
import sys
from pathlib import Path

MASKS = (
    (r"\b[\w-]+-(smoke|quick|paper)-\d{8}-\d{6}-[0-9a-f]{4}\b", "<sweep id>"),
    (r"\b[0-9a-f]{32}\b", "<run id>"),
    (r",\d+(\.\d+)?,\"(\d+ x )", r",<wall time>,\"\2"),  # the CSV's wall time, before its hardware column
    (r"git commit `[0-9a-f]+`", "git commit `<commit>`"),  # configuration hashes stay compared
    (r"(?<=,)[0-9a-f]{12}(?=,)", "<commit>"),  # the CSV's commit column
    (r"\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}(:\d{2})?( UTC)?", "<time>"),
    (r"\b\d+(\.\d+)? ?(s|min|h)\b", "<duration>"),
)
QUERIES = {
    "run names": "select coalesce(t.value, '') || ': ' || r.name from runs r left join tags t "
    "on t.run_uuid = r.run_uuid and t.key = 'srbench.kind'",
    "metric names": "select distinct key from latest_metrics",
    "param names": "select distinct key from params",
    "tag names": "select distinct key from tags",
}


def masked(text: str) -> list[str]:
    for pattern, replacement in MASKS:
        text = re.sub(pattern, replacement, text)
    return text.splitlines()


def page_folder(folder: Path, budget: str) -> Path:
    return folder / ("leaderboards-smoke" if budget == "smoke" else "leaderboards")


def differences(name: str, before: list[str], after: list[str]) -> list[str]:
    diff = list(difflib.unified_diff(before, after, f"before: {name}", f"after: {name}", lineterm=""))
    print(f"{name}: {'the same' if not diff else 'different'} ({len(before)} / {len(after)} lines)")
    return diff


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("before", type=Path)
    parser.add_argument("after", type=Path)
    parser.add_argument("--study", required=True)
    parser.add_argument("--budget", default="smoke")
    args = parser.parse_args()
    found = []
    for suffix in (".md", ".csv"):
        name = f"{args.study}{suffix}"
        texts = [(page_folder(f, args.budget) / name).read_text() for f in (args.before, args.after)]
        found += differences(name, *(masked(t) for t in texts))
    for what, query in QUERIES.items():
        names = [
            sorted(masked("\n".join(row[0] for row in sqlite3.connect(f / "mlflow.db").execute(query))))
            for f in (args.before, args.after)
        ]
        found += differences(f"MLflow {what}", *names)
    print("\n".join(found))
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
