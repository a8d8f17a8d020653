"""Throughput of srbench's Y-PSNR + Y-SSIM against scikit-image (and BasicSR 1.4.2 if available), and of its NIQE
against BasicSR's.

Scores the bicubic x4 upscales of BSD100 against their HR images, the same
pairs for every implementation, and prints images/s and mean figures; then NIQE of the bicubic x4 upscales of Set5
and Set14 (shave 4). srbench's are timed as ``srbench eval`` and a trial compute them (``evaluate.score_pairs``: on
a CPU, image by image, side by side in one thread each):

    SRBENCH_DATA=../shared/data python benchmarks/metrics_speed.py [--threads 2]
        [--basicsr-src PATH/TO/basicsr]   # an unpacked basicsr package folder, if not installed

BasicSR's ``calculate_psnr`` + ``calculate_ssim`` (numpy/OpenCV, ``test_y_channel=True``) is the speed reference
for srbench's target (>= 10x its throughput on the same machine, the two timed in turns, OpenCV held to the same
thread count); its ``calculate_niqe`` (a numpy loop over 96x96 blocks) for NIQE's (>= 10x, the same values within
0.01). How to get BasicSR's source: ``benchmarks/basicsr_source.py``.
"""

from __future__ import annotations

# First, before torch loads OpenMP: srbench's OpenMP wait policy (passive, srbench/__init__.py), which srbench's
# commands run under, is then this benchmark's too (torch's default spins: faster on an idle machine).
import srbench  # noqa: F401

# isort: split
import types
import warnings
from collections.abc import Callable

import numpy as np
import torch
from basicsr_source import bgr_of, load_basicsr_metric
from niqe_reference import SETS, reference_images
from timing import best_of_turns, pad_heap, speed_arguments

from srbench.data import get_spec, load_set, resolve_data_root
from srbench.degrade import bicubic_lr, imresize, modcrop
from srbench.evaluate import score_pairs
from srbench.hardware import describe_hardware
from srbench.metrics import get_metric, prepare

SCALE = 4


def main() -> None:
    args = speed_arguments(__doc__, "metrics/")
    padded = pad_heap()

    images = load_set(get_spec("BSD100"), resolve_data_root())
    pairs = [(imresize(bicubic_lr(hr, SCALE), scale=SCALE), modcrop(hr, SCALE)) for _, hr in images]
    print(
        f"BSD100 x{SCALE} bicubic, {len(pairs)} image pairs; {describe_hardware()}, "
        f"torch {torch.__version__}, {args.threads} threads; best of {args.repeats}, timed in turns"
        f"{', heap padded (64 MiB)' if padded else ''}"
    )
    protocol = prepare([get_metric("psnr_y"), get_metric("ssim_y")], {})
    named = [(str(i), sr, hr) for i, (sr, hr) in enumerate(pairs)]
    runs = {"srbench (torch)": lambda: [(r["psnr_y"], r["ssim_y"]) for r in score_pairs(named, SCALE, protocol)]}
    runs["scikit-image"] = lambda: skimage_figures(pairs)
    basicsr = load_basicsr_metric(args.basicsr_src, "psnr_ssim")
    if basicsr is not None:
        runs["BasicSR 1.4.2 (numpy/cv2)"] = basicsr_figures(basicsr, pairs, args.threads)
    timings = best_of_turns(runs, args.repeats)
    for name, (seconds, values) in timings.items():
        psnr_mean, ssim_mean = np.mean(values, axis=0)
        print(f"{name:<28}{len(pairs) / seconds:>10.1f} img/s   PSNR {psnr_mean:.4f}   SSIM {ssim_mean:.4f}")
    if basicsr is None:
        print("BasicSR                     not available (pip install basicsr==1.4.2, or --basicsr-src)")
    else:
        ours, theirs = timings["srbench (torch)"][0], timings["BasicSR 1.4.2 (numpy/cv2)"][0]
        print(f"srbench is {theirs / ours:.1f}x BasicSR's throughput")
    niqe_speed(args.basicsr_src, args.repeats)


def skimage_figures(pairs: list[tuple[torch.Tensor, torch.Tensor]]) -> list[tuple[float, float]]:
    from skimage.metrics import peak_signal_noise_ratio, structural_similarity

    def y(img: torch.Tensor) -> np.ndarray:
        r, g, b = img.numpy().astype(np.float64)
        return (16 + (65.481 * r + 128.553 * g + 24.966 * b) / 255)[SCALE:-SCALE, SCALE:-SCALE]

    out = []
    for sr, hr in pairs:
        a, b = y(sr), y(hr)
        ssim = structural_similarity(
            a, b, gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=255
        )
        out.append((peak_signal_noise_ratio(b, a, data_range=255), ssim))
    return out


def basicsr_figures(
    basicsr: types.ModuleType, pairs: list[tuple[torch.Tensor, torch.Tensor]], threads: int
) -> Callable[[], list[tuple[float, float]]]:
    """BasicSR's ``calculate_psnr`` + ``calculate_ssim`` on BGR copies of ``pairs``, with OpenCV (its filter2D)
    held to srbench's thread count: on a loaded machine OpenCV's own default pool is far slower, not a fair
    reference."""
    import cv2

    cv2.setNumThreads(threads)
    bgr = [(bgr_of(sr), bgr_of(hr)) for sr, hr in pairs]

    def figures() -> list[tuple[float, float]]:
        return [
            (
                basicsr.calculate_psnr(a, b, SCALE, test_y_channel=True),
                basicsr.calculate_ssim(a, b, SCALE, test_y_channel=True),
            )
            for a, b in bgr
        ]

    return figures


def niqe_speed(basicsr_src: str | None, repeats: int) -> None:
    """NIQE of the bicubic x4 upscales of Set5 and Set14 (the images of the NIQE fixture), srbench's as ``srbench
    eval`` scores them; srbench and BasicSR timed in turns."""
    images = [
        reference_images(hr)["bicubic"] for name in SETS for _, hr in load_set(get_spec(name), resolve_data_root())
    ]
    print(f"\nNIQE of the Set5 + Set14 bicubic x{SCALE} upscales ({len(images)} images), shave {SCALE}")
    scorers = prepare([get_metric("niqe")], {})
    named = [(str(i), image, image) for i, image in enumerate(images)]
    runs = {"srbench (torch)": lambda: [row["niqe"] for row in score_pairs(named, SCALE, scorers)]}
    basicsr = load_basicsr_metric(basicsr_src, "niqe")
    if basicsr is not None:
        bgr = [bgr_of(image) for image in images]
        runs["BasicSR 1.4.2 (numpy)"] = lambda: [basicsr.calculate_niqe(image, SCALE) for image in bgr]
    with warnings.catch_warnings():  # BasicSR: numpy's "mean of empty slice" on blocks without a side, as intended
        warnings.simplefilter("ignore", RuntimeWarning)
        timings = best_of_turns(runs, repeats)
    for name, (seconds, values) in timings.items():
        print(f"{name:<28}{len(images) / seconds:>10.1f} img/s   NIQE {np.mean(values):.4f}")
    if basicsr is None:
        print("BasicSR                     not available (pip install basicsr==1.4.2, or --basicsr-src)")
        return
    (ours_s, ours), (theirs_s, theirs) = timings.values()
    gap = max(abs(a - b) for a, b in zip(ours, theirs))
    print(f"srbench is {theirs_s / ours_s:.1f}x BasicSR's throughput; largest per-image difference {gap:.4f}")


if __name__ == "__main__":
    main()
