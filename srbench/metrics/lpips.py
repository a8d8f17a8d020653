"""LPIPS, the learned perceptual distance (Zhang et al., "The Unreasonable Effectiveness of Deep
Features as a Perceptual Metric", CVPR 2018), as the perceptual metric of GAN leaderboards.

The ``lpips`` package's v0.1 AlexNet variant, the one SR papers report: its linear calibration
layers ship inside the package; the AlexNet trunk takes ImageNet weights chosen by
``lpips_weights`` (``"imagenet"``, a local copy of torchvision's ``alexnet-owt-7be5be79.pth``, or
``"random"`` for tests, labelled not comparable; see :mod:`srbench.models.pretrained`). Scored on
uint8-quantised RGB with the same border shave as PSNR; lower is closer to HR.
"""

from __future__ import annotations

import warnings

import torch

from srbench.metrics.protocol import unit_rgb
from srbench.metrics.registry import Compute, Metric, Weights, register_metric
from srbench.models.pretrained import NO_IMAGENET, PretrainedNet, load_pretrained

ALEXNET = PretrainedNet("alexnet", "AlexNet_Weights.IMAGENET1K_V1", "alexnet-owt-7be5be79.pth", "lpips_weights")


class LPIPS:
    """Per-image LPIPS of SR against HR, ``(N, 3, H, W)`` on the 0-255 scale (uint8 or float)."""

    def __init__(self, lpips_weights: str = "imagenet") -> None:
        import lpips  # optional for most uses, and slow to import: only where LPIPS is scored

        trunk, self.imagenet, self.weights_label = load_pretrained(ALEXNET, lpips_weights)
        # pnet_rand: the package would download the trunk itself; ours comes from ``lpips_weights``.
        with warnings.catch_warnings():  # the package builds its trunk with torchvision's deprecated ``pretrained``
            warnings.simplefilter("ignore", UserWarning)
            self.net = lpips.LPIPS(net="alex", version="0.1", pnet_rand=True, verbose=False)
        self.net.eval().requires_grad_(False)
        features = trunk.features.state_dict()
        # The package splits AlexNet's ``features`` into slices keeping the layer indices: ``slice2.3.weight``.
        self.net.net.load_state_dict({name: features[name.split(".", 1)[1]] for name in self.net.net.state_dict()})

    @property
    def label(self) -> str:
        return f"LPIPS v0.1 AlexNet, trunk {self.weights_label}"

    @torch.no_grad()
    def __call__(self, sr: torch.Tensor, hr: torch.Tensor, shave: int = 0) -> torch.Tensor:
        self.net.to(sr.device)
        sr, hr = (unit_rgb(x, shave) * 2 - 1 for x in (sr, hr))  # the package wants [-1, 1]
        return self.net(sr, hr).flatten()


def _load(setting: str) -> tuple[Compute, str]:
    metric = LPIPS(setting)
    return metric, metric.label


LPIPS_METRIC = register_metric(
    Metric(
        "lpips",
        "LPIPS",
        higher_is_better=False,
        digits=4,
        perceptual=True,
        weights=Weights(
            "lpips_weights",
            _load,
            unavailable=NO_IMAGENET,
            help="also score LPIPS (AlexNet, v0.1); WEIGHTS: 'imagenet' (downloads), a local copy of torchvision's "
            "alexnet-owt-7be5be79.pth, or 'random' (tests; not comparable)",
        ),
    )
)
