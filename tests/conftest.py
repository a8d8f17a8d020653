"""Shared fixtures: the reference data root (``SRBENCH_DATA``, as CI sets it) and small image sets."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from srbench.data import get_spec, load_set, resolve_data_root

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session", autouse=True)
def node_cache(tmp_path_factory) -> Path:
    """Prepared training sets go to this run's temporary folder, never the user's cache; shared by the xdist
    workers (and the Ray workers they start, which inherit the environment) like trials on one node share it."""
    folder = tmp_path_factory.getbasetemp().parent / "srbench-cache"
    os.environ["SRBENCH_CACHE"] = str(folder)
    return folder


@pytest.fixture(scope="session")
def data_root() -> Path:
    """The reference sets, found like srbench finds them; the tests never download. A relative SRBENCH_DATA (the
    README's ``../shared/data``) is made absolute, as for a user's shell: tests change the working directory."""
    root = resolve_data_root()
    if os.environ.get("SRBENCH_DATA"):
        os.environ["SRBENCH_DATA"] = str(root)
    for rel in ("benchmarks/Set5/HR", "benchmarks/Set14/HR", "benchmarks/BSD100/HR", "train/BSDS200"):
        if not (root / rel).is_dir():
            pytest.fail(
                f"no {rel} under the data root {root}: set SRBENCH_DATA (e.g. SRBENCH_DATA=../shared/data) "
                f"or run 'python -m srbench data fetch Set5 Set14 BSD100 BSDS200'"
            )
    return root


@pytest.fixture(scope="session")
def set5(data_root):
    return load_set(get_spec("Set5"), data_root, download=False)


@pytest.fixture(scope="session")
def set14(data_root):
    return load_set(get_spec("Set14"), data_root, download=False)


@pytest.fixture(scope="session")
def ray_session():
    """One local Ray per pytest process for the tests that sweep in-process (a sweep joins a running Ray as it
    joins a cluster); tests that run `srbench sweep` as a program start their own, as a user's does."""
    import ray

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


@pytest.fixture(scope="session")
def migrated_store(tmp_path_factory) -> Path:
    """An empty MLflow store, created once per pytest process: a new sqlite store runs MLflow's migrations (1.5 s of
    CPU). ``test_store_concurrency.py`` and every sweep test still create theirs."""
    from srbench.tracking.store import Tracker

    path = tmp_path_factory.mktemp("migrated") / "mlflow.db"
    Tracker(f"sqlite:///{path}")
    return path


@pytest.fixture
def empty_store(tmp_path, migrated_store) -> str:
    """The URI of an empty MLflow store of this test's own, ``tmp_path/mlflow.db`` (a copy of ``migrated_store``)."""
    shutil.copyfile(migrated_store, tmp_path / "mlflow.db")
    return f"sqlite:///{tmp_path / 'mlflow.db'}"


@pytest.fixture
def ray_starts(monkeypatch) -> list:
    """Every Ray start or connection a test's sweep makes (recorded, not made): a test that must start nothing
    checks the list is empty, whether or not this process already runs a Ray (``ray_session``)."""
    calls: list = []
    monkeypatch.setattr("srbench.sweep.launch.init_ray", lambda *args: calls.append(args))
    return calls


# The files that take longest (`pytest --durations=0`, 2-core Zen 4), longest first: pytest-xdist hands whole files to
# its two workers in the order they are collected, as each worker frees up, so the two end together (within a short
# file's time) rather than one running a long file alone at the end.
LONGEST_FIRST = (
    "test_sweep_faults.py",
    "test_train.py",
    "test_cluster.py",
    "test_sweep.py",
    "test_tracking_outage.py",
    "test_sweep_identity.py",
    "test_user_models.py",
    "test_trust.py",
    "test_metric_registry.py",
    "test_leaderboard.py",
    "test_bad_input.py",
    "test_sweep_search.py",
    "test_bench.py",
    "test_models.py",
    "test_store_concurrency.py",
    "test_repo.py",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    rank = {name: i for i, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable: the others keep their order
