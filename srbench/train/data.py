"""Training patches: HR crops with their LR (or bicubic-enlarged LR) counterparts.

Each training image is decoded once, modcropped, and degraded once with the
MATLAB-exact bicubic (whole images, as the papers prepared their data, so patch
borders carry no resize edge effects), once per node (:mod:`srbench.train.prepared`);
everything stays in memory in model space (Y or RGB in [0, 1]).
A batch is random aligned crops, each under one of the 8 flips/90-degree
rotations, converted to Y or RGB in [0, 1] as the model needs.

Sampling draws from one ``torch.Generator`` that every DDP rank advances the same
way (each rank then builds only its own share of the global batch), so the
generator state in a checkpoint is the whole data-sampling state.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from srbench.color import rgb_to_y
from srbench.data import DatasetSpec, get_spec, image_sizes
from srbench.errors import UserError
from srbench.evaluate import check_scale
from srbench.train.device import to_device_without_waiting
from srbench.train.prepared import prepare_training_set

if TYPE_CHECKING:
    from srbench.train.config import TrainConfig


def check_trial_data(config: TrainConfig, data_root: Path, download: bool = True) -> None:
    """Before any training: every set of the trial is present (fetched where missing and allowed), its training
    patches fit the training images and its scale fits the benchmark images (read from the file headers)."""
    train = get_spec(config.train_set, kind="train")
    check_patch(config, train, _sizes(train, data_root, download, config.train_images))
    for name in dict.fromkeys([*config.val_sets, *config.eval_sets]):
        spec = get_spec(name, kind="benchmark")
        check_scale(spec.name, _sizes(spec, data_root, download, config.val_images), config.scale)


def _sizes(spec: DatasetSpec, data_root: Path, download: bool, limit: int | None) -> list[tuple[str, int, int]]:
    """``image_sizes``, with a folder set's images named by their paths: an error then says where the file is."""
    sizes = image_sizes(spec, data_root, download, limit)
    if spec.folder is None:
        return sizes
    return [(str(Path(spec.folder) / name), height, width) for name, height, width in sizes]


def check_patch(config: TrainConfig, spec: DatasetSpec, sizes: list[tuple[str, int, int]]) -> None:
    """A one-line error when the training patch (at the scale) does not fit: into at least one image of a catalogue
    set (the sampler skips the few smaller ones), or into every image of a folder set (the user's own images are
    all meant to be trained on: the smallest is named). ``sizes``: ``(name, height, width)`` of the images used."""
    sides = sorted((min(h - h % config.scale, w - w % config.scale), name, h, w) for name, h, w in sizes)
    if spec.folder is not None:
        side, name, height, width = sides[0]
        if config.patch_size > side:
            raise UserError(
                f"field 'patch_size' = {config.patch_size}: training image {name} ({width}x{height}) is "
                f"smaller than the patch; at x{config.scale} it holds patches up to {side}: use "
                f"patch_size <= {side}, or remove or enlarge the image"
            )
        return
    largest = sides[-1][0]
    if config.patch_size > largest:
        which = f"the first {config.train_images} images" if config.train_images else "every image"
        raise UserError(
            f"field 'patch_size' = {config.patch_size}: larger than {which} of {config.train_set}; "
            f"the largest patch they hold is {largest}"
        )


@dataclass
class Batch:
    inputs: torch.Tensor  # LR (N, C, p/s, p/s) or bicubic-enlarged (N, C, p, p), in [0, 1]
    targets: torch.Tensor  # HR (N, C, p, p) in [0, 1]
    conditions: torch.Tensor | None  # SFT-GAN's category probabilities (N, 8, p, p), cut like the targets


def to_model_space(rgb_uint8: torch.Tensor, channels: int) -> torch.Tensor:
    """uint8 RGB ``(N, 3, H, W)`` -> float32 in [0, 1]: Y/255 for 1-channel models, else RGB/255."""
    if channels == 1:
        return (rgb_to_y(rgb_uint8) / 255).float()
    return rgb_uint8.float() / 255


def dihedral(x: torch.Tensor, k: int) -> torch.Tensor:
    """The k-th of the 8 flips/rotations of ``(..., H, W)``."""
    x = torch.rot90(x, k % 4, dims=(-2, -1))
    return x.flip(-1) if k >= 4 else x


