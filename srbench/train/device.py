"""The device a training process uses: the one its launcher assigned, never one it merely sees.

Ray Train sets ``CUDA_VISIBLE_DEVICES`` for a worker that reserved GPUs and leaves it alone for one that did not,
so a CPU trial on a GPU node still *sees* every GPU; choosing by visibility (or by ``LOCAL_RANK``) would put it
on a GPU that other trials reserved. One worker drives one GPU (DDP's one-device-per-rank model).
"""

from __future__ import annotations

import os
from collections.abc import Callable

import torch

from srbench.errors import UserError


def choose_device(gpus_per_worker: float, assigned: Callable[[], torch.device]) -> torch.device:
    """The CPU for a worker that reserved no GPU, whatever the node has; else the GPU its launcher assigned
    (``assigned``: ``ray.train.torch.get_device`` under Ray Train), failing at once when it sees none."""
    if gpus_per_worker <= 0:
        return torch.device("cpu")
    if not torch.cuda.is_available():
        raise UserError(
            f"this trial reserved {gpus_per_worker:g} GPU per worker but its worker sees no CUDA GPU "
            f"(check the node's driver and that torch is a CUDA build: torch {torch.__version__})"
        )
    device = assigned()
    if device.type != "cuda":
        raise UserError(f"this trial reserved {gpus_per_worker:g} GPU per worker but was assigned {device}")
    return device


def standalone_device() -> torch.device:
    """Outside Ray (``srbench train``, torchrun): the GPU of this process's local rank if there is one, else the CPU."""
    return (
        torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0))) if torch.cuda.is_available() else torch.device("cpu")
    )


def to_device_without_waiting(tensor: torch.Tensor, device: torch.device) -> torch.Tensor:
    """A host tensor on ``device`` without the host waiting for it: on a GPU through pinned memory, non-blocking.
    A plain copy from pageable memory waits for everything queued on the GPU first, a host sync each training step;
    the pinned buffer is not reused before the copy ends (torch's host allocator records it on the stream)."""
    if device.type != "cuda":
        return tensor.to(device)
    return tensor.pin_memory().to(device, non_blocking=True)
