"""Scoring SR results on the benchmark sets with the standard protocol.

``evaluate_bicubic`` scores the bicubic baseline; ``evaluate_folder`` scores
SR images produced by any method. Both return one :class:`SetScore` per
(set, scale), with per-image figures kept for JSON output.
"""

from __future__ import annotations

import sys
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from srbench.data import DatasetSpec, image_sizes, load_set
from srbench.data.images import image_size, list_images, load_rgb
from srbench.degrade import bicubic_lr, imresize, modcrop
from srbench.errors import UserError
from srbench.metrics import psnr, psnr_ssim_y

if TYPE_CHECKING:
    from srbench.lpips_metric import LPIPS

PROTOCOL = (
    "HR modcropped to the scale; LR = MATLAB-exact bicubic imresize(HR, 1/s) on uint8 RGB; "
    "SR clamped and rounded to uint8; PSNR and SSIM (11x11 Gaussian, sigma 1.5, valid) on float "
    "BT.601 Y, s pixels shaved from each border; mean over images"
)
# Bounds the float64 SSIM working set when a set has many same-size images.
MAX_BATCH = 16


@dataclass
class SetScore:
    set: str
    scale: int
    psnr_y: float
    ssim_y: float
    psnr_rgb: float
    images: int
    per_image: list[dict] = field(default_factory=list)
    lpips: float | None = None  # only where an LPIPS metric was given

    def as_dict(self) -> dict:
        return asdict(self)


def score_pairs(pairs: list[tuple[str, torch.Tensor, torch.Tensor]], scale: int, lpips: LPIPS | None = None,
                device: torch.device = torch.device("cpu")) -> list[dict]:
    """Per-image metrics for ``(name, sr, hr)`` triples of ``(3, H, W)`` tensors, batched by size and computed
    on ``device`` (a GPU trial scores on its GPU); with ``lpips``, an ``lpips`` figure per image too."""
    by_shape: dict[tuple, list[int]] = defaultdict(list)
    for i, (_, sr, _) in enumerate(pairs):
        by_shape[tuple(sr.shape)].append(i)
    rows: list[dict | None] = [None] * len(pairs)
    for indices in by_shape.values():
        for start in range(0, len(indices), MAX_BATCH):
            chunk = indices[start : start + MAX_BATCH]
            sr = torch.stack([pairs[i][1] for i in chunk]).to(device)
            hr = torch.stack([pairs[i][2] for i in chunk]).to(device)
            psnr_y, ssim_y = psnr_ssim_y(sr, hr, scale)
            values = zip(psnr_y.tolist(), ssim_y.tolist(), psnr(sr, hr, scale, y_channel=False).tolist())
            for i, (p, s, p_rgb) in zip(chunk, values):
                rows[i] = {"image": pairs[i][0], "psnr_y": p, "ssim_y": s, "psnr_rgb": p_rgb}
            if lpips is not None:
                for i, distance in zip(chunk, lpips(sr, hr, scale).tolist()):
                    rows[i]["lpips"] = distance
    return rows


def _summarise(set_name: str, scale: int, rows: list[dict]) -> SetScore:
    def mean(key: str) -> float:
        return sum(r[key] for r in rows) / len(rows)

    return SetScore(set_name, scale, mean("psnr_y"), mean("ssim_y"), mean("psnr_rgb"), len(rows), rows,
                    mean("lpips") if "lpips" in rows[0] else None)


SSIM_WINDOW = 11  # the scored region (HR shaved by s on every side) must hold one SSIM window


def scale_fits(height: int, width: int, scale: int) -> bool:
    """Whether an HR image of this size can be scored at ``scale``: modcropped and shaved by ``scale`` on each
    border, at least one SSIM window remains."""
    return min(height, width) // scale * scale - 2 * scale >= SSIM_WINDOW


def check_scale(set_name: str, sizes: Iterable[tuple[str, int, int]], scale: int) -> None:
    """A one-line error when ``scale`` is too large for the smallest of a set's images ``(name, height, width)``."""
    name, height, width = min(sizes, key=lambda size: min(size[1:]))
    if not scale_fits(height, width, scale):
        largest = max(s for s in range(1, min(height, width) + 1) if scale_fits(height, width, s))
        raise UserError(f"scale {scale} is too large for {set_name}: its smallest image {name} ({width}x{height}) "
                        f"would leave nothing to score after the {scale}-pixel border shave; the largest scale "
                        f"{set_name} allows is {largest}")


