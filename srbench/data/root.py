"""Where srbench keeps data: ``--data-root`` > ``SRBENCH_DATA`` > a per-user cache directory."""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

ENV_VAR = "SRBENCH_DATA"


def resolve_data_root(cli_value: str | os.PathLike | None = None) -> Path:
    if cli_value:
        return Path(cli_value).expanduser().resolve()
    if os.environ.get(ENV_VAR):
        return Path(os.environ[ENV_VAR]).expanduser().resolve()
    return Path(platformdirs.user_cache_dir("srbench")) / "data"
