"""Where srbench looks closely at an image: the comparison crop each trial saves and the leaderboard's strip
shows beside HR and bicubic. It is the most detailed square of the (scale-cropped) HR image, the one with the
most gradient energy, because a smooth region (Set5's baby's nose, the centre crop srbench used before) looks
alike in every variant. Deterministic: a trial and the page pick the same box from the same image."""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F

from srbench.data.catalogue import set_label

CROP_SIDE = 96
GRID = 8  # candidate boxes every 8 pixels: the choice is stable and cheap on a BSD100 image


def crop_box(image: torch.Tensor, size: int = CROP_SIDE) -> tuple[int, int, int]:
    """``(top, left, side)`` of the ``side`` x ``side`` square (``side`` = ``size`` or the image's smaller side)
    of ``image`` (C, H, W) with the largest sum of absolute horizontal and vertical differences; the first such
    box in raster order on ties."""
    h, w = image.shape[-2:]
    side = min(size, h, w)
    gray = image.to(torch.float32).mean(0)
    energy = (gray[:-1, 1:] - gray[:-1, :-1]).abs() + (gray[1:, :-1] - gray[:-1, :-1]).abs()  # (h-1, w-1)
    sums = F.avg_pool2d(energy[None, None], kernel_size=max(side - 1, 1), stride=GRID)[0, 0]
    best = int(torch.argmax(sums))
    return (best // sums.shape[1]) * GRID, (best % sums.shape[1]) * GRID, side


def centre_box(image: torch.Tensor, size: int = CROP_SIDE) -> tuple[int, int, int]:
    """The centred square that runs from before the detail crop saved (as ``crop_file(..., legacy=True)``)."""
    h, w = image.shape[-2:]
    side = min(size, h, w)
    return (h - side) // 2, (w - side) // 2, side


def crop_file(set_name: str, image_name: str, legacy: bool = False) -> str:
    """The crop's file name among a run's ``crops/`` artifacts: ``Set5-baby-detail.png``, or ``Set5-baby.png`` for
    the centre crop of a run from before the detail crop (never compared with a detail box). A folder set goes by
    its name (``folder:/data/my_bench`` -> ``my_bench-<image>-detail.png``): its path is no file name."""
    return f"{set_label(set_name)}-{Path(image_name).stem}{'' if legacy else '-detail'}.png"


def crop(image: torch.Tensor, box: tuple[int, int, int]) -> torch.Tensor:
    top, left, side = box
    return image[..., top : top + side, left : left + side]
