"""``srbench train``: one trial without Ray, with the outputs a sweep trial produces."""

from __future__ import annotations

import argparse
import contextlib
import json
import signal
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from srbench.cli.common import add_data_root, parse_scales
from srbench.errors import UserError
from srbench.tracking.names import PARAM_PRECISION_USED, TAG_KIND, TAG_RUN_DIR, TAG_VARIANT
from srbench.train.run_folder import check_new_run_folder, check_resumable

if TYPE_CHECKING:  # imported where they are used: torch's training stack and MLflow are slow to import
    from srbench.tracking.store import Tracker
    from srbench.train.config import TrainConfig
    from srbench.train.loop import Trainer

NAME = "train"
HELP = "train one model (one trial, no Ray)"

TRAIN_EXPERIMENT = "srbench-train"


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    from srbench.models.registry import generator_names  # torch: only once this command's parser is built
    from srbench.train.config import BUDGETS  # (importing it registers the models generator_names lists)

    p = subparsers.add_parser(
        NAME,
        help=HELP,
        description="Train one configuration in this process: the debugging path and the smallest users' path. "
        "Writes RUN_DIR/config.json, history.jsonl, checkpoints/{last,best}.pt and results.json.",
        epilog="examples:\n  srbench train --model srcnn --scale 3 --budget quick\n"
        "  srbench train --model srdensenet --variant HL --scale 4 --set iterations=200 --set lr=1e-4\n"
        "  srbench train --resume runs/srcnn-x3-quick-20261121-101500",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--model",
        help=f"a registered generator ({', '.join(generator_names())}) or a network's import "
        f"path, package.module:Callable",
    )
    p.add_argument("--variant", help="named variant, e.g. 9-5-5 (srcnn), ALL (srdensenet), nosft (sftgan)")
    p.add_argument("--scale", help="integer scale, e.g. 3")
    p.add_argument("--budget", default="quick", choices=BUDGETS, help=f"{', '.join(BUDGETS)} (default: %(default)s)")
    p.add_argument("--model-config", metavar="JSON", help='extra model fields, e.g. \'{"padding": "same"}\'')
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="FIELD=VALUE",
        help="override a training field (JSON value), e.g. --set iterations=500 --set eval_sets='[\"Set5\"]'",
    )
    p.add_argument("--run-dir", type=Path, help="output folder (default: runs/<model>-x<scale>-<budget>-<time>)")
    p.add_argument(
        "--resume", type=Path, metavar="RUN_DIR", help="continue an interrupted run from its last checkpoint"
    )
    p.add_argument("--quiet", action="store_true", help="no progress display")
    p.add_argument(
        "--tracking-uri",
        help="also record the run in MLflow as a sweep records a trial (params, curves, "
        "final figures, artifacts, the trained model), e.g. sqlite:///mlflow.db; "
        "give it again with --resume to continue the same MLflow run",
    )
    p.add_argument(
        "--experiment",
        default=TRAIN_EXPERIMENT,
        help="the MLflow experiment of --tracking-uri runs (default: %(default)s)",
    )
    add_data_root(p)
    p.set_defaults(run=run)


def _config_from_args(args: argparse.Namespace) -> TrainConfig:
    from srbench.models.registry import model_reference  # only for this command
    from srbench.study.load import parse_settings
    from srbench.train.config import make_config

    if not args.model or not args.scale:
        raise UserError("--model and --scale are required (or --resume RUN_DIR)")
    scales = parse_scales(args.scale, "--scale")
    if len(scales) != 1:
        raise UserError(f"--scale takes one scale, got '{args.scale}'")
    model = model_reference(args.model)
    if args.variant:
        model["variant"] = args.variant
    if args.model_config:
        try:
            extra = json.loads(args.model_config)
        except json.JSONDecodeError as exc:
            raise UserError(f"--model-config is not valid JSON: {exc}") from None
        if not isinstance(extra, dict):
            raise UserError("--model-config must be a JSON object")
        model.update(extra)
    return make_config(model, scales[0], args.budget, **parse_settings(args.set))


def _start_mlflow_run(
    uri: str, experiment: str, config: TrainConfig, run_dir: Path, data_root: Path
) -> tuple[Tracker, str]:
    """The run folder's MLflow run (found again on --resume, by the folder), recording its configuration."""
    from srbench.tracking.records import record_configuration  # only for this command
    from srbench.tracking.store import Tracker

    tracker = Tracker(uri, patient=True)  # a run of hours waits out a tracking-server outage
    experiment_id = tracker.experiment_id(experiment, "runs of srbench train --tracking-uri")
    run_id = tracker.find_or_create_run(
        experiment_id, {TAG_KIND: "train", TAG_RUN_DIR: str(run_dir.resolve())}, run_name=run_dir.name
    )
    tracker.set_running(run_id)
    record_configuration(
        tracker,
        run_id,
        config,
        data_root,
        source="srbench train",
        params={"workers": 1},
        tags={TAG_VARIANT: config.model.get("variant", config.family)},
    )
    return tracker, run_id


