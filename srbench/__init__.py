"""srbench: experiment orchestration and benchmarking for single-image super-resolution."""

import os

# Before torch loads its OpenMP runtime: srbench shares machines (several trials per node, a
# driver scoring while trials train), and OpenMP's default spin-waiting threads then make torch
# ~10x slower whenever another process holds a core (`srbench eval bicubic --sets Set14,BSD100
# --scales 3` beside one busy core: 82 s spinning, 7 s passive). A user's own setting wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

__version__ = "0.1.0"
