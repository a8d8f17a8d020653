"""The comparison crop: the most detailed square of a real benchmark image, chosen the same way every time."""

from __future__ import annotations

import torch

from srbench.crops import CROP_SIDE, crop, crop_box
from srbench.data import get_spec, load_set


def gradient_energy(image: torch.Tensor) -> float:
    gray = image.float().mean(0)
    return float((gray[:, 1:] - gray[:, :-1]).abs().sum() + (gray[1:] - gray[:-1]).abs().sum())


def test_the_crop_is_the_most_detailed_square_not_the_smooth_centre(data_root):
    _, baby = load_set(get_spec("Set5"), data_root, limit=1)[0]
    box = crop_box(baby)
    h, w = baby.shape[-2:]
    centre = ((h - CROP_SIDE) // 2, (w - CROP_SIDE) // 2, CROP_SIDE)
    assert box != centre and box[2] == CROP_SIDE
    assert gradient_energy(crop(baby, box)) > 2 * gradient_energy(crop(baby, centre))
    # no square on the 8-pixel grid has more detail, and the choice repeats exactly
    best = max(
        gradient_energy(crop(baby, (top, left, CROP_SIDE)))
        for top in range(0, h - CROP_SIDE + 1, 8)
        for left in range(0, w - CROP_SIDE + 1, 8)
    )
    assert gradient_energy(crop(baby, box)) == best and crop_box(baby.clone()) == box


def test_an_image_smaller_than_the_crop_is_taken_whole():
    assert crop_box(torch.zeros(3, 50, 40, dtype=torch.uint8)) == (0, 0, 40)
