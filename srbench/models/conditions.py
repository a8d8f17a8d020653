"""Where SFT-GAN's 8-category probability maps come from.

A condition source turns RGB images ``(N, 3, H, W)`` in [0, 1] into probabilities
``(N, 8, H, W)`` over ``sftgan.CATEGORIES``. It is chosen in the model config
(``{"condition": {"source": ...}}``) and recorded with every run:

* ``folder``: precomputed maps, ``<image stem>.npy`` or ``.pt`` of shape (8, H, W),
  the SFT-GAN workflow (maps from the authors' segmentation network);
* ``torchvision``: a torchvision semantic segmentation network (Pascal VOC
  categories) through torchvision's weights API, or a local weights file. VOC has
  no sky, water, grass, mountain or building classes, so only background, plant
  (``pottedplant``) and animal (bird, cat, cow, dog, horse, sheep) get mass;
* ``colour_texture``: weight-free, available everywhere, and **not semantic**:
  a deterministic soft k-means of each pixel's colour and local texture into 8
  clusters. Cluster k is not category k; it only lets the SFT machinery run.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from srbench.errors import UserError
from srbench.models.pretrained import IMAGENET_MEAN, IMAGENET_STD

# The outdoor categories of SFT-GAN's probability maps (Wang et al., CVPR 2018), in the paper's order.
CATEGORIES = ("background", "sky", "water", "grass", "mountain", "building", "plant", "animal")

SOURCES = ("colour_texture", "folder", "torchvision")

# Pascal VOC class index -> srbench category index (0 background, 6 plant, 7 animal).
_VOC_TO_CATEGORY = {0: 0, 3: 7, 8: 7, 10: 7, 12: 7, 13: 7, 17: 7, 16: 6}
_VOC_CLASSES = 21


class ColourTextureClusters:
    """Soft k-means on (Y, Cb, Cr, local contrast) per image; deterministic, weight-free, not semantic."""

    semantic = False

    def __init__(self, iterations: int = 10, temperature: float = 0.05) -> None:
        self.iterations, self.temperature = iterations, temperature

    def describe(self) -> str:
        return "colour_texture (weight-free soft clustering; not semantic)"

    def __call__(self, images: torch.Tensor, names: Sequence[str] | None = None) -> torch.Tensor:
        r, g, b = images.clamp(0, 1).unbind(1)
        y = 0.299 * r + 0.587 * g + 0.114 * b
        contrast = (
            (
                F.avg_pool2d(y[:, None] ** 2, 5, 1, 2, count_include_pad=False)
                - F.avg_pool2d(y[:, None], 5, 1, 2, count_include_pad=False) ** 2
            )
            .clamp_min(0)
            .sqrt()[:, 0]
        )
        features = torch.stack([y, 0.564 * (b - y) + 0.5, 0.713 * (r - y) + 0.5, 4 * contrast], dim=-1)
        return torch.stack([self._cluster(f) for f in features])

    def _cluster(self, features: torch.Tensor) -> torch.Tensor:
        h, w, d = features.shape
        points = features.reshape(-1, d)
        # Initial centres: the luminance octiles, so cluster order is stable across images.
        order = points[:, 0].argsort()
        centres = points[order[((torch.arange(len(CATEGORIES)) + 0.5) * len(order) / len(CATEGORIES)).long()]]
        for _ in range(self.iterations):
            weights = torch.softmax(-(torch.cdist(points, centres) ** 2) / self.temperature, dim=1)
            centres = (weights.T @ points) / weights.sum(0).clamp_min(1e-8)[:, None]
        weights = torch.softmax(-(torch.cdist(points, centres) ** 2) / self.temperature, dim=1)
        return weights.T.reshape(len(CATEGORIES), h, w)


class FolderConditions:
    """Precomputed probability maps: ``FOLDER/<image stem>.npy`` or ``.pt``, shape (8, H, W)."""

    semantic = True

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        if not self.path.is_dir():
            raise UserError(f"condition source 'folder': field 'path' = {self.path} is not a folder")

    def describe(self) -> str:
        return f"folder ({self.path})"

    def load(self, name: str) -> torch.Tensor:
        stem = Path(name).stem
        for suffix in (".npy", ".pt"):
            file = self.path / f"{stem}{suffix}"
            if file.exists():
                maps = torch.from_numpy(np.load(file)) if suffix == ".npy" else torch.load(file, weights_only=True)
                if maps.dim() != 3 or maps.shape[0] != len(CATEGORIES):
                    raise UserError(f"{file}: expected probability maps of shape (8, H, W), got {tuple(maps.shape)}")
                return maps.float()
        raise UserError(f"condition source 'folder': no {stem}.npy or {stem}.pt in {self.path}")

    def __call__(self, images: torch.Tensor, names: Sequence[str] | None = None) -> torch.Tensor:
        if names is None or len(names) != len(images):
            raise ValueError("folder conditions need the image names")
        maps = []
        for image, name in zip(images, names):
            m = self.load(name)
            if m.shape[1:] != image.shape[1:]:
                raise UserError(
                    f"{self.path / Path(name).stem}: maps are {tuple(m.shape[1:])}, image is {tuple(image.shape[1:])}"
                )
            maps.append(m)
        return torch.stack(maps).to(images.device)


class TorchvisionSegmentation:
    """A torchvision VOC segmentation network, its 21 classes folded onto the 8 categories."""

    semantic = True

    def __init__(self, arch: str = "deeplabv3_resnet50", weights: str = "default") -> None:
        import torchvision  # optional: only for torchvision's maps

        self.arch, self.weights_label = arch, weights
        if arch not in torchvision.models.list_models(module=torchvision.models.segmentation):
            valid = ", ".join(torchvision.models.list_models(module=torchvision.models.segmentation))
            raise UserError(f"condition source 'torchvision': field 'arch' = '{arch}' is unknown; valid: {valid}")
        if weights == "default":
            try:
                self.net = torchvision.models.get_model(arch, weights="DEFAULT")
            except Exception as exc:  # offline, or the download was refused
                raise UserError(
                    f"cannot download the {arch} weights ({type(exc).__name__}: {exc}); give "
                    f"weights=PATH to a local copy of torchvision's file"
                ) from None
        else:
            self.net = torchvision.models.get_model(
                arch, weights=None, weights_backbone=None, num_classes=_VOC_CLASSES, aux_loss=None
            )
            if weights == "random":
                self.semantic = False
            else:
                state = torch.load(Path(weights), map_location="cpu", weights_only=True)
                self.net.load_state_dict(state, strict=False)
        self.net.eval().requires_grad_(False)
        fold = torch.zeros(len(CATEGORIES), _VOC_CLASSES)
        for voc, category in _VOC_TO_CATEGORY.items():
            fold[category, voc] = 1
        fold[0, [c for c in range(_VOC_CLASSES) if c not in _VOC_TO_CATEGORY]] = 1
        self.fold = fold

    def describe(self) -> str:
        weights = "random weights, not semantic" if self.weights_label == "random" else f"weights {self.weights_label}"
        return f"torchvision {self.arch} ({weights}; VOC classes folded onto 8 categories)"

    @torch.no_grad()
    def __call__(self, images: torch.Tensor, names: Sequence[str] | None = None) -> torch.Tensor:
        mean = torch.tensor(IMAGENET_MEAN, device=images.device).view(1, 3, 1, 1)
        std = torch.tensor(IMAGENET_STD, device=images.device).view(1, 3, 1, 1)
        self.net.to(images.device)
        logits = self.net((images - mean) / std)["out"]
        return torch.einsum("kc,nchw->nkhw", self.fold.to(images.device), logits.softmax(dim=1))


def validate_condition_config(config: Mapping[str, Any] | None) -> dict[str, Any]:
    """Check the source name without building it (a segmentation net is heavy); returns the full config."""
    config = dict(config or {"source": "colour_texture"})
    if config.get("source") not in SOURCES:
        raise UserError(f"condition: field 'source' = {config.get('source')!r} is unknown; valid: {', '.join(SOURCES)}")
    return config


def build_condition_source(config: Mapping[str, Any] | None):
    """``{"source": "colour_texture"}``, ``{"source": "folder", "path": ...}``,
    ``{"source": "torchvision", "arch": ..., "weights": "default" | PATH | "random"}``."""
    config = validate_condition_config(config)
    source = config.pop("source")
    builders = {
        "colour_texture": ColourTextureClusters,
        "folder": FolderConditions,
        "torchvision": TorchvisionSegmentation,
    }
    try:
        return builders[source](**config)
    except TypeError as exc:
        raise UserError(f"condition source '{source}': {exc}") from None
