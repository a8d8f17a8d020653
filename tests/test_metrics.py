"""Y-PSNR / Y-SSIM against scikit-image (float64) with the protocol's settings."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from srbench.color import Y_UNITS, rgb_to_y_int
from srbench.degrade import bicubic_lr, imresize, modcrop
from srbench.metrics import psnr, psnr_ssim_y, quantize, rgb_to_y, ssim
from srbench.metrics.ssim import _blur, _gaussian_taps, blur_valid


def reference(sr: torch.Tensor, hr: torch.Tensor, shave: int) -> tuple[float, float]:
    """Plain float64 numpy/scikit-image scoring of one (3, H, W) uint8 pair."""

    def y(img):
        r, g, b = img.numpy().astype(np.float64)
        return (16 + (65.481 * r + 128.553 * g + 24.966 * b) / 255)[shave:-shave, shave:-shave]

    a, b = y(sr), y(hr)
    return (
        peak_signal_noise_ratio(b, a, data_range=255),
        structural_similarity(a, b, gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=255),
    )


def bicubic_pairs(images, scale):
    return [(imresize(bicubic_lr(hr, scale), scale=scale), modcrop(hr, scale)) for _, hr in images]


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_agrees_with_scikit_image_on_real_images(set5, set14, scale):
    for sr, hr in bicubic_pairs(set5 + set14[:6], scale):
        p, s = psnr_ssim_y(sr[None], hr[None], scale)
        ref_p, ref_s = reference(sr, hr, scale)
        assert abs(p.item() - ref_p) < 1e-4
        assert abs(s.item() - ref_s) < 1e-5


@pytest.mark.parametrize("kind", ["noise", "extremes", "flat_vs_noise"])
def test_agrees_with_scikit_image_on_hard_synthetic_images(kind):
    gen = torch.Generator().manual_seed(0)
    hr = torch.randint(0, 256, (3, 64, 80), generator=gen, dtype=torch.uint8)
    if kind == "noise":
        sr = (hr.int() + torch.randint(-40, 41, hr.shape, generator=gen)).clamp(0, 255).to(torch.uint8)
    elif kind == "extremes":  # saturated black/white blocks: worst case for E[x^2] - mu^2
        hr = (torch.rand(3, 8, 10, generator=gen) > 0.5).to(torch.uint8).repeat_interleave(8, 1).repeat_interleave(
            8, 2
        ) * 255
        sr = 255 - hr
        sr[:, :32] = hr[:, :32]
    else:
        sr = torch.full_like(hr, 235)
    p, s = psnr_ssim_y(sr[None], hr[None], 4)
    ref_p, ref_s = reference(sr, hr, 4)
    assert abs(p.item() - ref_p) < 1e-4 and abs(s.item() - ref_s) < 1e-5


def test_batch_equals_single_images_and_identical_images_score_perfectly(set5):
    hr = torch.stack([modcrop(img, 4)[:, :96, :96] for _, img in set5])
    sr = torch.stack([imresize(bicubic_lr(h, 4), scale=4) for h in hr])
    p, s = psnr_ssim_y(sr, hr, 4)
    for i in range(len(hr)):
        pi, si = psnr_ssim_y(sr[i : i + 1], hr[i : i + 1], 4)
        assert p[i].item() == pi.item() and s[i].item() == si.item()
    assert torch.equal(ssim(sr, hr, 4), s) and torch.equal(psnr(sr, hr, 4), p)
    assert torch.isinf(psnr(hr, hr, 4)).all()
    assert torch.allclose(ssim(hr, hr, 4), torch.ones(len(hr), dtype=torch.float64), atol=1e-6)


def test_figures_do_not_change_with_the_thread_count(set5):
    """A trial scores on one thread and `srbench eval` on all: the same images must give the same figures."""
    hr = torch.stack([modcrop(img, 4)[:, :240, :240] for _, img in set5[:2]])
    sr = torch.stack([imresize(bicubic_lr(h, 4), scale=4) for h in hr])
    threads = torch.get_num_threads()
    try:
        figures = []
        for count in (1, 2):
            torch.set_num_threads(count)
            figures.append(psnr_ssim_y(sr, hr, 4))
    finally:
        torch.set_num_threads(threads)
    assert all(torch.equal(a, b) for a, b in zip(*figures))


def test_sr_is_clamped_and_rounded_half_away_from_zero_before_scoring():
    sr = torch.tensor([-3.0, 0.5, 1.49, 2.5, 254.5, 300.0])
    assert quantize(sr).tolist() == [0, 1, 1, 3, 255, 255]
    hr = torch.randint(0, 256, (1, 3, 32, 32), dtype=torch.uint8)
    float_sr = hr.double() + 0.4  # rounds back onto hr exactly
    assert torch.isinf(psnr(float_sr, hr, 2)).all()


def test_y_channel_uses_bt601_studio_range_without_rounding():
    rgb = torch.tensor([[0, 255, 10], [0, 255, 20], [0, 255, 30]], dtype=torch.uint8).view(1, 3, 1, 3)
    y = rgb_to_y(rgb).flatten().tolist()
    assert y[0] == pytest.approx(16.0) and y[1] == pytest.approx(235.0)
    assert y[2] == pytest.approx(16 + (65.481 * 10 + 128.553 * 20 + 24.966 * 30) / 255) and y[2] != round(y[2])


def test_integer_luma_is_the_float_luma_exactly():
    rgb = torch.randint(0, 256, (1, 3, 64, 64), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    rgb[..., 0, :2] = torch.tensor([[0, 255]] * 3, dtype=torch.uint8)  # the extremes: 0 and 219 * Y_UNITS
    exact = rgb_to_y_int(rgb).double() / Y_UNITS + 16
    assert torch.allclose(exact, rgb_to_y(rgb), rtol=0, atol=1e-12)


def test_cpu_convolutions_blur_as_the_accelerators_elementwise_passes():
    maps = torch.randn(2, 4, 40, 33, generator=torch.Generator().manual_seed(0)) * 1e7
    taps = _gaussian_taps()
    elementwise = blur_valid(blur_valid(maps, taps, 2), taps, 3)
    assert torch.allclose(_blur(maps, taps), elementwise, rtol=1e-6, atol=1.0)


def test_rgb_psnr_differs_from_y_psnr(set5):
    sr, hr = bicubic_pairs(set5[:1], 3)[0]
    assert psnr(sr[None], hr[None], 3, y_channel=False).item() < psnr(sr[None], hr[None], 3).item()


@pytest.mark.parametrize(
    "shapes", [((1, 3, 32, 32), (1, 3, 32, 30)), ((1, 3, 18, 18), (1, 3, 18, 18)), ((1, 1, 40, 40), (1, 1, 40, 40))]
)
def test_mismatched_or_tiny_inputs_raise(shapes):
    a, b = (torch.zeros(s, dtype=torch.uint8) for s in shapes)
    with pytest.raises(ValueError):
        psnr_ssim_y(a, b, 4)
