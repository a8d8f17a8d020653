"""``srbench bench``: score weights files on benchmark sets as Ray tasks, one MLflow run per file, and write a page
comparing them; files already scored under the same protocol are reused."""

from __future__ import annotations

import argparse
import shlex
from collections import defaultdict
from pathlib import Path
from typing import TYPE_CHECKING

from srbench.cli.common import add_data_root, add_weights_options, parse_scales, weights_flag, weights_settings
from srbench.errors import UserError

if TYPE_CHECKING:  # the command's modules load torch, MLflow and Ray: imported when it runs
    from srbench.bench.checkpoints import Prepared
    from srbench.bench.record import BenchProtocol
    from srbench.bench.score import SetResult
    from srbench.data import DatasetSpec
    from srbench.tracking.store import Tracker

NAME = "bench"
HELP = "score weights files on benchmark sets (Ray tasks, MLflow runs) and write a page comparing them"

DEFAULT_SETS = "Set5,Set14"


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        NAME,
        help=HELP,
        description="Score every CHECKPOINT on every set, each file x set a Ray task (a local Ray of its own, or "
        "--address), each file one MLflow run in the experiment bench-NAME, and write <out>/bench-NAME.md and .csv. "
        "A file already scored under the same protocol (same SHA-256, network, scale, sets and metrics) is reused.",
        epilog="examples:\n"
        "  srbench bench RealESRGAN_x4plus.pth 4x_Compact.safetensors --name x4-gan --sets Set5,Set14\n"
        "  srbench bench srcnn=runs/srcnn-x3/checkpoints/best.pt mylab/nets.py:TinySR=tiny.pth --name mine --scales 3\n"
        "  srbench bench *.pth --name zoo --metrics niqe --address 10.0.0.5:6379 --tracking-uri http://mlflow:5000\n"
        "  srbench bench *.pth --name zoo-gan --lpips-weights ~/weights/alexnet-owt-7be5be79.pth   (read here, "
        "shipped to the tasks)",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "checkpoints",
        nargs="+",
        metavar="CHECKPOINT",
        help="FILE (a state dict, .pth or .safetensors, whose architecture and scale spandrel detects) or MODEL=FILE "
        "(MODEL as 'eval --model' takes it: a registered name, package.module:Callable or file.py:Callable)",
    )
    p.add_argument("--name", required=True, help="the bench's name: its page bench-NAME.md, its MLflow experiment")
    p.add_argument("--sets", default=DEFAULT_SETS, help="comma-separated benchmark sets (default: %(default)s)")
    p.add_argument(
        "--scales",
        help="the scales allowed: each file is scored at its own, which must be one of them; a MODEL=FILE that is "
        "not an srbench checkpoint is built at the one scale given (default: any)",
    )
    p.add_argument(
        "--metrics",
        metavar="NAMES",
        help="metrics beyond PSNR-Y, SSIM-Y and PSNR-RGB, as for eval (niqe; lpips and dists with ImageNet weights, "
        "or those --lpips-weights / --dists-weights name)",
    )
    add_weights_options(p)
    p.add_argument("--address", help="Ray cluster address (default: $RAY_ADDRESS, else a local Ray)")
    p.add_argument("--tracking-uri", help="MLflow tracking URI (default: $MLFLOW_TRACKING_URI, else ./mlflow.db)")
    p.add_argument("--out", type=Path, default=Path("leaderboards"), help="output folder (default: %(default)s)")
    p.add_argument("--max-concurrent", type=int, help="at most this many tasks at once (default: what Ray fits)")
    add_data_root(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from srbench.bench.checkpoints import check_name, parse_entry, prepare_checkpoint  # only for this command
    from srbench.bench.record import BenchProtocol, code_identity, experiment_name, weights_identity
    from srbench.data import parse_set_list, resolve_data_root
    from srbench.outdir import check_output_folder
    from srbench.tracking.store import Tracker
    from srbench.tracking.uri import check_store, resolve_tracking_uri, ui_command

    name = check_name(args.name)
    if args.max_concurrent is not None and args.max_concurrent < 1:
        raise UserError(f"--max-concurrent {args.max_concurrent}: give at least 1")
    scales = parse_scales(args.scales) if args.scales is not None else None
    specs = parse_set_list(args.sets)
    settings = _weights(args)
    references, metric_names = _metrics(args.metrics, settings)
    root = resolve_data_root(args.data_root)
    check_output_folder(args.out, "--out")
    uri = resolve_tracking_uri(args.tracking_uri)
    check_store(uri)
    # Every file read and checked before anything is scored; the same file given twice is scored once.
    checkpoints = list({(c.sha256, c.model): c for c in map(parse_entry, args.checkpoints)}.values())
    jobs = [prepare_checkpoint(c, scales) for c in checkpoints]
    _check_sets(specs, {job.scale for job in jobs}, root, not args.no_download)
    protocol = BenchProtocol(
        tuple(s.name for s in specs), metric_names, weights_identity(settings), code_identity(references)
    )
    tracker = Tracker(uri)
    experiment_id = tracker.experiment_id(experiment_name(name), f"`srbench bench --name {name}`: scored files")
    fresh = _not_yet_scored(tracker, experiment_id, protocol, jobs)
    if fresh:
        _score(tracker, experiment_id, name, protocol, fresh, references, settings, root, args)
    for page in _write_page(tracker, experiment_id, name, protocol, jobs, settings, root, args):
        print(page)
    print(f"MLflow: {ui_command(uri, experiment_id)}")
    return 0


def _not_yet_scored(
    tracker: Tracker, experiment_id: str, protocol: BenchProtocol, jobs: list[Prepared]
) -> list[Prepared]:
    """The jobs no finished run has scored under ``protocol``; the others are said to be reused, with their run."""
    from srbench.bench.record import find_scored  # only for this command

    fresh = []
    for job in jobs:
        run_id = find_scored(tracker, experiment_id, protocol, job)
        if run_id is None:
            fresh.append(job)
        else:
            print(f"reused {job.checkpoint.entry} (sha256 {job.checkpoint.sha256[:12]}, x{job.scale}): run {run_id}")
    return fresh


def _write_page(
    tracker: Tracker,
    experiment_id: str,
    name: str,
    protocol: BenchProtocol,
    jobs: list[Prepared],
    settings: dict[str, str],
    root: Path,
    args: argparse.Namespace,
) -> list[Path]:
    """The page and CSV of every file the bench scored under ``protocol`` (``jobs``' as this command found them, the
    others' newest version), and the folder's index."""
    from srbench.bench.record import bench_rows  # only for this command
    from srbench.report.baseline import bicubic_scores, reference_metrics
    from srbench.report.bench_page import further_metrics, write_bench_page
    from srbench.report.index import write_index

    rows, older = bench_rows(tracker, experiment_id, protocol, {protocol.key(job) for job in jobs})
    sets = list(protocol.sets)
    bicubic = bicubic_scores(
        sorted({r["scale"] for r in rows}), root, sets, metrics=reference_metrics(further_metrics(rows, sets))
    )
    command = _command(name, rows, args.sets, args.metrics, settings)
    pages = write_bench_page(args.out, name, rows, sets, bicubic, command, older)
    write_index(args.out)  # the folder's README lists the bench beside the studies' pages
    return pages


def _weights(args: argparse.Namespace) -> dict[str, str]:
    """The weights options given (``--lpips-weights``), each file they name checked and made absolute: the path its
    bytes are shipped to the tasks by."""
    from srbench.bench.shipping import absolute_setting  # only for this command

    return {
        option: absolute_setting(weights_flag(option), setting) for option, setting in weights_settings(args).items()
    }


def _metrics(text: str | None, settings: dict[str, str]) -> tuple[list[str], tuple[str, ...]]:
    """``--metrics`` as the tasks take it (``file.py:NAME`` made absolute: the path its bytes are shipped to the tasks
    by) and the names of the figures it adds, with those the weights ``settings`` turn on (``--lpips-weights``)."""
    from srbench.metrics import ALWAYS, choose  # only for this command
    from srbench.user_code import absolute_references

    references = absolute_references([n.strip() for n in (text or "").split(",") if n.strip()])
    try:
        chosen = choose(references, settings)
    except UserError as exc:
        raise UserError(f"--metrics: {exc}") from None
    return references, tuple(m.name for m in chosen if m.name not in ALWAYS)


def _check_sets(specs: list[DatasetSpec], scales: set[int], root: Path, download: bool) -> None:
    """Every set is on disk (downloaded here, once: tasks never download) and every scale fits its images."""
    from srbench.data import image_sizes  # only for this command
    from srbench.evaluate import check_scale

    for spec in specs:
        sizes = image_sizes(spec, root, download)
        for scale in sorted(scales):
            check_scale(spec.name, sizes, scale)


def _score(
    tracker: Tracker,
    experiment_id: str,
    name: str,
    protocol: BenchProtocol,
    jobs: list[Prepared],
    references: list[str],
    settings: dict[str, str],
    root: Path,
    args: argparse.Namespace,
) -> None:
    """Score ``jobs`` on Ray and log each file's run as soon as its last set is scored."""
    from srbench.bench.record import log_bench_run  # only for this command
    from srbench.bench.score import score_on_ray

    results: dict[Prepared, list[SetResult]] = defaultdict(list)
    tasks = score_on_ray(jobs, protocol.sets, references, settings, root, args.address, args.max_concurrent)
    for job, result in tasks:
        score = result.score
        print(
            f"  {job.checkpoint.path.name} on {score.set} x{score.scale}: {score.psnr_y:.2f} dB / {score.ssim_y:.4f} "
            f"({result.seconds:.0f} s)"
        )
        results[job].append(result)
        if len(results[job]) == len(protocol.sets):
            ordered = sorted(results[job], key=lambda r: protocol.sets.index(r.score.set))
            run_id = log_bench_run(tracker, experiment_id, name, protocol, job, ordered)
            print(f"scored {job.checkpoint.entry} (sha256 {job.checkpoint.sha256[:12]}, x{job.scale}): run {run_id}")


def _command(name: str, rows: list[dict], sets: str, metrics: str | None, settings: dict[str, str]) -> str:
    """The command that scores the page's files again."""
    entries = [r["path"] if r["model"] == "detected" else f"{r['model']}={r['path']}" for r in rows]
    extra = ["--metrics", metrics] if metrics else []
    extra += [part for option, setting in settings.items() for part in (weights_flag(option), setting)]
    return shlex.join(["srbench", "bench", *entries, "--name", name, "--sets", sets, *extra])
