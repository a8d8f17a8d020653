"""``srbench sweeps``: list the sweeps recorded in MLflow, newest first."""

from __future__ import annotations

import argparse
from pathlib import Path

from srbench.errors import UserError


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "sweeps", help="list the sweeps of each study: id, start, budget, commit, settings, how their trials ended",
        description="List the sweeps recorded in MLflow (one parent run per 'srbench sweep'), newest first: sweep id, "
                    "start time, budget, git commit, status, trials finished / failed / stopped early / other "
                    "(running or interrupted), and the --set settings it ran with.",
    )
    p.add_argument("study", nargs="?", help="study (MLflow experiment) name (default: every study with sweeps)")
    p.add_argument("--tracking-uri", help="MLflow tracking URI (default: $MLFLOW_TRACKING_URI, else ./mlflow.db)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from srbench.leaderboard import srbench_studies
    from srbench.sweep_index import sweep_table
    from srbench.tracking import Tracker, check_reachable, resolve_tracking_uri

    uri = resolve_tracking_uri(args.tracking_uri)
    check_reachable(uri)
    if uri.startswith("sqlite:///") and not Path(uri.removeprefix("sqlite:///")).exists():
        raise UserError(f"no MLflow store at {uri}; give --tracking-uri (or run a sweep here first)")
    tracker = Tracker(uri)
    available = srbench_studies(tracker)
    if args.study and args.study not in available:
        raise UserError(f"study '{args.study}' has no srbench runs in {uri}; studies there: {', '.join(available) or 'none'}")
    print(sweep_table(tracker, [args.study] if args.study else available))
    return 0
