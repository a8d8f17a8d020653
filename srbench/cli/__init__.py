"""The ``srbench`` command line: ``python -m srbench --help``.

Every ``srbench`` process builds this parser, so a command module imports nothing heavy until its own parser is
built or it runs; the parsers of eval, bench and train import torch (their flags and help come from the metric and
model registries), so only the command being run gets its full parser."""

from __future__ import annotations

import os
import sys
from collections.abc import Collection

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

# In the order --help lists them.
COMMANDS = (
    eval_cmd,
    bench_cmd,
    data_cmd,
    models_cmd,
    train_cmd,
    sweep_cmd,
    studies_cmd,
    sweeps_cmd,
    leaderboard_cmd,
)


def build_parser(full: Collection[str] | None = None) -> OneLineParser:
    """srbench's parser, with the options of the commands named in ``full`` (default: every command); the others
    have their name and one-line help alone, which is all ``srbench --help`` shows of them."""
    parser = OneLineParser(
        prog="srbench",
        description="Benchmarking and experiment orchestration for single-image super-resolution.",
        epilog="Run 'srbench COMMAND --help' for a command's options.",
    )
    parser.add_argument("--version", action="version", version=f"srbench {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=OneLineParser)
    for command in COMMANDS:
        if full is None or command.NAME in full:
            command.add_parser(sub)
        else:
            sub.add_parser(command.NAME, help=command.HELP)
    return parser


def _invoked(argv: list[str]) -> list[str]:
    """The command ``argv`` runs, as argparse finds it: the first word naming one (srbench's own options take no
    value, so no word before it is an option's); none for ``--help``, ``--version`` or a mistyped command."""
    names = {command.NAME for command in COMMANDS}
    return [word for word in argv if word in names][:1]


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args, unknown = build_parser(full=_invoked(argv)).parse_known_args(argv)
    if unknown:  # named by the command that refused them, whose --help lists what it takes
        prog = f"srbench {args.command}"
        print(f"{prog}: error: unrecognized arguments: {' '.join(unknown)} (see '{prog} --help')", file=sys.stderr)
        return 2
    try:
        return args.run(args)
    except UserError as exc:
        print(f"srbench {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("srbench: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader went away (| head): nothing more to say, and no traceback
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # so the exit's flush of stdout is quiet
        return 141  # 128 + SIGPIPE, as a shell reports a writer the pipe closed on
