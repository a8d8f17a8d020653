"""The ``srbench`` command line: ``python -m srbench --help``."""

from __future__ import annotations

import sys

from srbench import __version__
from srbench.cli import (
    bench_cmd,
    data_cmd,
    eval_cmd,
    leaderboard_cmd,
    models_cmd,
    studies_cmd,
    sweep_cmd,
    sweeps_cmd,
    train_cmd,
)
from srbench.cli.common import OneLineParser
from srbench.errors import UserError


def build_parser() -> OneLineParser:
    parser = OneLineParser(
        prog="srbench",
        description="Benchmarking and experiment orchestration for single-image super-resolution.",
        epilog="Run 'srbench COMMAND --help' for a command's options.",
    )
    parser.add_argument("--version", action="version", version=f"srbench {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=OneLineParser)
    eval_cmd.add_parser(sub)
    bench_cmd.add_parser(sub)
    data_cmd.add_parser(sub)
    models_cmd.add_parser(sub)
    train_cmd.add_parser(sub)
    sweep_cmd.add_parser(sub)
    studies_cmd.add_parser(sub)
    sweeps_cmd.add_parser(sub)
    leaderboard_cmd.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except UserError as exc:
        print(f"srbench {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("srbench: interrupted", file=sys.stderr)
        return 130
