"""What the speed benchmarks share: a parser with thread, repeat and BasicSR options, and best-of-N timing."""

from __future__ import annotations

import argparse
import ctypes
import ctypes.util
import os
import time
from collections.abc import Callable
from typing import TypeVar

import torch

T = TypeVar("T")


def speed_arguments(doc: str, basicsr_holds: str) -> argparse.Namespace:
    """``--threads`` (applied here), ``--repeats`` and ``--basicsr-src`` (an unpacked basicsr package folder,
    the one holding ``basicsr_holds``)."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--basicsr-src", help=f"folder of an unpacked basicsr package (the one holding {basicsr_holds})"
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))
    return args


MMAP_THRESHOLD_MAX = 32 << 20  # glibc's DEFAULT_MMAP_THRESHOLD_MAX on 64-bit systems


def pad_heap(mib: int = 64) -> bool:
    """Keep ``mib`` MiB of freed memory at the top of glibc's heap (``mallopt(M_TOP_PAD)``) instead of returning it to
    the system after each image: otherwise the next image's buffers are fresh pages, faulted in one by one, and
    whether that happens depends on what ran before (measured: 170 to 430 images/s for the same Y-PSNR/SSIM code).
    Setting any of these options turns off glibc's sliding mmap threshold, so it is also set where a long-running
    process's slides to (32 MiB, glibc's largest): without it every buffer over 128 KiB is a fresh mmap, faulted in
    again on each use (NIQE ran at half its speed). Padding the heap times the code rather than the allocator's
    state. False where the C library has no mallopt."""
    libc = ctypes.CDLL(ctypes.util.find_library("c"))
    m_top_pad, m_mmap_threshold = -2, -3
    return (
        hasattr(libc, "mallopt")
        and libc.mallopt(m_top_pad, mib << 20) == 1
        and libc.mallopt(m_mmap_threshold, MMAP_THRESHOLD_MAX) == 1
    )


def best_of(fn: Callable[[], T], repeats: int) -> tuple[float, T]:
    """``(fastest of `repeats` timed calls in seconds, its result)``, after one warm-up call."""
    return best_of_turns({"": fn}, repeats)[""]


def best_of_turns(fns: dict[str, Callable[[], T]], repeats: int) -> dict[str, tuple[float, T]]:
    """:func:`best_of` for several functions timed in turns, one call of each per round (after a warm-up round):
    a change in a shared machine's load during the run weighs on all of them alike, so their ratio stays fair."""
    out = {name: fn() for name, fn in fns.items()}
    best = dict.fromkeys(fns, float("inf"))
    for _ in range(repeats):
        for name, fn in fns.items():
            start = time.perf_counter()
            out[name] = fn()
            best[name] = min(best[name], time.perf_counter() - start)
    return {name: (best[name], out[name]) for name in fns}
