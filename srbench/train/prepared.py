"""Training sets prepared once per node: decoded, modcropped and degraded with the MATLAB-exact bicubic.

Preparing BSDS200 at x4 takes seconds on 2 cores (decoding, pixel verification, two bicubic resizes per
image), and every trial of a sweep needs the same pixels. The first trial on a node writes them to a
cache file; the others load it. The file is keyed by what determines its pixels: the set's pixel digest
(a folder set's from its decoded images; for a set without reference digests, its files' names, sizes and
times), the scale, how many images, and whether the bicubic enlargement is kept. It holds uint8 RGB, so
models of any channel count and input kind share it (the conversion to Y or [0, 1] is cheap and done on
load). Written to a temporary name and renamed, so a trial never reads a half-written file, and concurrent
writers are safe.

Where: ``SRBENCH_CACHE`` if set, else the per-user cache folder (``~/.cache/srbench`` on Linux), never
the data root (which may be a read-only shared copy).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import platformdirs
import torch

from srbench.data import get_spec, load_set, set_label
from srbench.data.images import list_images
from srbench.data.store import set_folder
from srbench.degrade import imresize, modcrop

CACHE_ENV = "SRBENCH_CACHE"
FORMAT = 2  # bump when the file's layout or the degradation changes


@dataclass
class PreparedSet:
    """Per image, uint8 RGB: the modcropped HR, its MATLAB-bicubic LR and (when asked) the LR enlarged back."""

    names: list[str]
    hr: list[torch.Tensor]
    lr: list[torch.Tensor]
    bicubic: list[torch.Tensor] | None
    cached: bool


def cache_root() -> Path:
    return Path(os.environ.get(CACHE_ENV) or platformdirs.user_cache_dir("srbench"))


def _identity(train_set: str, data_root: Path) -> str:
    spec = get_spec(train_set, kind="train")
    if spec.verifiable:  # load_set verifies the pixels against these digests when it builds the file
        return spec.set_digest
    folder = set_folder(spec, data_root)
    files = [(p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in list_images(folder)] if folder.is_dir() else []
    return hashlib.sha256(json.dumps([str(folder), files]).encode()).hexdigest()


def cache_file(train_set: str, scale: int, data_root: Path, limit: int | None, with_bicubic: bool) -> Path:
    key = json.dumps([FORMAT, _identity(train_set, data_root), scale, limit, with_bicubic])
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    # The set's name (a folder set's base name, never its path) only makes the file recognisable: the digest keys it.
    return cache_root() / "train_sets" / f"{set_label(train_set)}-x{scale}-{digest}.pt"


def prepare_training_set(
    train_set: str, scale: int, data_root: Path, limit: int | None = None, with_bicubic: bool = False
) -> PreparedSet:
    path = cache_file(train_set, scale, data_root, limit, with_bicubic)
    if path.is_file():
        try:
            saved = torch.load(path, weights_only=True)
            return PreparedSet(saved["names"], saved["hr"], saved["lr"], saved["bicubic"], cached=True)
        except Exception as exc:  # a damaged file: rebuild it
            print(f"warning: ignoring the unreadable cache file {path} ({exc})", file=sys.stderr)
    names, hr, lr, bicubic = [], [], [], []
    for name, image in load_set(get_spec(train_set, kind="train"), data_root)[:limit]:
        names.append(name)
        hr.append(modcrop(image, scale))
        lr.append(imresize(hr[-1], scale=1 / scale))
        if with_bicubic:
            bicubic.append(imresize(lr[-1], scale=scale))
    saved = {"names": names, "hr": hr, "lr": lr, "bicubic": bicubic if with_bicubic else None}
    partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.save(saved, partial)
        os.replace(partial, path)
    except OSError as exc:  # a read-only or full cache folder costs speed, not the trial
        with contextlib.suppress(OSError):  # e.g. the cache path is a file: there is no partial to remove
            partial.unlink()
        print(f"warning: could not cache the prepared training set in {path.parent} ({exc})", file=sys.stderr)
    return PreparedSet(names, hr, lr, saved["bicubic"], cached=False)
