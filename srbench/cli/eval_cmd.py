"""``srbench eval``: score the bicubic baseline or a folder of SR images."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING

from srbench.cli.common import add_data_root, add_weights_options, parse_scales, weights_settings
from srbench.errors import UserError

if TYPE_CHECKING:  # the command's modules load torch: imported when its parser is built or it runs
    from srbench.data import DatasetSpec
    from srbench.evaluate import SetScore
    from srbench.metrics import Scorer
    from srbench.models.resolve import Resolved
    from srbench.tiling import Tiling

NAME = "eval"
HELP = "score the bicubic baseline or SR images from any method"

DEFAULT_SCALES = "2,3,4"  # --scales "" is refused as empty, never this default


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    from srbench.data import DEFAULT_BENCHMARKS  # torch: only once this command's parser is built
    from srbench.evaluate import PROTOCOL
    from srbench.metrics import ALWAYS, METRICS
    from srbench.tiling import DEFAULT_OVERLAP

    p = subparsers.add_parser(
        NAME,
        help=HELP,
        description="Score SR results on benchmark sets with the standard protocol: " + PROTOCOL + ".",
        epilog="examples:\n  srbench eval bicubic --sets Set5,Set14,BSD100 --scales 2,3,4\n"
        "  srbench eval results/mymethod --sets Set5 --scales 4   "
        "(files named like the HR images, in DIR/<set>/x<scale>/ or DIR itself)\n"
        "  srbench eval --checkpoint runs/srcnn-x3-quick-.../checkpoints/last.pt\n"
        "  srbench eval --model-uri models:/srcnn_ablation@best_quick\n"
        "  srbench eval --model mylab.nets:TinySR --weights tiny.pth --sets Set5,Set14,BSD100 --scales 4\n"
        "  srbench eval --weights RealESRGAN_x4plus.pth --sets Set5,Set14   (architecture and scale detected)\n"
        "  srbench eval results/mygan --sets Set5 --scales 4 "
        "--lpips-weights ~/weights/alexnet-owt-7be5be79.pth\n"
        "  srbench eval results/mygan --sets Set5 --scales 4 --metrics dists "
        "--dists-weights ~/weights/vgg16-397923af.pth\n"
        "  srbench eval bicubic --sets Set5 --scales 4 --metrics mylab.metrics:SHARPNESS   (a metric of your own)\n"
        "  srbench eval hr --sets Set5,Set14 --scales 4 --metrics niqe   (NIQE of the HR images)",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "source",
        nargs="?",
        help="'bicubic' for the baseline, 'hr' for the HR images themselves (the reference point of no-reference "
        "metrics such as niqe), or a folder of SR images",
    )
    p.add_argument(
        "--checkpoint", type=Path, metavar="PATH", help="score a model trained by srbench (a .pt checkpoint)"
    )
    p.add_argument(
        "--model-uri",
        metavar="URI",
        help="score a model a sweep logged to MLflow: runs:/RUN_ID/model or "
        "models:/STUDY@best_quick (with --tracking-uri)",
    )
    p.add_argument(
        "--model",
        metavar="MODEL",
        help="score a network with --weights: a registered name (srbench "
        "models), package.module:Callable or file.py:Callable",
    )
    p.add_argument(
        "--model-config",
        metavar="JSON",
        help="--model's fields, e.g. '{\"channels\": 8}' (default: the checkpoint's own, else the builder's defaults)",
    )
    p.add_argument(
        "--weights",
        type=Path,
        metavar="PATH",
        help="--model's weights: a state dict (.pth, read with torch.load(weights_only=True), or .safetensors) or "
        "an srbench checkpoint; without --model, the architecture and scale are detected by spandrel",
    )
    p.add_argument(
        "--tracking-uri", help="MLflow tracking URI for --model-uri (default: $MLFLOW_TRACKING_URI, else ./mlflow.db)"
    )
    p.add_argument(
        "--sets", default=",".join(DEFAULT_BENCHMARKS), help="comma-separated benchmark sets (default: %(default)s)"
    )
    p.add_argument("--scales", help="comma-separated integer scales (default: 2,3,4; a checkpoint's own scale)")
    add_weights_options(p)
    p.add_argument(
        "--metrics",
        metavar="NAMES",
        help="comma-separated metrics to score beside PSNR-Y, SSIM-Y and PSNR-RGB (always scored): "
        f"registered names ({', '.join(n for n in METRICS if n not in ALWAYS)}) or your own as "
        "package.module:NAME or file.py:NAME",
    )
    p.add_argument(
        "--tile",
        type=int,
        metavar="N",
        help="run the network on N x N tiles of its input (the LR image, or the bicubic-enlarged one for SRCNN) and "
        "stitch their centres, bounding memory: for large images (Urban100) or big models on a small GPU or a CPU "
        "(default: the whole image at once)",
    )
    p.add_argument(
        "--tile-overlap",
        type=int,
        metavar="M",
        help=f"with --tile, input pixels of context around each tile's kept centre (default {DEFAULT_OVERLAP}); "
        "the figures equal whole-image ones when M covers the network's receptive field radius (srbench's SRCNN: 6, "
        "or 0 with 'valid' padding, whose border pad is the context; SRResNet 39; SRDenseNet 65)",
    )
    p.add_argument("--json", action="store_true", help="print JSON with per-image figures instead of a table")
    add_data_root(p)
    p.set_defaults(run=run)


def _checkpoint_resolver(checkpoint: Path) -> Resolved:
    """The checkpoint's model as ``super_resolve``, with a title and its trained scale."""
    from srbench.models import build_model  # only for this command
    from srbench.models.resolve import Resolved, resolver
    from srbench.train.checkpoint import load_checkpoint

    state = load_checkpoint(checkpoint)
    config = state["config"]
    model = build_model(config["model"])
    model.load_state_dict(state["model"])
    network = config["model"].get("name") or config["model"].get("builder")
    title = f"{checkpoint} ({network}, trained x{config['scale']}, iteration {state['iteration']})"
    return Resolved(resolver(model), title, config["scale"], network)


