"""SRResNet and the SRGAN discriminator: Ledig et al., "Photo-Realistic Single Image
Super-Resolution Using a Generative Adversarial Network", CVPR 2017.

Generator (SRResNet): 9x9 conv + PReLU head, 16 residual blocks
(conv-BN-PReLU-conv-BN, identity skip), conv-BN and a long skip from the head,
sub-pixel upsampling stages (conv to 4x channels, PixelShuffle x2, PReLU), 9x9
conv tail to RGB. x3 uses one PixelShuffle x3 stage (the paper gives only x4).
Inputs and outputs are RGB in [0, 1]; the output is linear (no tanh).

Discriminator: 8 3x3 conv layers from 64 to 512 maps (LeakyReLU 0.2, BN after
all but the first, stride 2 on every other layer), dense 1024, LeakyReLU, dense
1 (a logit). The paper's 96x96 patches give 6x6 maps before the dense layers;
other sizes are average-pooled to 6x6 first (identity at 96x96).
"""

from __future__ import annotations

import torch
from torch import nn

from srbench.models.registry import register


class ResidualBlock(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(channels, channels, 3, padding=1),
            nn.BatchNorm2d(channels),
            nn.PReLU(channels),
            nn.Conv2d(channels, channels, 3, padding=1),
            nn.BatchNorm2d(channels),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


def pixel_shuffle_upsampler(scale: int, channels: int, activation: type[nn.Module] = nn.PReLU) -> nn.Sequential:
    """Sub-pixel convolution stages: one x3 stage for x3, else log2(scale) x2 stages."""
    factors = [3] if scale == 3 else [2] * {2: 1, 4: 2, 8: 3}[scale]
    layers: list[nn.Module] = []
    for f in factors:
        act = activation(channels) if activation is nn.PReLU else activation()
        layers += [nn.Conv2d(channels, channels * f * f, 3, padding=1), nn.PixelShuffle(f), act]
    return nn.Sequential(*layers)


class SRResNet(nn.Module):
    input_kind = "lr"

    def __init__(self, scale: int = 4, blocks: int = 16, channels: int = 64, in_channels: int = 3) -> None:
        super().__init__()
        self.scale = self.upscale = scale
        self.in_channels = self.out_channels = in_channels
        self.head = nn.Sequential(nn.Conv2d(in_channels, channels, 9, padding=4), nn.PReLU(channels))
        self.blocks = nn.Sequential(*(ResidualBlock(channels) for _ in range(blocks)))
        self.trunk_end = nn.Sequential(nn.Conv2d(channels, channels, 3, padding=1), nn.BatchNorm2d(channels))
        self.upsample = pixel_shuffle_upsampler(scale, channels)
        self.tail = nn.Conv2d(channels, in_channels, 9, padding=4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        head = self.head(x)
        return self.tail(self.upsample(head + self.trunk_end(self.blocks(head))))


def _conv_bn_lrelu(c_in: int, c_out: int, stride: int, bn: bool = True) -> list[nn.Module]:
    layers: list[nn.Module] = [nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1)]
    if bn:
        layers.append(nn.BatchNorm2d(c_out))
    return layers + [nn.LeakyReLU(0.2, inplace=True)]


def vgg_style_features(in_channels: int = 3, base: int = 64) -> nn.Sequential:
    """The SRGAN discriminator's 8-conv body: widths 64..512, stride 2 on every other layer."""
    widths = [base, base, base * 2, base * 2, base * 4, base * 4, base * 8, base * 8]
    layers = _conv_bn_lrelu(in_channels, widths[0], 1, bn=False)
    for i in range(1, len(widths)):
        layers += _conv_bn_lrelu(widths[i - 1], widths[i], stride=2 if i % 2 == 1 else 1)
    return nn.Sequential(*layers)


class SRGANDiscriminator(nn.Module):
    POOLED = 6  # 96x96 input / 2^4

    def __init__(self, in_channels: int = 3, base: int = 64, dense: int = 1024) -> None:
        super().__init__()
        self.features = vgg_style_features(in_channels, base)
        self.pool = nn.AdaptiveAvgPool2d(self.POOLED)
        self.head = nn.Sequential(
            nn.Flatten(),
            nn.Linear(base * 8 * self.POOLED**2, dense),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Linear(dense, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.pool(self.features(x))).squeeze(1)


# SRGAN's value ranges (Ledig et al., Sec. 3.2): LR in [0, 1], HR (and so SR) in [-1, 1], MSE on [-1, 1].
_SRGAN_RANGE = dict(target_range="-1,1")

# The training recipes per budget (srbench.train.config's fields): SRResNet's, and SRGAN's where the study trains
# it adversarially.
BUDGETS = {
    "smoke": dict(
        iterations=4,
        batch_size=2,
        patch_size=32,
        lr=1e-4,
        train_images=4,
        val_images=1,
        val_every=2,
        log_every=1,
        **_SRGAN_RANGE,
    ),
    # A sweep trial (1 CPU, bf16): 0.48 s/iteration (MSE; fp32 1.0 s): ~16 min plus evaluation.
    "quick": dict(
        iterations=2000,
        batch_size=16,
        patch_size=64,
        lr=2e-4,
        lr_schedule="cosine",
        val_every=500,
        log_every=25,
        **_SRGAN_RANGE,
    ),
    # Paper: 96x96 HR patches, batch 16, Adam 1e-4, 1e6 updates (SRResNet).
    "paper": dict(
        iterations=1_000_000, batch_size=16, patch_size=96, lr=1e-4, val_every=20_000, log_every=500, **_SRGAN_RANGE
    ),
}
# SRGAN: MSE pre-training of the generator at a constant rate, then 1e-3-weighted adversarial training.
SRGAN_BUDGETS = {
    "smoke": dict(
        iterations=3,
        pretrain_iterations=2,
        batch_size=2,
        patch_size=32,
        lr=1e-4,
        train_images=4,
        val_images=1,
        val_every=5,
        log_every=1,
        adversarial_weight=1e-3,
        **_SRGAN_RANGE,
    ),
    # A sweep trial (1 CPU, bf16): ~0.5 s per pre-training iteration, 1.25 s (SFT-GAN) to 2.1 s (SRGAN-VGG54;
    # fp32 2.3 and 3.9 s) per adversarial one: 13-19 min plus evaluation. The speed-up of bf16 brought
    # these trials into the target; it bought no more iterations.
    "quick": dict(
        iterations=400,
        pretrain_iterations=600,
        batch_size=16,
        patch_size=64,
        lr=1e-4,
        val_every=500,
        log_every=25,
        adversarial_weight=1e-3,
        **_SRGAN_RANGE,
    ),
    # Paper: SRResNet-MSE initialisation (1e6 updates at a constant 1e-4), then 1e5 updates at 1e-4 and 1e5 at
    # 1e-5, batch 16, 96x96 patches.
    "paper": dict(
        iterations=200_000,
        pretrain_iterations=1_000_000,
        batch_size=16,
        patch_size=96,
        lr=1e-4,
        lr_schedule="step",
        lr_step=100_000,
        val_every=20_000,
        log_every=500,
        adversarial_weight=1e-3,
        **_SRGAN_RANGE,
    ),
}


@register(
    "srresnet",
    "SRGAN's generator: 16 residual blocks, sub-pixel upsampling (RGB)",
    "Ledig et al., CVPR 2017",
    scales=(2, 3, 4, 8),
    discriminator="srgan_discriminator",
    budgets=BUDGETS,
    adversarial_budgets=SRGAN_BUDGETS,
)
def srresnet(scale: int = 4, blocks: int = 16, channels: int = 64, in_channels: int = 3) -> SRResNet:
    return SRResNet(scale, blocks, channels, in_channels)


@register(
    "srgan_discriminator",
    "SRGAN's discriminator: 8 convs 64-512, dense 1024, dense 1",
    "Ledig et al., CVPR 2017",
    scales=(),
    role="discriminator",
)
def srgan_discriminator(in_channels: int = 3, base: int = 64, dense: int = 1024) -> SRGANDiscriminator:
    return SRGANDiscriminator(in_channels, base, dense)
