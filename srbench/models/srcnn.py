"""SRCNN: Dong, Loy, He and Tang, "Image Super-Resolution Using Deep Convolutional
Networks", TPAMI 2016 (arXiv:1501.00092).

A plain stack of convolutions on the bicubic-enlarged LR image: patch extraction,
non-linear mapping, reconstruction, with ReLU after all but the last layer. The
paper's base network is 9-1-5 with n1 = 64, n2 = 32 on the Y channel, trained
without padding, so the output is smaller than the input by the sum of the
kernel sizes minus one; the loss is then taken on the centre crop of the target
(``border`` pixels off each side). ``padding="same"`` keeps the size instead.
Weights start from N(0, 0.001) and biases from 0, as in the paper.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from srbench.models.registry import register

PADDINGS = ("valid", "same")


class SRCNN(nn.Module):
    upscale = 1  # works on the bicubic-enlarged image
    input_kind = "bicubic"

    def __init__(self, kernel_sizes: Sequence[int] = (9, 1, 5), channels: Sequence[int] = (64, 32),
                 in_channels: int = 1, padding: str = "valid", init_std: float = 1e-3) -> None:
        super().__init__()
        kernel_sizes, channels = [int(k) for k in kernel_sizes], [int(c) for c in channels]
        if len(kernel_sizes) < 2:
            raise ValueError(f"field 'kernel_sizes': need at least 2 layers, got {kernel_sizes}")
        if any(k < 1 or k % 2 == 0 for k in kernel_sizes):
            raise ValueError(f"field 'kernel_sizes': sizes must be odd and positive (the output must stay centred), "
                             f"got {kernel_sizes}")
        if len(channels) != len(kernel_sizes) - 1 or any(c < 1 for c in channels):
            raise ValueError(f"field 'channels': need {len(kernel_sizes) - 1} positive widths for "
                             f"{len(kernel_sizes)} layers, got {channels}")
        if padding not in PADDINGS:
            raise ValueError(f"field 'padding': '{padding}' is not one of {', '.join(PADDINGS)}")
        if in_channels not in (1, 3):
            raise ValueError(f"field 'in_channels': must be 1 (Y) or 3 (RGB), got {in_channels}")
        self.kernel_sizes, self.channels, self.padding = kernel_sizes, channels, padding
        self.in_channels = self.out_channels = in_channels
        widths = [in_channels, *channels, in_channels]
        layers: list[nn.Module] = []
        for i, k in enumerate(kernel_sizes):
            layers.append(nn.Conv2d(widths[i], widths[i + 1], k, padding=k // 2 if padding == "same" else 0))
            if i < len(kernel_sizes) - 1:
                layers.append(nn.ReLU(inplace=True))
        self.body = nn.Sequential(*layers)
        for m in self.body:
            if isinstance(m, nn.Conv2d):
                nn.init.normal_(m.weight, std=init_std)
                nn.init.zeros_(m.bias)

    @property
    def border(self) -> int:
        """Pixels lost on each side of the output ('valid' padding), 0 for 'same'."""
        return 0 if self.padding == "same" else sum(k // 2 for k in self.kernel_sizes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


_VARIANTS = {
    # Filter sizes (Sec. 4.3.2), n1/n2 = 64/32.
    "9-1-5": {"kernel_sizes": [9, 1, 5]},
    "9-3-5": {"kernel_sizes": [9, 3, 5]},
    "9-5-5": {"kernel_sizes": [9, 5, 5]},
    # Filter numbers (Sec. 4.3.1), 9-1-5.
    "n128-64": {"channels": [128, 64]},
    "n32-16": {"channels": [32, 16]},
    # Depth (Sec. 4.3.3); the added layers have n22 = 16 filters as in the paper.
    "9-1-1-5": {"kernel_sizes": [9, 1, 1, 5], "channels": [64, 32, 16]},
    "9-3-1-5": {"kernel_sizes": [9, 3, 1, 5], "channels": [64, 32, 16]},
    "9-3-3-5": {"kernel_sizes": [9, 3, 3, 5], "channels": [64, 32, 16]},
    "9-3-3-3-5": {"kernel_sizes": [9, 3, 3, 3, 5], "channels": [64, 32, 16, 16]},
}


@register("srcnn", "3-layer (or deeper) CNN on the bicubic-enlarged Y channel", "Dong et al., TPAMI 2016",
          variants=_VARIANTS, scales=(2, 3, 4), default_variant="9-1-5")
def srcnn(scale: int = 3, kernel_sizes: Sequence[int] = (9, 1, 5), channels: Sequence[int] = (64, 32),
          in_channels: int = 1, padding: str = "valid", init_std: float = 1e-3) -> SRCNN:
    """``scale`` only selects the training data: the network itself is scale-agnostic."""
    return SRCNN(kernel_sizes, channels, in_channels, padding, init_std)
