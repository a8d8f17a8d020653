"""Download a set's public archive, pick out and verify its images, install them atomically.

Images are matched to the catalogue by pixel digest (or, for sets without
digests, by the catalogue's member pattern), and their destination names come
from the catalogue, never from the archive; archive members with absolute
paths, ``..`` components or links leaving the archive make the whole archive
rejected. Everything is staged in a temporary folder beside the destination
and moved into place only once complete, so a failure leaves nothing behind.
"""

from __future__ import annotations

import contextlib
import fnmatch
import os
import shutil
import sys
import tarfile
import tempfile
import urllib.error
import urllib.request
import zipfile
from collections.abc import Iterator
from pathlib import Path, PurePosixPath

from srbench.data.catalogue import DatasetSpec
from srbench.data.images import IMAGE_SUFFIXES, decode_rgb, pixel_digest, save_png
from srbench.errors import UserError

MIRROR_ENV_VAR = "SRBENCH_MIRROR"
CHUNK = 1 << 20


class DownloadError(UserError):
    """The archive could not be fetched at all (offline, refused, not found)."""


def archive_url(spec: DatasetSpec) -> str | None:
    """The spec's URL, or the same file name under ``$SRBENCH_MIRROR`` (a lab-local mirror)."""
    mirror = os.environ.get(MIRROR_ENV_VAR)
    if spec.url and mirror:
        return mirror.rstrip("/") + "/" + spec.url.rsplit("/", 1)[-1]
    return spec.url


def download(url: str, dest: Path, timeout: float = 30.0) -> None:
    """Stream ``url`` to ``dest``; a short read against Content-Length is an error."""
    try:
        response = urllib.request.urlopen(url, timeout=timeout)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        raise DownloadError(f"cannot download {url}: {reason}") from None
    expected = int(response.headers.get("Content-Length") or 0)
    received = 0
    interactive = sys.stderr.isatty()
    try:
        with response, open(dest, "wb") as out:
            while chunk := response.read(CHUNK):
                out.write(chunk)
                received += len(chunk)
                if interactive:
                    total = f"/{expected / 1e6:.1f}" if expected else ""
                    print(f"\r  {received / 1e6:.1f}{total} MB", end="", file=sys.stderr)
    except (OSError, urllib.error.URLError) as exc:
        raise UserError(f"download of {url} broke off after {received} bytes: {exc}") from None
    finally:
        if interactive:
            print(file=sys.stderr)
    if expected and received != expected:
        raise UserError(f"download of {url} is truncated: got {received} of {expected} bytes")


def _check_member(name: str, link_target: str | None, archive: Path) -> None:
    path = PurePosixPath(name)
    unsafe = path.is_absolute() or ".." in path.parts or name.startswith("\\")
    if link_target is not None:
        target = PurePosixPath(link_target)
        unsafe = unsafe or target.is_absolute() or ".." in (path.parent / target).parts
    if unsafe:
        raise UserError(
            f"refusing archive {archive.name}: member '{name}' has an unsafe path or link "
            f"(absolute, '..' or pointing outside)"
        )


def _image_members(archive: Path) -> Iterator[tuple[str, bytes]]:
    """Yield ``(member name, bytes)`` for every regular image file, after checking every member."""
    try:
        if zipfile.is_zipfile(archive):
            with zipfile.ZipFile(archive) as zf:
                infos = zf.infolist()
                for info in infos:
                    _check_member(info.filename, None, archive)
                for info in infos:
                    if not info.is_dir() and info.filename.lower().endswith(IMAGE_SUFFIXES):
                        yield info.filename, zf.read(info)
        elif tarfile.is_tarfile(archive):
            with tarfile.open(archive) as tf:
                members = tf.getmembers()
                for m in members:
                    _check_member(m.name, m.linkname if (m.issym() or m.islnk()) else None, archive)
                for m in members:
                    if m.isfile() and m.name.lower().endswith(IMAGE_SUFFIXES):
                        yield m.name, tf.extractfile(m).read()
        else:
            raise UserError(f"downloaded file {archive.name} is not a zip or tar archive (corrupt download?)")
    except (zipfile.BadZipFile, tarfile.TarError, EOFError, OSError, ValueError) as exc:
        raise UserError(f"archive {archive.name} is corrupt: {exc}") from None


def _stage_images(spec: DatasetSpec, archive: Path, staging: Path) -> None:
    """Write the set's images from ``archive`` into ``staging`` under their catalogue names."""
    by_digest = {d: n for n, d in spec.digests.items()}
    found: set[str] = set()
    for member, data in _image_members(archive):
        if not spec.verifiable and not fnmatch.fnmatch(member, spec.members):
            continue
        try:
            image = decode_rgb(data, member)
        except UserError as exc:
            raise UserError(f"archive {archive.name} is corrupt: {exc}") from None
        if spec.verifiable:
            name = by_digest.get(pixel_digest(image))
            if name is None:
                continue
        else:
            name = PurePosixPath(member).name
        if Path(name).suffix.lower() == PurePosixPath(member).suffix.lower():
            (staging / name).write_bytes(data)  # same format: keep the original bytes
        else:
            save_png(image, staging / name)
        found.add(name)
    expected = set(spec.digests) if spec.verifiable else None
    if expected is not None and found != expected:
        missing = sorted(expected - found)
        raise UserError(
            f"archive {archive.name} lacks {len(missing)} of {spec.name}'s {len(expected)} images "
            f"(no image with the reference pixels for: {', '.join(missing[:5])}{' ...' if len(missing) > 5 else ''})"
        )
    if expected is None and len(found) != spec.count:
        raise UserError(
            f"archive {archive.name} has {len(found)} images matching '{spec.members}', expected {spec.count}"
        )


def fetch(spec: DatasetSpec, root: Path) -> Path:
    """Download and install ``spec`` under ``root``; return the set's folder."""
    dest = root / spec.relpath
    url = archive_url(spec)
    if url is None:
        raise UserError(
            f"{spec.name} cannot be downloaded automatically (access on request: {spec.homepage}); "
            f"put its images in {dest}"
        )
    made = [p for p in (root, *root.parents) if not p.exists()]  # removed again if the download fails
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(
            f"cannot download {spec.name}: the data folder {root} cannot be made ({exc.strerror}); point "
            f"--data-root or SRBENCH_DATA at a folder you can write"
        ) from None
    work = Path(tempfile.mkdtemp(prefix=f".partial-{spec.name}-", dir=root))  # same filesystem as dest
    try:
        archive = work / url.rsplit("/", 1)[-1]
        print(f"Downloading {spec.name} from {url}", file=sys.stderr)
        download(url, archive)
        staging = work / "images"
        staging.mkdir()
        _stage_images(spec, archive, staging)
        dest.parent.mkdir(parents=True, exist_ok=True)
        if dest.exists():  # keep what the user already has; add only what is missing
            for f in staging.iterdir():
                if not (dest / f.name).exists():
                    os.replace(f, dest / f.name)
        else:
            os.replace(staging, dest)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        for folder in made:  # deepest first: the folders this download made for itself, if still empty
            with contextlib.suppress(OSError):
                folder.rmdir()
        raise
    shutil.rmtree(work, ignore_errors=True)
    return dest
