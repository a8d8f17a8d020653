"""SRDenseNet: Tong, Li, Liu and Gao, "Image Super-Resolution Using Dense Skip
Connections", ICCV 2017.

A 3x3 convolution extracts low-level features from the LR Y image; 8 dense blocks
of 8 3x3 conv layers (growth rate 16, ReLU) each emit 128 maps; 3x3 deconvolution
layers (256 maps) enlarge, and a 3x3 conv reconstructs. The paper's three variants
differ in what reaches the reconstruction part:

* ``H``:   only the last dense block's output (128 maps, straight into the deconvolutions);
* ``HL``:  that plus the low-level features (256 maps, likewise);
* ``ALL``: every block's output plus the low-level features (dense skip connections
  into the reconstruction part; the blocks themselves stay chained, as in the
  paper's Fig. 2). Only ALL has the 1x1 bottleneck, which reduces its 1,152 maps to
  256 before the deconvolutions: the paper adds it for this variant alone.

Upsampling: for x4 two 3x3 stride-2 deconvolutions, as in the paper. The paper
does not give x2/x3; srbench uses one stride-2 deconvolution (3x3) for x2 and one
stride-3 deconvolution (3x3) for x3.

Weights: He initialisation with zero biases, srbench's choice for these plain ReLU layers (the
paper's initialisation could not be checked where this file was written); PyTorch's default leaves
H, whose only path runs through all 64 block layers, barely trainable at the `quick` budget.
"""

from __future__ import annotations

import torch
from torch import nn

from srbench.models.registry import register

VARIANTS = ("H", "HL", "ALL")


class DenseBlock(nn.Module):
    def __init__(self, in_channels: int, growth: int, layers: int) -> None:
        super().__init__()
        self.layers = nn.ModuleList(
            nn.Sequential(nn.Conv2d(in_channels + i * growth, growth, 3, padding=1), nn.ReLU(inplace=True))
            for i in range(layers)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        outputs: list[torch.Tensor] = []
        for layer in self.layers:
            outputs.append(layer(torch.cat([x, *outputs], dim=1)))
        return torch.cat(outputs, dim=1)  # growth * layers maps


def _upsampler(scale: int, in_channels: int, channels: int) -> nn.Sequential:
    if scale == 3:
        stages = [nn.ConvTranspose2d(in_channels, channels, 3, stride=3)]
    else:
        stages = [
            nn.ConvTranspose2d(in_channels if i == 0 else channels, channels, 3, stride=2, padding=1, output_padding=1)
            for i in range({2: 1, 4: 2}[scale])
        ]
    layers: list[nn.Module] = []
    for stage in stages:
        layers += [stage, nn.ReLU(inplace=True)]
    return nn.Sequential(*layers)


class SRDenseNet(nn.Module):
    input_kind = "lr"

    def __init__(
        self,
        scale: int = 4,
        variant: str = "ALL",
        blocks: int = 8,
        layers_per_block: int = 8,
        growth: int = 16,
        bottleneck: int = 256,
        in_channels: int = 1,
    ) -> None:
        super().__init__()
        if variant not in VARIANTS:
            raise ValueError(f"field 'variant': '{variant}' is not one of {', '.join(VARIANTS)}")
        if scale not in (2, 3, 4):
            raise ValueError(f"field 'scale': {scale} is not supported; valid: 2, 3, 4")
        self.scale, self.variant, self.upscale = scale, variant, scale
        self.in_channels = self.out_channels = in_channels
        block_out = growth * layers_per_block
        self.low_level = nn.Sequential(nn.Conv2d(in_channels, block_out, 3, padding=1), nn.ReLU(inplace=True))
        self.blocks = nn.ModuleList(DenseBlock(block_out, growth, layers_per_block) for _ in range(blocks))
        reconstruction_in = {"H": block_out, "HL": 2 * block_out, "ALL": block_out * (blocks + 1)}[variant]
        # The bottleneck belongs to ALL only (Sec. 3.3); H and HL feed the deconvolutions directly.
        self.bottleneck = (
            nn.Sequential(nn.Conv2d(reconstruction_in, bottleneck, 1), nn.ReLU(inplace=True))
            if variant == "ALL"
            else nn.Identity()
        )
        self.upsample = _upsampler(scale, bottleneck if variant == "ALL" else reconstruction_in, bottleneck)
        self.reconstruction = nn.Conv2d(bottleneck, in_channels, 3, padding=1)
        # He initialisation, the usual one for plain ReLU networks: PyTorch's default (variance 1/(3 fan_in))
        # shrinks the signal about 26x across the 64 block layers, and H, whose only path is through all of them,
        # then trains far more slowly than HL and ALL.
        for module in self.modules():
            if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
                nn.init.kaiming_normal_(module.weight, nonlinearity="relu")
                nn.init.zeros_(module.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        low = self.low_level(x)
        features = [low]
        out = low
        for block in self.blocks:
            out = block(out)
            features.append(out)
        if self.variant == "H":
            joined = out
        elif self.variant == "HL":
            joined = torch.cat([low, out], dim=1)
        else:
            joined = torch.cat(features, dim=1)
        return self.reconstruction(self.upsample(self.bottleneck(joined)))


# The training recipe per budget (srbench.train.config's fields).
BUDGETS = {
    "smoke": dict(
        iterations=4, batch_size=2, patch_size=32, lr=1e-4, train_images=4, val_images=1, val_every=2, log_every=1
    ),
    # A sweep trial (1 CPU, bf16): 1.07 s/iteration (ALL; fp32 2.3 s): ~18 min plus evaluation.
    "quick": dict(
        iterations=1000, batch_size=16, patch_size=64, lr=3e-4, lr_schedule="cosine", val_every=500, log_every=25
    ),
    # Paper: 25x25 LR patches (100x100 HR at x4), batch 32, Adam 1e-4 divided by 10 every 30 epochs.
    "paper": dict(
        iterations=500_000,
        batch_size=32,
        patch_size=100,
        lr=1e-4,
        lr_schedule="step",
        lr_step=150_000,
        val_every=10_000,
        log_every=500,
    ),
}


@register(
    "srdensenet",
    "dense blocks with dense skip connections, deconvolution upsampling (Y channel)",
    "Tong et al., ICCV 2017",
    variants={v: {"variant": v} for v in VARIANTS},
    scales=(2, 3, 4),
    default_variant="ALL",
    budgets=BUDGETS,
)
def srdensenet(
    scale: int = 4,
    variant: str = "ALL",
    blocks: int = 8,
    layers_per_block: int = 8,
    growth: int = 16,
    bottleneck: int = 256,
    in_channels: int = 1,
) -> SRDenseNet:
    return SRDenseNet(scale, variant, blocks, layers_per_block, growth, bottleneck, in_channels)
