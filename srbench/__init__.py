"""srbench: experiment orchestration and benchmarking for single-image super-resolution."""

import os

# Before torch loads its OpenMP runtime: srbench shares machines (several trials per node, a driver scoring while
# trials train), and OpenMP's default spin-waiting threads then make torch ~10x slower whenever another process holds
# a core (`srbench eval bicubic --sets Set14,BSD100 --scales 3` beside one busy core: 82 s spinning, 7 s passive).
# Sleeping at once, though, wakes a thread for every parallel operation: BSD100's PSNR + SSIM at 2 threads on an idle
# machine ran at 215 images/s against 539 with a brief spin. So threads spin briefly (2,000 turns: GNU OpenMP's
# GOMP_SPINCOUNT, torch's runtime on Linux), then sleep: that eval beside a busy core took 6.6 s (passive: 4.9 s).
# A user's own setting of either wins.
if "OMP_WAIT_POLICY" not in os.environ and "GOMP_SPINCOUNT" not in os.environ:
    os.environ["OMP_WAIT_POLICY"] = "PASSIVE"
    os.environ["GOMP_SPINCOUNT"] = "2000"

__version__ = "0.1.0"