class ImageBank:
    """Images of different sizes in one flat buffer on ``device``; a batch of augmented crops is two gathers there
    (on a GPU, no host work or copy per batch beyond a few random numbers): each crop's rows, ``size`` contiguous
    values each, from a strided view of the buffer; then each crop's pixels permuted by its transform."""

    def __init__(self, images: list[torch.Tensor], device: torch.device = torch.device("cpu")) -> None:
        self.channels, self.device = images[0].shape[0], device
        self.buffer = torch.cat([img.reshape(-1) for img in images]).to(device)
        sizes = torch.tensor([img.shape[1:] for img in images], device=device)
        self.heights, self.widths = sizes[:, 0], sizes[:, 1]
        counts = torch.tensor([img.numel() for img in images], device=device)
        self.offsets = torch.cumsum(counts, 0) - counts
        self._maps: dict[int, torch.Tensor] = {}

    def _source_maps(self, size: int) -> torch.Tensor:
        """``(8, size * size)``: for each transform, the in-crop (row-major) source of each output pixel."""
        if size not in self._maps:
            flat = torch.arange(size * size, device=self.device).view(size, size)
            self._maps[size] = torch.stack([dihedral(flat, k).reshape(-1) for k in range(8)])
        return self._maps[size]

    def crops(
        self, which: torch.Tensor, tops: torch.Tensor, lefts: torch.Tensor, transforms: torch.Tensor, size: int
    ) -> torch.Tensor:
        """``(B, C, size, size)`` crops at (top, left) of images ``which``, each under its transform."""
        channel = torch.arange(self.channels, device=self.device).view(1, -1, 1)
        row = torch.arange(size, device=self.device).view(1, 1, -1)
        widths = self.widths[which].view(-1, 1, 1)
        planes = self.heights[which].view(-1, 1, 1) * widths
        starts = self.offsets[which].view(-1, 1, 1) + channel * planes + (tops.view(-1, 1, 1) + row) * widths
        windows = self.buffer.as_strided((self.buffer.numel() - size + 1, size), (1, 1))  # row i: buffer[i:i+size]
        upright = windows[(starts + lefts.view(-1, 1, 1)).reshape(-1)].view(len(which), self.channels, size * size)
        index = self._source_maps(size)[transforms].unsqueeze(1).expand(-1, self.channels, -1)
        return upright.gather(2, index).view(len(which), self.channels, size, size)


class PatchSampler:
    def __init__(
        self,
        train_set: str,
        scale: int,
        patch_size: int,
        channels: int,
        input_kind: str,
        data_root: Path,
        limit: int | None = None,
        conditions: Callable[[torch.Tensor, Sequence[str]], torch.Tensor] | None = None,
        device: torch.device = torch.device("cpu"),
    ) -> None:
        """``conditions`` (SFT-GAN's condition source) maps each whole bicubic-enlarged training image, once, to
        its category probabilities; patches cut them with the targets' crop. The prepared images live on
        ``device`` (the training device) and batches are cut there."""
        self.scale, self.patch, self.channels, self.input_kind = scale, patch_size, channels, input_kind
        self.device = device
        start = time.perf_counter()
        prepared = prepare_training_set(
            train_set, scale, data_root, limit, with_bicubic=input_kind == "bicubic" or conditions is not None
        )
        # Per image: HR (targets), the network input (LR, or bicubic-enlarged LR) in model space,
        # and the uint8 bicubic RGB image where SFT-GAN's condition maps are computed from it.
        bicubic = prepared.bicubic or [None] * len(prepared.hr)
        kept = [i for i, hr in enumerate(prepared.hr) if min(hr.shape[-2:]) >= patch_size]
        if not kept:
            raise UserError(f"field 'patch_size' = {patch_size}: no image of {train_set} is that large on each side")
        self.count = len(kept)
        self.targets = ImageBank([to_model_space(prepared.hr[i][None], channels)[0] for i in kept], device)
        sources = prepared.lr if input_kind == "lr" else bicubic
        self.inputs = ImageBank([to_model_space(sources[i][None], channels)[0] for i in kept], device)
        # fp16 halves the maps' memory (BSDS200 x4: 0.5 GB); they are probabilities, not scored pixels.
        self.conditions = (
            ImageBank([conditions(bicubic[i][None].float() / 255, [prepared.names[i]])[0].half() for i in kept], device)
            if conditions is not None
            else None
        )
        self.seconds, self.cached = time.perf_counter() - start, prepared.cached  # a start-up figure
        how = "loaded from the node's cache" if prepared.cached else "decoded and degraded"
        print(
            f"training set {train_set}: {self.count} images x{scale} {how}, ready in {self.seconds:.1f}s",
            file=sys.stderr,
        )

    def sample(self, generator: torch.Generator, batch_size: int, rank: int = 0, world: int = 1) -> Batch:
        """The ``rank``-th of ``world`` equal shares of a global batch; the generator advances the same on every
        rank."""
        if batch_size % world:  # DDP averages the ranks' gradients as if their shares were equal
            raise ValueError(f"batch_size {batch_size} does not split into {world} equal shares")
        p = self.patch
        which = torch.randint(self.count, (batch_size,), generator=generator)
        fractions = torch.rand(batch_size, 2, generator=generator)
        transforms = torch.randint(8, (batch_size,), generator=generator)
        mine = torch.arange(rank, batch_size, world)
        # The draws come from the CPU generator (the same stream on every device); the cutting runs on the bank's.
        which, fractions, transforms = (
            to_device_without_waiting(t[mine], self.device) for t in (which, fractions, transforms)
        )
        # Align the crop on the input's grid so input and target cover the same area.
        ratio = self.scale if self.input_kind == "lr" else 1
        h, w = self.targets.heights[which], self.targets.widths[which]
        tops = (fractions[:, 0] * ((h - p) // ratio + 1)).long() * ratio
        lefts = (fractions[:, 1] * ((w - p) // ratio + 1)).long() * ratio
        inputs = self.inputs.crops(which, tops // ratio, lefts // ratio, transforms, p // ratio)
        targets = self.targets.crops(which, tops, lefts, transforms, p)
        conditions = None
        if self.conditions is not None:
            conditions = self.conditions.crops(which, tops, lefts, transforms, p).float()
        return Batch(inputs=inputs, targets=targets, conditions=conditions)
