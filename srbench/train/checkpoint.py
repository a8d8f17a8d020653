"""Checkpoints: written atomically (a crash mid-write leaves the previous file intact)
and read back with ``torch.load(weights_only=True)``, which cannot run pickled code."""

from __future__ import annotations

import os
import pickle
import tempfile
import warnings
from pathlib import Path
from typing import Any

import torch

from srbench.errors import UserError

FORMAT = "srbench-checkpoint-1"


def save_checkpoint(state: dict[str, Any], path: Path) -> None:
    """Write to a temporary file beside ``path``, flush it to disk, then rename over ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save({"format": FORMAT, **state}, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read_weights_only(path: Path, label: str, map_location: str | torch.device = "cpu") -> Any:
    """``torch.load(weights_only=True)`` of ``path``, any failure one line saying what the file is not (``label``
    names it, e.g. ``--weights w.pth``); torch's own warnings about the pickle are not printed before it."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "Detected pickle protocol 4 ...": the refusal below says it all
            return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as exc:
        if "Unsupported global" in str(exc):  # a torch.save file with objects of classes torch will not import
            raise UserError(
                f"{label} holds pickled objects besides tensors, which would need unpickling (running code from "
                f"the file) and srbench refuses that; re-save it as a plain state dict "
                f"(torch.save(model.state_dict(), PATH)) or as .safetensors"
            ) from None
        raise UserError(f"{label} is not a PyTorch checkpoint (truncated or another format)") from None
    except Exception:  # EOFError, KeyError, RuntimeError (zip), OSError, IndexError: what a non-checkpoint gives
        raise UserError(f"{label} is not a PyTorch checkpoint (truncated or another format)") from None


def read_tensors(path: Path, label: str) -> Any:
    """What a weights file holds: a ``.safetensors`` file's tensors, else :func:`read_weights_only` of it."""
    if not path.is_file():
        raise UserError(f"{label} is a folder: give the file in it" if path.is_dir() else f"{label} does not exist")
    if path.suffix.lower() != ".safetensors":
        return read_weights_only(path, label)
    from safetensors.torch import load_file  # only for such files

    try:
        return load_file(path, device="cpu")
    except Exception:  # SafetensorError, OSError: a truncated or foreign file
        raise UserError(f"{label} is not a safetensors file (truncated or another format)") from None


def load_checkpoint(path: Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        what = "is a folder: give the .pt file in it (last.pt or best.pt)" if path.is_dir() else "does not exist"
        raise UserError(f"checkpoint {path} {what}")
    state = read_weights_only(path, f"checkpoint {path}", map_location)
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise UserError(f"{path} is not an srbench checkpoint (expected format {FORMAT})")
    return state
