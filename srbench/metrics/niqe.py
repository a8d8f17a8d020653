"""NIQE, the Natural Image Quality Evaluator (Mittal, Soundararajan and Bovik, "Making a 'Completely Blind' Image
Quality Analyzer", IEEE Signal Processing Letters 20(3), 2013): a no-reference metric, lower is more natural.

It needs no learned weights, only the multivariate Gaussian the authors fitted to pristine images (``mu``, ``cov``
of the MATLAB release, shipped as ``niqe_pris_params.npz``, the file BasicSR 1.4.2 ships, with MATLAB's 7x7
Gaussian window), so every run and page can score it. Computed as BasicSR 1.4.2's ``calculate_niqe(img,
crop_border=shave, convert_to='y')`` and MATLAB's ``niqe`` do:

* Y of BT.601 YCbCr as BasicSR computes it (:func:`srbench.color.rgb_to_y_basicsr`), ``shave`` pixels removed from
  every border, rounded to integers (half to even), cropped to whole 96x96 blocks (bottom and right dropped);
* at two scales, the image and its MATLAB bicubic ``imresize`` by 0.5 (:func:`srbench.degrade.imresize` with the
  mirrored edges of later MATLAB releases, which BasicSR copies; blocks of 48x48 there): local mean and deviation
  under the Gaussian window (edges replicated), normalised ``(y - mu) / (sigma + 1)``;
* per block, 18 features: an asymmetric generalised Gaussian (AGGD) fit of the coefficients and of their products
  with the right, lower, lower-right and lower-left neighbours (wrapping around the block, as ``np.roll``), each
  shape the one of 0.2, 0.201, ..., 10 whose moment ratio is nearest;
* a Gaussian fitted to the blocks' features (mean ignoring NaN, covariance of the blocks without NaN), and the
  distance ``sqrt((mu_p - mu)^T pinv((cov_p + cov) / 2) (mu_p - mu))``. An image with no block free of NaN (a flat
  one) has no NIQE: NaN, where BasicSR fails.

Batched: every block of an image is fitted at once, and the shape lookup is a bisection of the (increasing) moment
ratios rather than BasicSR's argmin over all 9801. Precision follows BasicSR's where it matters (the normalisation,
see :func:`_normalised`; block sums in float32), the fits and the distance are float64; the two agree within 0.0031
on Set5 and Set14, HR and bicubic x4 (``tests/test_niqe.py`` holds them to 0.01). On CPU the images of a batch are
done one at a time (cache); on an accelerator, the whole batch at once.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

from srbench.color import rgb_to_y_basicsr
from srbench.degrade import imresize
from srbench.errors import UserError
from srbench.metrics.protocol import per_image_chunks, quantize, shave_border
from srbench.metrics.registry import Metric, register_metric
from srbench.metrics.ssim import blur_valid

PRISTINE = Path(__file__).with_name("niqe_pris_params.npz")
BLOCK = 96
# Neighbours whose products with each coefficient are fitted: BasicSR's ``np.roll`` shifts (rows, columns).
SHIFTS = ((0, 1), (1, 0), (1, 1), (1, -1))
# The AGGD shapes tried, exactly BasicSR's ``np.arange(0.2, 10.001, 0.001)``.
SHAPES = torch.from_numpy(np.arange(0.2, 10.001, 0.001))


@lru_cache(maxsize=1)
def _saved() -> dict[str, np.ndarray]:
    with np.load(PRISTINE) as saved:
        return dict(saved)


@lru_cache(maxsize=4)
def _pristine(device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """The pristine Gaussian: ``(mu (36,), cov (36, 36))`` in float64 on ``device``."""
    saved = _saved()
    return torch.from_numpy(saved["mu_pris_param"][0]).to(device), torch.from_numpy(saved["cov_pris_param"]).to(device)


@lru_cache(maxsize=1)
def _window_taps() -> tuple[float, ...]:
    """The 1-D taps of MATLAB's 7x7 window (``fspecial('gaussian', 7, 7/6)``, separable): its row sums, whose outer
    product is the saved window within 3e-17. Two 1-D passes cost 14 multiplies a pixel instead of 49."""
    return tuple(_saved()["gaussian_window"].sum(axis=1).tolist())


@lru_cache(maxsize=4)
def _shape_table(device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """The shapes tried and their moment ratios ``Gamma(2/a)^2 / (Gamma(1/a) Gamma(3/a))``, increasing with ``a``."""
    shapes = SHAPES.to(device)
    return shapes, _gamma(2 / shapes) ** 2 / (_gamma(1 / shapes) * _gamma(3 / shapes))


def _gamma(x: torch.Tensor) -> torch.Tensor:
    return torch.lgamma(x).exp()  # the arguments here are all positive


def _closest_shape(ratio: torch.Tensor) -> torch.Tensor:
    """The shape whose moment ratio is nearest ``ratio``: BasicSR's ``gam[argmin((r_gam - ratio)**2)]``, found by
    bisection since the ratios increase (the lower shape on ties; the first shape where ``ratio`` is NaN or inf)."""
    shapes, ratios = _shape_table(ratio.device)
    above = torch.searchsorted(ratios, ratio.nan_to_num(0.0, 0.0)).clamp(1, len(ratios) - 1)
    lower = (ratios[above - 1] - ratio) ** 2 <= (ratios[above] - ratio) ** 2
    index = torch.where(ratio.isfinite(), above - lower.long(), 0)
    return shapes[index]


def _products(blocks: torch.Tensor) -> torch.Tensor:
    """The five variables fitted per block ``(..., h, w)``: the coefficients, and their products with the neighbours
    ``SHIFTS`` name, wrapping around the block as BasicSR's ``np.roll(block, shift)``: ``(..., 5, h, w)``. Each block
    is wrapped once (its last row above it, its last and first columns beside it) and the neighbours are slices."""
    h, w = blocks.shape[-2:]
    wrapped = torch.cat([blocks[..., -1:, :], blocks], dim=-2)
    wrapped = torch.cat([wrapped[..., -1:], wrapped, wrapped[..., :1]], dim=-1)
    fitted = blocks.new_empty((*blocks.shape[:-2], 1 + len(SHIFTS), h, w))
    fitted[..., 0, :, :] = blocks
    for k, (rows, cols) in enumerate(SHIFTS, start=1):
        neighbours = wrapped[..., 1 - rows : 1 - rows + h, 1 - cols : 1 - cols + w]
        torch.mul(blocks, neighbours, out=fitted[..., k, :, :])
    return fitted


def _moments(blocks: torch.Tensor) -> torch.Tensor:
    """What an AGGD fit needs of each of the five ``_products`` of each normalised block ``(..., h, w)``: the mean
    square of the negative values, of the positive ones, the mean absolute value and the mean square, float64
    ``(..., 5, 4)``; NaN where a side has no values (numpy's mean of nothing). Sums in float32, as BasicSR's, in a few
    large operations and no masks: the counts from the signs' sum (positives minus negatives) and squared norm (both),
    exact integers in float32 below 2^24."""
    fitted = _products(blocks).flatten(-2)
    signs = fitted.sign()
    net, nonzero = signs.sum(-1), torch.linalg.vector_norm(signs, dim=-1).square().round()
    left, right = fitted.clamp(max=0), fitted.clamp(min=0)
    norms = torch.stack([torch.linalg.vector_norm(left, dim=-1), torch.linalg.vector_norm(right, dim=-1)])
    squares = norms.to(torch.float64) ** 2
    counts = torch.stack([nonzero - net, nonzero + net]).to(torch.float64) / 2
    n = fitted.shape[-1]
    absolute = (right.sum(-1) - left.sum(-1)).to(torch.float64) / n
    return torch.stack([*(squares / counts), absolute, squares.sum(0) / n], dim=-1)


def _aggd(moments: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(shape, left scale, right scale)`` of the AGGD with these ``_moments`` (..., 4), by moment matching (Eq. 7
    of the paper, as BasicSR's ``estimate_aggd_param``)."""
    left_square, right_square, absolute, square = moments.unbind(-1)
    left_std, right_std = left_square.sqrt(), right_square.sqrt()
    skew = left_std / right_std
    ratio = absolute**2 / square * (skew**3 + 1) * (skew + 1) / (skew**2 + 1) ** 2
    shape = _closest_shape(ratio)
    spread = (_gamma(1 / shape) / _gamma(3 / shape)).sqrt()
    return shape, left_std * spread, right_std * spread


def _block_features(moments: torch.Tensor) -> torch.Tensor:
    """The paper's 18 features of each block at each scale from its ``_moments`` (..., 5, 4): the AGGD of the
    coefficients (shape, mean scale) and of their products with the four neighbours (shape, mean, left and right
    scales)."""
    shape, left, right = _aggd(moments)
    own = torch.stack([shape[..., 0], (left[..., 0] + right[..., 0]) / 2], dim=-1)
    mean = (right - left) * _gamma(2 / shape) / _gamma(1 / shape)  # Eq. 8
    pairs = torch.stack([shape, mean, left, right], dim=-1)[..., 1:, :].flatten(-2)
    return torch.cat([own, pairs], dim=-1)


def _normalised(y: torch.Tensor, taps: tuple[float, ...]) -> torch.Tensor:
    """``(y - mu) / (sigma + 1)`` with the local mean and deviation under the Gaussian window, edges replicated
    (Eq. 1), in BasicSR's precision: the window's sums in float64, stored in float32 (scipy's ``convolve`` of its
    float32 image), the rest in float32. That makes a flat region's coefficients exactly 0, as in BasicSR, where
    float64 would leave rounding noise whose AGGD fit is arbitrary (Set5's head.png would be 0.33 apart)."""
    padded = torch.nn.functional.pad(y.to(torch.float64), (len(taps) // 2,) * 4, mode="replicate")
    maps = torch.cat([padded, padded * padded], dim=1)
    # along each row first (faster here); the float64 order is free, scipy sums in an order of its own
    mu, second = blur_valid(blur_valid(maps, taps, 3), taps, 2).to(torch.float32).split(1, dim=1)
    sigma = torch.sub(second, mu * mu).abs_().sqrt_()  # in place from here: the same roundings, less memory
    return y.to(torch.float32).sub_(mu).div_(sigma.add_(1))


def _blocks(x: torch.Tensor, size: int) -> torch.Tensor:
    """``(N, 1, H, W)`` cut into ``(N, blocks, size, size)``, row by row."""
    n, _, h, w = x.shape
    return x.reshape(n, h // size, size, w // size, size).transpose(2, 3).reshape(n, -1, size, size)


def _features(y: torch.Tensor) -> torch.Tensor:
    """Every block's 36 features (18 at each scale) of ``(N, 1, H, W)`` Y images cropped to whole blocks; the two
    scales' fits are done together (fewer, larger operations)."""
    half = imresize(y, scale=0.5, edges="mirror")
    moments = [
        _moments(_blocks(_normalised(image, _window_taps()), size)) for image, size in ((y, BLOCK), (half, BLOCK // 2))
    ]
    return _block_features(torch.stack(moments, dim=-3)).flatten(-2)


def _distance(features: torch.Tensor, mu: torch.Tensor, cov: torch.Tensor) -> torch.Tensor:
    """Eq. 10 per image, between the pristine Gaussian and one fitted to ``features`` (N, blocks, 36): the mean over
    the blocks ignoring NaN (``np.nanmean``), the covariance (``np.cov``, n - 1) over the blocks with no NaN."""
    whole = ~features.isnan().any(dim=-1, keepdim=True)
    count = whole.sum(dim=1, keepdim=True)
    centred = torch.where(whole, features - torch.where(whole, features, 0).sum(1, keepdim=True) / count, 0)
    fitted_cov = centred.transpose(1, 2) @ centred / (count - 1)
    gap = (mu - features.nanmean(dim=1)).unsqueeze(-1)
    # numpy's pinv cutoff; the matrix is symmetric, so by eigenvalues (faster than numpy's SVD, the same inverse)
    inverse = torch.linalg.pinv((cov + fitted_cov) / 2, rtol=1e-15, hermitian=True)
    return (gap.transpose(1, 2) @ inverse @ gap).flatten().sqrt()


def _y_blocks(image: torch.Tensor, shave: int) -> torch.Tensor:
    """The rounded Y of ``(N, 3, H, W)`` uint8 RGB, shaved and cropped to whole 96x96 blocks."""
    image = shave_border(image, shave)
    rows, cols = (size // BLOCK for size in image.shape[-2:])
    if rows * cols < 2:  # one block has no covariance
        height, width = (size + 2 * shave for size in image.shape[-2:])
        raise UserError(
            f"NIQE needs at least two {BLOCK}x{BLOCK} blocks after the {shave}-pixel border shave; an image of "
            f"{width}x{height} has {rows * cols}"
        )
    return rgb_to_y_basicsr(image[..., : rows * BLOCK, : cols * BLOCK]).round()


def niqe(sr: torch.Tensor, hr: torch.Tensor | None = None, shave: int = 0) -> torch.Tensor:
    """Per-image NIQE of ``(N, 3, H, W)`` RGB (quantized to uint8 first) with ``shave`` pixels removed from every
    border; ``hr`` is ignored (no-reference). float64, lower is better."""
    if sr.dim() != 4 or sr.shape[1] != 3:
        raise ValueError(f"expected (N, 3, H, W) RGB batches, got shape {tuple(sr.shape)}")
    mu, cov = _pristine(sr.device)
    values = [_distance(_features(_y_blocks(chunk, shave)), mu, cov) for (chunk,) in per_image_chunks(quantize(sr))]
    return torch.cat(values)


NIQE = register_metric(
    Metric("niqe", "NIQE", higher_is_better=False, digits=2, compute=niqe, reference=False, perceptual=True)
)
