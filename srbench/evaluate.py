"""Scoring SR results on the benchmark sets with the standard protocol.

``evaluate_reference`` scores the bicubic baseline or the HR images themselves; ``evaluate_folder`` scores SR
images produced by any method; ``evaluate_model`` a network. Each returns one :class:`SetScore` per (set, scale),
with per-image figures kept for JSON output. What is scored is a list of :class:`~srbench.metrics.Scorer` s
(default: the protocol's PSNR-Y, SSIM-Y and PSNR-RGB).
"""

from __future__ import annotations

import math
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import torch

from srbench.data import DatasetSpec, image_sizes, load_set
from srbench.degrade import bicubic_lr, imresize, modcrop
from srbench.errors import UserError
from srbench.metrics import ALWAYS, Scorer, get_metric, prepare, quantize, score_batch
from srbench.metrics.protocol import SSIM_WINDOW
from srbench.sr_folder import find_sr_folder, load_sr_images, sr_files

PROTOCOL = (
    "HR modcropped to the scale; LR = MATLAB-exact bicubic imresize(HR, 1/s) on uint8 RGB; "
    "SR clamped and rounded to uint8; PSNR and SSIM (11x11 Gaussian, sigma 1.5, valid) on float "
    "BT.601 Y, s pixels shaved from each border; mean over images"
)
# Images scored at once, bounding the metrics' working set: a batch on an accelerator, images side by side on a CPU.
MAX_BATCH = 16
T = TypeVar("T")


_NOT_FIGURES = ("set", "scale", "images", "per_image")


@dataclass
class SetScore:
    set: str
    scale: int
    images: int
    figures: dict[str, float]  # metric name -> mean over the images, in scoring order
    per_image: list[dict] = field(default_factory=list)

    @property
    def psnr_y(self) -> float:
        return self.figures["psnr_y"]

    @property
    def ssim_y(self) -> float:
        return self.figures["ssim_y"]

    def as_dict(self) -> dict[str, Any]:
        """Flat, as JSON and ``results.json`` have always had it: ``{"set", "scale", "psnr_y", ..., "images",
        "per_image"}``."""
        return {
            "set": self.set,
            "scale": self.scale,
            **self.figures,
            "images": self.images,
            "per_image": self.per_image,
        }

    @classmethod
    def from_dict(cls, saved: dict[str, Any]) -> SetScore:
        """The inverse of :meth:`as_dict`; a figure saved as null (LPIPS unscored, before the registry) is none."""
        figures = {k: v for k, v in saved.items() if k not in _NOT_FIGURES and v is not None}
        return cls(saved["set"], saved["scale"], saved["images"], figures, saved.get("per_image", []))


def strict_json(row: dict[str, Any]) -> dict[str, Any]:
    """``row`` (a set's :meth:`SetScore.as_dict` or a per-image row) as strict JSON allows: a figure that is not a
    finite number (the PSNR of an SR image equal to its HR is inf) becomes null, and ``not_finite`` names it with
    its value (``{"psnr_y": "inf"}``)."""
    out = {k: [strict_json(r) for r in v] if k == "per_image" else v for k, v in row.items()}
    odd = {k: str(v) for k, v in out.items() if isinstance(v, float) and not math.isfinite(v)}
    if odd:
        out.update(dict.fromkeys(odd), not_finite=odd)
    return out


def default_scorers() -> list[Scorer]:
    """The protocol's figures, which need no weights."""
    return prepare([get_metric(name) for name in ALWAYS], {})


def score_pairs(
    pairs: list[tuple[str, torch.Tensor, torch.Tensor]],
    scale: int,
    scorers: list[Scorer] | None = None,
    device: torch.device = torch.device("cpu"),
) -> list[dict]:
    """Per-image figures of ``scorers`` (default: the protocol's) for ``(name, sr, hr)`` triples of ``(3, H, W)``
    tensors, computed on ``device`` (a GPU trial scores on its GPU): on an accelerator in batches of one size, on a
    CPU image by image, several side by side."""
    scorers = default_scorers() if scorers is None else scorers
    if device.type == "cpu":
        return _score_side_by_side(pairs, scale, scorers)
    return _score_in_batches(pairs, scale, scorers, device)


