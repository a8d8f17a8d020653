"""Users' own data sets: folders of HR images, named ``folder:<path>`` wherever a set name goes.

A folder set is identified by its pixels, as a catalogue set is: every image is decoded and its pixel digest
(``images.pixel_digest``) taken, so the set's digest, and with it a configuration's hash and the key of the
prepared training set's cache, changes exactly when the pixels do (never because a file was touched or
re-encoded losslessly). Its name in metrics, crops and leaderboard columns is the folder's base name, which may
not be a catalogue set's. It is never downloaded: on a cluster the folder must exist at the same absolute path
on every node (a shared file system).

Each problem is a one-line :class:`UserError` naming the folder or the file: no such folder, no images in it,
an unreadable image, a name that is a catalogue set's or would make a bad metric name.
"""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path
from typing import Literal

from srbench.data.catalogue import FOLDER_PREFIX, DatasetSpec, catalogue_name_like
from srbench.data.images import IMAGE_SUFFIXES, list_images, load_rgb, pixel_digest
from srbench.errors import UserError

# The base name becomes part of metric names (``<name>.psnr_y``), Ray report keys and crop file names.
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
# Resolved folder -> (its files' names, sizes and times, the spec read from them). The stamp only says when to
# decode again (a folder rewritten while a process runs); the digests always come from the pixels.
_SPECS: dict[str, tuple[tuple, DatasetSpec]] = {}


def folder_spec(path: str, kind: Literal["benchmark", "train"] = "benchmark") -> DatasetSpec:
    """The spec of the folder set at ``path`` (relative paths against the current directory): its images'
    pixel digests, decoded once per process while the folder's files stay the same."""
    folder = _checked_folder(path)
    files = _images(folder)
    stamp = tuple((p.name, *_stat(p)) for p in files)
    cached = _SPECS.get(str(folder))
    if cached is None or cached[0] != stamp:
        cached = _SPECS[str(folder)] = (stamp, _read(folder, files))
    return replace(cached[1], kind=kind)


def _checked_folder(path: str) -> Path:
    if not path.strip():
        raise UserError(
            f"'{FOLDER_PREFIX}' needs the path of a folder of HR images, e.g. {FOLDER_PREFIX}/data/my_bench"
        )
    folder = Path(path.strip()).expanduser().resolve()
    if not folder.exists():
        raise UserError(f"data set folder {folder} does not exist; give {FOLDER_PREFIX}<path> of a folder of HR images")
    if not folder.is_dir():
        raise UserError(
            f"data set folder {folder} is not a folder; give {FOLDER_PREFIX}<path> of a folder of HR images"
        )
    clash = catalogue_name_like(folder.name)
    if clash is not None:  # its metrics and leaderboard columns would pass for the catalogue set's
        raise UserError(
            f"data set folder {folder} is named like the catalogue set {clash}: rename the folder (its "
            f"name is the set's name in metrics and leaderboards)"
        )
    if not _NAME.fullmatch(folder.name):
        raise UserError(
            f"data set folder {folder}: its name '{folder.name}' names the set's metrics and leaderboard "
            f"columns; rename the folder with letters, digits, '_', '-' and '.' (first a letter or digit)"
        )
    return folder


def _images(folder: Path) -> list[Path]:
    try:
        files = list_images(folder)
    except OSError as exc:
        raise UserError(f"cannot list data set folder {folder}: {exc.strerror or exc}") from None
    if not files:
        raise UserError(f"data set folder {folder} holds no images; valid suffixes: {', '.join(IMAGE_SUFFIXES)}")
    return files


def _stat(path: Path) -> tuple[int, int]:
    try:
        stat = path.stat()
    except OSError as exc:
        raise UserError(f"cannot read image {path}: {exc.strerror or exc}") from None
    return stat.st_size, stat.st_mtime_ns


def _read(folder: Path, files: list[Path]) -> DatasetSpec:
    """Decode every image (an unreadable one is an error naming it) for its pixel digest."""
    digests = {p.name: pixel_digest(load_rgb(p)) for p in files}
    return DatasetSpec(
        name=folder.name,
        kind="benchmark",
        description=f"your images in {folder}",
        citation="",
        homepage="",
        url=None,
        members="*",
        count=len(files),
        digests=digests,
        folder=str(folder),
    )
