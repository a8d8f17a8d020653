"""Argument helpers shared by the subcommands."""

from __future__ import annotations

import argparse
import sys

from srbench.errors import UserError


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a usage mistake prints one line (not the usage block) and exits 2. Options are never
    abbreviated: eval's ``--set`` (sweep's override flag) would otherwise be taken for ``--sets``."""

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> None:  # type: ignore[override]
        print(f"{self.prog}: error: {message} (see '{self.prog} --help')", file=sys.stderr)
        raise SystemExit(2)


def parse_scales(text: str, flag: str = "--scales") -> list[int]:
    """Parse ``"2,3,4"``; scales are integers >= 2 (the protocol's modcrop and shave need integers); ``flag``
    names the option in errors."""
    scales = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        try:
            value = int(part.lower().removeprefix("x"))
        except ValueError:
            value = 0
        if value < 2:
            raise UserError(f"bad scale '{part}' in {flag}: scales are integers >= 2, e.g. {flag} 4")
        scales.append(value)
    if not scales:
        raise UserError(f"{flag} is empty: give e.g. {flag} 4")
    return list(dict.fromkeys(scales))


def add_weights_options(parser: argparse.ArgumentParser) -> None:
    """``--lpips-weights``, ``--dists-weights``, ...: each turns its metric on, with the weights it names."""
    from srbench.metrics import weights_options  # torch: only once a command's parser is built

    for option, weights in weights_options().items():
        parser.add_argument(weights_flag(option), metavar="WEIGHTS", help=weights.help)


def weights_flag(option: str) -> str:
    """The command-line flag of a weights option: ``lpips_weights`` -> ``--lpips-weights``."""
    return "--" + option.replace("_", "-")


def weights_settings(args: argparse.Namespace) -> dict[str, str]:
    """The weights options given, by option name (``{"lpips_weights": "random"}``), as ``metrics.choose`` and
    ``metrics.prepare`` take them."""
    from srbench.metrics import weights_options

    return {option: vars(args)[option] for option in weights_options() if vars(args).get(option)}


def add_data_root(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data-root",
        metavar="DIR",
        help="where data sets live (default: $SRBENCH_DATA, else a per-user cache folder)",
    )
    parser.add_argument("--no-download", action="store_true", help="never download; fail if a set is missing")


def open_store(tracking_uri: str | None, wanted: list[str], flag: str) -> tuple[str, list[str]]:
    """The tracking URI to read and the studies in it to use: ``wanted`` (each checked) or every study with
    srbench runs. A local store that is not there is an error, never created by looking."""
    from srbench.tracking.store import Tracker  # only for this command
    from srbench.tracking.uri import check_store, resolve_tracking_uri

    uri = resolve_tracking_uri(tracking_uri)
    check_store(uri, reading=True)
    available = Tracker(uri).studies()
    unknown = [s for s in wanted if s not in available]
    if unknown:
        raise UserError(
            f"{flag} '{unknown[0]}' has no srbench runs in {uri}; studies there: {', '.join(available) or 'none'}"
        )
    return uri, wanted or available