def _score_side_by_side(
    pairs: list[tuple[str, torch.Tensor, torch.Tensor]], scale: int, scorers: list[Scorer]
) -> list[dict]:
    """Each image on its own in one intra-op thread, as many at a time as torch has threads (up to MAX_BATCH).
    Per-image metrics are made of many small ops, and waking srbench's passively waiting OpenMP threads
    (srbench/__init__.py) for each costs more than they give (``benchmarks/metrics_speed.py``, 2 Zen 4 cores:
    PSNR-Y + SSIM-Y of BSD100 x4 bicubic 287 img/s one image at a time on 2 threads, 747 to 792 side by side;
    NIQE 85 and 198 to 202). The figures do not depend on the thread count: an image is always computed in one
    thread."""
    threads = torch.get_num_threads()
    cpu = torch.device("cpu")
    try:
        with ThreadPoolExecutor(min(threads, MAX_BATCH), initializer=torch.set_num_threads, initargs=(1,)) as pool:
            return list(pool.map(lambda pair: _score_together([pair], scale, scorers, cpu)[0], pairs))
    finally:
        torch.set_num_threads(threads)  # it also sets process-wide state (MKL's threads): the caller's again


def _score_in_batches(
    pairs: list[tuple[str, torch.Tensor, torch.Tensor]], scale: int, scorers: list[Scorer], device: torch.device
) -> list[dict]:
    by_shape: dict[tuple, list[int]] = defaultdict(list)
    for i, (_, sr, _) in enumerate(pairs):
        by_shape[tuple(sr.shape)].append(i)
    rows: dict[int, dict] = {}
    for indices in by_shape.values():
        for start in range(0, len(indices), MAX_BATCH):
            chunk = indices[start : start + MAX_BATCH]
            rows.update(zip(chunk, _score_together([pairs[i] for i in chunk], scale, scorers, device)))
    return [rows[i] for i in range(len(pairs))]


def _score_together(
    pairs: list[tuple[str, torch.Tensor, torch.Tensor]], scale: int, scorers: list[Scorer], device: torch.device
) -> list[dict]:
    """Per-image rows of ``pairs`` (images of one size), scored as one batch on ``device``."""
    sr, hr = (quantize(torch.stack([pair[k] for pair in pairs]).to(device)) for k in (1, 2))
    values = score_batch(scorers, sr, hr, scale)
    return [
        {"image": name, **{m: per_image[k] for m, per_image in values.items()}} for k, (name, _, _) in enumerate(pairs)
    ]


def _summarise(set_name: str, scale: int, rows: list[dict]) -> SetScore:
    names = [k for k in rows[0] if k not in ("image", "rank")]
    return SetScore(set_name, scale, len(rows), {k: sum(r[k] for r in rows) / len(rows) for k in names}, rows)


def scale_fits(height: int, width: int, scale: int) -> bool:
    """Whether an HR image of this size can be scored at ``scale``: modcropped and shaved by ``scale`` on each
    border, at least one SSIM window remains."""
    return min(height, width) // scale * scale - 2 * scale >= SSIM_WINDOW


def check_scale(set_name: str, sizes: Iterable[tuple[str, int, int]], scale: int) -> None:
    """A one-line error when ``scale`` is too large for the smallest of a set's images ``(name, height, width)``."""
    name, height, width = min(sizes, key=lambda size: min(size[1:]))
    if not scale_fits(height, width, scale):
        largest = max(s for s in range(1, min(height, width) + 1) if scale_fits(height, width, s))
        raise UserError(
            f"scale {scale} is too large for {set_name}: its smallest image {name} ({width}x{height}) "
            f"would leave nothing to score after the {scale}-pixel border shave; the largest scale "
            f"{set_name} allows is {largest}"
        )


