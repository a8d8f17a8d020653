"""A trial's optimisers and learning-rate schedule, built from its config."""

from __future__ import annotations

import math

import torch
from torch import nn

from srbench.train.config import TrainConfig


def last_layer(model: nn.Module) -> nn.Module:
    """The last module, in registration order, that holds parameters of its own: SRCNN's reconstruction layer."""
    return [m for m in model.modules() if next(m.parameters(recurse=False), None) is not None][-1]


def parameter_groups(model: nn.Module, lr: float, last_layer_scale: float = 1.0) -> list[dict]:
    """Every parameter at ``lr``, the last layer at ``lr * last_layer_scale`` (SRCNN: 1e-4 and 1e-5)."""
    if last_layer_scale == 1.0:
        return [{"params": list(model.parameters()), "lr": lr}]
    last = list(last_layer(model).parameters())
    ids = {id(p) for p in last}
    return [
        {"params": [p for p in model.parameters() if id(p) not in ids], "lr": lr},
        {"params": last, "lr": lr * last_layer_scale},
    ]


def build_optimizer(name: str, groups: list[dict], momentum: float) -> torch.optim.Optimizer:
    """``adam`` (torch's defaults, betas 0.9 / 0.999) or ``sgd`` with momentum (SRCNN's Caffe solver), each as one
    fused kernel over all its tensors on a CPU or GPU (a third of the per-tensor loop's time for SRCNN's six: small
    networks' steps are short enough for it to show)."""
    fused = all(p.device.type in ("cpu", "cuda") for group in groups for p in group["params"])
    if name == "sgd":
        return torch.optim.SGD(groups, momentum=momentum, fused=fused)
    return torch.optim.Adam(groups, fused=fused)


def lr_factor(config: TrainConfig, step: int) -> float:
    """The learning-rate multiplier at global iteration ``step``. A GAN's pixel-loss pre-training runs at a
    constant rate (SRGAN pre-trains SRResNet for 1e6 updates at 1e-4); ``lr_schedule`` shapes the main phase."""
    start = config.pretrain_iterations if config.is_gan else 0
    if step < start:
        return 1.0
    t, length = step - start, config.iterations
    if config.lr_schedule == "cosine":
        return 0.5 * (1 + math.cos(math.pi * min(t, length) / max(length, 1)))
    if config.lr_schedule == "step":
        return config.lr_gamma ** (t // config.lr_step)
    if config.lr_schedule == "multistep":
        return config.lr_gamma ** sum(t >= m for m in config.lr_milestones)
    return 1.0
