"""The SR evaluation protocol's metrics: PSNR and SSIM on the Y channel.

Protocol (as in the SRCNN/VDSR/EDSR papers' MATLAB code):

* SR output clamped to [0, 255] and rounded (halves away from zero) to uint8;
* Y of BT.601 YCbCr, ``Y = 16 + (65.481 R + 128.553 G + 24.966 B) / 255``, kept as float;
* ``shave`` pixels (the scale) removed from every border;
* PSNR with peak 255; SSIM (Wang et al. 2004) with an 11x11 Gaussian window,
  sigma 1.5, K1 = 0.01, K2 = 0.03, L = 255, averaged over the 'valid' region.

Every function takes batches ``(N, 3, H, W)`` on any device and returns one
value per image; averaging per set is the caller's job.

Speed and precision: PSNR is computed in float64. SSIM's window is separable
and symmetric, so it runs as two 1-D passes of 6 multiplies each, in float32 on
values centred at 128 (which keeps ``E[x^2] - mu^2`` well conditioned), filtering
only the four maps the formula needs; it agrees
with float64 references to about 1e-7. On CPU the images are filtered one at a
time so the working set stays in cache, which is several times faster than one
big batched pass.
"""

from __future__ import annotations

from functools import lru_cache

import torch

from srbench.color import rgb_to_y

PEAK = 255.0
SSIM_WINDOW = 11
SSIM_SIGMA = 1.5
SSIM_K1, SSIM_K2 = 0.01, 0.03
_CENTRE = 128.0


def quantize(image: torch.Tensor) -> torch.Tensor:
    """Clamp to [0, 255] and round halves away from zero to uint8, as saving a PNG does."""
    if image.dtype == torch.uint8:
        return image
    return torch.floor(image.to(torch.float64).clamp(0, 255) + 0.5).to(torch.uint8)


def shave_border(image: torch.Tensor, shave: int) -> torch.Tensor:
    if shave == 0:
        return image
    return image[..., shave:-shave, shave:-shave]


def _check_pair(sr: torch.Tensor, hr: torch.Tensor, shave: int) -> None:
    if sr.shape != hr.shape:
        raise ValueError(f"SR and HR shapes differ: {tuple(sr.shape)} vs {tuple(hr.shape)}")
    if sr.dim() != 4 or sr.shape[1] != 3:
        raise ValueError(f"expected (N, 3, H, W) RGB batches, got shape {tuple(sr.shape)}")
    if min(sr.shape[-2:]) - 2 * shave < SSIM_WINDOW:
        raise ValueError(f"image {tuple(sr.shape[-2:])} is too small for shave {shave} and SSIM")


def _psnr_of(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    mse = (a.to(torch.float64) - b.to(torch.float64)).pow(2).flatten(1).mean(dim=1)
    return 10 * torch.log10(PEAK**2 / mse)


@lru_cache(maxsize=1)
def _gaussian_taps() -> tuple[float, ...]:
    radius = SSIM_WINDOW // 2
    x = torch.arange(-radius, radius + 1, dtype=torch.float64)
    g = torch.exp(-(x**2) / (2 * SSIM_SIGMA**2))
    return tuple((g / g.sum()).tolist())


def _blur_valid(maps: torch.Tensor, taps: tuple[float, ...], dim: int) -> torch.Tensor:
    """'valid' correlation with a symmetric 1-D window along ``dim``: pairs of taps share a multiply."""
    radius = len(taps) // 2
    n = maps.shape[dim] - 2 * radius
    out = maps.narrow(dim, radius, n) * taps[radius]
    pair = torch.empty_like(out)
    for k in range(radius):
        torch.add(maps.narrow(dim, k, n), maps.narrow(dim, 2 * radius - k, n), out=pair)
        out.add_(pair, alpha=taps[k])
    return out


def _ssim_of_y(y_sr: torch.Tensor, y_hr: torch.Tensor) -> torch.Tensor:
    """Mean SSIM of ``(N, 1, H, W)`` float Y batches (already shaved)."""
    taps = _gaussian_taps()
    x = (y_sr - _CENTRE).to(torch.float32)
    y = (y_hr - _CENTRE).to(torch.float32)
    # SSIM needs only the sum of the two second moments: four maps to filter, not five.
    stats = torch.cat([x, y, x * x + y * y, x * y], dim=1)
    stats = _blur_valid(_blur_valid(stats, taps, 2), taps, 3)
    mu_x, mu_y, squares, xy = stats.unbind(1)
    var_sum = squares - mu_x * mu_x - mu_y * mu_y
    cov = xy - mu_x * mu_y
    mu_x, mu_y = mu_x + _CENTRE, mu_y + _CENTRE
    c1, c2 = (SSIM_K1 * PEAK) ** 2, (SSIM_K2 * PEAK) ** 2
    ssim_map = ((2 * mu_x * mu_y + c1) * (2 * cov + c2)) / ((mu_x * mu_x + mu_y * mu_y + c1) * (var_sum + c2))
    return ssim_map.flatten(1).to(torch.float64).mean(dim=1)


def _per_image_chunks(*tensors: torch.Tensor):
    """One image at a time on CPU (cache-friendly); the whole batch at once on accelerators."""
    step = 1 if tensors[0].device.type == "cpu" else tensors[0].shape[0]
    for start in range(0, tensors[0].shape[0], step):
        yield tuple(t[start : start + step] for t in tensors)


def psnr_ssim_y(sr: torch.Tensor, hr: torch.Tensor, shave: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-image ``(Y-PSNR, Y-SSIM)`` of ``(N, 3, H, W)`` RGB batches, converting to Y once."""
    _check_pair(sr, hr, shave)
    psnrs, ssims = [], []
    for sr_chunk, hr_chunk in _per_image_chunks(quantize(sr), quantize(hr)):
        y_sr = rgb_to_y(shave_border(sr_chunk, shave))
        y_hr = rgb_to_y(shave_border(hr_chunk, shave))
        psnrs.append(_psnr_of(y_sr, y_hr))
        ssims.append(_ssim_of_y(y_sr, y_hr))
    return torch.cat(psnrs), torch.cat(ssims)


def psnr(sr: torch.Tensor, hr: torch.Tensor, shave: int = 0, y_channel: bool = True) -> torch.Tensor:
    """Per-image PSNR in dB of ``(N, 3, H, W)`` RGB batches (SR is quantized first)."""
    _check_pair(sr, hr, shave)
    a, b = quantize(sr), quantize(hr)
    if y_channel:
        a, b = rgb_to_y(a), rgb_to_y(b)
    return _psnr_of(shave_border(a, shave), shave_border(b, shave))


def ssim(sr: torch.Tensor, hr: torch.Tensor, shave: int = 0) -> torch.Tensor:
    """Per-image Y-channel SSIM of ``(N, 3, H, W)`` RGB batches (SR is quantized first)."""
    return psnr_ssim_y(sr, hr, shave)[1]
