"""What the speed benchmarks share: a parser with thread, repeat and BasicSR options, and best-of-N timing."""

from __future__ import annotations

import argparse
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


def best_of(fn: Callable[[], T], repeats: int) -> tuple[float, T]:
    """``(fastest of `repeats` timed calls in seconds, its result)``, after one warm-up call."""
    out = fn()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - start)
    return best, out
