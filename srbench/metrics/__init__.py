"""The SR evaluation protocol's metrics, as a registry (:mod:`srbench.metrics.registry`).

Protocol (as in the SRCNN/VDSR/EDSR papers' MATLAB code), shared by every metric:

* SR output clamped to [0, 255] and rounded (halves away from zero) to uint8;
* ``shave`` pixels (the scale) removed from every border;
* PSNR with peak 255 and SSIM (11x11 Gaussian, sigma 1.5, valid region) on the Y of BT.601 YCbCr,
  ``Y = 16 + (65.481 R + 128.553 G + 24.966 B) / 255``, kept as float; PSNR-RGB as a secondary figure;
  LPIPS (AlexNet, v0.1) and DISTS (VGG16) on RGB where their weights are chosen; NIQE (no reference, BasicSR's Y,
  96x96 blocks) where chosen.

Every metric takes batches ``(N, 3, H, W)`` on any device and returns one value per image; averaging per set
is the caller's job. Importing this package registers srbench's own metrics, one module each.
"""

from srbench.color import rgb_to_y
from srbench.metrics import dists, lpips, niqe  # noqa: F401  (each metric's module registers it)
from srbench.metrics.protocol import quantize, shave_border
from srbench.metrics.psnr import psnr
from srbench.metrics.registry import (
    ALWAYS,
    METRICS,
    Metric,
    Scorer,
    Weights,
    choose,
    find_metric,
    get_metric,
    prepare,
    register_metric,
    score_batch,
    weights_options,
)
from srbench.metrics.ssim import psnr_ssim_y, ssim

__all__ = [
    "ALWAYS",
    "METRICS",
    "Metric",
    "Scorer",
    "Weights",
    "choose",
    "find_metric",
    "get_metric",
    "prepare",
    "psnr",
    "psnr_ssim_y",
    "quantize",
    "register_metric",
    "rgb_to_y",
    "score_batch",
    "shave_border",
    "ssim",
    "weights_options",
]
