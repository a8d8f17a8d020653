"""Files on the driver's disk that a bench's tasks read besides the checkpoint: the ``file.py`` of a
``file.py:Callable`` network or a ``file.py:NAME`` metric, and the files a metric's weights option names
(``--lpips-weights alexnet.pth``). A cluster's nodes need not have them, so the driver reads them (Ray's object store
carries the bytes) and each task lands them under their contents' digest: code in its process's own folder, so a
worker that runs several tasks imports each file once, from one path (its classes and the metrics it registers are
the same objects in every task); weights in the task's temporary folder, read once its metrics are ready."""

from __future__ import annotations

import atexit
import functools
import hashlib
import shutil
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from srbench.errors import UserError
from srbench.models.pretrained import KEYWORDS

DIGEST_CHARS = 16
SETTING_KEYWORDS = ("none", *KEYWORDS)  # a weights setting's parts that name no file

Files = dict[str, bytes]  # a file's absolute path on the driver -> its bytes


@dataclass(frozen=True)
class Shipment:
    """What every task of a bench needs from the driver besides its checkpoint: ``--metrics`` and the weights
    options as the driver has them (files by absolute path), and those files' bytes (``code``: the networks' and
    metrics' ``file.py``; ``weights``: the weights options' files)."""

    metrics: tuple[str, ...]
    settings: dict[str, str]
    code: Files
    weights: Files


def shipment(models: Iterable[str], metrics: Sequence[str], settings: Mapping[str, str]) -> Shipment:
    """Read in the driver: the ``file.py`` of the ``models`` and ``metrics`` references, the files ``settings`` name."""
    code = pack(file for file in map(code_file, [*models, *metrics]) if file is not None)
    weights = pack(file for setting in settings.values() for file in setting_files(setting))
    return Shipment(tuple(metrics), dict(settings), code, weights)


def code_file(reference: str) -> str | None:
    """The file of a ``file.py:attr`` reference (the driver made it absolute); None for a registered name or a
    ``package.module:attr``, which each node imports from its own installation."""
    module, sep, _ = reference.rpartition(":")
    return module if sep and module.endswith(".py") else None


def pack(paths: Iterable[str]) -> Files:
    """Each file's bytes by its path, read in the driver, each file once."""
    return {path: Path(path).read_bytes() for path in dict.fromkeys(paths)}


def land(files: Mapping[str, bytes], folder: Path) -> dict[str, str]:
    """Each file written as ``folder/<its SHA-256>/<its name>`` (its name kept: labels and tracebacks show it),
    unless an earlier task wrote it there; the driver's path -> the landed copy's."""
    local = {}
    for path, contents in files.items():
        target = folder / hashlib.sha256(contents).hexdigest()[:DIGEST_CHARS] / Path(path).name
        if not target.is_file():
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(contents)
        local[path] = str(target)
    return local


@functools.cache
def landing() -> Path:
    """This process's folder for landed files: its own (a file another user planted is never imported), removed
    when the process exits."""
    folder = Path(tempfile.mkdtemp(prefix="srbench-shipped-"))
    atexit.register(shutil.rmtree, folder, True)
    return folder


def setting_parts(setting: str) -> list[str]:
    """A weights setting's comma-separated parts: DISTS's ``TRUNK,ALPHA_BETA`` has two, each a keyword or a file."""
    return [part.strip() for part in setting.split(",") if part.strip()]


def setting_files(setting: str) -> list[str]:
    """The files a weights setting names: its parts that are not keywords (``imagenet``, ``random``, ``none``)."""
    return [part for part in setting_parts(setting) if part not in SETTING_KEYWORDS]


def absolute_setting(flag: str, setting: str) -> str:
    """``setting`` with each file it names made absolute (the path its bytes are shipped by); a part that is neither
    a keyword nor an existing file is a one-line error naming ``flag``, before anything is scored."""
    parts = []
    for part in setting_parts(setting):
        path = Path(part).expanduser()
        if part not in SETTING_KEYWORDS and not path.is_file():
            raise UserError(f"{flag} {setting}: '{part}' is neither {' nor '.join(KEYWORDS)} nor an existing file")
        parts.append(part if part in SETTING_KEYWORDS else str(path.resolve()))
    return ",".join(parts)


def landed_setting(setting: str, local: Mapping[str, str]) -> str:
    """``setting`` with each file replaced by its landed copy's path."""
    return ",".join(local.get(part, part) for part in setting_parts(setting))


def landed_reference(reference: str, local: Mapping[str, str]) -> str:
    """``reference`` with its ``file.py`` (if it has one) replaced by the landed copy's path."""
    file = code_file(reference)
    return reference if file is None else f"{local[file]}:{reference.rpartition(':')[2]}"
