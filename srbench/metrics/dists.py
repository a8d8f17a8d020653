"""DISTS, deep image structure and texture similarity (Ding, Ma, Wang and Simoncelli, "Image Quality Assessment:
Unifying Structure and Texture Similarity", TPAMI 2020): a perceptual distance that tolerates resynthesised texture,
as GANs make it.

As the authors' ``dists-pytorch`` computes it (``DISTS_pt.py``): VGG16's conv layers in five stages, each max pool
replaced by L2 pooling; for the image and each stage's features, per channel, a texture term (global means compared)
and a structure term (global correlation), weighted by the learned ``alpha`` and ``beta``; DISTS is 1 minus their
weighted sum, so lower is closer to HR. Scored on uint8-quantised RGB with the same border shave as PSNR.

``dists_weights`` is ``TRUNK[,ALPHA_BETA]``. TRUNK chooses the VGG16 trunk as ``lpips_weights`` chooses AlexNet's
(``imagenet``, a local copy of torchvision's ``vgg16-397923af.pth``, or ``random`` for tests; see
:mod:`srbench.models.pretrained`). ALPHA_BETA is a local copy of the package's ``weights.pt``; without it, the
installed ``dists-pytorch``'s (``pip install -e ".[dists]"``), and with a ``random`` trunk and no package, uniform
weights. The label says which, and anything but ImageNet VGG16 with the paper's alpha/beta is not comparable.
"""

from __future__ import annotations

import hashlib
import importlib.util
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from srbench.errors import UserError
from srbench.metrics.protocol import per_image_chunks, unit_rgb
from srbench.metrics.registry import Compute, Metric, Weights, register_metric
from srbench.models.pretrained import IMAGENET_MEAN, IMAGENET_STD, NO_IMAGENET, PretrainedNet, load_pretrained

VGG16 = PretrainedNet("vgg16", "VGG16_Weights.IMAGENET1K_V1", "vgg16-397923af.pth", "dists_weights")
# VGG16's ``features`` are cut at these max pools, each replaced by L2 pooling; the five stages end at relu1_2,
# relu2_2, relu3_3, relu4_3 and relu5_3 (layer 29; the last max pool, 30, is not used).
POOLS = (4, 9, 16, 23)
END = 30
CHANNELS = (3, 64, 128, 256, 512, 512)  # the image itself, then each stage's features
EPS = 1e-6  # the paper's c1 = c2: keeps both terms finite on flat feature maps
# np.hanning(5) without its zero ends, the reference's L2 pooling window (separable, 3x3)
_HANN = torch.tensor([0.5, 1.0, 0.5])
# SHA-256 of dists-pytorch 0.1's weights.pt: the paper's alpha and beta
ALPHA_BETA_SHA256 = "f5e65c96230b7f6ca995691647d482237e4cab8a50c5c4a5784f219ef0748218"
ALPHA_BETA_PACKAGE = "dists-pytorch 0.1"


def split_setting(setting: str) -> tuple[str, str | None]:
    """``TRUNK[,ALPHA_BETA]`` -> the trunk's setting and the path of the alpha/beta file, if one is given."""
    trunk, _, alpha_beta = setting.partition(",")
    return trunk.strip(), alpha_beta.strip() or None


def l2_pool(x: torch.Tensor) -> torch.Tensor:
    """DISTS's downsampling by 2: the root of a Hann-weighted local mean of squares, which unlike a max pool does not
    alias (the paper's reason for it)."""
    window = torch.outer(_HANN, _HANN) / _HANN.sum() ** 2
    channels = x.shape[1]
    kernel = window.to(x).repeat(channels, 1, 1, 1)
    return (F.conv2d(x.square(), kernel, stride=2, padding=1, groups=channels) + 1e-12).sqrt()


def _stages(features: nn.Sequential) -> nn.ModuleList:
    """VGG16's conv layers cut at its first four max pools, the pools left out (:func:`l2_pool` replaces them)."""
    cuts = (0, *POOLS, END)
    return nn.ModuleList(features[start + (start > 0) : end] for start, end in zip(cuts, cuts[1:]))