def _logged_model_resolver(model_uri: str, tracking_uri: str | None) -> Resolved:
    """A model a sweep logged to MLflow as ``super_resolve``, with a title and its trained scale."""
    from srbench.models.resolve import Resolved, resolver  # only for this command
    from srbench.tracking.model_registry import load_logged_model
    from srbench.tracking.uri import check_store, resolve_tracking_uri

    uri = resolve_tracking_uri(tracking_uri)
    check_store(uri, reading=True)
    model, scale, run_id = load_logged_model(model_uri, uri)
    return Resolved(resolver(model.eval()), f"{model_uri} (run {run_id}, trained x{scale})", scale, model_uri)


def run(args: argparse.Namespace) -> int:
    from srbench.data import parse_set_list, resolve_data_root  # only for this command

    _check_what_to_score(args)
    tiling = _tiling(args)
    specs = parse_set_list(args.sets)
    root = resolve_data_root(args.data_root)
    scorers = _scorers(args.metrics, weights_settings(args))
    scores, title = _score(args, specs, root, not args.no_download, scorers, tiling)
    _print_scores(args, title, scores, scorers, tiling)
    return 0


def _check_what_to_score(args: argparse.Namespace) -> None:
    """One source of SR images: a reference point or folder, a checkpoint, a logged model, or a weights file."""
    if args.model is not None and args.weights is None:
        raise UserError("--model and --weights go together: the network, and the weights to score it with")
    if sum(x is not None for x in (args.source, args.checkpoint, args.model_uri, args.weights)) != 1:
        raise UserError(
            "give one (and only one) of SOURCE ('bicubic', 'hr' or a folder of SR images), --checkpoint PATH, "
            "--model-uri URI or --weights PATH (with --model MODEL, or the architecture detected)"
        )
    if args.model_config is not None and args.model is None:
        raise UserError("--model-config goes with --model")


