"""Frozen torchvision networks with ImageNet weights, or a local copy of them, or seeded random ones.

A weights setting is one of:

* ``"imagenet"``: torchvision's ImageNet weights (downloads on a user's machine; offline,
  the error says how to point at a local copy);
* a path: a local copy of torchvision's weights file; recognised as the ImageNet weights
  when its SHA-256 starts with the hash in torchvision's file name;
* ``"random"``: seeded random weights, for tests. Anything computed with non-ImageNet weights
  is not comparable with papers, and the returned label says so, for runs and leaderboards.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from srbench.errors import UserError
from srbench.train.checkpoint import read_weights_only


class WeightsUnavailable(UserError):
    """The ImageNet weights could not be downloaded (offline or refused)."""


# What runs and pages say for a metric on an ImageNet trunk (LPIPS, DISTS) where the weights could not be had.
NO_IMAGENET = "n/a: no ImageNet weights"
# torchvision's normalisation of the RGB input, in [0, 1], of its ImageNet networks
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class PretrainedNet:
    """One torchvision network by name (``vgg19``), its ImageNet weights enum by name
    (``VGG19_Weights.IMAGENET1K_V1``), the file name torchvision downloads (its hash prefix identifies a
    genuine copy) and the config field that selects the weights (named in errors). Named, not imported:
    torchvision's model zoo takes over a second to import, and most trials never need it."""

    arch: str
    imagenet: str
    file_name: str
    field: str

    def build(self, imagenet: bool) -> nn.Module:
        import torchvision  # expensive: only where weights are asked for

        weights = torchvision.models.get_weight(self.imagenet) if imagenet else None
        # torch.hub announces a download on stdout, which would corrupt ``eval --json``; its progress bar is on stderr.
        with contextlib.redirect_stdout(io.StringIO()):
            return torchvision.models.get_model(self.arch, weights=weights)

    @property
    def sha256_prefix(self) -> str:
        return self.file_name.rsplit("-", 1)[1].split(".")[0]


KEYWORDS = ("imagenet", "random")


def check_setting(field: str, setting: str, keywords: tuple[str, ...] = KEYWORDS) -> None:
    """Refuse a setting that is neither a keyword nor shaped like a weights file's path.

    The file itself is only opened where the weights are loaded: on a cluster it may live on
    the workers' shared disk and not on the machine that launches the sweep.
    """
    if setting in keywords or setting.endswith((".pth", ".pt")) or "/" in setting:
        return
    raise UserError(f"field '{field}' = {setting!r}: valid: {', '.join(keywords)}, or the path of a .pth weights file")


def load_pretrained(net: PretrainedNet, setting: str) -> tuple[nn.Module, bool, str]:
    """``(module, is_imagenet, label)`` for the weights ``setting``."""
    if setting == "imagenet":
        try:
            return net.build(imagenet=True), True, "imagenet"
        except Exception as exc:  # offline or refused
            raise WeightsUnavailable(
                f"cannot download ImageNet weights for {net.field} ({type(exc).__name__}: {exc}); set {net.field} "
                f"to a local copy of torchvision's {net.file_name}, or 'random' for tests (results then not "
                f"comparable)"
            ) from None
    if setting == "random":
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            module = net.build(imagenet=False)
        return module, False, "random (not ImageNet: not comparable)"
    path = Path(setting)
    if not path.is_file():
        raise UserError(f"field '{net.field}': '{setting}' is neither 'imagenet', 'random' nor an existing file")
    module = net.build(imagenet=False)
    state = read_weights_only(path, f"field '{net.field}': {path}")
    try:
        module.load_state_dict(state)
    except Exception as exc:  # missing or unexpected keys, wrong shapes: the start of torch's list says which
        why = " ".join(str(exc).split())[:300]
        raise UserError(f"field '{net.field}': {path} is not a state dict of {net.file_name} ({why})") from None
    imagenet = hashlib.sha256(path.read_bytes()).hexdigest().startswith(net.sha256_prefix)
    return (
        module,
        imagenet,
        f"file {path.name}" + ("" if imagenet else " (not torchvision's ImageNet file: not comparable)"),
    )
