"""VGG19 feature extractor for perceptual losses (Simonyan and Zisserman, ICLR 2015).

Layers are named as in the SR literature: ``convX_Y`` / ``reluX_Y`` / ``poolX``
(``relu2_2`` is SRGAN's "VGG22", ``relu5_4`` its "VGG54"). Inputs are RGB in
[0, 1]; ImageNet normalisation is applied inside.

Weights (``vgg_weights``): ``"imagenet"`` (torchvision's ``VGG19_Weights.IMAGENET1K_V1``),
a local copy of ``vgg19-dcbb9e9d.pth`` or ``"random"``, as described in
:mod:`srbench.models.pretrained`; ``imagenet`` and ``weights_label`` record which, for runs
and leaderboards.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from srbench.errors import UserError
from srbench.models.pretrained import IMAGENET_MEAN, IMAGENET_STD, PretrainedNet, load_pretrained

_CFG = [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512, 512, 512, 512, "M"]


def layer_names() -> list[str]:
    """Names of ``torchvision.models.vgg19().features`` modules, in order."""
    names, block, index = [], 1, 1
    for item in _CFG:
        if item == "M":
            names.append(f"pool{block}")
            block, index = block + 1, 1
        else:
            names += [f"conv{block}_{index}", f"relu{block}_{index}"]
            index += 1
    return names


LAYERS = layer_names()


VGG19 = PretrainedNet("vgg19", "VGG19_Weights.IMAGENET1K_V1", "vgg19-dcbb9e9d.pth", "vgg_weights")


class VGGFeatures(nn.Module):
    """Frozen VGG19 returning ``{layer: features}`` for the requested layers."""

    def __init__(self, layers: Sequence[str] = ("relu5_4",), vgg_weights: str = "imagenet") -> None:
        super().__init__()
        unknown = [name for name in layers if name not in LAYERS]
        if unknown or not layers:
            raise UserError(
                f"field 'layers': unknown VGG19 layer '{unknown[0] if unknown else ''}'; valid: {', '.join(LAYERS)}"
            )
        net, self.imagenet, self.weights_label = load_pretrained(VGG19, vgg_weights)
        self.layers = list(layers)
        last = max(LAYERS.index(name) for name in layers)
        self.features = net.features[: last + 1].eval().requires_grad_(False)
        for module in self.features:
            if isinstance(module, nn.ReLU):
                module.inplace = False  # the pre-activation conv outputs must survive
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)

    def train(self, mode: bool = True) -> VGGFeatures:
        super().train(mode)
        self.features.eval()  # always frozen
        return self

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        out, x = {}, (x - self.mean) / self.std
        wanted = set(self.layers)
        for name, module in zip(LAYERS, self.features):
            x = module(x)
            if name in wanted:
                out[name] = x
        return out
