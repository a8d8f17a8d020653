"""MATLAB-exact imresize: against a per-pixel transliteration of imresize.m, known kernel values,
rounding rules, and regression digests of the benchmark LR images."""

from __future__ import annotations

import hashlib
import math

import numpy as np
import pytest
import torch

from srbench.data import get_spec, load_set, pixel_digest
from srbench.degrade import _to_uint8, bicubic_lr, contributions, imresize, modcrop


def reference_resize_1d(line: np.ndarray, out_len: int, scale: float, uint8: bool) -> np.ndarray:
    """One output pixel at a time, exactly as MATLAB's imresize.m describes it."""

    def cubic(x):
        ax = abs(x)
        if ax <= 1:
            return 1.5 * ax**3 - 2.5 * ax**2 + 1
        if ax <= 2:
            return -0.5 * ax**3 + 2.5 * ax**2 - 4 * ax + 2
        return 0.0

    width = 4 / scale if scale < 1 else 4
    out = np.zeros(out_len)
    for i in range(1, out_len + 1):
        u = i / scale + 0.5 * (1 - 1 / scale)
        left = math.floor(u - width / 2)
        taps = [left + k for k in range(math.ceil(width) + 2)]
        w = [scale * cubic(scale * (u - j)) if scale < 1 else cubic(u - j) for j in taps]
        total = 0.0
        for v in w:
            total += v
        acc = 0.0
        for j, v in zip(taps, w):
            acc += (v / total) * line[min(max(j, 1), len(line)) - 1]
        out[i - 1] = acc
    if uint8:
        out = np.clip(np.floor(out + 0.5), 0, 255)
    return out


def reference_imresize(img: np.ndarray, out_h: int, out_w: int, scale_h: float, scale_w: float) -> np.ndarray:
    uint8 = img.dtype == np.uint8
    x = img.astype(np.float64)
    first_rows = scale_h <= scale_w
    for axis in (0, 1) if first_rows else (1, 0):
        if axis == 0:
            x = np.stack([reference_resize_1d(x[:, c], out_h, scale_h, uint8) for c in range(x.shape[1])], axis=1)
        else:
            x = np.stack([reference_resize_1d(x[r, :], out_w, scale_w, uint8) for r in range(x.shape[0])], axis=0)
    return x.astype(np.uint8) if uint8 else x


@pytest.mark.parametrize("scale", [1 / 2, 1 / 3, 1 / 4, 0.7, 2, 3, 4, 1.5])
def test_matches_per_pixel_reference_on_a_real_crop(set5, scale):
    crop = set5[0][1][0, 100:124, 60:90].contiguous()  # one channel of baby.png, 24x30
    out = imresize(crop, scale=scale)
    out_h, out_w = math.ceil(scale * 24), math.ceil(scale * 30)
    expected = reference_imresize(crop.numpy(), out_h, out_w, scale, scale)
    assert out.dtype == torch.uint8 and tuple(out.shape) == (out_h, out_w)
    assert np.array_equal(out.numpy(), expected)


def test_size_argument_resizes_smaller_scale_first_and_matches_reference(set5):
    crop = set5[1][1][1, :40, :30].contiguous()
    out = imresize(crop, size=(13, 25))  # rows shrink (0.325), columns shrink less (0.833)
    expected = reference_imresize(crop.numpy(), 13, 25, 13 / 40, 25 / 30)
    assert np.array_equal(out.numpy(), expected)
    out = imresize(crop.double(), size=(50, 20))  # columns first: 20/30 < 50/40
    expected = reference_imresize(crop.double().numpy(), 50, 20, 50 / 40, 20 / 30)
    np.testing.assert_allclose(out.numpy(), expected, rtol=0, atol=1e-9)


def test_upscale_x2_weights_are_keys_cubic_at_quarter_offsets():
    weights, indices = contributions(10, 20, 2.0)
    # Interior output pixel 5 (1-based) sits at input position 2.75: taps at 1..4.
    np.testing.assert_array_equal(weights[4], [-0.0234375, 0.2265625, 0.8671875, -0.0703125])
    np.testing.assert_array_equal(indices[4], [0, 1, 2, 3])


def test_out_of_range_taps_are_clamped_to_the_edge_not_mirrored():
    weights, indices = contributions(10, 5, 0.5)
    assert indices.min() == 0 and indices.max() == 9
    assert (indices[0] == 0).sum() >= 2  # taps left of the image all read pixel 0


