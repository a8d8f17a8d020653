"""MATLAB-exact bicubic resizing (``imresize``) in torch, and ``modcrop``.

The benchmark LR images published with Set5/Set14/BSD100 were made with
MATLAB's ``imresize(hr, 1/s, 'bicubic')``. Reproducing them bit for bit takes
every detail of MATLAB's algorithm (``imresize.m``, ``contributions``):

* cubic kernel with a = -0.5, 4 taps wide;
* when shrinking, the kernel is stretched by 1/scale (antialiasing);
* output pixel ``x`` (1-based) samples input position ``x/scale + 0.5*(1 - 1/scale)``;
* weights are normalised per output pixel; out-of-range taps are clamped to the
  edge pixel (replicated, not mirrored), as the MATLAB that made the benchmark LR
  images did (later MATLAB releases mirror them, ``edges="mirror"``: NIQE's second
  scale, as BasicSR computes it);
* one 1-D pass per dimension, the dimension with the smaller scale first
  (rows first on ties); a uint8 input is rounded back to uint8 after each pass,
  halves away from zero, saturating at 0 and 255.

All arithmetic is float64 and the taps are accumulated in MATLAB's order, so
ties at .5 fall on the same side as in MATLAB.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
import torch

KERNEL_WIDTH = 4.0


def _cubic(x: np.ndarray) -> np.ndarray:
    """Keys' cubic convolution kernel with a = -0.5, written as MATLAB writes it."""
    absx = np.abs(x)
    absx2 = absx**2
    absx3 = absx**3
    near = (1.5 * absx3 - 2.5 * absx2 + 1) * (absx <= 1)
    far = (-0.5 * absx3 + 2.5 * absx2 - 4 * absx + 2) * ((absx > 1) & (absx <= 2))
    return near + far


EDGES = ("replicate", "mirror")


@lru_cache(maxsize=256)
def contributions(
    in_length: int, out_length: int, scale: float, antialias: bool = True, edges: str = "replicate"
) -> tuple[np.ndarray, np.ndarray]:
    """Per-output-pixel weights and 0-based input indices, as MATLAB's ``contributions``; ``edges``: out-of-range
    taps read the edge pixel (``"replicate"``) or their mirror image across the edge, the edge pixel repeated
    (``"mirror"``, MATLAB's ``aux = [1:in_length, in_length:-1:1]``).

    Returns ``(weights, indices)``, both of shape ``(out_length, taps)``.
    """
    if scale < 1 and antialias:

        def kernel(x: np.ndarray) -> np.ndarray:
            return scale * _cubic(scale * x)

        width = KERNEL_WIDTH / scale
    else:
        kernel = _cubic
        width = KERNEL_WIDTH
    x = np.arange(1, out_length + 1, dtype=np.float64)
    u = x / scale + 0.5 * (1 - 1 / scale)
    left = np.floor(u - width / 2)
    taps = int(math.ceil(width)) + 2
    ind = left[:, None] + np.arange(taps, dtype=np.float64)[None, :]
    weights = kernel(u[:, None] - ind)
    total = weights[:, 0].copy()
    for k in range(1, taps):  # sequential sum, as MATLAB's sum over a short row
        total = total + weights[:, k]
    weights = weights / total[:, None]
    indices = _edge_indices(ind.astype(np.int64) - 1, in_length, edges)
    keep = np.any(weights != 0, axis=0)
    weights, indices = weights[:, keep], indices[:, keep]
    weights.flags.writeable = False
    indices.flags.writeable = False
    return weights, indices


def _edge_indices(indices: np.ndarray, length: int, edges: str) -> np.ndarray:
    """0-based ``indices`` brought into ``[0, length)`` by the ``edges`` rule of :func:`contributions`."""
    if edges == "replicate":
        return np.clip(indices, 0, length - 1)
    if edges == "mirror":
        return np.concatenate([np.arange(length), np.arange(length - 1, -1, -1)])[np.mod(indices, 2 * length)]
    raise ValueError(f"edges must be one of {', '.join(EDGES)}, got {edges!r}")


