"""Throughput of srbench's Y-PSNR + Y-SSIM against scikit-image (and BasicSR 1.4.2 if available).

Scores the bicubic x4 upscales of BSD100 against their HR images, the same
pairs for every implementation, and prints images/s and mean figures:

    SRBENCH_DATA=../shared/data python benchmarks/metrics_speed.py [--threads 2]
        [--basicsr-src PATH/TO/basicsr]   # an unpacked basicsr package folder, if not installed

BasicSR's ``calculate_psnr`` + ``calculate_ssim`` (numpy/OpenCV, ``test_y_channel=True``)
is the speed reference for srbench's target (>= 5x its throughput on the same machine).
"""

from __future__ import annotations

import importlib.util
import os
import sys
import types
from collections.abc import Callable

import numpy as np
import torch
from timing import best_of, speed_arguments

from srbench.data import get_spec, load_set, resolve_data_root
from srbench.degrade import bicubic_lr, imresize, modcrop
from srbench.hardware import describe_hardware
from srbench.metrics import psnr_ssim_y

SCALE = 4


def load_basicsr(src: str | None) -> types.ModuleType | None:
    """BasicSR's psnr_ssim module: installed, or loaded from its source files without its heavy __init__."""
    if src is None:
        try:
            from basicsr.metrics import psnr_ssim

            return psnr_ssim
        except Exception:  # not installed, or its import chain fails with this torchvision
            return None

    def load(name: str, path: str) -> types.ModuleType:
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
        return module

    for package in ("basicsr", "basicsr.utils", "basicsr.metrics"):
        sys.modules[package] = types.ModuleType(package)
    color = load("basicsr.utils.color_util", os.path.join(src, "utils", "color_util.py"))
    sys.modules["basicsr.utils"].bgr2ycbcr = color.bgr2ycbcr
    load("basicsr.utils.registry", os.path.join(src, "utils", "registry.py"))
    load("basicsr.metrics.metric_util", os.path.join(src, "metrics", "metric_util.py"))
    return load("basicsr.metrics.psnr_ssim", os.path.join(src, "metrics", "psnr_ssim.py"))


def timed(name: str, fn: Callable[[], list[tuple[float, float]]], n_images: int, repeats: int) -> None:
    best, values = best_of(fn, repeats)
    psnr_mean = np.mean([v[0] for v in values])
    ssim_mean = np.mean([v[1] for v in values])
    print(f"{name:<28}{n_images / best:>10.1f} img/s   PSNR {psnr_mean:.4f}   SSIM {ssim_mean:.4f}")


def main() -> None:
    args = speed_arguments(__doc__, "metrics/")

    images = load_set(get_spec("BSD100"), resolve_data_root())
    pairs = [(imresize(bicubic_lr(hr, SCALE), scale=SCALE), modcrop(hr, SCALE)) for _, hr in images]
    print(
        f"BSD100 x{SCALE} bicubic, {len(pairs)} image pairs; {describe_hardware()}, "
        f"torch {torch.__version__}, {args.threads} threads; best of {args.repeats}"
    )

    def ours() -> list[tuple[float, float]]:
        return [tuple(v.item() for v in psnr_ssim_y(sr[None], hr[None], SCALE)) for sr, hr in pairs]

    timed("srbench (torch)", ours, len(pairs), args.repeats)

    from skimage.metrics import peak_signal_noise_ratio, structural_similarity

    def y(img: torch.Tensor) -> np.ndarray:
        r, g, b = img.numpy().astype(np.float64)
        return (16 + (65.481 * r + 128.553 * g + 24.966 * b) / 255)[SCALE:-SCALE, SCALE:-SCALE]

    def skimage() -> list[tuple[float, float]]:
        out = []
        for sr, hr in pairs:
            a, b = y(sr), y(hr)
            out.append(
                (
                    peak_signal_noise_ratio(b, a, data_range=255),
                    structural_similarity(
                        a, b, gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=255
                    ),
                )
            )
        return out

    timed("scikit-image", skimage, len(pairs), args.repeats)

    basicsr = load_basicsr(args.basicsr_src)
    if basicsr is None:
        print("BasicSR                     not available (pip install basicsr==1.4.2, or --basicsr-src)")
        return
    bgr = [
        (sr.permute(1, 2, 0).numpy()[..., ::-1].copy(), hr.permute(1, 2, 0).numpy()[..., ::-1].copy())
        for sr, hr in pairs
    ]

    def basicsr_metrics() -> list[tuple[float, float]]:
        return [
            (
                basicsr.calculate_psnr(a, b, SCALE, test_y_channel=True),
                basicsr.calculate_ssim(a, b, SCALE, test_y_channel=True),
            )
            for a, b in bgr
        ]

    timed("BasicSR 1.4.2 (numpy/cv2)", basicsr_metrics, len(pairs), args.repeats)


if __name__ == "__main__":
    main()
