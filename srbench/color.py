"""BT.601 YCbCr (studio range) as MATLAB's rgb2ycbcr / ycbcr2rgb, on float tensors in [0, 255].

Channel dimension is -3: ``(..., 3, H, W)``.
"""

from __future__ import annotations

import torch

_RGB_TO_YCBCR = ((65.481, 128.553, 24.966), (-37.797, -74.203, 112.0), (112.0, -93.786, -18.214))
_OFFSET = (16.0, 128.0, 128.0)
# Y's weights are whole thousandths: 255000 (Y - 16) of 8-bit RGB is an integer, at most 255 * 219000 < 2**31.
Y_UNITS = 255_000
_Y_WEIGHTS_INT = tuple(round(k * 1000) for k in _RGB_TO_YCBCR[0])


def rgb_to_y(rgb: torch.Tensor) -> torch.Tensor:
    """Luma in [16, 235] of 8-bit RGB ``(..., 3, H, W)``, float64 ``(..., 1, H, W)``, not rounded."""
    if rgb.shape[-3] != 3:
        raise ValueError(f"expected 3 colour channels, got shape {tuple(rgb.shape)}")
    r, g, b = rgb.to(torch.float64).unbind(-3)
    kr, kg, kb = _RGB_TO_YCBCR[0]
    return (_OFFSET[0] + (kr * r + kg * g + kb * b) / 255).unsqueeze(-3)


def rgb_to_y_int(rgb: torch.Tensor) -> torch.Tensor:
    """``Y_UNITS * (Y - 16)`` of 8-bit RGB ``(..., 3, H, W)``, exact, as int32 ``(..., 1, H, W)``: :func:`rgb_to_y`
    without its float64 rounding, and about ten times faster (int32 from uint8 costs less than float64)."""
    if rgb.shape[-3] != 3:
        raise ValueError(f"expected 3 colour channels, got shape {tuple(rgb.shape)}")
    r, g, b = rgb.unbind(-3)
    kr, kg, kb = _Y_WEIGHTS_INT
    y = r.to(torch.int32).mul_(kr)
    return y.add_(g, alpha=kg).add_(b, alpha=kb).unsqueeze(-3)


def rgb_to_y_basicsr(rgb: torch.Tensor) -> torch.Tensor:
    """Luma of 8-bit RGB as BasicSR's ``bgr2ycbcr(img / 255., y_only=True) * 255.`` computes it, bit for bit: the
    same formula through its float32 steps (input scaled to float32, sum in float64, result cast to float32 and
    scaled back in float32). Metrics checked against BasicSR that round Y (NIQE) need it: the float64
    :func:`rgb_to_y` rounds to another integer for 92 of the 16.7M colours. Returns float64 ``(..., 1, H, W)``."""
    if rgb.shape[-3] != 3:
        raise ValueError(f"expected 3 colour channels, got shape {tuple(rgb.shape)}")
    r, g, b = rgb.to(torch.float32).div_(255).to(torch.float64).unbind(-3)
    kr, kg, kb = _RGB_TO_YCBCR[0]
    y = b * kb  # in place from here: the same roundings as BasicSR's expression, less memory
    y += g * kg
    y += r * kr
    y += _OFFSET[0]
    return y.div_(255).to(torch.float32).mul_(255).to(torch.float64).unsqueeze(-3)


def rgb_to_ycbcr(rgb: torch.Tensor) -> torch.Tensor:
    matrix = torch.tensor(_RGB_TO_YCBCR, dtype=torch.float64, device=rgb.device) / 255
    offset = torch.tensor(_OFFSET, dtype=torch.float64, device=rgb.device).view(3, 1, 1)
    return torch.einsum("ij,...jhw->...ihw", matrix, rgb.to(torch.float64)) + offset


def ycbcr_to_rgb(ycbcr: torch.Tensor) -> torch.Tensor:
    matrix = torch.linalg.inv(torch.tensor(_RGB_TO_YCBCR, dtype=torch.float64, device=ycbcr.device) / 255)
    offset = torch.tensor(_OFFSET, dtype=torch.float64, device=ycbcr.device).view(3, 1, 1)
    return torch.einsum("ij,...jhw->...ihw", matrix, ycbcr.to(torch.float64) - offset)
