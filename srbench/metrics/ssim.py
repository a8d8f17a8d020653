"""SSIM on the Y channel (Wang et al. 2004): an 11x11 Gaussian window, sigma 1.5, K1 = 0.01, K2 = 0.03, L = 255,
averaged over the 'valid' region; and Y-PSNR with it in one pass, converting to Y once (``psnr_ssim_y``).

Speed and precision: SSIM's window is separable and symmetric, so it runs as two 1-D passes of 6 multiplies each,
in float32 on values centred at 128 (which keeps ``E[x^2] - mu^2`` well conditioned), filtering only the four
maps the formula needs; it agrees with float64 references to about 1e-7. On CPU the images are filtered one at a
time so the working set stays in cache, which is several times faster than one big batched pass.
"""

from __future__ import annotations

from functools import lru_cache

import torch

from srbench.color import rgb_to_y
from srbench.metrics.protocol import PEAK, SSIM_WINDOW, check_pair, per_image_chunks, psnr_of, quantize, shave_border
from srbench.metrics.registry import Metric, register_metric

SSIM_SIGMA = 1.5
SSIM_K1, SSIM_K2 = 0.01, 0.03
_CENTRE = 128.0


@lru_cache(maxsize=1)
def _gaussian_taps() -> tuple[float, ...]:
    radius = SSIM_WINDOW // 2
    x = torch.arange(-radius, radius + 1, dtype=torch.float64)
    g = torch.exp(-(x**2) / (2 * SSIM_SIGMA**2))
    return tuple((g / g.sum()).tolist())


def blur_valid(maps: torch.Tensor, taps: tuple[float, ...], dim: int) -> torch.Tensor:
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
    stats = blur_valid(blur_valid(stats, taps, 2), taps, 3)
    mu_x, mu_y, squares, xy = stats.unbind(1)
    var_sum = squares - mu_x * mu_x - mu_y * mu_y
    cov = xy - mu_x * mu_y
    mu_x, mu_y = mu_x + _CENTRE, mu_y + _CENTRE
    c1, c2 = (SSIM_K1 * PEAK) ** 2, (SSIM_K2 * PEAK) ** 2
    ssim_map = ((2 * mu_x * mu_y + c1) * (2 * cov + c2)) / ((mu_x * mu_x + mu_y * mu_y + c1) * (var_sum + c2))
    # float32 rounding can put identical images a hair above 1; SSIM's range is [-1, 1].
    return ssim_map.flatten(1).to(torch.float64).mean(dim=1).clamp(-1.0, 1.0)


def psnr_ssim_y(sr: torch.Tensor, hr: torch.Tensor, shave: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-image ``(Y-PSNR, Y-SSIM)`` of ``(N, 3, H, W)`` RGB batches, converting to Y once."""
    check_pair(sr, hr, shave)
    psnrs, ssims = [], []
    for sr_chunk, hr_chunk in per_image_chunks(quantize(sr), quantize(hr)):
        y_sr = rgb_to_y(shave_border(sr_chunk, shave))
        y_hr = rgb_to_y(shave_border(hr_chunk, shave))
        psnrs.append(psnr_of(y_sr, y_hr))
        ssims.append(_ssim_of_y(y_sr, y_hr))
    return torch.cat(psnrs), torch.cat(ssims)


def y_figures(sr: torch.Tensor, hr: torch.Tensor, shave: int) -> dict[str, torch.Tensor]:
    """PSNR-Y and SSIM-Y by name, from one pass: the registry's joint computation of the two."""
    psnr_y, ssim_y = psnr_ssim_y(sr, hr, shave)
    return {"psnr_y": psnr_y, "ssim_y": ssim_y}


def ssim(sr: torch.Tensor, hr: torch.Tensor, shave: int = 0) -> torch.Tensor:
    """Per-image Y-channel SSIM of ``(N, 3, H, W)`` RGB batches (SR is quantized first)."""
    return psnr_ssim_y(sr, hr, shave)[1]


SSIM_Y = register_metric(Metric("ssim_y", "SSIM-Y", higher_is_better=True, digits=4, compute=ssim, joint=y_figures))