def _round_half_away(x: torch.Tensor) -> torch.Tensor:
    return torch.sign(x) * torch.floor(torch.abs(x) + 0.5)


def _to_uint8(x: torch.Tensor) -> torch.Tensor:
    return _round_half_away(x).clamp_(0, 255).to(torch.uint8)


def _resize_dim(x: torch.Tensor, dim: int, out_length: int, scale: float, antialias: bool, edges: str) -> torch.Tensor:
    weights_np, indices_np = contributions(x.shape[dim], out_length, scale, antialias, edges)
    weights = torch.tensor(weights_np, device=x.device)
    indices = torch.tensor(indices_np, device=x.device)
    view = [1] * x.dim()
    view[dim] = out_length
    out = x.index_select(dim, indices[:, 0]).mul_(weights[:, 0].view(view))
    for k in range(1, weights.shape[1]):  # accumulate taps in MATLAB's order, in place (the same roundings)
        out += x.index_select(dim, indices[:, k]).mul_(weights[:, k].view(view))
    return out


def imresize(
    image: torch.Tensor,
    scale: float | None = None,
    size: tuple[int, int] | None = None,
    antialias: bool = True,
    edges: str = "replicate",
) -> torch.Tensor:
    """Resize like MATLAB's ``imresize(image, scale_or_size, 'bicubic')``.

    ``image`` is ``(H, W)``, ``(C, H, W)`` or ``(N, C, H, W)``, on any device.
    Give either ``scale`` (output size ``ceil(scale * input)``) or ``size = (h, w)``.
    ``edges``: how taps beyond the border read the image (see :func:`contributions`).
    A uint8 image comes back uint8 (rounded after each pass, like MATLAB);
    a floating image comes back in its own dtype, computed in float64.
    """
    if (scale is None) == (size is None):
        raise ValueError("give exactly one of scale or size")
    if image.dim() < 2:
        raise ValueError(f"expected an image of at least 2 dimensions, got shape {tuple(image.shape)}")
    in_h, in_w = image.shape[-2:]
    if size is not None:
        out_h, out_w = int(size[0]), int(size[1])
        if out_h < 1 or out_w < 1:
            raise ValueError(f"output size must be positive, got {size}")
        scales = (out_h / in_h, out_w / in_w)
    else:
        if not scale > 0:
            raise ValueError(f"scale must be positive, got {scale}")
        scales = (float(scale), float(scale))
        out_h, out_w = math.ceil(scale * in_h), math.ceil(scale * in_w)

    is_uint8 = image.dtype == torch.uint8
    if not (is_uint8 or image.is_floating_point()):
        raise ValueError(f"expected a uint8 or floating image, got {image.dtype}")
    x = image.to(torch.float64)
    h_dim, w_dim = x.dim() - 2, x.dim() - 1
    passes = [(h_dim, out_h, scales[0]), (w_dim, out_w, scales[1])]
    if scales[1] < scales[0]:  # MATLAB resizes along the smaller scale first; rows on ties
        passes.reverse()
    for dim, length, s in passes:
        x = _resize_dim(x, dim, length, s, antialias, edges)
        if is_uint8:
            x = _to_uint8(x).to(torch.float64)
    return x.to(torch.uint8) if is_uint8 else x.to(image.dtype)


def modcrop(image: torch.Tensor, scale: int) -> torch.Tensor:
    """Crop the bottom/right edges so height and width are multiples of ``scale``."""
    h, w = image.shape[-2:]
    return image[..., : h - h % scale, : w - w % scale]


def bicubic_lr(hr: torch.Tensor, scale: int) -> torch.Tensor:
    """The benchmark protocol's LR image: ``imresize(modcrop(hr, s), 1/s)``."""
    return imresize(modcrop(hr, scale), scale=1 / scale)
