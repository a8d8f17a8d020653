"""Metrics of a user's own, defined outside srbench (what tests/test_metric_registry.py names): one as a ``Metric``
attribute (``user_metrics.py:MAE``), one registered when the module is read (``user_metrics.py:sharpness``)."""

from __future__ import annotations

import torch

from srbench.metrics import Metric, register_metric, shave_border


def mean_absolute_error(sr: torch.Tensor, hr: torch.Tensor, shave: int) -> torch.Tensor:
    """Mean absolute RGB difference per image, in grey levels."""
    difference = shave_border(sr, shave).double() - shave_border(hr, shave).double()
    return difference.abs().flatten(1).mean(dim=1)


def sharpness(sr: torch.Tensor, hr: torch.Tensor | None, shave: int) -> torch.Tensor:
    """Mean absolute horizontal gradient of the SR image alone (a no-reference figure)."""
    assert hr is None  # srbench passes no HR image to a metric that does not need one
    image = shave_border(sr, shave).double()
    return (image[..., 1:] - image[..., :-1]).abs().flatten(1).mean(dim=1)


MAE = Metric("mae", "MAE", higher_is_better=False, digits=3, compute=mean_absolute_error)
register_metric(Metric("sharpness", "Sharpness", higher_is_better=True, digits=2, compute=sharpness, reference=False))
