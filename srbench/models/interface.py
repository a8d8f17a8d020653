"""What srbench needs of a super-resolution network, and the check that a network gives it.

Any ``torch.nn.Module`` that maps an LR batch ``(N, C, h, w)`` in [0, 1] to ``(N, C, s*h, s*w)`` trains and
scores as it is, with C = 3 (RGB). A network that needs more declares it with attributes, read here with
these defaults (the zoo's families use the same attributes):

=================== ========= ==========================================================================
attribute           default   meaning
=================== ========= ==========================================================================
``in_channels``     3         1: the network sees and returns the Y channel (SRCNN, SRDenseNet); 3: RGB
``input_kind``      ``"lr"``  ``"bicubic"``: the input is the LR image enlarged by MATLAB bicubic to the
                              output size (SRCNN), so the network keeps the size
``border``          0         pixels its output lacks on each side ('valid' convolutions): the loss skips
                              them on the target, scoring pads the input by them
``condition_config`` None     a condition input (SFT-GAN's segmentation maps, :mod:`srbench.models.conditions`)
``needs_condition`` False     ``forward(x, maps)``: the maps go in as a second input
=================== ========= ==========================================================================

:func:`check_network` builds nothing itself: it reads a built network's traits and runs one small probe
input through it, so a wrong declaration is a one-line error before any training starts.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from srbench.errors import UserError

INPUT_KINDS = ("lr", "bicubic")
PROBE_SIDE = 8  # LR pixels per side of the probe: small, and enough for any border-free network


@dataclass(frozen=True)
class Traits:
    channels: int
    input_kind: str
    border: int
    condition_config: dict[str, Any] | None
    needs_condition: bool

    def input_ratio(self, scale: int) -> int:
        """Input pixels per LR pixel: the scale for a bicubic-input network, else 1."""
        return scale if self.input_kind == "bicubic" else 1

    def output_ratio(self, scale: int) -> int:
        """Output pixels per input pixel."""
        return 1 if self.input_kind == "bicubic" else scale


def traits(model: nn.Module) -> Traits:
    """A network's declared traits (the attributes above, with their defaults)."""
    return Traits(
        channels=getattr(model, "in_channels", 3),
        input_kind=getattr(model, "input_kind", "lr"),
        border=getattr(model, "border", 0),
        condition_config=getattr(model, "condition_config", None),
        needs_condition=bool(getattr(model, "needs_condition", False)),
    )


def example_inputs(
    model: nn.Module, scale: int, out_h: int, out_w: int, device: str | torch.device = "cpu"
) -> tuple[torch.Tensor, ...]:
    """Inputs that make a network produce an ``out_h x out_w`` image."""
    t = traits(model)
    ratio = t.output_ratio(scale)
    inputs = [torch.zeros(1, t.channels, out_h // ratio + 2 * t.border, out_w // ratio + 2 * t.border, device=device)]
    if t.needs_condition:
        inputs.append(torch.zeros(1, len(model.condition_categories), out_h, out_w, device=device))
    return tuple(inputs)


def check_network(model: nn.Module, scale: int, label: str) -> Traits:
    """The network's traits, after checking them and that a probe input comes out ``scale`` times larger
    (less the declared border); a mismatch is a one-line :class:`UserError` naming ``label`` and the sizes."""
    t = traits(model)
    if t.channels not in (1, 3):
        raise UserError(f"{label}: in_channels = {t.channels!r}; srbench scores Y (1) or RGB (3) networks")
    if t.input_kind not in INPUT_KINDS:
        raise UserError(f"{label}: input_kind = {t.input_kind!r}; valid: {', '.join(INPUT_KINDS)}")
    if not isinstance(t.border, int) or t.border < 0:
        raise UserError(f"{label}: border = {t.border!r}; give the pixels lost per side as an integer >= 0")
    if t.needs_condition and t.condition_config is None:
        raise UserError(f"{label}: needs_condition is true but the network has no condition_config")
    out_side = PROBE_SIDE * scale
    inputs = example_inputs(model, scale, out_side, out_side)
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            out = model(*inputs)
    except Exception as exc:  # noqa: BLE001 - whatever the user's forward raises, said in one line
        shapes = " and ".join(str(tuple(x.shape)) for x in inputs)
        raise UserError(
            f"{label}: the network fails on a probe input {shapes} "
            f"({type(exc).__name__}: {exc}); declare in_channels / input_kind / border if the "
            f"defaults (3, 'lr', 0) do not fit it"
        ) from None
    finally:
        model.train(was_training)
    expected = (1, t.channels, out_side, out_side)
    if not isinstance(out, torch.Tensor) or tuple(out.shape) != expected:
        got = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise UserError(
            f"{label}: a probe input {tuple(inputs[0].shape)} gives {got}, expected {expected} "
            f"(x{scale}, {t.channels} channel(s), input_kind '{t.input_kind}', border {t.border})"
        )
    return t
