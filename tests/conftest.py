"""Shared fixtures: the reference data root (``SRBENCH_DATA``, as CI sets it) and small image sets."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from srbench.data import get_spec, load_set

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def data_root() -> Path:
    value = os.environ.get("SRBENCH_DATA")
    if not value:
        pytest.fail("set SRBENCH_DATA to the reference data (e.g. SRBENCH_DATA=../shared/data), as the README says")
    root = Path(value).resolve()
    if not (root / "benchmarks" / "Set5" / "HR").is_dir():
        pytest.fail(f"SRBENCH_DATA={value} does not hold benchmarks/Set5/HR")
    return root


@pytest.fixture(scope="session")
def set5(data_root):
    return load_set(get_spec("Set5"), data_root, download=False)


@pytest.fixture(scope="session")
def set14(data_root):
    return load_set(get_spec("Set14"), data_root, download=False)
