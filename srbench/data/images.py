"""Reading and writing images as ``(3, H, W)`` uint8 RGB tensors, and pixel digests."""

from __future__ import annotations

import hashlib
import io
import re
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from srbench.errors import UserError

IMAGE_SUFFIXES = (".png", ".bmp", ".jpg", ".jpeg", ".tif", ".tiff")


# Pixels decoded at most: PIL's decompression-bomb threshold, enforced from the header, before any decoding.
MAX_PIXELS = Image.MAX_IMAGE_PIXELS
# 16-bit grey modes: PIL keeps the full values, which are scaled to 8 bits as MATLAB's im2uint8 does.
_GREY16 = ("I;16", "I;16B", "I;16L")
# Raw modes of 16 or 32 bits per channel (``RGB;16B``, ``LA;16B``, ``RGB;16L``); not ``BGR;16`` (a 5-6-5 BMP).
_WIDE = re.compile(r";(16|32)[BLN]")
_READ_ERRORS = (UnidentifiedImageError, Image.DecompressionBombError, OSError, SyntaxError, ValueError)


@contextmanager
def _open(source: bytes | Path, name: str) -> Iterator[Image.Image]:
    """An image opened from its header, refused in one line when it is unreadable or larger than ``MAX_PIXELS``
    (PIL's own warning, which would only print, is silenced: srbench refuses instead)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(source) if isinstance(source, bytes) else source)
    except _READ_ERRORS as exc:
        raise UserError(f"cannot read image {name}: {exc}") from None
    with img:
        if img.width * img.height > MAX_PIXELS:
            raise UserError(
                f"cannot read image {name}: {img.width}x{img.height} is more than the {MAX_PIXELS} pixels srbench "
                f"decodes (a decompression bomb?)"
            )
        _check_depth(img, name)
        yield img


def _raw_modes(img: Image.Image) -> list[str]:
    """The pixel layouts the file stores (PIL's raw modes, e.g. ``RGB;16B``), read from the header."""
    return [str(args[0] if isinstance(args, tuple) else args) for args in (tile[3] for tile in img.tile)]


def _check_depth(img: Image.Image, name: str) -> None:
    """Refuse, from the header, what PIL would clip or truncate to 8 bits: 16-bit colour, 32-bit or float pixels
    (16-bit grey is kept: :func:`_to_uint8_rgb` scales it)."""
    if img.mode not in _GREY16 and (img.mode in ("I", "F") or any(_WIDE.search(m) for m in _raw_modes(img))):
        raise UserError(
            f"cannot read image {name}: it has more than 8 bits per colour channel ({img.mode}, "
            f"{', '.join(_raw_modes(img))}), which srbench does not convert; save it with 8 bits per channel "
            f"(as MATLAB's im2uint8 does; 16-bit grey images are converted that way)"
        )


def _to_uint8_rgb(img: Image.Image) -> np.ndarray:
    """``(H, W, 3)`` uint8: 8-bit images as PIL converts them, 16-bit grey by ``round(x / 257)`` (MATLAB's
    im2uint8), never clipped."""
    if img.mode in _GREY16:
        grey = np.round(np.asarray(img, dtype=np.float64) / 257).astype(np.uint8)
        return np.repeat(grey[..., None], 3, axis=2)
    return np.array(img.convert("RGB"))  # grey (Set14's bridge) becomes 3 equal channels


def decode_rgb(data: bytes | Path, name: str) -> torch.Tensor:
    """Decode an image (file path or bytes) to ``(3, H, W)`` uint8 RGB; ``name`` is used in errors."""
    with _open(data, name) as img:
        try:
            array = _to_uint8_rgb(img)
        except _READ_ERRORS as exc:
            raise UserError(f"cannot read image {name}: {exc}") from None
    return torch.from_numpy(array).permute(2, 0, 1).contiguous()


def image_size(path: Path) -> tuple[int, int]:
    """``(height, width)`` from the file's header, without decoding the pixels."""
    with _open(path, str(path)) as img:
        return img.height, img.width


def load_rgb(path: Path) -> torch.Tensor:
    return decode_rgb(Path(path), str(path))


def save_png(image: torch.Tensor, path: Path) -> None:
    """Write a ``(3, H, W)`` uint8 tensor losslessly."""
    Image.fromarray(image.permute(1, 2, 0).cpu().numpy()).save(path, format="PNG")


def pixel_digest(image: torch.Tensor) -> str:
    """SHA-256 of the decoded RGB pixels and their shape: survives lossless re-encoding."""
    c, h, w = image.shape
    digest = hashlib.sha256(f"{h}x{w}x{c}:".encode())
    digest.update(image.permute(1, 2, 0).contiguous().numpy().tobytes())
    return digest.hexdigest()


def list_images(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
