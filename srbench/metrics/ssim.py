"""SSIM on the Y channel (Wang et al. 2004): an 11x11 Gaussian window, sigma 1.5, K1 = 0.01, K2 = 0.03, L = 255,
averaged over the 'valid' region; and Y-PSNR with it in one pass, converting to Y once (``psnr_ssim_y``).

Speed and precision: Y is exact, an integer in units of 1/255000 (``rgb_to_y_int``: int32 arithmetic from uint8
costs far less than float64), so Y-PSNR has no rounding before its mean and SSIM's maps are centred at 128 in
integer arithmetic and rounded once to float32. SSIM's window is separable: on CPU two 1-D depthwise convolutions
(oneDNN, every row then every column a channel, with no layout copies), elsewhere two elementwise passes of 6
multiplies each, on the four maps the formula needs; the formula reuses its products in place. It agrees with
float64 references to about 1e-7 (the tests' tolerance is 1e-5). On CPU the images are filtered one at a time so
the working set stays in cache, which is several times faster than one big batched pass.
"""

from __future__ import annotations

from functools import lru_cache

import torch
import torch.nn.functional as F

from srbench.color import Y_UNITS, rgb_to_y_int
from srbench.metrics.protocol import PEAK, SSIM_WINDOW, check_pair, per_image_chunks, psnr_of, quantize, shave_border
from srbench.metrics.registry import Metric, register_metric

SSIM_SIGMA = 1.5
SSIM_K1, SSIM_K2 = 0.01, 0.03
# The luma is centred at 128 (keeps cov = E[xy] - mu_x mu_y well conditioned in float32) in rgb_to_y_int's units,
# Y_UNITS per level: SSIM is the same when the images and sqrt(C1), sqrt(C2) are scaled alike.
_CENTRE_INT = (128 - 16) * Y_UNITS
_UNCENTRE = 128.0 * Y_UNITS
_C1, _C2 = (SSIM_K1 * PEAK * Y_UNITS) ** 2, (SSIM_K2 * PEAK * Y_UNITS) ** 2


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


def _taps_weight(taps: tuple[float, ...], channels: int, like: torch.Tensor) -> torch.Tensor:
    """The window as a depthwise convolution's weight, ``(channels, 1, 1, len(taps))``."""
    weight = torch.tensor(taps, dtype=like.dtype, device=like.device).view(1, 1, 1, -1)
    return weight.expand(channels, 1, 1, -1).contiguous()


def _blur_rows(maps: torch.Tensor, taps: tuple[float, ...]) -> torch.Tensor:
    """:func:`blur_valid` along dim 3 of contiguous float32 ``(N, M, H, W)`` maps as oneDNN's depthwise convolution,
    each of the N * M * H rows a channel (about 1.5x the elementwise passes)."""
    n, m, height, width = maps.shape
    rows = n * m * height
    out = F.conv2d(maps.view(1, rows, 1, width), _taps_weight(taps, rows, maps), groups=rows)
    return out.view(n, m, height, out.shape[-1])


def _blur_columns(maps: torch.Tensor, taps: tuple[float, ...]) -> torch.Tensor:
    """:func:`blur_valid` along dim 2 of contiguous float32 ``(N, M, H, W)`` maps as oneDNN's depthwise convolution,
    each of the W columns a channel: the maps' own layout is then channels-last, which oneDNN vectorizes across
    channels (about twice as fast as the elementwise passes), with no copy in or out."""
    n, m, height, width = maps.shape
    out = F.conv2d(
        maps.view(1, n * m, height, width).permute(0, 3, 1, 2), _taps_weight(taps, width, maps), groups=width
    )
    return out.permute(0, 2, 3, 1).reshape(n, m, out.shape[-1], width)


def _blur(stats: torch.Tensor, taps: tuple[float, ...]) -> torch.Tensor:
    """SSIM's 2-D Gaussian, 'valid', of contiguous ``(N, M, H, W)`` maps: on CPU as oneDNN depthwise convolutions,
    on accelerators as the elementwise passes (cuDNN may run convolutions in TF32, too coarse for SSIM)."""
    if stats.device.type != "cpu":
        return blur_valid(blur_valid(stats, taps, 2), taps, 3)
    rows = _blur_rows(stats, taps)
    del stats  # each buffer freed before the next is allocated: malloc reuses it, fewer fresh pages to fault in
    return _blur_columns(rows, taps)


