"""The evaluation protocol's common steps, shared by every metric: SR and HR quantized to uint8, the border shave,
the shape checks, PSNR's formula, and the per-image chunking that keeps CPU work in cache."""

from __future__ import annotations

from collections.abc import Iterator

import torch

PEAK = 255.0
SSIM_WINDOW = 11  # the scored region must hold one SSIM window


def quantize(image: torch.Tensor) -> torch.Tensor:
    """Clamp to [0, 255] and round halves away from zero to uint8, as saving a PNG does."""
    if image.dtype == torch.uint8:
        return image
    return torch.floor(image.to(torch.float64).clamp(0, 255) + 0.5).to(torch.uint8)


def shave_border(image: torch.Tensor, shave: int) -> torch.Tensor:
    if shave == 0:
        return image
    return image[..., shave:-shave, shave:-shave]


def unit_rgb(image: torch.Tensor, shave: int) -> torch.Tensor:
    """Quantized, shaved RGB as float32 in [0, 1]: the input of the metrics on ImageNet trunks (LPIPS, DISTS)."""
    return shave_border(quantize(image), shave).float() / PEAK


def check_pair(sr: torch.Tensor, hr: torch.Tensor, shave: int) -> None:
    if sr.shape != hr.shape:
        raise ValueError(f"SR and HR shapes differ: {tuple(sr.shape)} vs {tuple(hr.shape)}")
    if sr.dim() != 4 or sr.shape[1] != 3:
        raise ValueError(f"expected (N, 3, H, W) RGB batches, got shape {tuple(sr.shape)}")
    if min(sr.shape[-2:]) - 2 * shave < SSIM_WINDOW:
        raise ValueError(f"image {tuple(sr.shape[-2:])} is too small for shave {shave} and SSIM")


def psnr_of(a: torch.Tensor, b: torch.Tensor, peak: float = PEAK) -> torch.Tensor:
    """Per-image PSNR, in float64, of two batches of integer images of the same shape (uint8 RGB, or int32 luma with
    ``peak`` 255 in its units). Subtracted in int32, exact and cheaper than converting both to float64."""
    diff = (a.to(torch.int32) - b.to(torch.int32)).flatten(1).to(torch.float64)
    return 10 * torch.log10(peak**2 / diff.square_().mean(dim=1))


def per_image_chunks(*tensors: torch.Tensor) -> Iterator[tuple[torch.Tensor, ...]]:
    """One image at a time on CPU (cache-friendly); the whole batch at once on accelerators."""
    step = 1 if tensors[0].device.type == "cpu" else tensors[0].shape[0]
    for start in range(0, tensors[0].shape[0], step):
        yield tuple(t[start : start + step] for t in tensors)