def _evaluate(
    specs: Iterable[DatasetSpec],
    scales: Iterable[int],
    data_root: Path,
    make_sr: Callable[[DatasetSpec, int, list[tuple[str, torch.Tensor]]], list[torch.Tensor]],
    download: bool,
    limit: int | None = None,
    rank: int = 0,
    world: int = 1,
    scorers: list[Scorer] | None = None,
    device: torch.device = torch.device("cpu"),
    on_sr: Callable[[str, str, torch.Tensor], None] | None = None,
) -> list[SetScore]:
    """Score ``make_sr``'s output on each set and scale (the metrics on ``device``). Under ``torch.distributed``
    each rank scores every ``world``-th image and the per-image rows are gathered, so all ranks work. ``on_sr(set,
    image, sr)`` sees each SR image this rank made (a trial keeps the first of each set for its crops)."""
    scores = []
    for spec in specs:
        images = load_set(spec, data_root, download, limit)
        share = images[rank::world]
        for scale in scales:
            check_scale(spec.name, [(name, *hr.shape[-2:]) for name, hr in images], scale)
            if rank == 0:
                print(
                    f"scoring {spec.name} x{scale} ({len(images)} image{'s' if len(images) != 1 else ''})",
                    file=sys.stderr,
                )
            srs = make_sr(spec, scale, share)
            if on_sr is not None:
                for (name, _), sr in zip(share, srs):
                    on_sr(spec.name, name, sr)
            rows = score_pairs(
                [(name, sr, modcrop(hr, scale)) for (name, hr), sr in zip(share, srs)], scale, scorers, device
            )
            if world > 1:
                for row in rows:
                    row["rank"] = rank
                gathered: list[list[dict]] = [[] for _ in range(world)]
                torch.distributed.all_gather_object(gathered, rows)
                by_name = {r["image"]: r for part in gathered for r in part}
                rows = [by_name[name] for name, _ in images]
            scores.append(_summarise(spec.name, scale, rows))
    return scores


def _bicubic_upscaled(_spec: DatasetSpec, scale: int, images: list[tuple[str, torch.Tensor]]) -> list[torch.Tensor]:
    """MATLAB bicubic down, then MATLAB bicubic up (uint8 throughout)."""
    return [imresize(bicubic_lr(hr, scale), scale=scale) for _, hr in images]


def _hr_itself(_spec: DatasetSpec, scale: int, images: list[tuple[str, torch.Tensor]]) -> list[torch.Tensor]:
    """The modcropped HR images, as if a method had produced them: PSNR is infinite and SSIM 1 by construction."""
    return [modcrop(hr, scale) for _, hr in images]


# The reference points every method is set beside: the bicubic baseline, and the HR images (the reference point of
# no-reference metrics: NIQE of HR, a page's HR row), each with its title.
REFERENCES = {
    "bicubic": (_bicubic_upscaled, "bicubic (MATLAB imresize)"),
    "hr": (_hr_itself, "HR images (scored against themselves)"),
}


def evaluate_reference(
    source: str,
    specs: Iterable[DatasetSpec],
    scales: Iterable[int],
    data_root: Path,
    download: bool = True,
    scorers: list[Scorer] | None = None,
    limit: int | None = None,
) -> list[SetScore]:
    """Score a reference point (``source``, a key of ``REFERENCES``) with the scale's shave; ``limit``: each set's
    first images only, as a trial with ``val_images`` scores them."""
    return _evaluate(specs, scales, data_root, REFERENCES[source][0], download, limit=limit, scorers=scorers)


