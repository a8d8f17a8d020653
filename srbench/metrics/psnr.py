"""PSNR (peak 255) on the Y channel, the protocol's headline figure, and on RGB, its secondary one."""

from __future__ import annotations

import torch

from srbench.color import rgb_to_y_int
from srbench.metrics.protocol import check_pair, psnr_of, quantize, shave_border
from srbench.metrics.registry import Metric, register_metric
from srbench.metrics.ssim import luma_psnr, y_figures


def psnr(sr: torch.Tensor, hr: torch.Tensor, shave: int = 0, y_channel: bool = True) -> torch.Tensor:
    """Per-image PSNR in dB of ``(N, 3, H, W)`` RGB batches (SR is quantized first)."""
    check_pair(sr, hr, shave)
    a, b = shave_border(quantize(sr), shave), shave_border(quantize(hr), shave)
    if y_channel:
        return luma_psnr(rgb_to_y_int(a), rgb_to_y_int(b))
    return psnr_of(a, b)


def psnr_rgb(sr: torch.Tensor, hr: torch.Tensor, shave: int = 0) -> torch.Tensor:
    return psnr(sr, hr, shave, y_channel=False)


PSNR_Y = register_metric(
    Metric("psnr_y", "PSNR-Y", higher_is_better=True, digits=2, unit="dB", compute=psnr, joint=y_figures)
)
PSNR_RGB = register_metric(
    Metric("psnr_rgb", "PSNR-RGB", higher_is_better=True, digits=2, unit="dB", compute=psnr_rgb, column=False)
)