def _score(
    args: argparse.Namespace,
    specs: list[DatasetSpec],
    root: Path,
    download: bool,
    scorers: list[Scorer],
    tiling: Tiling | None,
) -> tuple[list[SetScore], str]:
    """The figures of what ``args`` names, per set and scale, and its title."""
    from srbench.evaluate import REFERENCES, evaluate_folder, evaluate_model, evaluate_reference
    from srbench.models.resolve import Given, detected_resolver, weights_resolver

    if args.weights is not None:
        asked = parse_scales(args.scales) if args.scales is not None else None
        given = Given(
            f"--weights {args.weights}",
            f"--model {args.model}",
            f"--model NAME|package.module:Callable --weights {args.weights}",
        )
        network = (
            weights_resolver(args.model, args.model_config, args.weights, asked, given)
            if args.model is not None
            else detected_resolver(args.weights, asked, given)
        )
        network.resolve.tiling = tiling
        return evaluate_model(network.resolve, specs, [network.scale], root, download, scorers=scorers), network.title
    if args.checkpoint is not None or args.model_uri is not None:
        network = (
            _checkpoint_resolver(args.checkpoint)
            if args.checkpoint is not None
            else _logged_model_resolver(args.model_uri, args.tracking_uri)
        )
        scales = parse_scales(args.scales) if args.scales is not None else [network.scale]
        network.resolve.tiling = tiling
        return evaluate_model(network.resolve, specs, scales, root, download, scorers=scorers), network.title
    scales = parse_scales(DEFAULT_SCALES if args.scales is None else args.scales)
    if args.source in REFERENCES:
        return evaluate_reference(args.source, specs, scales, root, download, scorers), REFERENCES[args.source][1]
    return evaluate_folder(Path(args.source), specs, scales, root, download, scorers), str(Path(args.source))


def _print_scores(
    args: argparse.Namespace, title: str, scores: list[SetScore], scorers: list[Scorer], tiling: Tiling | None
) -> None:
    """The table, or with ``--json`` strict JSON; either says which weights each metric used and the tiling."""
    from srbench.evaluate import PROTOCOL, format_table, strict_json

    notes = {s.name: s.note for s in scorers if s.note}  # which weights a metric used (LPIPS's trunk), or why none
    if tiling is not None:  # how the figures were produced, beside them
        notes["tiling"] = tiling.as_dict()
    if args.json:
        print(
            json.dumps(
                {"method": title, "protocol": PROTOCOL, **notes, "results": [strict_json(s.as_dict()) for s in scores]},
                indent=2,
                allow_nan=False,  # strict JSON: strict_json has made every figure finite or null
            )
        )
    else:
        labels = [s.weights_label for s in scorers if s.weights_label]  # "DISTS n/a: ..."
        tiled = [tiling.describe()] if tiling is not None else []
        print(format_table(scores, "; ".join([title, *tiled, *labels])))


def _tiling(args: argparse.Namespace) -> Tiling | None:
    """``--tile`` / ``--tile-overlap``, checked; none: the whole image in one pass."""
    from srbench.tiling import DEFAULT_OVERLAP, Tiling  # only for this command

    if args.tile is None:
        if args.tile_overlap is not None:
            raise UserError("--tile-overlap goes with --tile")
        return None
    if args.source is not None:
        raise UserError("--tile goes with a network: --checkpoint, --model-uri or --model")
    overlap = DEFAULT_OVERLAP if args.tile_overlap is None else args.tile_overlap
    if overlap < 0:
        raise UserError(f"--tile-overlap {overlap}: give the context pixels as an integer >= 0")
    if args.tile <= 2 * overlap:
        raise UserError(
            f"--tile {args.tile}: a tile must be larger than twice --tile-overlap ({overlap} pixels), "
            f"e.g. --tile {max(256, 4 * overlap)}"
        )
    return Tiling(args.tile, overlap)


def _scorers(metrics: str | None, settings: dict[str, str]) -> list[Scorer]:
    """What to score: the protocol's figures, ``--metrics``, and each metric whose weights flag is given
    (``--lpips-weights``). Weights that cannot be downloaded leave their metric unscored, with a warning."""
    from srbench.metrics import choose, prepare  # only for this command

    names = [name.strip() for name in (metrics or "").split(",") if name.strip()]
    try:
        chosen = choose(names, settings)
    except UserError as exc:
        raise UserError(f"--metrics: {exc}") from None
    return prepare(chosen, settings, lenient=True)
