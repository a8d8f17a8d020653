"""``srbench models``: the registered models and variants, with parameters and MACs."""

from __future__ import annotations

import argparse
import json

NAME = "models"
HELP = "list registered models and variants with parameters and MACs"


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        NAME,
        help=HELP,
        description="List the model zoo: each model and variant at its default config (the paper's), with "
        "parameter count and multiply-accumulates per output megapixel (discriminators: per input "
        "megapixel), counted at a 960x960 output.",
    )
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(run=run)


def rows() -> list[dict]:
    from srbench.models import MODELS, model_figures  # only for this command

    out = []
    for entry in MODELS.values():
        for variant in entry.variants or [None]:
            config = {"name": entry.name, **({"variant": variant} if variant else {})}
            figures = model_figures(config)
            out.append(
                {
                    "model": entry.name,
                    "variant": variant or "",
                    "scales": list(entry.scales),
                    "paper": entry.paper,
                    **figures,
                }
            )
    return out


def run(args: argparse.Namespace) -> int:
    table = rows()
    if args.json:
        print(json.dumps(table, indent=2))
        return 0
    print(f"{'model':<22}{'variant':<11}{'scales':<10}{'params':>12}{'GMAC/MP':>10}  paper")
    for r in table:
        scales = ",".join(map(str, r["scales"])) or "-"
        print(
            f"{r['model']:<22}{r['variant']:<11}{scales:<10}{r['parameters']:>12,}"
            f"{r['macs_per_mp'] / 1e9:>10.2f}  {r['paper']}"
        )
    return 0
