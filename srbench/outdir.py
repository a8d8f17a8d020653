"""Folders srbench is asked to write (a run folder, a leaderboard folder): checked before any work, so a mistake
in the path is one line rather than a traceback after minutes of training."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from srbench.errors import UserError


def check_output_folder(folder: Path, flag: str) -> None:
    """``folder`` is a folder (or can be made one) that this process can write in; a one-line error otherwise."""
    if folder.exists() and not folder.is_dir():
        raise UserError(f"{flag} {folder} is a file, not a folder")
    existing = next(p for p in (folder.absolute(), *folder.absolute().parents) if p.exists())
    if not existing.is_dir():
        raise UserError(f"{flag} {folder}: {existing} is a file, not a folder")
    try:  # the only sure test (root ignores permission bits; mounts, ACLs): make and remove an empty folder
        os.rmdir(tempfile.mkdtemp(prefix=".srbench-probe-", dir=existing))
    except OSError as exc:
        raise UserError(f"{flag} {folder}: cannot write in {existing} ({exc.strerror or exc})") from None
