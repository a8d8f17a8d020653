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
    """This machine: e.g. ``"2 x Intel(R) Xeon(R) ... (CPU)"`` or ``"1 x NVIDIA H100 80GB HBM3"`` (what it has)."""
    if torch.cuda.is_available():
        return f"{torch.cuda.device_count()} x {torch.cuda.get_device_name(0)}"
    return f"{os.cpu_count()} x {cpu_model()} (CPU)"


def _plural(count: float, word: str) -> str:
    return f"{count:g} {word}{'' if count == 1 else 'es' if word.endswith('s') else 's'}"


def describe_trial_hardware(device: torch.device, world: int, gpus_per_worker: float, nodes: int) -> str:
    """What one training run used, not what its nodes have: ``"2 workers x 1 NVIDIA A10G on 2 nodes"``,
    ``"1 worker x 0.25 NVIDIA A10G on 1 node"``, or for CPU runs ``"2 x AMD EPYC (CPU), 2 processes on 1 node"``."""
    if device.type == "cuda":
        return (
            f"{_plural(world, 'worker')} x {gpus_per_worker:g} {torch.cuda.get_device_name(device)} "
            f"on {_plural(nodes, 'node')}"
        )
    return f"{describe_hardware()}, {_plural(world, 'process')} on {_plural(nodes, 'node')}"
