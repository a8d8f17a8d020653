"""Tiled inference: a network run window by window over an image too large for one pass, the windows' centres
stitched together.

Each window is ``tile`` network-input pixels per side and keeps only its core: the part at least ``overlap``
pixels from any window edge that is not an image edge. When ``overlap`` covers the network's receptive field
radius, every kept output pixel sees exactly the input it sees in whole-image inference (zero padding included,
since windows only end at image edges or ``overlap`` pixels past the core), so a convolutional network gives the
same output up to float rounding, with no blending. Peak memory is one window's activations.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

from srbench.errors import UserError

# Input pixels. Receptive field radii: SRCNN 9-1-5 6 (none needed with 'valid' padding: the border pad is real
# context), SRResNet 39, SRDenseNet 65 (32 leaves out only the far tail of their fields).
DEFAULT_OVERLAP = 32


@dataclass(frozen=True)
class Tiling:
    tile: int
    overlap: int = DEFAULT_OVERLAP

    def __post_init__(self) -> None:
        if self.tile <= 0 or self.overlap < 0 or self.tile <= 2 * self.overlap:
            raise ValueError(f"tile {self.tile} must be positive and exceed twice the overlap {self.overlap}")

    def describe(self) -> str:
        return f"tiled: {self.tile}-pixel tiles, {self.overlap}-pixel overlap (network input pixels)"

    def as_dict(self) -> dict[str, int]:
        return {"tile": self.tile, "overlap": self.overlap}


def spans(size: int, tile: int, overlap: int) -> list[tuple[int, int, int, int]]:
    """Along an axis of ``size`` pixels, ``(window start, window end, core start, core end)`` per tile. The cores
    partition the axis in steps of ``tile - 2 * overlap``; each window is ``tile`` long (the whole axis if shorter),
    shifted inside the image at its edges, so a core has ``overlap`` pixels of context or reaches the image edge
    on each side. Equal windows also let cuDNN reuse one algorithm choice."""
    step = tile - 2 * overlap
    out = []
    for core_start in range(0, size, step):
        start = min(max(core_start - overlap, 0), max(size - tile, 0))
        out.append((start, min(start + tile, size), core_start, min(core_start + step, size)))
    return out


def run_tiled(
    forward: Callable[..., torch.Tensor],
    x: torch.Tensor,
    scale: int,
    tiling: Tiling,
    border: int = 0,
    extras: Sequence[torch.Tensor] = (),
) -> torch.Tensor:
    """``forward(x, *extras)`` computed window by window. ``x``: ``(N, C, H + 2*border, W + 2*border)``, the input
    already padded by the network's ``border`` (pixels a 'valid' network loses per side); ``scale``: output pixels
    per input pixel (1 for a bicubic-input network); ``extras``: further inputs aligned with the image at an
    integer multiple of its resolution (SFT-GAN's condition maps), cut to each window alike. Returns
    ``(N, C_out, scale*H, scale*W)``."""
    height, width = x.shape[-2] - 2 * border, x.shape[-1] - 2 * border
    ratios = [_ratio(e, height, width) for e in extras]
    out = None
    for y0, y1, cy0, cy1 in spans(height, tiling.tile, tiling.overlap):
        for x0, x1, cx0, cx1 in spans(width, tiling.tile, tiling.overlap):
            window = x[..., y0 : y1 + 2 * border, x0 : x1 + 2 * border]
            parts = [e[..., y0 * r : y1 * r, x0 * r : x1 * r] for e, r in zip(extras, ratios)]
            result = forward(window, *parts)
            expected = ((y1 - y0) * scale, (x1 - x0) * scale)
            if tuple(result.shape[-2:]) != expected:
                raise UserError(
                    f"a {x1 - x0}x{y1 - y0} tile gave a {result.shape[-1]}x{result.shape[-2]} output, expected "
                    f"{expected[1]}x{expected[0]}: the network needs other input sizes; try another --tile"
                )
            if out is None:
                out = result.new_empty(*result.shape[:-2], height * scale, width * scale)
            out[..., cy0 * scale : cy1 * scale, cx0 * scale : cx1 * scale] = result[
                ..., (cy0 - y0) * scale : (cy1 - y0) * scale, (cx0 - x0) * scale : (cx1 - x0) * scale
            ]
    return out


def _ratio(extra: torch.Tensor, height: int, width: int) -> int:
    ratio = extra.shape[-2] // height
    if tuple(extra.shape[-2:]) != (height * ratio, width * ratio):
        raise ValueError(f"an extra input of {tuple(extra.shape)} is not aligned with a {height}x{width} image")
    return ratio
