"""Training patches: HR crops with their LR (or bicubic-enlarged LR) counterparts.

Each training image is decoded once, modcropped, and degraded once with the
MATLAB-exact bicubic (whole images, as the papers prepared their data, so patch
borders carry no resize edge effects); everything stays in memory as uint8.
A batch is random aligned crops, each under one of the 8 flips/90-degree
rotations, converted to Y or RGB in [0, 1] as the model needs.

Sampling draws from one ``torch.Generator`` that every DDP rank advances the same
way (each rank then builds only its own share of the global batch), so the
generator state in a checkpoint is the whole data-sampling state.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from srbench.color import rgb_to_y
from srbench.data import get_spec, load_set
from srbench.degrade import imresize, modcrop


@dataclass
class Batch:
    inputs: torch.Tensor  # LR (N, C, p/s, p/s) or bicubic-enlarged (N, C, p, p), in [0, 1]
    targets: torch.Tensor  # HR (N, C, p, p) in [0, 1]
    hr_rgb: torch.Tensor | None  # HR RGB in [0, 1] (GAN trials: category labels)
    bicubic_rgb: torch.Tensor | None  # bicubic-enlarged LR RGB in [0, 1] (SFT conditions)


def to_model_space(rgb_uint8: torch.Tensor, channels: int) -> torch.Tensor:
    """uint8 RGB ``(N, 3, H, W)`` -> float32 in [0, 1]: Y/255 for 1-channel models, else RGB/255."""
    if channels == 1:
        return (rgb_to_y(rgb_uint8) / 255).float()
    return rgb_uint8.float() / 255


def _dihedral(x: torch.Tensor, k: int) -> torch.Tensor:
    """The k-th of the 8 flips/rotations of ``(..., H, W)``."""
    x = torch.rot90(x, k % 4, dims=(-2, -1))
    return x.flip(-1) if k >= 4 else x


def _apply_dihedral(batch: torch.Tensor, transforms: torch.Tensor) -> torch.Tensor:
    """Apply transform ``transforms[i]`` to ``batch[i]``, one vectorised call per transform."""
    out = torch.empty_like(batch)
    for k in transforms.unique().tolist():
        index = (transforms == k).nonzero().flatten()
        out[index] = _dihedral(batch[index], k)
    return out


class PatchSampler:
    def __init__(self, train_set: str, scale: int, patch_size: int, channels: int, input_kind: str,
                 data_root: Path, limit: int | None = None, need_rgb: bool = False) -> None:
        self.scale, self.patch, self.channels, self.input_kind = scale, patch_size, channels, input_kind
        self.need_rgb = need_rgb
        start = time.perf_counter()
        images = load_set(get_spec(train_set, kind="train"), data_root)[:limit]
        # Per image: HR (targets), the network input (LR, or bicubic-enlarged LR) in model space,
        # and uint8 RGB copies where conditions/perceptual losses need them.
        self.targets, self.inputs, self.hr_rgb, self.bicubic_rgb = [], [], [], []
        for _, image in images:
            hr = modcrop(image, scale)
            if min(hr.shape[-2:]) < patch_size:
                continue
            lr = imresize(hr, scale=1 / scale)
            bicubic = imresize(lr, scale=scale) if input_kind == "bicubic" or need_rgb else None
            self.targets.append(to_model_space(hr[None], channels)[0])
            self.inputs.append(to_model_space((lr if input_kind == "lr" else bicubic)[None], channels)[0])
            if need_rgb:
                self.hr_rgb.append(hr)
                self.bicubic_rgb.append(bicubic)
        if not self.targets:
            raise ValueError(f"no image of {train_set} is at least {patch_size} pixels on each side")
        print(f"training set {train_set}: {len(self.targets)} images decoded and degraded x{scale} "
              f"in {time.perf_counter() - start:.1f}s", file=sys.stderr)

    def sample(self, generator: torch.Generator, batch_size: int, rank: int = 0, world: int = 1) -> Batch:
        """The ``rank``-th share of a global batch; the generator advances the same on every rank."""
        s, p = self.scale, self.patch
        which = torch.randint(len(self.targets), (batch_size,), generator=generator)
        fractions = torch.rand(batch_size, 2, generator=generator)
        transforms = torch.randint(8, (batch_size,), generator=generator)
        mine = list(range(rank, batch_size, world))
        ratio = s if self.input_kind == "lr" else 1  # input pixels per target pixel, inverted
        targets, inputs, hr_rgb, bicubic_rgb = [], [], [], []
        for i in mine:
            img = int(which[i])
            h, w = self.targets[img].shape[-2:]
            # Align the crop on the input's grid so input and target cover the same area.
            top = int(fractions[i, 0] * ((h - p) // ratio + 1)) * ratio
            left = int(fractions[i, 1] * ((w - p) // ratio + 1)) * ratio
            targets.append(self.targets[img][:, top : top + p, left : left + p])
            inputs.append(self.inputs[img][:, top // ratio : (top + p) // ratio, left // ratio : (left + p) // ratio])
            if self.need_rgb:
                hr_rgb.append(self.hr_rgb[img][:, top : top + p, left : left + p])
                bicubic_rgb.append(self.bicubic_rgb[img][:, top : top + p, left : left + p])
        chosen = transforms[mine]
        return Batch(
            inputs=_apply_dihedral(torch.stack(inputs), chosen),
            targets=_apply_dihedral(torch.stack(targets), chosen),
            hr_rgb=_apply_dihedral(torch.stack(hr_rgb), chosen).float() / 255 if hr_rgb else None,
            bicubic_rgb=_apply_dihedral(torch.stack(bicubic_rgb), chosen).float() / 255 if bicubic_rgb else None,
        )
