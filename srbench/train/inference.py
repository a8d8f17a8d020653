"""Running a trained model on a whole LR image, producing the RGB uint8 SR image the protocol scores.

* Y-channel models (SRCNN, SRDenseNet) super-resolve the luma; chroma comes from the
  MATLAB-bicubic enlargement of the LR image, as in the papers' evaluation code.
* Bicubic-input models (SRCNN) get the bicubic-enlarged image, edge-padded by their
  ``border`` so a 'valid'-padded network still returns the full-size image.
* SFT-GAN gets condition maps computed from the bicubic-enlarged image.
* With a :class:`~srbench.tiling.Tiling`, the network runs tile by tile (:func:`~srbench.tiling.run_tiled`),
  bounding its memory on large images.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from srbench.color import rgb_to_ycbcr, ycbcr_to_rgb
from srbench.degrade import imresize
from srbench.errors import UserError
from srbench.metrics import quantize
from srbench.models.interface import traits
from srbench.tiling import Tiling, run_tiled


class SuperResolver:
    def __init__(self, model: nn.Module, condition_source=None, tiling: Tiling | None = None) -> None:
        self.model, self.condition_source, self.tiling = model, condition_source, tiling

    @torch.no_grad()
    def __call__(self, lr: torch.Tensor, scale: int, name: str | None = None) -> torch.Tensor:
        """``lr``: ``(3, h, w)`` uint8 -> ``(3, h*s, w*s)`` uint8; ``name`` is the image's file name (a ``folder``
        condition source reads its maps by it)."""
        model = self.model
        device = next(model.parameters()).device
        was_training = model.training
        model.eval()
        try:
            bicubic = imresize(lr, scale=scale)
            network = traits(model)
            source = bicubic if network.input_kind == "bicubic" else lr
            extra = ()
            if network.needs_condition:
                maps = self.condition_source((bicubic[None].float() / 255).to(device), [name] if name else None)
                extra = (maps.to(device),)
            if network.channels == 1:
                x = rgb_to_ycbcr(source)[:1] / 255
            else:
                x = source.to(torch.float64) / 255
            x = x[None].float().to(device)
            if network.border:
                x = F.pad(x, (network.border,) * 4, mode="replicate")
            if self.tiling is None:
                out = model(x, *extra)
            else:
                out = run_tiled(model, x, network.output_ratio(scale), self.tiling, network.border, extra)
            out = out[0].double().cpu() * 255
            if not torch.isfinite(out).all():  # quantize would clamp NaN / Inf into a finite, meaningless score
                raise UserError(
                    f"the network's output for {name or 'an image'} holds NaN or Inf (diverged or broken weights?)"
                )
            if network.channels == 1:
                out = ycbcr_to_rgb(torch.cat([out, rgb_to_ycbcr(bicubic)[1:]]))
            return quantize(out)
        finally:
            model.train(was_training)
