"""How a command line gave a weights file and its network, in a module of its own: both the detection
(:mod:`srbench.models.detect`) and the resolution (:mod:`srbench.models.resolve`) of a network name it in errors."""

from __future__ import annotations

from typing import NamedTuple


class Given(NamedTuple):
    """How the command line gave a weights file and its network, so that errors name what the user typed: eval's
    ``--weights PATH`` and ``--model MODEL``, or bench's ``CHECKPOINT`` entry (bench has no --weights)."""

    weights: str  # the file: "--weights w.pth", "checkpoint srcnn=w.pth"
    network: str  # the network named for it: "--model srcnn", "MODEL srcnn"
    naming: str  # how to name a network spandrel cannot detect: "--model NAME|... --weights w.pth", "MODEL=w.pth"
