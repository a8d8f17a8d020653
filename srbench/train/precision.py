"""Training precision: bf16 autocast with channels_last where the hardware runs it fast, fp32 elsewhere
(channels_last too on CPUs, where it is the faster fp32 layout).

Only the training forward passes and losses run under autocast; weights, gradients and optimiser state
stay fp32, and validation and final scoring always run in fp32 (``fp32_scoring``), so scores are exact
whatever precision trained the model.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
from torch import nn

PRECISIONS = ("auto", "fp32", "bf16")


def fast_bf16(device: torch.device) -> bool:
    """True where bf16 matrix maths is native: CUDA GPUs with bf16 (Ampere on), CPUs with AVX512-BF16 or AMX."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported(including_emulation=False)
    if device.type == "cpu":
        return torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported()
    return False


def resolve_precision(setting: str, device: torch.device) -> str:
    """``fp32`` or ``bf16``: what ``auto`` means on ``device``; an explicit setting is kept."""
    if setting == "auto":
        return "bf16" if fast_bf16(device) else "fp32"
    return setting


def autocast(precision: str, device: torch.device) -> contextlib.AbstractContextManager:
    """The context for training forward passes and losses (never for backward)."""
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=precision == "bf16")


def memory_format(precision: str, device: torch.device) -> torch.memory_format:
    """channels_last is what makes bf16 convolutions fast (oneDNN on CPU, tensor cores on GPU); on a CPU it is
    also the fast fp32 layout (SRCNN 9-1-5, one thread on a Zen 3 EPYC without AVX-512: 84 ms a step against
    185 ms contiguous)."""
    return torch.channels_last if precision == "bf16" or device.type == "cpu" else torch.contiguous_format


@contextlib.contextmanager
def fp32_scoring(model: nn.Module, training_format: torch.memory_format) -> Iterator[nn.Module]:
    """The model in contiguous fp32 layout for scoring, so the figures are those of any fp32 evaluation of
    the same weights (``srbench eval`` included), then back to its training layout."""
    model.to(memory_format=torch.contiguous_format)
    try:
        yield model
    finally:
        model.to(memory_format=training_format)