def _evaluate(
    specs: Iterable[DatasetSpec],
    scales: Iterable[int],
    data_root: Path,
    make_sr: Callable[[DatasetSpec, int, list[tuple[str, torch.Tensor]]], list[torch.Tensor]],
    download: bool,
    limit: int | None = None,
    rank: int = 0,
    world: int = 1,
    lpips: LPIPS | None = None,
    device: torch.device = torch.device("cpu"),
) -> list[SetScore]:
    """Score ``make_sr``'s output on each set and scale (the metrics on ``device``). Under ``torch.distributed`` each rank
    scores every ``world``-th image and the per-image rows are gathered, so all ranks work."""
    scores = []
    for spec in specs:
        images = load_set(spec, data_root, download, limit)
        share = images[rank::world]
        for scale in scales:
            check_scale(spec.name, [(name, *hr.shape[-2:]) for name, hr in images], scale)
            if rank == 0:
                print(f"scoring {spec.name} x{scale} ({len(images)} images)", file=sys.stderr)
            srs = make_sr(spec, scale, share)
            rows = score_pairs([(name, sr, modcrop(hr, scale)) for (name, hr), sr in zip(share, srs)], scale, lpips,
                               device)
            if world > 1:
                for row in rows:
                    row["rank"] = rank
                gathered: list[list[dict]] = [[] for _ in range(world)]
                torch.distributed.all_gather_object(gathered, rows)
                by_name = {r["image"]: r for part in gathered for r in part}
                rows = [by_name[name] for name, _ in images]
            scores.append(_summarise(spec.name, scale, rows))
    return scores


def evaluate_bicubic(specs: Iterable[DatasetSpec], scales: Iterable[int], data_root: Path, download: bool = True,
                     lpips: LPIPS | None = None, limit: int | None = None) -> list[SetScore]:
    """The bicubic baseline: MATLAB bicubic down, then MATLAB bicubic up (uint8 throughout); ``limit``: each set's
    first images only, as a trial with ``val_images`` scores them."""
    def upscale(_spec: DatasetSpec, scale: int, images: list[tuple[str, torch.Tensor]]) -> list[torch.Tensor]:
        return [imresize(bicubic_lr(hr, scale), scale=scale) for _, hr in images]

    return _evaluate(specs, scales, data_root, upscale, download, limit=limit, lpips=lpips)


def evaluate_model(
    super_resolve: Callable[[torch.Tensor, int, str], torch.Tensor],
    specs: Iterable[DatasetSpec],
    scales: Iterable[int],
    data_root: Path,
    download: bool = True,
    limit: int | None = None,
    rank: int = 0,
    world: int = 1,
    lpips: LPIPS | None = None,
    device: torch.device = torch.device("cpu"),
) -> list[SetScore]:
    """Score a model, given as ``super_resolve(lr_uint8, scale, image_name) -> sr_uint8``, on the protocol's LR."""
    def run(_spec: DatasetSpec, scale: int, images: list[tuple[str, torch.Tensor]]) -> list[torch.Tensor]:
        return [super_resolve(bicubic_lr(hr, scale), scale, name) for name, hr in images]

    return _evaluate(specs, scales, data_root, run, download, limit, rank, world, lpips, device)


def find_sr_folder(root: Path, set_name: str, scale: int, single_set: bool, single_scale: bool) -> Path:
    """Where a method's SR images for (set, scale) are: ROOT/SET/xS, ROOT/SET or ROOT itself."""
    candidates = [root / set_name / f"x{scale}", root / set_name / f"X{scale}"]
    if single_scale:
        candidates.append(root / set_name)
    if single_set and single_scale:
        candidates.append(root)
    for folder in candidates:
        if folder.is_dir() and list_images(folder):
            return folder
    looked = ", ".join(str(c) for c in candidates)
    raise UserError(f"no SR images for {set_name} x{scale}: looked in {looked}")