def luma_psnr(k_sr: torch.Tensor, k_hr: torch.Tensor) -> torch.Tensor:
    """Per-image Y-PSNR of :func:`rgb_to_y_int` luma: exact differences, so no rounding before the mean."""
    return psnr_of(k_sr, k_hr, PEAK * Y_UNITS)


def _moments(k_sr: torch.Tensor, k_hr: torch.Tensor) -> torch.Tensor:
    """The four maps SSIM filters, ``x, y, (x - y)^2, xy``, float32 ``(N, 4, H, W)``, of the centred luma."""
    n, _, height, width = k_sr.shape
    stats = torch.empty((n, 4, height, width), dtype=torch.float32, device=k_sr.device)
    x, y, spread, xy = stats.split(1, dim=1)
    torch.sub(k_sr, _CENTRE_INT, out=x)  # exact in int32, then one rounding to float32
    torch.sub(k_hr, _CENTRE_INT, out=y)
    # SSIM needs only var_x + var_y, which E[(x - y)^2] gives with cov: four maps to filter, not five, and an
    # exact difference rather than E[x^2] + E[y^2] - 2 E[xy], which cancels.
    torch.sub(k_sr, k_hr, out=spread).square_()
    torch.mul(x, y, out=xy)
    return stats


def _mean_ssim(stats: torch.Tensor) -> torch.Tensor:
    """Per-image mean SSIM from the filtered maps of :func:`_moments`, overwritten in place (fewer passes). The map
    is a quarter of SSIM's, ``(mu_x mu_y + C1/2)(cov + C2/2) / (...)``: two passes fewer, and the 4 that the mean
    is multiplied by afterwards is exact in floating point."""
    mu_x, mu_y, spread, xy = stats.unbind(1)  # spread: E[(x - y)^2]
    half_cs_num = xy.addcmul_(mu_x, mu_y, value=-1).add_(_C2 / 2)  # cov + C2/2
    gap = torch.sub(mu_x, mu_y).square_()  # (mu_x - mu_y)^2, without cancellation
    half_l_num = mu_x.add_(_UNCENTRE).mul_(mu_y.add_(_UNCENTRE)).add_(_C1 / 2)  # mu_x mu_y + C1/2, of Y itself
    cs_den = spread.sub_(gap).add_(half_cs_num, alpha=2)  # var_x + var_y + C2
    l_den = gap.add_(half_l_num, alpha=2)  # mu_x^2 + mu_y^2 + C1
    quarter = half_l_num.mul_(half_cs_num).div_(l_den.mul_(cs_den))
    # Summed in float64: a float32 sum's rounding follows how the threads split it, and a figure must not change with
    # the thread count (a trial scores on one thread, `srbench eval` on all). Rounding can put identical images a
    # hair above 1.
    return (quarter.flatten(1).to(torch.float64).mean(dim=1) * 4).clamp(-1.0, 1.0)


def psnr_ssim_y(sr: torch.Tensor, hr: torch.Tensor, shave: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-image ``(Y-PSNR, Y-SSIM)`` of ``(N, 3, H, W)`` RGB batches, converting to Y once."""
    check_pair(sr, hr, shave)
    taps = _gaussian_taps()
    psnrs, ssims = [], []
    for sr_chunk, hr_chunk in per_image_chunks(quantize(sr), quantize(hr)):
        k_sr = rgb_to_y_int(shave_border(sr_chunk, shave))
        k_hr = rgb_to_y_int(shave_border(hr_chunk, shave))
        psnrs.append(luma_psnr(k_sr, k_hr))
        stats = _moments(k_sr, k_hr)
        del k_sr, k_hr  # freed before the blur allocates (see _blur)
        ssims.append(_mean_ssim(_blur(stats, taps)))
    return torch.cat(psnrs), torch.cat(ssims)


def y_figures(sr: torch.Tensor, hr: torch.Tensor, shave: int) -> dict[str, torch.Tensor]:
    """PSNR-Y and SSIM-Y by name, from one pass: the registry's joint computation of the two."""
    psnr_y, ssim_y = psnr_ssim_y(sr, hr, shave)
    return {"psnr_y": psnr_y, "ssim_y": ssim_y}


def ssim(sr: torch.Tensor, hr: torch.Tensor, shave: int = 0) -> torch.Tensor:
    """Per-image Y-channel SSIM of ``(N, 3, H, W)`` RGB batches (SR is quantized first)."""
    return psnr_ssim_y(sr, hr, shave)[1]


SSIM_Y = register_metric(Metric("ssim_y", "SSIM-Y", higher_is_better=True, digits=4, compute=ssim, joint=y_figures))
