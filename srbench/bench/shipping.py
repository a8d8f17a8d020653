"""Files on the driver's disk that a bench's tasks read besides the checkpoint: the ``file.py`` of a
``file.py:Callable`` network or a ``file.py:NAME`` metric. A cluster's nodes need not have them, so the driver reads
them (Ray's object store carries the bytes) and each task lands them in its process's own folder, under their
contents' digest: a worker that runs several tasks imports each file once, from one path, so its classes and the
metrics it registers are the same objects in every task."""

from __future__ import annotations

import atexit
import functools
import hashlib
import shutil
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path

DIGEST_CHARS = 16

Files = dict[str, bytes]  # a file's absolute path on the driver -> its bytes


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


def landed_reference(reference: str, local: Mapping[str, str]) -> str:
    """``reference`` with its ``file.py`` (if it has one) replaced by the landed copy's path."""
    file = code_file(reference)
    return reference if file is None else f"{local[file]}:{reference.rpartition(':')[2]}"
