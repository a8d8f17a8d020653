"""``srbench eval``: score the bicubic baseline or a folder of SR images."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from srbench.cli.common import add_data_root, parse_scales
from srbench.data import DEFAULT_BENCHMARKS, parse_set_list, resolve_data_root
from srbench.evaluate import PROTOCOL, evaluate_bicubic, evaluate_folder, format_table


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "eval",
        help="score the bicubic baseline or SR images from any method",
        description="Score SR results on benchmark sets with the standard protocol: " + PROTOCOL + ".",
        epilog="examples:\n  srbench eval bicubic --sets Set5,Set14,BSD100 --scales 2,3,4\n"
               "  srbench eval results/mymethod --sets Set5 --scales 4   "
               "(files named like the HR images, in DIR/<set>/x<scale>/ or DIR itself)",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("source", help="'bicubic' for the baseline, or a folder of SR images")
    p.add_argument("--sets", default=",".join(DEFAULT_BENCHMARKS), help="comma-separated benchmark sets (default: %(default)s)")
    p.add_argument("--scales", default="2,3,4", help="comma-separated integer scales (default: %(default)s)")
    p.add_argument("--json", action="store_true", help="print JSON with per-image figures instead of a table")
    add_data_root(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    specs = parse_set_list(args.sets)
    scales = parse_scales(args.scales)
    root = resolve_data_root(args.data_root)
    download = not args.no_download
    if args.source == "bicubic":
        scores, title = evaluate_bicubic(specs, scales, root, download), "bicubic (MATLAB imresize)"
    else:
        folder = Path(args.source)
        scores, title = evaluate_folder(folder, specs, scales, root, download), str(folder)
    if args.json:
        print(json.dumps({"method": title, "protocol": PROTOCOL, "results": [s.as_dict() for s in scores]}, indent=2))
    else:
        print(format_table(scores, title))
    return 0