def evaluate_model(
    super_resolve: Callable[[torch.Tensor, int, str], torch.Tensor],
    specs: Iterable[DatasetSpec],
    scales: Iterable[int],
    data_root: Path,
    download: bool = True,
    limit: int | None = None,
    rank: int = 0,
    world: int = 1,
    scorers: list[Scorer] | None = None,
    device: torch.device = torch.device("cpu"),
    lr_ahead: bool | None = None,
    on_sr: Callable[[str, str, torch.Tensor], None] | None = None,
) -> list[SetScore]:
    """Score a model, given as ``super_resolve(lr_uint8, scale, image_name) -> sr_uint8``, on the protocol's LR.
    ``lr_ahead``: make each LR image on a helper thread while the network runs on the ones before, so an accelerator
    does not wait for that CPU work (default: where the metrics run on one; on a CPU the two would share its cores).
    The same images either way. ``on_sr(set, image, sr)`` sees each SR image made here."""
    ahead = device.type != "cpu" if lr_ahead is None else lr_ahead

    def run(spec: DatasetSpec, scale: int, images: list[tuple[str, torch.Tensor]]) -> list[torch.Tensor]:
        with ThreadPoolExecutor(max_workers=1) as helper:
            lrs = (helper.map if ahead else map)(lambda image: bicubic_lr(image[1], scale), images)
            pairs: Iterable = zip(images, lrs)
            if rank == 0:
                share = f" (rank 0's share of {world})" if world > 1 else ""
                pairs = _with_progress(pairs, len(images), f"{spec.name} x{scale}{share}")
            return [super_resolve(lr, scale, name) for (name, _), lr in pairs]

    return _evaluate(specs, scales, data_root, run, download, limit, rank, world, scorers, device, on_sr)


PROGRESS_EVERY_S = 10.0  # a network that takes seconds an image (Urban100 on a CPU) says how far it is this often


def _with_progress(items: Iterable[T], total: int, what: str) -> Iterator[T]:
    """``items``, saying on stderr how many of ``total`` images the caller has super-resolved, at most every
    ``PROGRESS_EVERY_S`` seconds (and not after the last: the scoring line follows)."""
    start = last = time.monotonic()
    for done, item in enumerate(items, 1):
        yield item
        now = time.monotonic()
        if now - last >= PROGRESS_EVERY_S and done < total:
            print(f"  {what}: {done} of {total} images super-resolved, {now - start:.0f} s", file=sys.stderr)
            last = now


def evaluate_folder(
    folder: Path,
    specs: list[DatasetSpec],
    scales: list[int],
    data_root: Path,
    download: bool = True,
    scorers: list[Scorer] | None = None,
) -> list[SetScore]:
    """Score SR images made by any method, laid out as FOLDER/SET/xS/<HR name>; every folder is checked before
    the first image is scored."""
    if not folder.is_dir():
        what = "is a file, not a folder" if folder.exists() else "does not exist"
        raise UserError(f"SR folder {folder} {what} (expected FOLDER/<set>/x<scale>/<HR file names>)")
    single_set, single_scale = len(specs) == 1, len(scales) == 1
    files = {}
    for spec in specs:
        stems = [Path(name).stem for name, _, _ in image_sizes(spec, data_root, download)]
        for scale in scales:
            files[spec.name, scale] = sr_files(
                find_sr_folder(folder, spec.name, scale, single_set, single_scale), stems
            )

    def read(spec: DatasetSpec, scale: int, images: list[tuple[str, torch.Tensor]]) -> list[torch.Tensor]:
        return load_sr_images(files[spec.name, scale], images, scale)

    return _evaluate(specs, scales, data_root, read, download, scorers=scorers)


def format_table(scores: list[SetScore], title: str) -> str:
    """A table with a column per metric scored (the registry's label and digits); blank where a set lacks it."""
    metrics = [get_metric(name) for name in dict.fromkeys(k for s in scores for k in s.figures)]
    widths = [max(9, len(m.label) + 2) for m in metrics]
    headings = "".join(f"{m.label:>{w}}" for m, w in zip(metrics, widths))
    lines = [title, f"{'set':<10}{'scale':>6}{'images':>8}{headings}"]
    for s in scores:
        cells = [
            f"{s.figures[m.name]:>{w}.{m.digits}f}" if m.name in s.figures else " " * w for m, w in zip(metrics, widths)
        ]
        lines.append(f"{s.set:<10}{'x' + str(s.scale):>6}{s.images:>8}" + "".join(cells))
    return "\n".join(lines)
