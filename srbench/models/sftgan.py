"""SFT-GAN: Wang, Yu, Dong and Loy, "Recovering Realistic Texture in Image
Super-resolution by Deep Spatial Feature Transform", CVPR 2018.

Segmentation probability maps for K = 8 categories (background, sky, water,
grass, mountain, building, plant, animal), given at HR resolution, pass through a
condition network (4x4 stride-4 conv, then 1x1 convs, LeakyReLU 0.1) into 32
condition channels at LR resolution, shared by every Spatial Feature Transform
layer. Each SFT layer predicts a per-pixel scale (gamma) and shift (beta) with
two 1x1 convs each, and returns ``feature * (gamma + 1) + beta``. The generator
is 16 residual blocks (SFT, conv, ReLU, SFT, conv) and a final SFT + conv with a
long skip, then two x2 PixelShuffle stages (x4, the paper's only scale).

``sft=False`` builds the same backbone, with the same parameter names, with every
SFT layer replaced by the identity and no condition network: the on/off ablation
changes only the conditioning.

The discriminator follows the authors' released one (``ACD_VGG_BN_96``): eight
convolutions from 64 to 512 maps, 3x3 stride 1 alternating with 4x4 stride 2, BN after
all but the first, LeakyReLU 0.1, and two heads on the 512 x 6 x 6 features (dense 100,
LeakyReLU 0.1, dense): a real/fake logit and an 8-way category logit. Inputs other than
96x96 are average-pooled to 6x6 first (identity at 96x96).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from srbench.models.conditions import CATEGORIES, validate_condition_config
from srbench.models.registry import register

CONDITION_CHANNELS = 32


class ConditionNet(nn.Module):
    def __init__(
        self, categories: int = len(CATEGORIES), hidden: int = 128, out: int = CONDITION_CHANNELS, downscale: int = 4
    ) -> None:
        super().__init__()
        act = [nn.LeakyReLU(0.1, inplace=True)]
        self.body = nn.Sequential(
            nn.Conv2d(categories, hidden, downscale, stride=downscale),
            *act,
            nn.Conv2d(hidden, hidden, 1),
            *act,
            nn.Conv2d(hidden, hidden, 1),
            *act,
            nn.Conv2d(hidden, hidden, 1),
            *act,
            nn.Conv2d(hidden, out, 1),
        )

    def forward(self, probabilities: torch.Tensor) -> torch.Tensor:
        return self.body(probabilities)


class SFTLayer(nn.Module):
    def __init__(self, channels: int = 64, condition: int = CONDITION_CHANNELS) -> None:
        super().__init__()

        def branch() -> nn.Sequential:
            return nn.Sequential(
                nn.Conv2d(condition, condition, 1), nn.LeakyReLU(0.1, inplace=True), nn.Conv2d(condition, channels, 1)
            )

        self.gamma, self.beta = branch(), branch()

    def forward(self, x: torch.Tensor, condition: torch.Tensor) -> torch.Tensor:
        return x * (self.gamma(condition) + 1) + self.beta(condition)


class NoSFT(nn.Module):
    """The identity in place of an SFT layer (the 'SFT off' ablation)."""

    def forward(self, x: torch.Tensor, condition: torch.Tensor | None) -> torch.Tensor:
        return x


class SFTResidualBlock(nn.Module):
    def __init__(self, channels: int, sft: bool) -> None:
        super().__init__()
        self.sft0 = SFTLayer(channels) if sft else NoSFT()
        self.conv0 = nn.Conv2d(channels, channels, 3, padding=1)
        self.sft1 = SFTLayer(channels) if sft else NoSFT()
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x: torch.Tensor, condition: torch.Tensor | None) -> torch.Tensor:
        out = self.conv0(self.sft0(x, condition)).relu()
        return x + self.conv1(self.sft1(out, condition))


class SFTGANGenerator(nn.Module):
    input_kind = "lr"
    condition_categories = CATEGORIES

    def __init__(
        self, scale: int = 4, sft: bool = True, blocks: int = 16, channels: int = 64, in_channels: int = 3
    ) -> None:
        super().__init__()
        if scale != 4:
            raise ValueError(f"field 'scale': SFT-GAN is defined for x4 only, got {scale}")
        self.scale = self.upscale = scale
        self.sft = sft
        self.in_channels = self.out_channels = in_channels
        self.condition = ConditionNet(downscale=scale) if sft else None
        self.conv_first = nn.Conv2d(in_channels, channels, 3, padding=1)
        self.blocks = nn.ModuleList(SFTResidualBlock(channels, sft) for _ in range(blocks))
        self.sft_last = SFTLayer(channels) if sft else NoSFT()
        self.conv_last = nn.Conv2d(channels, channels, 3, padding=1)
        stages: list[nn.Module] = []
        for _ in range(2):
            stages += [nn.Conv2d(channels, channels * 4, 3, padding=1), nn.PixelShuffle(2), nn.ReLU(inplace=True)]
        self.upsample = nn.Sequential(*stages)
        self.reconstruct = nn.Sequential(
            nn.Conv2d(channels, channels, 3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(channels, in_channels, 3, padding=1),
        )

    @property
    def needs_condition(self) -> bool:
        return self.sft

    def forward(self, x: torch.Tensor, probabilities: torch.Tensor | None = None) -> torch.Tensor:
        if self.sft:
            if probabilities is None:
                raise ValueError("SFT-GAN with sft=True needs segmentation probabilities")
            condition = self.condition(probabilities)
        else:
            condition = None
        head = self.conv_first(x)
        out = head
        for block in self.blocks:
            out = block(out, condition)
        out = head + self.conv_last(self.sft_last(out, condition))
        return self.reconstruct(self.upsample(out))


def acd_features(in_channels: int = 3, base: int = 64) -> nn.Sequential:
    """The authors' discriminator body: 3x3 stride-1 and 4x4 stride-2 convolutions in turn, BN, LeakyReLU 0.1."""
    widths = [base, base, base * 2, base * 2, base * 4, base * 4, base * 8, base * 8]
    layers: list[nn.Module] = [nn.Conv2d(in_channels, widths[0], 3, padding=1), nn.LeakyReLU(0.1, inplace=True)]
    for i in range(1, len(widths)):
        strided = i % 2 == 1
        layers += [
            nn.Conv2d(widths[i - 1], widths[i], 4 if strided else 3, stride=2 if strided else 1, padding=1),
            nn.BatchNorm2d(widths[i]),
            nn.LeakyReLU(0.1, inplace=True),
        ]
    return nn.Sequential(*layers)