class _StoppedWhileScoring(BaseException):
    """A stop signal during the final scoring: the weights are final and checkpointed, so the run stops at once and
    ``--resume`` scores again. A BaseException, as KeyboardInterrupt is: no ``except Exception`` swallows it."""


class _Stop:
    """SIGINT (Ctrl-C) and SIGTERM (``kill``, schedulers, containers) alike: training finishes the current iteration,
    checkpoints and stops; the final scoring stops at once (see :class:`_StoppedWhileScoring`)."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self, trainer: Trainer) -> None:
        self.trainer, self.signum = trainer, signal.SIGINT

    def _request(self, signum: int, _frame) -> None:
        self.signum = signum
        if self.trainer.finishing:
            raise _StoppedWhileScoring
        self.trainer.stop_requested = True

    @contextlib.contextmanager
    def on_signals(self) -> Iterator[None]:
        previous = {s: signal.signal(s, self._request) for s in self.SIGNALS}
        try:
            yield
        finally:
            for s, handler in previous.items():
                signal.signal(s, handler)


def run(args: argparse.Namespace) -> int:
    from srbench.data import resolve_data_root  # heavy imports only for this command
    from srbench.evaluate import SetScore, format_table
    from srbench.tracking.logger import MetricLogger
    from srbench.tracking.records import record_results
    from srbench.tracking.uri import check_store, resolve_tracking_uri, ui_command
    from srbench.train.checkpoint import load_checkpoint
    from srbench.train.config import config_from_dict
    from srbench.train.data import check_trial_data
    from srbench.train.loop import Trainer

    if args.resume:
        run_dir = args.resume
        last = check_resumable(run_dir)
        config = config_from_dict(load_checkpoint(last)["config"], str(last))
    else:
        config = _config_from_args(args)
        stamp = time.strftime("%Y%m%d-%H%M%S")
        family = config.family.replace(":", ".").rsplit(".", 1)[-1]  # an import path's callable
        run_dir = args.run_dir or Path("runs") / f"{family}-x{config.scale}-{config.budget}-{stamp}"
        check_new_run_folder(run_dir)
    if args.tracking_uri:
        args.tracking_uri = resolve_tracking_uri(args.tracking_uri)
        check_store(args.tracking_uri)
    data_root = resolve_data_root(args.data_root)
    check_trial_data(config, data_root, download=not args.no_download)
    tracked = (
        _start_mlflow_run(args.tracking_uri, args.experiment, config, run_dir, data_root) if args.tracking_uri else None
    )
    callbacks = [MetricLogger(*tracked)] if tracked else []
    trainer = Trainer(config, run_dir, data_root, callbacks, resume=bool(args.resume), show_progress=not args.quiet)
    if tracked:
        tracked[0].log_params(tracked[1], {PARAM_PRECISION_USED: trainer.precision})
    print(
        f"run folder: {run_dir}  ({config.family} x{config.scale}, budget {config.budget}, "
        f"{config.total_iterations} iterations, {trainer.precision})",
        file=sys.stderr,
    )

    stop = _Stop(trainer)
    try:
        with stop.on_signals():
            results = trainer.fit()
    except _StoppedWhileScoring:
        results = None
    except Exception:
        if tracked:
            tracked[0].finish(tracked[1], "FAILED")
        raise
    if results is None:
        if tracked:
            tracked[0].finish(tracked[1], "KILLED")
        again = f" --tracking-uri {args.tracking_uri} --experiment {args.experiment}" if tracked else ""
        where = "during the final scoring" if trainer.finishing else f"at iteration {trainer.iteration}"
        print(
            f"stopped {where} ({signal.Signals(stop.signum).name}); continue with: python -m srbench train "
            f"--resume {run_dir}{again}",
            file=sys.stderr,
        )
        return 128 + stop.signum
    if tracked:
        record_results(*tracked, results, run_dir)
        tracked[0].finish(tracked[1])
        experiment_id = tracked[0].run(tracked[1]).info.experiment_id
        print(f"MLflow: run {tracked[1]}; {ui_command(tracked[0].uri, experiment_id)}", file=sys.stderr)
    scores = [SetScore.from_dict(s) for s in results["sets"]]
    print(
        format_table(
            scores,
            f"{config.family} x{config.scale} ({config.budget}: {results['iterations']} iterations, "
            f"{results['wall_time_s']:.0f} s on {results['hardware']}, {results['precision']}; "
            f"images: {results['eval_images']})",
        )
    )
    return 0
