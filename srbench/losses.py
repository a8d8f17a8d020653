"""Training losses: pixel (MSE, L1), perceptual (VGG features), adversarial, total variation."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from srbench.errors import UserError
from srbench.models.vgg import VGGFeatures

PIXEL_LOSSES = {"mse": F.mse_loss, "l1": F.l1_loss}
# SRGAN rescales VGG feature maps by 1/12.75 so the VGG loss is of the MSE loss's order.
SRGAN_FEATURE_SCALE = 1 / 12.75
# SRGAN weighs the adversarial term 1e-3 against the content loss.
ADVERSARIAL_WEIGHT = 1e-3


def pixel_loss(name: str):
    if name not in PIXEL_LOSSES:
        raise UserError(f"field 'pixel_loss': '{name}' is unknown; valid: {', '.join(PIXEL_LOSSES)}")
    return PIXEL_LOSSES[name]


class PerceptualLoss(nn.Module):
    """MSE between VGG19 features of SR and HR (RGB in [0, 1]), features scaled by ``feature_scale``."""

    def __init__(self, layers: Sequence[str] = ("relu5_4",), vgg_weights: str = "imagenet",
                 feature_scale: float = SRGAN_FEATURE_SCALE, layer_weights: Sequence[float] | None = None) -> None:
        super().__init__()
        self.vgg = VGGFeatures(layers, vgg_weights)
        self.feature_scale = feature_scale
        self.layer_weights = list(layer_weights) if layer_weights else [1.0] * len(layers)
        if len(self.layer_weights) != len(layers):
            raise UserError(f"field 'layer_weights': {len(self.layer_weights)} weights for {len(layers)} layers")

    @property
    def comparable(self) -> bool:
        return self.vgg.imagenet

    def forward(self, sr: torch.Tensor, hr: torch.Tensor) -> torch.Tensor:
        sr_features = self.vgg(sr)
        with torch.no_grad():
            hr_features = self.vgg(hr)
        return sum(
            w * F.mse_loss(sr_features[name] * self.feature_scale, hr_features[name] * self.feature_scale)
            for name, w in zip(self.vgg.layers, self.layer_weights)
        )


def generator_adversarial_loss(fake_logits: torch.Tensor) -> torch.Tensor:
    """-log D(G(x)) as BCE with logits against 'real' (the non-saturating form SRGAN uses)."""
    return F.binary_cross_entropy_with_logits(fake_logits, torch.ones_like(fake_logits))


def discriminator_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    return (F.binary_cross_entropy_with_logits(real_logits, torch.ones_like(real_logits))
            + F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits)))


def total_variation(x: torch.Tensor) -> torch.Tensor:
    """Mean absolute difference between neighbouring pixels (anisotropic TV)."""
    return (x[..., 1:, :] - x[..., :-1, :]).abs().mean() + (x[..., :, 1:] - x[..., :, :-1]).abs().mean()