def sr_files(folder: Path, stems: list[str]) -> dict[str, Path]:
    """The SR file for each HR stem in ``folder`` (any image format), after checking that each HR image has
    exactly one, that each opens as an image, and saying which files match none."""
    files = list_images(folder)
    by_stem = {p.stem: p for p in files}
    twins = sorted(p.name for p in files if p.stem in stems and sum(q.stem == p.stem for q in files) > 1)
    if twins:
        raise UserError(f"{folder}: more than one SR image for the same HR image ({', '.join(twins[:10])}); "
                        f"keep one file per HR name")
    missing = [s for s in stems if s not in by_stem]
    extra = sorted(p.name for p in files if p.stem not in stems)
    if missing:
        hint = f"; unmatched files there: {', '.join(extra[:10])}" if extra else ""
        raise UserError(f"{folder}: no SR image named like HR file(s) {', '.join(missing[:10])}"
                        f"{' ...' if len(missing) > 10 else ''}{hint}")
    for stem in stems:
        image_size(by_stem[stem])  # an unreadable file or a decompression bomb, before any scoring
    if extra:
        print(f"{folder}: not scored (named like no HR image): {', '.join(extra[:10])}"
              f"{' ...' if len(extra) > 10 else ''}", file=sys.stderr)
    return {stem: by_stem[stem] for stem in stems}


def load_sr_images(files: dict[str, Path], images: list[tuple[str, torch.Tensor]], scale: int) -> list[torch.Tensor]:
    """The SR images (``files`` by HR stem), each sized like its modcropped HR."""
    srs, wrong = [], []
    for name, hr in images:
        path = files[Path(name).stem]
        sr = load_rgb(path)
        target = modcrop(hr, scale)
        if sr.shape == hr.shape:  # a method that kept the uncropped size: crop the same way
            sr = modcrop(sr, scale)
        if sr.shape != target.shape:
            wrong.append(f"{path.name} is {sr.shape[2]}x{sr.shape[1]}, expected {target.shape[2]}x{target.shape[1]}")
        srs.append(sr)
    if wrong:
        raise UserError(f"{files[Path(images[0][0]).stem].parent}: wrong SR image size(s): {'; '.join(wrong[:10])}")
    return srs


def evaluate_folder(folder: Path, specs: list[DatasetSpec], scales: list[int], data_root: Path, download: bool = True,
                    lpips: LPIPS | None = None) -> list[SetScore]:
    """Score SR images made by any method, laid out as FOLDER/SET/xS/<HR name>; every folder is checked before
    the first image is scored."""
    if not folder.is_dir():
        raise UserError(f"SR folder {folder} does not exist (expected FOLDER/<set>/x<scale>/<HR file names>)")
    single_set, single_scale = len(specs) == 1, len(scales) == 1
    files = {}
    for spec in specs:
        stems = [Path(name).stem for name, _, _ in image_sizes(spec, data_root, download)]
        for scale in scales:
            files[spec.name, scale] = sr_files(find_sr_folder(folder, spec.name, scale, single_set, single_scale), stems)

    def read(spec: DatasetSpec, scale: int, images: list[tuple[str, torch.Tensor]]) -> list[torch.Tensor]:
        return load_sr_images(files[spec.name, scale], images, scale)

    return _evaluate(specs, scales, data_root, read, download, lpips=lpips)


def format_table(scores: list[SetScore], title: str) -> str:
    with_lpips = any(s.lpips is not None for s in scores)
    lines = [title, f"{'set':<10}{'scale':>6}{'images':>8}{'PSNR-Y':>9}{'SSIM-Y':>9}{'PSNR-RGB':>10}"
                    + (f"{'LPIPS':>9}" if with_lpips else "")]
    for s in scores:
        lines.append(f"{s.set:<10}{'x' + str(s.scale):>6}{s.images:>8}{s.psnr_y:>9.2f}{s.ssim_y:>9.4f}{s.psnr_rgb:>10.2f}"
                     + (f"{s.lpips:>9.4f}" if with_lpips else ""))
    return "\n".join(lines)
