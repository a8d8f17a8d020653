"""``srbench leaderboard``: write markdown and CSV leaderboards from MLflow runs."""

from __future__ import annotations

import argparse
from pathlib import Path

from srbench.cli.common import add_data_root, open_store
from srbench.errors import UserError
from srbench.outdir import check_output_folder

NAME = "leaderboard"
HELP = "write leaderboards (markdown + CSV) from the MLflow runs"


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        NAME,
        help=HELP,
        description="Read the finished trial runs of each study from MLflow and write <out>/<study>.md, "
        "<out>/<study>.csv and the index <out>/README.md: per budget the latest sweep (or --sweep), "
        "pooling only runs of one configuration as seeds. The same MLflow contents give the same files.",
    )
    p.add_argument(
        "--experiment",
        action="append",
        metavar="NAME",
        help="study (MLflow experiment) to include; repeatable (default: every study with srbench runs)",
    )
    p.add_argument("--tracking-uri", help="MLflow tracking URI (default: $MLFLOW_TRACKING_URI, else ./mlflow.db)")
    p.add_argument("--sweep", metavar="SWEEP_ID", help="show this sweep instead of the latest (see 'srbench sweeps')")
    p.add_argument(
        "--compare",
        nargs=2,
        metavar=("SWEEP_A", "SWEEP_B"),
        help="write <out>/<study>-compare.md: two sweeps of one study side by side, with B − A per set",
    )
    p.add_argument("--out", type=Path, default=Path("leaderboards"), help="output folder (default: %(default)s)")
    p.add_argument(
        "--replace",
        action="store_true",
        help="replace pages even where they show a budget these runs do not have (e.g. quick by smoke), and files "
        "of their names that srbench did not write",
    )
    add_data_root(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from srbench.report.leaderboard import write_comparison, write_leaderboards  # only for this command
    from srbench.tracking.store import Tracker

    check_output_folder(args.out, "--out")
    uri, studies = open_store(args.tracking_uri, args.experiment or [], "--experiment")
    if not studies:
        raise UserError(f"no finished sweeps in {uri}: nothing to write; run a sweep first (srbench sweep STUDY)")
    if (args.sweep or args.compare) and len(studies) != 1:
        raise UserError(f"--sweep / --compare need one study: add --experiment NAME (studies: {', '.join(studies)})")
    if args.compare and args.sweep:
        raise UserError("--compare names its two sweeps; --sweep chooses one page's sweep: give one of them")
    if args.compare:
        page = write_comparison(studies[0], uri, args.out, *args.compare, replace=args.replace)
        print(page.read_text(), end="")
        print(page)
        return 0
    if args.sweep:
        from srbench.tracking.sweeps import find_sweep

        find_sweep(Tracker(uri), studies[0], args.sweep)
    for page in write_leaderboards(studies, uri, args.out, args.data_root, sweep=args.sweep, replace=args.replace):
        print(page)
    return 0
