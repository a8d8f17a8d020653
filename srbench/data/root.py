"""Where srbench keeps data: ``--data-root`` > ``SRBENCH_DATA`` > a per-user cache directory."""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

from srbench.errors import UserError

ENV_VAR = "SRBENCH_DATA"


def resolve_data_root(cli_value: str | os.PathLike | None = None) -> Path:
    """The data folder, refused in one line where it names a file."""
    if cli_value:
        root, source = Path(cli_value).expanduser().resolve(), "--data-root"
    elif os.environ.get(ENV_VAR):
        root, source = Path(os.environ[ENV_VAR]).expanduser().resolve(), ENV_VAR
    else:
        root, source = Path(platformdirs.user_cache_dir("srbench")) / "data", "the default data folder"
    if root.exists() and not root.is_dir():
        raise UserError(f"{source} {root} is a file, not a folder: point it at the folder that holds the data sets")
    return root
