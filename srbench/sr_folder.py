"""A method's SR images on disk, as ``srbench eval FOLDER`` reads them: where a set's and scale's images are
(FOLDER/SET/xS, FOLDER/SET or FOLDER itself), one per HR image and named like it, each sized like its modcropped HR;
every mismatch a one-line error naming the files."""

from __future__ import annotations

import sys
from pathlib import Path

import torch

from srbench.data.images import image_size, list_images, load_rgb
from srbench.degrade import modcrop
from srbench.errors import UserError


def find_sr_folder(root: Path, set_name: str, scale: int, single_set: bool, single_scale: bool) -> Path:
    """Where a method's SR images for (set, scale) are: ROOT/SET/xS, ROOT/SET or ROOT itself."""
    candidates = [root / set_name / f"x{scale}", root / set_name / f"X{scale}"]
    if single_scale:
        candidates.append(root / set_name)
    if single_set and single_scale:
        candidates.append(root)
    for folder in candidates:
        if folder.is_dir() and list_images(folder):
            return folder
    looked = ", ".join(str(c) for c in candidates)
    flat = not (single_set and single_scale) and root.is_dir() and list_images(root)
    hint = (
        f" ({root} holds images itself: a flat folder is one set at one scale, e.g. --sets {set_name} --scales {scale})"
    )
    raise UserError(f"no SR images for {set_name} x{scale}: looked in {looked}" + (hint if flat else ""))


def sr_files(folder: Path, stems: list[str]) -> dict[str, Path]:
    """The SR file for each HR stem in ``folder`` (any image format), after checking that each HR image has
    exactly one, that each opens as an image, and saying which files match none."""
    files = list_images(folder)
    by_stem = {p.stem: p for p in files}
    twins = sorted(p.name for p in files if p.stem in stems and sum(q.stem == p.stem for q in files) > 1)
    if twins:
        raise UserError(
            f"{folder}: more than one SR image for the same HR image ({', '.join(twins[:10])}); "
            f"keep one file per HR name"
        )
    missing = [s for s in stems if s not in by_stem]
    extra = sorted(p.name for p in files if p.stem not in stems)
    if missing:
        hint = f"; unmatched files there: {', '.join(extra[:10])}" if extra else ""
        raise UserError(
            f"{folder}: no SR image named like HR file(s) {', '.join(missing[:10])}"
            f"{' ...' if len(missing) > 10 else ''}{hint}"
        )
    for stem in stems:
        image_size(by_stem[stem])  # an unreadable file or a decompression bomb, before any scoring
    if extra:
        print(
            f"{folder}: not scored (named like no HR image): {', '.join(extra[:10])}"
            f"{' ...' if len(extra) > 10 else ''}",
            file=sys.stderr,
        )
    return {stem: by_stem[stem] for stem in stems}


def load_sr_images(files: dict[str, Path], images: list[tuple[str, torch.Tensor]], scale: int) -> list[torch.Tensor]:
    """The SR images (``files`` by HR stem), each sized like its modcropped HR."""
    srs, wrong = [], []
    for name, hr in images:
        path = files[Path(name).stem]
        sr = load_rgb(path)
        target = modcrop(hr, scale)
        if sr.shape == hr.shape:  # a method that kept the uncropped size: crop the same way
            sr = modcrop(sr, scale)
        if sr.shape != target.shape:
            wrong.append(f"{path.name} is {sr.shape[2]}x{sr.shape[1]}, expected {target.shape[2]}x{target.shape[1]}")
        srs.append(sr)
    if wrong:
        raise UserError(f"{files[Path(images[0][0]).stem].parent}: wrong SR image size(s): {'; '.join(wrong[:10])}")
    return srs
