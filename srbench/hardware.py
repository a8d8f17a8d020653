"""A one-line description of the machine, printed next to every timing and result."""

from __future__ import annotations

import os
import platform
from pathlib import Path

import torch


def cpu_model() -> str:
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def describe_hardware() -> str:
    """E.g. ``"2 x Intel(R) Xeon(R) ... CPU"`` or ``"1 x NVIDIA H100 80GB HBM3"``."""
    if torch.cuda.is_available():
        return f"{torch.cuda.device_count()} x {torch.cuda.get_device_name(0)}"
    return f"{os.cpu_count()} x {cpu_model()} (CPU)"
