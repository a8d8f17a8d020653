"""Model size figures for the leaderboards: parameters and multiply-accumulates (MACs)
per output megapixel, counted by torch's FlopCounterMode on the meta device (no
memory, no arithmetic), at a 960x960 output (divisible by every scale)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from srbench.models.registry import build_model

OUTPUT_SIDE = 960


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def example_inputs(model: nn.Module, out_h: int, out_w: int, device: str | torch.device = "cpu") -> tuple[torch.Tensor, ...]:
    """Inputs that make a generator produce an ``out_h x out_w`` image (or a discriminator see one)."""
    channels = getattr(model, "in_channels", 3)
    if not hasattr(model, "upscale"):  # a discriminator
        return (torch.zeros(1, channels, out_h, out_w, device=device),)
    border = getattr(model, "border", 0)
    h, w = out_h // model.upscale + 2 * border, out_w // model.upscale + 2 * border
    inputs = [torch.zeros(1, channels, h, w, device=device)]
    if getattr(model, "needs_condition", False):
        inputs.append(torch.zeros(1, len(model.condition_categories), out_h, out_w, device=device))
    return tuple(inputs)


def macs_per_output_megapixel(model: nn.Module) -> float:
    model = model.to("meta")
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        model(*example_inputs(model, OUTPUT_SIDE, OUTPUT_SIDE, device="meta"))
    return counter.get_total_flops() / 2 / (OUTPUT_SIDE * OUTPUT_SIDE) * 1e6


def model_figures(config: Mapping[str, Any]) -> dict[str, float | int]:
    """``{"parameters": ..., "macs_per_mp": ...}`` for a model config."""
    model = build_model(config)
    return {"parameters": count_parameters(model), "macs_per_mp": macs_per_output_megapixel(model)}
