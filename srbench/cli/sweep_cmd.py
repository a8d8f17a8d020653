"""``srbench sweep``: run every trial of an experiment file on Ray, tracked in MLflow."""

from __future__ import annotations

import argparse
import signal

from srbench.cli.common import add_data_root
from srbench.study.launchers import LAUNCHERS

NAME = "sweep"
HELP = "run a study: Ray Tune trials (Ray Train DDP jobs where a trial has several workers), tracked in MLflow"


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        NAME,
        help=HELP,
        description="Run every trial of an experiment file. With no flags: a local Ray and a local MLflow store "
        "(./mlflow.db) in the working directory; --address / RAY_ADDRESS and --tracking-uri / "
        "MLFLOW_TRACKING_URI take it to a cluster.",
        epilog="examples:\n  srbench sweep srcnn_ablation --budget smoke\n"
        "  srbench sweep experiments/srcnn_ablation.py --budget smoke\n"
        "  srbench sweep experiments/srcnn_ablation.py --dry-run\n"
        "  srbench sweep experiments/srcnn_ablation.py --budget quick --resume\n"
        "  srbench sweep experiments/srcnn_ablation.py --resume srcnn_ablation-quick-20261122-101500-3fa2",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "experiment",
        help="a study srbench ships, by name (e.g. srcnn_ablation; see 'srbench studies'), "
        "or the path of a study file of your own",
    )
    p.add_argument("--budget", help="smoke, quick or paper (default: quick; with --resume, the sweep's own)")
    p.add_argument("--address", help="Ray cluster address (default: $RAY_ADDRESS, else a local Ray)")
    p.add_argument("--tracking-uri", help="MLflow tracking URI (default: $MLFLOW_TRACKING_URI, else ./mlflow.db)")
    p.add_argument(
        "--storage", help="where Ray keeps checkpoints and sweep state: a shared path or URI (default: ./ray_results)"
    )
    p.add_argument("--max-concurrent", type=int, help="at most this many trials at once (default: what fits)")
    p.add_argument("--workers-per-trial", type=int, help="DDP workers per trial (default: the experiment's)")
    p.add_argument(
        "--cpus-per-worker", type=float, help="CPUs (and torch threads) per DDP worker (default: the experiment's)"
    )
    p.add_argument("--gpus-per-worker", type=float, help="GPUs per DDP worker (default: the experiment's)")
    p.add_argument(
        "--launcher",
        choices=LAUNCHERS,
        help="how a trial trains: 'tune' in its Tune trial (one worker), 'train' on a Ray Train worker group "
        "(DDP); default: the experiment's, else 'auto' (tune for one worker per trial, train for several)",
    )
    p.add_argument(
        "--resume",
        nargs="?",
        const=True,
        default=False,
        metavar="SWEEP_ID",
        help="continue an interrupted sweep with its own settings: the latest of this study and budget, "
        "or the given SWEEP_ID (see 'srbench sweeps')",
    )
    p.add_argument("--dry-run", action="store_true", help="print the trials and resources; start nothing")
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a training field (or model.<field>) in every trial, e.g. "
        "--set vgg_weights=/data/vgg19-dcbb9e9d.pth; repeatable",
    )
    p.add_argument(
        "--only", metavar="PATTERN", help="run only the trials whose name matches (shell pattern, e.g. '9-5-5*')"
    )
    p.add_argument(
        "--verbose",
        action="store_true",
        help="also print Ray Tune's own status table (default: srbench's one line per trial event)",
    )
    add_data_root(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from srbench.study.load import parse_settings  # only for this command
    from srbench.sweep.run import run_sweep

    summary = run_sweep(
        args.experiment,
        budget=args.budget,
        address=args.address,
        tracking_uri=args.tracking_uri,
        storage=args.storage,
        max_concurrent=args.max_concurrent,
        workers_per_trial=args.workers_per_trial,
        cpus_per_worker=args.cpus_per_worker,
        gpus_per_worker=args.gpus_per_worker,
        launcher=args.launcher,
        resume=args.resume,
        dry_run=args.dry_run,
        data_root=args.data_root,
        only=args.only,
        settings=parse_settings(args.set),
        download=not args.no_download,
        verbose=args.verbose,
    )
    if summary.get("failed"):
        return 1
    return 128 + (summary.get("signal") or signal.SIGINT) if summary.get("interrupted") else 0
