"""``srbench studies``: the studies srbench ships, runnable by name from any folder."""

from __future__ import annotations

import argparse

NAME = "studies"
HELP = "list the studies srbench ships (run one with 'srbench sweep NAME')"


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        NAME,
        help=HELP,
        description="The studies that ship with srbench, by name: 'srbench sweep NAME' runs one from any folder. "
        "A path to a file of your own works everywhere a name does.",
    )
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from srbench.study.load import load_experiment, shipped_studies  # only for this command
    from srbench.study.plan import draws_per_base, trial_bases

    rows = []
    for name, path in shipped_studies().items():
        experiment = load_experiment(path)
        trials = len(trial_bases(experiment)) * draws_per_base(experiment)
        rows.append((name, f"x{experiment.scale}", str(trials), experiment.description))
    widths = [max(len(r[i]) for r in rows + [("study", "scale", "trials", "")]) for i in range(3)]
    for row in [("study", "scale", "trials", "description"), *rows]:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths)) + "  " + row[3])
    return 0
