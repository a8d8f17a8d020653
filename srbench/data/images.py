"""Reading and writing images as ``(3, H, W)`` uint8 RGB tensors, and pixel digests."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from srbench.errors import UserError

IMAGE_SUFFIXES = (".png", ".bmp", ".jpg", ".jpeg", ".tif", ".tiff")


def decode_rgb(data: bytes | Path, name: str) -> torch.Tensor:
    """Decode an image (file path or bytes) to ``(3, H, W)`` uint8 RGB; ``name`` is used in errors."""
    try:
        with Image.open(io.BytesIO(data) if isinstance(data, bytes) else data) as img:
            array = np.array(img.convert("RGB"))  # grey (Set14's bridge) becomes 3 equal channels
    except (UnidentifiedImageError, Image.DecompressionBombError, OSError, SyntaxError, ValueError) as exc:
        raise UserError(f"cannot read image {name}: {exc}") from None
    return torch.from_numpy(array).permute(2, 0, 1).contiguous()


def image_size(path: Path) -> tuple[int, int]:
    """``(height, width)`` from the file's header, without decoding the pixels."""
    try:
        with Image.open(path) as img:
            width, height = img.size
    except (UnidentifiedImageError, Image.DecompressionBombError, OSError, SyntaxError, ValueError) as exc:
        raise UserError(f"cannot read image {path}: {exc}") from None
    return height, width


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
