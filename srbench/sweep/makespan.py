"""Keeping a sweep's slots busy: the most expensive trials start first, and the sweep reports how close
its wall time (makespan) came to the ideal, the total trial time divided by the trials run at once.

Started longest first, the last trials to start are the short ones, so no slot waits long on a lone
long trial at the end (the longest-processing-time rule; within 4/3 of the optimum for equal slots).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import torch

from srbench.models import build_model, macs_per_output_megapixel
from srbench.models.registry import entry_for
from srbench.train.config import TrainConfig


def trial_cost(config: TrainConfig) -> float:
    """Estimated training work in multiply-accumulates: MACs per output megapixel x output pixels per
    iteration (batch x patch area) x iterations, plus the discriminator's over the adversarial phase.
    Backward passes cost a similar multiple for every model, so they do not change the order."""
    pixels = config.batch_size * config.patch_size**2 / 1e6
    with torch.device("meta"):
        generator = macs_per_output_megapixel(build_model(config.model), config.scale)
        cost = generator * pixels * config.total_iterations
        if config.is_gan:
            discriminator = macs_per_output_megapixel(
                build_model({"name": entry_for(config.model).discriminator}), None
            )
            cost += 2 * discriminator * pixels * config.iterations  # real and fake batches
    return cost


def longest_first(keys: Sequence[str], configs: Sequence[TrainConfig]) -> list[str]:
    costs = {key: trial_cost(config) for key, config in zip(keys, configs)}
    return sorted(keys, key=lambda k: -costs[k])


@dataclass(frozen=True)
class Makespan:
    wall_s: float  # first trial's start to last trial's end
    trial_s: float  # sum of the trials' own durations
    slots: int

    @property
    def ideal_s(self) -> float:
        return self.trial_s / self.slots

    @property
    def ratio(self) -> float:
        return self.wall_s / self.ideal_s if self.ideal_s else float("nan")

    def describe(self) -> str:
        return (
            f"makespan {self.wall_s:.0f} s, ideal {self.ideal_s:.0f} s ({self.trial_s:.0f} s of trials / "
            f"{self.slots} at once): {self.ratio:.2f} x ideal"
        )


def makespan(intervals: Iterable[tuple[float, float]], slots: int) -> Makespan | None:
    """From the trials' ``(start, end)`` times in seconds; None when no trial has both."""
    spans = [(s, e) for s, e in intervals if s is not None and e is not None]
    if not spans:
        return None
    return Makespan(max(e for _, e in spans) - min(s for s, _ in spans), sum(e - s for s, e in spans), slots)
