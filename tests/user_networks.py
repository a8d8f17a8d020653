"""A researcher's network as source text, for tests that write it into study files and modules outside srbench:
two convolutions and a pixel shuffle, RGB, LR in."""

TINY_SR = """
import torch
from torch import nn


class TinySR(nn.Module):
    def __init__(self, scale: int = 3, channels: int = 8) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(3, channels, 3, padding=1), nn.ReLU(),
                                  nn.Conv2d(channels, 3 * scale * scale, 3, padding=1), nn.PixelShuffle(scale))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)
"""
