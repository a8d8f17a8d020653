"""Environment variables set for a block only (Ray and MLflow read some settings only from the environment)."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator


@contextlib.contextmanager
def scoped_env(**values: str) -> Iterator[None]:
    """``values`` in ``os.environ`` for the block; afterwards each variable is as it was (or unset again)."""
    before = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in before.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
