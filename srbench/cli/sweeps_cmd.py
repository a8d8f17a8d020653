"""``srbench sweeps``: list the sweeps recorded in MLflow, newest first."""

from __future__ import annotations

import argparse

from srbench.cli.common import open_store

NAME = "sweeps"
HELP = "list the sweeps of each study: id, start, budget, commit, settings, how their trials ended"


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        NAME,
        help=HELP,
        description="List the sweeps recorded in MLflow (one parent run per 'srbench sweep'), newest first: sweep id, "
        "start time, budget, git commit, status, trials finished / failed / stopped early / other "
        "(running or interrupted), and the --set settings it ran with.",
    )
    p.add_argument("study", nargs="?", help="study (MLflow experiment) name (default: every study with sweeps)")
    p.add_argument("--tracking-uri", help="MLflow tracking URI (default: $MLFLOW_TRACKING_URI, else ./mlflow.db)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from srbench.tracking.store import Tracker  # only for this command
    from srbench.tracking.sweeps import sweep_table

    uri, studies = open_store(args.tracking_uri, [args.study] if args.study else [], "study")
    print(sweep_table(Tracker(uri), studies))
    return 0
