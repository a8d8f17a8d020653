"""Finding, verifying and loading the catalogue's sets under a data root, and users' folder sets where they are."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from srbench.data.catalogue import DatasetSpec
from srbench.data.fetch import DownloadError, archive_url, fetch
from srbench.data.images import image_size, list_images, load_rgb, pixel_digest
from srbench.data.root import ENV_VAR
from srbench.errors import UserError


@dataclass(frozen=True)
class SetStatus:
    spec: DatasetSpec
    folder: Path
    present: int
    missing: list[str]
    mismatched: list[str]
    checked: bool  # pixel digests were compared

    @property
    def state(self) -> str:
        if self.present == 0:
            return "missing"
        if self.missing:
            return f"incomplete ({len(self.missing)} missing)"
        if self.mismatched:
            return f"DIFFERS ({len(self.mismatched)} images differ from the reference)"
        if self.checked:
            return "ok, pixels verified"
        return "present" if self.spec.verifiable else "present (no reference digests)"


def set_folder(spec: DatasetSpec, root: Path) -> Path:
    """Where the set's images are: a folder set's own folder, a catalogue set's place under ``root``."""
    return Path(spec.folder) if spec.folder is not None else root / spec.relpath


def _expected_names(spec: DatasetSpec, folder: Path) -> list[str]:
    if spec.verifiable:
        return sorted(spec.digests)
    return [p.name for p in list_images(folder)] if folder.is_dir() else []


def status(spec: DatasetSpec, root: Path, check_pixels: bool = True) -> SetStatus:
    folder = set_folder(spec, root)
    names = _expected_names(spec, folder)
    present = [n for n in names if (folder / n).is_file()]
    missing = [n for n in names if n not in present] if spec.verifiable else []
    if not spec.verifiable and 0 < len(present) < spec.count:
        missing = [f"{spec.count - len(present)} unnamed images"]
    mismatched = []
    if check_pixels and spec.verifiable:
        mismatched = [n for n in present if pixel_digest(load_rgb(folder / n)) != spec.digests[n]]
    return SetStatus(spec, folder, len(present), missing, mismatched, check_pixels and spec.verifiable)


def _not_found_message(spec: DatasetSpec, root: Path, reason: str) -> str:
    return (
        f"{spec.name} is not in {set_folder(spec, root)} and {reason}; point srbench at a local copy with "
        f"--data-root DIR or {ENV_VAR}=DIR, where DIR/{spec.relpath} holds the images"
    )


def ensure(spec: DatasetSpec, root: Path, download: bool = True) -> Path:
    """Return the set's folder, downloading the set first if it is absent (never a folder set: it has no source
    but the folder)."""
    st = status(spec, root, check_pixels=False)
    if st.present and not st.missing:
        return st.folder
    if spec.folder is not None:  # read a moment ago, gone since
        raise UserError(
            f"data set folder {spec.folder} no longer holds {', '.join(st.missing[:5])}"
            f"{' ...' if len(st.missing) > 5 else ''}"
        )
    if not download:
        raise UserError(_not_found_message(spec, root, "downloading is switched off"))
    if archive_url(spec) is None:
        raise UserError(_not_found_message(spec, root, f"has no public download ({spec.homepage})"))
    try:
        return fetch(spec, root)
    except DownloadError as exc:
        raise UserError(_not_found_message(spec, root, f"could not be downloaded ({exc})")) from None


def image_sizes(
    spec: DatasetSpec, root: Path, download: bool = True, limit: int | None = None
) -> list[tuple[str, int, int]]:
    """``(file name, height, width)`` of the set's images (the first ``limit``), read from the file headers
    without decoding the pixels."""
    folder = ensure(spec, root, download)
    return [(name, *image_size(folder / name)) for name in _expected_names(spec, folder)[:limit]]


def _mismatch_message(spec: DatasetSpec, path: Path) -> str:
    if spec.folder is not None:  # its digests are this process's own reading of the folder
        return f"{path} changed while srbench was using it (its pixels differ from when it was read); run again"
    return (
        f"{path} differs from the reference {spec.name} image (pixel digest mismatch), so scores would not be "
        f"comparable with published ones; replace it or fetch the set again"
    )


def load_set(
    spec: DatasetSpec, root: Path, download: bool = True, limit: int | None = None
) -> list[tuple[str, torch.Tensor]]:
    """The images of a set (the first ``limit`` only, if given; none other is decoded) as
    ``(file name, (3, H, W) uint8)``, pixel-verified where digests exist."""
    folder = ensure(spec, root, download)
    images = []
    for name in _expected_names(spec, folder)[:limit]:
        image = load_rgb(folder / name)
        if spec.verifiable and pixel_digest(image) != spec.digests[name]:
            raise UserError(_mismatch_message(spec, folder / name))
        images.append((name, image))
    return images