def test_mirrored_edges_resize_as_a_symmetrically_padded_image_does(set5):
    """``edges="mirror"`` (later MATLAB releases, NIQE's second scale) equals resizing the image padded with its
    mirror image, edge pixel repeated (``np.pad`` 'symmetric'), far enough that the pad's own edges are not read."""
    crop = set5[1][1][0, :40, :30].double()
    pad = 8  # the taps of a 1/2 shrink reach 4 pixels out; even, so the output grid is the same
    padded = torch.from_numpy(np.pad(crop.numpy(), pad, mode="symmetric"))
    expected = imresize(padded, scale=0.5)[pad // 2 : -pad // 2, pad // 2 : -pad // 2]
    assert torch.equal(imresize(crop, scale=0.5, edges="mirror"), expected)
    assert not torch.equal(imresize(crop, scale=0.5), expected)
    _, indices = contributions(10, 5, 0.5, edges="mirror")
    assert indices[0].tolist()[:4] == [2, 1, 0, 0]  # left of pixel 0: pixels 2, 1, 0 mirrored


def test_halves_round_away_from_zero_and_saturate():
    values = torch.tensor([0.5, 1.5, 2.5, 254.5, 0.49999, -0.5, 255.5, 300.0], dtype=torch.float64)
    assert _to_uint8(values).tolist() == [1, 2, 3, 255, 0, 0, 255, 255]


def test_uint8_input_is_rounded_between_the_two_passes(set5):
    crop = set5[3][1][0, :30, :30].contiguous()
    one_pass_each = imresize(imresize(crop, size=(10, 30)), size=(10, 10))
    assert torch.equal(imresize(crop, scale=1 / 3), one_pass_each)
    assert not torch.equal(imresize(crop.double(), scale=1 / 3).round().to(torch.uint8), one_pass_each)


def test_constant_image_stays_constant_and_batches_match_single_images(set5):
    flat = torch.full((3, 17, 23), 77, dtype=torch.uint8)
    assert torch.equal(imresize(flat, scale=1 / 3), torch.full((3, 6, 8), 77, dtype=torch.uint8))
    hr = modcrop(set5[2][1], 12)[:, :48, :60]
    batch = torch.stack([hr, hr.flip(-1)])
    out = imresize(batch, scale=1 / 4)
    assert torch.equal(out[0], imresize(hr, scale=1 / 4))
    assert torch.equal(out[1], imresize(hr.flip(-1), scale=1 / 4))


def test_float_input_keeps_its_dtype_and_is_not_rounded():
    img = torch.rand(1, 1, 9, 9, dtype=torch.float32)
    out = imresize(img, scale=2)
    assert out.dtype == torch.float32 and out.shape == (1, 1, 18, 18)
    assert not torch.equal(out, out.round())


@pytest.mark.parametrize("kwargs", [{}, {"scale": 2, "size": (4, 4)}, {"scale": 0}, {"size": (0, 3)}])
def test_bad_arguments_raise(kwargs):
    with pytest.raises(ValueError):
        imresize(torch.zeros(5, 5, dtype=torch.uint8), **kwargs)


def test_modcrop_keeps_the_top_left_corner():
    img = torch.arange(7 * 10).view(1, 7, 10)
    assert torch.equal(modcrop(img, 3), img[:, :6, :9])


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu(set5):
    hr = modcrop(set5[0][1], 4)
    assert torch.equal(bicubic_lr(hr.cuda(), 4).cpu(), bicubic_lr(hr, 4))


# SHA-256 over the per-image pixel digests of every LR image of the set, in file order.
# These LR images reproduce the published bicubic PSNR/SSIM to every printed digit
# (tests/test_evaluate.py), so any change to them is a regression.
LR_DIGESTS = {
    ("Set5", 2): "274887f48cbbef13d865aa3a95a9dd65b04e83718de56f45e6279bb5e2815607",
    ("Set5", 3): "0af8f1a26984faba79ccaa459abe3b8a717fd8fa269071f279ce1930d44ff2a6",
    ("Set5", 4): "4f4e0a6ec565c8b725cc850aebcbd24515c28a7b6c431e921684765466fc81a3",
    ("Set14", 2): "ab662678ee625fba16b6d518120f9f44dc3916d0c2ffb7b8eb22e3ae5968c442",
    ("Set14", 3): "598d34892e8451d43554ef7de2c10bbea376aed4a448eaa2197f71af258afe19",
    ("Set14", 4): "ba1ddc27b708868dcb51b326f52926797e843c0dd99f0f98a17773e7335f5a87",
    ("BSD100", 2): "d027f67d2cf86d549fae57be7bbd3152067989ed4145504cff95090aace4ac45",
    ("BSD100", 3): "b2a181ad7d737eeb31760fe76b6716816b9acb1cce7ecc40c01e5f7ca5c22b35",
    ("BSD100", 4): "f3be92cfceda10b3294746e6a41e96d3cab3212e85bf840e3568751d492bf921",
}


def lr_set_digest(images, scale: int) -> str:
    return hashlib.sha256("".join(pixel_digest(bicubic_lr(hr, scale)) for _, hr in images).encode()).hexdigest()


@pytest.mark.parametrize("set_name,scale", sorted(LR_DIGESTS))
def test_benchmark_lr_images_are_unchanged(data_root, set_name, scale):
    images = load_set(get_spec(set_name), data_root, download=False)
    assert lr_set_digest(images, scale) == LR_DIGESTS[(set_name, scale)]
