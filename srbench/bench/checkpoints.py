"""The files a bench scores: each ``FILE`` (architecture detected by spandrel) or ``MODEL=FILE`` (``MODEL`` as
``eval --model`` takes it), read and checked in the driver before any Ray task starts, so every bad file is one line
at once rather than a failed task later."""

from __future__ import annotations

import copy
import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from srbench.errors import UserError
from srbench.models.resolve import Given, Resolved, detected_resolver, weights_resolver
from srbench.user_code import absolute_references

# A bench's name goes into file names (leaderboards/bench-NAME.md) and an MLflow experiment's name.
NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
HASH_CHUNK = 1 << 20


@dataclass(frozen=True)
class Checkpoint:
    """One file to score: where it is, the network named for it (None: detected), its contents' SHA-256 and how
    errors name it (as the command line typed it)."""

    path: Path
    model: str | None
    sha256: str
    given: Given

    @property
    def entry(self) -> str:
        """As the command line gives it: ``FILE`` or ``MODEL=FILE``."""
        return str(self.path) if self.model is None else f"{self.model}={self.path}"


@dataclass(frozen=True)
class Prepared:
    """A checkpoint resolved in the driver: the scale it is scored at and its size figures."""

    checkpoint: Checkpoint
    scale: int
    architecture: str
    parameters: int
    macs_per_mp: float | None  # None where torch's counter cannot run the network on the meta device


def check_name(name: str) -> str:
    if not NAME_PATTERN.fullmatch(name):
        raise UserError(
            f"--name {name!r}: use letters, digits, '.', '_' and '-' (starting with a letter or digit, at most 100), "
            f"it names leaderboards/bench-NAME.md"
        )
    return name


def parse_entry(text: str) -> Checkpoint:
    """``FILE`` or ``MODEL=FILE``; a file whose own name holds ``=`` is taken whole where it exists."""
    model, _, file = text.partition("=") if "=" in text and not Path(text).is_file() else (None, "", text)
    if model is not None and not (model and file):
        raise UserError(f"checkpoint {text!r}: give FILE or MODEL=FILE (e.g. srcnn=weights/srcnn_x3.pth)")
    path = Path(file).expanduser()
    if not path.is_file():
        raise UserError(f"checkpoint {path} does not exist")
    # a file.py:Callable network made absolute: the path its bytes are shipped to the tasks by (bench.shipping)
    network = absolute_references([model])[0] if model is not None else None
    naming = f"MODEL={file} (MODEL: a registered name, package.module:Callable or file.py:Callable)"
    given = Given(f"checkpoint {text}", f"MODEL {model}", naming)
    return Checkpoint(path.resolve(), network, file_sha256(path), given)


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(HASH_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def resolve_checkpoint(checkpoint: Checkpoint, scales: Sequence[int] | None) -> Resolved:
    """The checkpoint's network at its own scale (detected, or an srbench checkpoint's), which must be one of
    ``scales``; a ``MODEL=FILE`` without a scale of its own needs exactly one."""
    if checkpoint.model is None:
        return detected_resolver(checkpoint.path, scales, checkpoint.given, among=True)
    one = list(scales) if scales is not None and len(scales) == 1 else None
    network = weights_resolver(checkpoint.model, None, checkpoint.path, one, checkpoint.given)
    if scales is not None and network.scale not in scales:
        raise UserError(
            f"{checkpoint.given.weights} was trained at x{network.scale}, but --scales asks for "
            f"{','.join(map(str, scales))}"
        )
    return network


def prepare_checkpoint(checkpoint: Checkpoint, scales: Sequence[int] | None) -> Prepared:
    from srbench.models.complexity import count_parameters, macs_per_output_megapixel  # torch's counter: on use

    network = resolve_checkpoint(checkpoint, scales)
    model = network.resolve.model
    try:
        macs = macs_per_output_megapixel(copy.deepcopy(model), network.scale)  # the counter moves it to meta
    except Exception:  # an architecture whose forward needs real data (shape-dependent Python): left blank
        macs = None
    return Prepared(checkpoint, network.scale, network.architecture, count_parameters(model), macs)