class SFTGANDiscriminator(nn.Module):
    POOLED = 6  # 96x96 input / 2^4

    def __init__(
        self, in_channels: int = 3, base: int = 64, categories: int = len(CATEGORIES), hidden: int = 100
    ) -> None:
        super().__init__()
        self.features = acd_features(in_channels, base)
        self.pool = nn.AdaptiveAvgPool2d(self.POOLED)
        width = base * 8 * self.POOLED**2

        def head(out: int) -> nn.Sequential:
            return nn.Sequential(nn.Linear(width, hidden), nn.LeakyReLU(0.1, inplace=True), nn.Linear(hidden, out))

        self.gan_head, self.category_head = head(1), head(categories)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Real/fake logits ``(N,)`` and category logits ``(N, K)``."""
        features = self.pool(self.features(x)).flatten(1)
        return self.gan_head(features).squeeze(1), self.category_head(features)


# The training recipe per budget (srbench.train.config's fields), as the authors' released training configuration
# has it (the paper gives no schedule): perceptual loss on VGG19 conv5_4 with L1 and no pixel term, adversarial
# weight 5e-3 (category loss on real and fake images), Adam 1e-4 halved at 50k/100k/150k/200k of 600k updates,
# batch 16, 96x96 patches, from a PSNR-oriented generator (srbench pre-trains it with MSE, as SRGAN does, where
# the authors load ``sft_net_ini.pth``). Not reproduced: the authors' 5x rate for the SFT layers and the rest of
# the generator frozen for the first 20k updates.
_RECIPE = dict(content_loss="conv54_l1", adversarial_weight=5e-3, lr=1e-4)
BUDGETS = {
    "smoke": dict(
        iterations=3,
        pretrain_iterations=2,
        batch_size=2,
        patch_size=32,
        train_images=4,
        val_images=1,
        val_every=5,
        log_every=1,
        **_RECIPE,
    ),
    # Quick keeps the recipe's losses and weights; like SRGAN's quick it is 600 + 400 updates of 16 64x64
    # patches at a constant rate (the schedule's first halving is at 50k).
    "quick": dict(
        iterations=400, pretrain_iterations=600, batch_size=16, patch_size=64, val_every=500, log_every=25, **_RECIPE
    ),
    "paper": dict(
        iterations=600_000,
        pretrain_iterations=1_000_000,
        batch_size=16,
        patch_size=96,
        lr_schedule="multistep",
        lr_milestones=[50_000, 100_000, 150_000, 200_000],
        lr_gamma=0.5,
        val_every=20_000,
        log_every=500,
        **_RECIPE,
    ),
}


@register(
    "sftgan",
    "SRResNet-style generator with Spatial Feature Transform layers conditioned on segmentation",
    "Wang et al., CVPR 2018",
    variants={"sft": {"sft": True}, "nosft": {"sft": False}},
    scales=(4,),
    default_variant="sft",
    discriminator="sftgan_discriminator",
    budgets=BUDGETS,
)
def sftgan(
    scale: int = 4,
    sft: bool = True,
    blocks: int = 16,
    channels: int = 64,
    in_channels: int = 3,
    condition: Mapping[str, Any] | None = None,
) -> SFTGANGenerator:
    """``condition`` names the probability-map source (see ``conditions``); it is kept on the model
    as ``condition_config`` so the training data pipeline builds it and runs record it."""
    model = SFTGANGenerator(scale, sft, blocks, channels, in_channels)
    model.condition_config = validate_condition_config(condition)
    return model


@register(
    "sftgan_discriminator",
    "SFT-GAN's discriminator: 4x4 stride-2 VGG-style body, real/fake and 8-category heads",
    "Wang et al., CVPR 2018",
    scales=(),
    role="discriminator",
)
def sftgan_discriminator(
    in_channels: int = 3, base: int = 64, categories: int = len(CATEGORIES), hidden: int = 100
) -> SFTGANDiscriminator:
    return SFTGANDiscriminator(in_channels, base, categories, hidden)
