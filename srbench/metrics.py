"""The SR evaluation protocol's metrics: PSNR and SSIM on the Y channel.

Protocol (as in the SRCNN/VDSR/EDSR papers' MATLAB code):

* SR output clamped to [0, 255] and rounded (halves away from zero) to uint8;
* Y of BT.601 YCbCr, ``Y = 16 + (65.481 R + 128.553 G + 24.966 B) / 255``, kept as float;
* ``shave`` pixels (the scale) removed from every border;
* PSNR with peak 255; SSIM (Wang et al. 2004) with an 11x11 Gaussian window,
  sigma 1.5, K1 = 0.01, K2 = 0.03, L = 255, averaged over the 'valid' region.

Every function takes batches ``(N, 3, H, W)`` (or ``(N, 1, H, W)`` for Y) on any
device and returns one value per image; averaging per set is the caller's job.
SSIM runs in float64 with a separable window, which is exact to float64 rounding.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

PEAK = 255.0
SSIM_WINDOW = 11
SSIM_SIGMA = 1.5
SSIM_K1, SSIM_K2 = 0.01, 0.03


def quantize(image: torch.Tensor) -> torch.Tensor:
    """Clamp to [0, 255] and round halves away from zero to uint8, as saving a PNG does."""
    if image.dtype == torch.uint8:
        return image
    return torch.floor(image.to(torch.float64).clamp(0, 255) + 0.5).to(torch.uint8)


def rgb_to_y(rgb: torch.Tensor) -> torch.Tensor:
    """BT.601 luma in [16, 235] of an 8-bit RGB batch ``(N, 3, H, W)``, float64 ``(N, 1, H, W)``."""
    if rgb.shape[-3] != 3:
        raise ValueError(f"expected 3 colour channels, got shape {tuple(rgb.shape)}")
    r, g, b = rgb.to(torch.float64).unbind(-3)
    return (16 + (65.481 * r + 128.553 * g + 24.966 * b) / 255).unsqueeze(-3)


def shave_border(image: torch.Tensor, shave: int) -> torch.Tensor:
    if shave == 0:
        return image
    return image[..., shave:-shave, shave:-shave]


def _check_pair(sr: torch.Tensor, hr: torch.Tensor, shave: int) -> None:
    if sr.shape != hr.shape:
        raise ValueError(f"SR and HR shapes differ: {tuple(sr.shape)} vs {tuple(hr.shape)}")
    if min(sr.shape[-2:]) - 2 * shave < SSIM_WINDOW:
        raise ValueError(f"image {tuple(sr.shape[-2:])} is too small for shave {shave} and SSIM")


def psnr(sr: torch.Tensor, hr: torch.Tensor, shave: int = 0, y_channel: bool = True) -> torch.Tensor:
    """Per-image PSNR in dB of ``(N, 3, H, W)`` RGB batches (SR is quantized first)."""
    _check_pair(sr, hr, shave)
    a, b = quantize(sr), quantize(hr)
    if y_channel:
        a, b = rgb_to_y(a), rgb_to_y(b)
    diff = shave_border(a.to(torch.float64) - b.to(torch.float64), shave)
    mse = diff.pow(2).flatten(1).mean(dim=1)
    return 10 * torch.log10(PEAK**2 / mse)


def _gaussian_window(device: torch.device) -> torch.Tensor:
    radius = SSIM_WINDOW // 2
    x = torch.arange(-radius, radius + 1, dtype=torch.float64, device=device)
    g = torch.exp(-(x**2) / (2 * SSIM_SIGMA**2))
    return g / g.sum()


def _filter_valid(maps: torch.Tensor, window: torch.Tensor) -> torch.Tensor:
    """'valid' 2-D Gaussian filtering of ``(N, K, H, W)`` maps as two 1-D convolutions."""
    k = maps.shape[1]
    rows = window.view(1, 1, -1, 1).expand(k, 1, -1, 1)
    cols = window.view(1, 1, 1, -1).expand(k, 1, 1, -1)
    return F.conv2d(F.conv2d(maps, rows, groups=k), cols, groups=k)


def ssim(sr: torch.Tensor, hr: torch.Tensor, shave: int = 0) -> torch.Tensor:
    """Per-image Y-channel SSIM of ``(N, 3, H, W)`` RGB batches (SR is quantized first)."""
    _check_pair(sr, hr, shave)
    x = shave_border(rgb_to_y(quantize(sr)), shave)
    y = shave_border(rgb_to_y(quantize(hr)), shave)
    # Subtracting a constant changes no mean-free statistic and keeps the
    # E[x^2] - mu^2 cancellation small.
    x, y = x - 128, y - 128
    stats = _filter_valid(torch.cat([x, y, x * x, y * y, x * y], dim=1), _gaussian_window(x.device))
    mu_x, mu_y, xx, yy, xy = stats.unbind(1)
    var_x, var_y, cov = xx - mu_x**2, yy - mu_y**2, xy - mu_x * mu_y
    mu_x, mu_y = mu_x + 128, mu_y + 128
    c1, c2 = (SSIM_K1 * PEAK) ** 2, (SSIM_K2 * PEAK) ** 2
    ssim_map = ((2 * mu_x * mu_y + c1) * (2 * cov + c2)) / ((mu_x**2 + mu_y**2 + c1) * (var_x + var_y + c2))
    return ssim_map.flatten(1).mean(dim=1)
