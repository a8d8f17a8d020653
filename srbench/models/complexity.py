"""Model size figures for the leaderboards: parameters and multiply-accumulates (MACs)
per output megapixel, counted by torch's FlopCounterMode on the meta device (no
memory, no arithmetic), at a 960x960 output (divisible by every scale)."""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import Any

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from srbench.models.interface import example_inputs, traits
from srbench.models.registry import build_model, entry_for

OUTPUT_SIDE = 960


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def macs_per_output_megapixel(model: nn.Module, scale: int | None) -> float:
    """Per output megapixel of a generator at ``scale``; ``None``: a discriminator, per input megapixel."""
    model = model.to("meta")
    counter = FlopCounterMode(display=False)
    inputs = (
        example_inputs(model, scale, OUTPUT_SIDE, OUTPUT_SIDE, device="meta")
        if scale is not None
        else (torch.zeros(1, traits(model).channels, OUTPUT_SIDE, OUTPUT_SIDE, device="meta"),)
    )
    with counter, torch.no_grad():
        model(*inputs)
    return counter.get_total_flops() / 2 / (OUTPUT_SIDE * OUTPUT_SIDE) * 1e6


def model_figures(config: Mapping[str, Any]) -> dict[str, float | int]:
    """``{"parameters": ..., "macs_per_mp": ...}`` for a model config (at its ``scale`` or its builder's default)."""
    entry = entry_for(config)
    model = build_model(config)
    scale = None
    if entry.role == "generator":
        default = inspect.signature(entry.builder).parameters.get("scale")
        scale = config.get("scale", default.default if default is not None else None) or max(entry.scales, default=4)
    return {"parameters": count_parameters(model), "macs_per_mp": macs_per_output_megapixel(model, scale)}
