"""Training losses: pixel (MSE, L1), perceptual (VGG features), adversarial, total variation."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from srbench.errors import UserError
from srbench.models.vgg import VGGFeatures


def euclidean_loss(sr: torch.Tensor, hr: torch.Tensor) -> torch.Tensor:
    """Caffe's EuclideanLoss, SRCNN's training loss: half the squared error summed over each sample's
    pixels, averaged over the batch. Its gradient is ``numel / 2`` times that of the mean MSE, which is
    what the paper's small SGD learning rates (1e-4, 1e-5) are sized for."""
    return 0.5 * (sr - hr).pow(2).sum() / sr.shape[0]


PIXEL_LOSSES = {"mse": F.mse_loss, "l1": F.l1_loss, "euclidean": euclidean_loss}
# SRGAN rescales VGG feature maps by 1/12.75 so the VGG loss is of the MSE loss's order.
SRGAN_FEATURE_SCALE = 1 / 12.75
# SRGAN weighs the adversarial term 1e-3 against the content loss.
ADVERSARIAL_WEIGHT = 1e-3


@dataclass(frozen=True)
class ContentLoss:
    """A perceptual content loss as a paper defines it: VGG19 layer, distance and feature scale."""

    layer: str
    distance: str  # "mse" | "l1"
    feature_scale: float
    source: str


# "pixel" (the pixel loss) is the other content loss; these are the VGG ones.
CONTENT_LOSSES = {
    "vgg22": ContentLoss("relu2_2", "mse", SRGAN_FEATURE_SCALE, "SRGAN's VGG22"),
    "vgg54": ContentLoss("relu5_4", "mse", SRGAN_FEATURE_SCALE, "SRGAN's VGG54"),
    # The SFT-GAN authors' released training configuration: VGG19 conv5_4 before its ReLU, L1, weight 1.
    "conv54_l1": ContentLoss("conv5_4", "l1", 1.0, "SFT-GAN's perceptual loss"),
}


def pixel_loss(name: str):
    if name not in PIXEL_LOSSES:
        raise UserError(f"field 'pixel_loss': '{name}' is unknown; valid: {', '.join(PIXEL_LOSSES)}")
    return PIXEL_LOSSES[name]


class PerceptualLoss(nn.Module):
    """MSE (or L1) between VGG19 features of SR and HR (RGB in [0, 1]), features scaled by ``feature_scale``."""

    def __init__(
        self,
        layers: Sequence[str] = ("relu5_4",),
        vgg_weights: str = "imagenet",
        feature_scale: float = SRGAN_FEATURE_SCALE,
        layer_weights: Sequence[float] | None = None,
        distance: str = "mse",
    ) -> None:
        super().__init__()
        self.vgg = VGGFeatures(layers, vgg_weights)
        self.feature_scale = feature_scale
        self.distance = {"mse": F.mse_loss, "l1": F.l1_loss}[distance]
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
            w * self.distance(sr_features[name] * self.feature_scale, hr_features[name] * self.feature_scale)
            for name, w in zip(self.vgg.layers, self.layer_weights)
        )


def content_loss(name: str, vgg_weights: str) -> PerceptualLoss:
    """The named VGG content loss (``CONTENT_LOSSES``)."""
    recipe = CONTENT_LOSSES[name]
    return PerceptualLoss([recipe.layer], vgg_weights, recipe.feature_scale, distance=recipe.distance)


def generator_adversarial_loss(fake_logits: torch.Tensor) -> torch.Tensor:
    """-log D(G(x)) as BCE with logits against 'real' (the non-saturating form SRGAN uses)."""
    return F.binary_cross_entropy_with_logits(fake_logits, torch.ones_like(fake_logits))


def category_loss(logits: torch.Tensor, categories: torch.Tensor) -> torch.Tensor:
    """SFT-GAN's category cross-entropy, background (index 0) ignored as in the authors' code; zero when every
    patch is background (cross-entropy with nothing to score would be NaN)."""
    counted = (categories != 0).sum().clamp(min=1)  # no host sync: stays on the device
    return F.cross_entropy(logits, categories, ignore_index=0, reduction="sum") / counted


def discriminator_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    return F.binary_cross_entropy_with_logits(
        real_logits, torch.ones_like(real_logits)
    ) + F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits))


def total_variation(x: torch.Tensor) -> torch.Tensor:
    """Mean absolute difference between neighbouring pixels (anisotropic TV)."""
    return (x[..., 1:, :] - x[..., :-1, :]).abs().mean() + (x[..., :, 1:] - x[..., :, :-1]).abs().mean()
