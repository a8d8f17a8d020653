"""A network recognised from its weights alone: ``srbench eval --weights FILE`` without ``--model``.

The state dict is read without unpickling (``torch.load(weights_only=True)``, or safetensors), unwrapped from the
usual containers (BasicSR's ``params_ema`` / ``params``, ``state_dict``, ``model``, an srbench checkpoint) and
handed to spandrel (chaiNNer-org/spandrel, https://github.com/chaiNNer-org/spandrel), which detects the
architecture and its hyper-parameters (ESRGAN, SwinIR, RCAN, Real-ESRGAN Compact, HAT, ...) from the parameter
names and shapes, and builds it. The result is wrapped in srbench's network interface
(:mod:`srbench.models.interface`): the LR image in, 1 channel meaning Y, 3 RGB.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import torch
from spandrel import ImageModelDescriptor, ModelDescriptor, ModelLoader, UnsupportedModelError
from torch import nn

from srbench.errors import UserError
from srbench.models.complexity import count_parameters
from srbench.models.given import Given
from srbench.models.interface import check_network
from srbench.train.checkpoint import FORMAT, read_tensors

# Where training code keeps the state dict inside a checkpoint, in the order tried: BasicSR's EMA weights first,
# which its released models are scored with.
WRAPPERS = ("params_ema", "params-ema", "params", "state_dict", "model_state_dict", "model", "net")


@dataclass(frozen=True)
class Detection:
    architecture: str  # the network's class, and spandrel's name for the architecture where it differs
    scale: int
    in_channels: int
    out_channels: int
    parameters: int

    def __str__(self) -> str:
        return (
            f"{self.architecture} x{self.scale}, {self.in_channels} -> {self.out_channels} channels, "
            f"{_count(self.parameters)} parameters"
        )


class SpandrelNetwork(nn.Module):
    """A spandrel model as srbench scores networks: the LR image in [0, 1], no border, RGB (3) or Y (1)."""

    input_kind = "lr"
    border = 0

    def __init__(self, descriptor: ImageModelDescriptor) -> None:
        super().__init__()
        self.network = descriptor.model  # a submodule, so .parameters() and .to() reach the weights
        self.descriptor = descriptor
        self.in_channels = descriptor.input_channels
        self.scale = descriptor.scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # spandrel's call pads the input to the model's size requirements (SwinIR's minimum side, the multiple a
        # pixel-unshuffle needs), runs the architecture's own call and crops the output back to scale x the input.
        return self.descriptor(x)


def detect_network(path: Path, given: Given) -> tuple[SpandrelNetwork, Detection]:
    """The network whose weights ``path`` holds, as srbench scores it, and what was detected; anything srbench
    cannot score (an unknown architecture, a pickle, a denoiser, 4 channels) is a one-line :class:`UserError` naming
    the file as ``given`` (``--weights w.pth``, ``checkpoint w.pth``)."""
    label = given.weights
    descriptor = _load(read_state_dict(path, label), given)
    name = type(descriptor.model).__name__
    arch = descriptor.architecture.name
    architecture = name if name == arch else f"{name} ({arch})"
    if not isinstance(descriptor, ImageModelDescriptor) or descriptor.purpose != "SR":
        raise UserError(f"{label} holds a {architecture} {descriptor.purpose} model, not a super-resolution one")
    if descriptor.input_channels != descriptor.output_channels or descriptor.input_channels not in (1, 3):
        raise UserError(
            f"{label}: {architecture} maps {descriptor.input_channels} to {descriptor.output_channels} channels; "
            "srbench scores RGB (3 -> 3) or Y (1 -> 1) networks"
        )
    network = SpandrelNetwork(descriptor).eval()
    check_network(network, descriptor.scale, label)
    found = Detection(
        architecture,
        descriptor.scale,
        descriptor.input_channels,
        descriptor.output_channels,
        count_parameters(network),
    )
    return network, found


def read_state_dict(path: Path, label: str) -> dict[str, torch.Tensor]:
    """The parameter tensors in ``path`` (a ``.safetensors`` file or a ``torch.save`` one), never unpickled; errors
    name the file as ``label``."""
    data = read_tensors(path, label)
    if isinstance(data, dict) and data.get("format") == FORMAT:
        data = data.get("model")
    else:
        data = next((data[k] for k in WRAPPERS if isinstance(data, dict) and isinstance(data.get(k), dict)), data)
    if not isinstance(data, dict) or not data or not all(isinstance(v, torch.Tensor) for v in data.values()):
        raise UserError(f"{label} holds no state dict (parameter name -> tensor)")
    return data


def _load(state: dict[str, torch.Tensor], given: Given) -> ModelDescriptor:
    try:
        with warnings.catch_warnings():
            # SwinIR-like builders call torch.meshgrid without indexing=: torch's notice is spandrel's to heed
            warnings.filterwarnings("ignore", message="torch.meshgrid", category=UserWarning)
            return ModelLoader().load_from_state_dict(state)
    except UnsupportedModelError:
        raise UserError(
            f"spandrel could not detect the architecture of {given.weights}; name the network: {given.naming}"
        ) from None
    except Exception as exc:  # spandrel recognised the names, but its builder fails on the shapes
        detail = " ".join(f"{type(exc).__name__}: {exc}".split())[:300]
        raise UserError(f"{given.weights}: spandrel recognised the layout but could not build it ({detail})") from None


def _count(n: int) -> str:
    return f"{n / 1e6:.1f}M" if n >= 1e6 else f"{n / 1e3:.1f}k" if n >= 1e3 else str(n)