def _terms(fx: torch.Tensor, fy: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per image and channel ``(N, C)``: the texture term (global means compared, as SSIM's luminance) and the
    structure term (global covariance against the variances, as SSIM's contrast-structure). The reference's formulas
    (its covariance as E[xy] - E[x]E[y]), so that the figures agree to float rounding."""
    mx, my = fx.mean([2, 3], keepdim=True), fy.mean([2, 3], keepdim=True)
    vx, vy = (fx - mx).square().mean([2, 3]), (fy - my).square().mean([2, 3])
    cov = (fx * fy).mean([2, 3]) - (mx * my).flatten(1)
    mx, my = mx.flatten(1), my.flatten(1)
    return (2 * mx * my + EPS) / (mx.square() + my.square() + EPS), (2 * cov + EPS) / (vx + vy + EPS)


def _package_alpha_beta() -> Path | None:
    """The installed dists-pytorch's weights.pt, found without importing the package (it imports torchvision's
    model zoo, and builds nothing srbench uses)."""
    spec = importlib.util.find_spec("DISTS_pytorch")
    path = Path(spec.origin).parent / "weights.pt" if spec is not None and spec.origin else None
    return path if path is not None and path.is_file() else None


def _read_alpha_beta(path: Path) -> torch.Tensor:
    """``(2, 1475)``: alpha, then beta, from a weights.pt of dists-pytorch's format."""
    if not path.is_file():
        raise UserError(f"field 'dists_weights': alpha/beta file {path} does not exist")
    try:
        table = torch.load(path, map_location="cpu", weights_only=True)
        weights = torch.stack([table[name].reshape(-1) for name in ("alpha", "beta")]).float()
    except Exception as exc:  # not a torch file, not a dict, no alpha or beta, sizes that differ
        raise UserError(
            f"field 'dists_weights': {path} is not DISTS's weights.pt (a dict of 'alpha' and 'beta', "
            f"{sum(CHANNELS)} values each): {type(exc).__name__}: {exc}"
        ) from None
    if weights.shape[1] != sum(CHANNELS):
        raise UserError(
            f"field 'dists_weights': {path} holds {weights.shape[1]} alpha and beta values; DISTS has {sum(CHANNELS)}"
        )
    return weights


def _alpha_beta(path: str | None, trunk: str) -> tuple[torch.Tensor, str]:
    """DISTS's learned weights, ``(2, 1475)``, and how a label names them."""
    source = Path(path).expanduser() if path else _package_alpha_beta()
    if source is None:
        if trunk != "random":  # uniform weights make another metric: only tests may have them
            raise UserError(
                "field 'dists_weights': DISTS's alpha/beta weights are missing: pip install dists-pytorch, or name a "
                "local copy of its weights.pt after the trunk, e.g. dists_weights=imagenet,/data/weights.pt"
            )
        return torch.ones(2, sum(CHANNELS)), "alpha/beta uniform (not DISTS's: not comparable)"
    weights = _read_alpha_beta(source)
    if hashlib.sha256(source.read_bytes()).hexdigest() == ALPHA_BETA_SHA256:
        return weights, f"alpha/beta {ALPHA_BETA_PACKAGE}"
    return weights, f"alpha/beta file {source.name} (not {ALPHA_BETA_PACKAGE}'s weights.pt: not comparable)"


class DISTS(nn.Module):
    """Per-image DISTS of SR against HR, ``(N, 3, H, W)`` on the 0-255 scale (uint8 or float)."""

    def __init__(self, dists_weights: str = "imagenet") -> None:
        super().__init__()
        trunk_setting, alpha_beta = split_setting(dists_weights)
        weights, weights_label = _alpha_beta(alpha_beta, trunk_setting)  # first: it fails fast, the trunk downloads
        trunk, self.imagenet, trunk_label = load_pretrained(VGG16, trunk_setting)
        self.stages = _stages(trunk.features)
        self.register_buffer("alpha_beta", weights / weights.sum(), persistent=False)  # the reference's scaling
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)
        self.eval().requires_grad_(False)
        self.label = f"DISTS VGG16, trunk {trunk_label}, {weights_label}"

    def features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """What DISTS compares: the image in [0, 1] itself, then the five stages' outputs (of the normalised image)."""
        features, h = [x], (x - self.mean) / self.std
        for i, stage in enumerate(self.stages):
            h = stage(l2_pool(h) if i else h)
            features.append(h)
        return features

    def distance(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """DISTS of RGB batches in [0, 1]: one value per image."""
        alpha, beta = (w.split(CHANNELS) for w in self.alpha_beta)
        similarity = torch.zeros(x.shape[0], device=x.device)
        for fx, fy, a, b in zip(self.features(x), self.features(y), alpha, beta):
            texture, structure = _terms(fx, fy)
            similarity = similarity + texture @ a + structure @ b
        return 1 - similarity

    @torch.no_grad()
    def forward(self, sr: torch.Tensor, hr: torch.Tensor, shave: int = 0) -> torch.Tensor:
        self.to(sr.device)
        # one image at a time on a CPU: VGG16's first stage on a whole batch of Urban100 images would take gigabytes
        return torch.cat([self.distance(unit_rgb(s, shave), unit_rgb(h, shave)) for s, h in per_image_chunks(sr, hr)])


def _load(setting: str) -> tuple[Compute, str]:
    metric = DISTS(setting)
    return metric, metric.label


DISTS_METRIC = register_metric(
    Metric(
        "dists",
        "DISTS",
        higher_is_better=False,
        digits=4,
        perceptual=True,
        weights=Weights(
            "dists_weights",
            _load,
            unavailable=NO_IMAGENET,
            help="also score DISTS (VGG16); WEIGHTS: TRUNK[,ALPHA_BETA], TRUNK 'imagenet' (downloads), a local copy "
            "of torchvision's vgg16-397923af.pth, or 'random' (tests; not comparable); ALPHA_BETA a local copy of "
            "dists-pytorch's weights.pt (default: the installed package's; uniform with 'random' and no package)",
        ),
    )
)
