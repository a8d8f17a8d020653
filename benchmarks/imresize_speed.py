"""Throughput of srbench's MATLAB-exact bicubic ``imresize`` against BasicSR 1.4.2's ``imresize``.

    SRBENCH_DATA=../shared/data python benchmarks/imresize_speed.py --basicsr-src PATH/TO/basicsr [--threads 2]

Downscales the 100 BSD100 HR images by 1/4 (the protocol's LR, antialiased) with each implementation
and prints images/s, plus how often the two agree after rounding to uint8 (BasicSR returns floats
without rounding). Without ``--basicsr-src`` (an unpacked basicsr package folder, the one holding
``utils/matlab_functions.py``) only srbench is timed.
"""

from __future__ import annotations

# First, before torch loads OpenMP: srbench's OpenMP wait policy (passive, srbench/__init__.py), which srbench's
# commands run under, is then this benchmark's too (torch's default spins: faster on an idle machine).
import srbench  # noqa: F401

# isort: split
import importlib.util
import os
import types
from collections.abc import Callable

import torch
from timing import best_of, speed_arguments

from srbench.data import get_spec, load_set, resolve_data_root
from srbench.degrade import imresize, modcrop
from srbench.hardware import describe_hardware

SCALE = 4


def load_basicsr_imresize(src: str) -> Callable:
    path = os.path.join(src, "utils", "matlab_functions.py")  # imports only math, numpy and torch
    spec = importlib.util.spec_from_file_location("basicsr_matlab_functions", path)
    module: types.ModuleType = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.imresize


def main() -> None:
    args = speed_arguments(__doc__, "utils/")
    images = [modcrop(hr, SCALE) for _, hr in load_set(get_spec("BSD100"), resolve_data_root())]
    print(
        f"imresize 1/{SCALE} of the {len(images)} BSD100 HR images; {describe_hardware()}, torch {torch.__version__}, "
        f"{args.threads} thread(s), best of {args.repeats}"
    )
    ours_s, ours = best_of(lambda: [imresize(img, scale=1 / SCALE) for img in images], args.repeats)
    print(f"{'srbench imresize (uint8 in and out)':<44}{len(images) / ours_s:>9.1f} images/s")
    if args.basicsr_src:
        reference = load_basicsr_imresize(args.basicsr_src)
        theirs_s, theirs = best_of(lambda: [reference(img.float() / 255, 1 / SCALE) for img in images], args.repeats)
        rounded = [(t * 255).round().clamp(0, 255).to(torch.uint8) for t in theirs]
        same = sum(int((a == b).sum()) for a, b in zip(ours, rounded))
        total = sum(a.numel() for a in ours)
        worst = max(int((a.int() - b.int()).abs().max()) for a, b in zip(ours, rounded))
        print(f"{'BasicSR 1.4.2 imresize (float, rounded here)':<44}{len(images) / theirs_s:>9.1f} images/s")
        print(
            f"srbench is {theirs_s / ours_s:.1f}x BasicSR's throughput; identical uint8 pixels: "
            f"{100 * same / total:.4f} % (largest difference {worst})"
        )


if __name__ == "__main__":
    main()
