"""A study's own code on every node of a sweep.

A study may train a network srbench does not ship, or score a metric of its own: one registered in the study file
itself, or one named by its import path (``{"builder": "mylab.nets:TinySR"}``, ``metrics=["mylab.metrics:SHARP"]``).
Ray workers never run the study file and may sit on machines that do not have it, so the sweep starts Ray with a
runtime environment (Ray's ``working_dir`` and ``py_modules``) that carries the study's folder, and the user's
package where it is not installed, to every node; each trial process then reads the study file from there
(:func:`register_study_models`), which runs its ``register`` and ``register_metric`` calls. Studies of srbench's own
networks and metrics ship nothing.
"""

from __future__ import annotations

import os
import runpy
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import srbench
from srbench.errors import UserError
from srbench.models.registry import entry_for
from srbench.study.experiment import RUN_NAME

if TYPE_CHECKING:
    from srbench.train.config import TrainConfig

# Never shipped with a study's folder: run outputs, stores, weights and environments (Ray refuses a working_dir
# over its size limit, and none of these is code).
EXCLUDES = [
    ".git",
    "__pycache__",
    "*.pyc",
    ".venv",
    "venv",
    "mlruns",
    "mlflow.db*",
    "*.db",
    "ray_results",
    "runs",
    "leaderboards*",
    "*.pt",
    "*.pth",
    "*.ckpt",
    "*.npy",
    "*.png",
    "*.jpg",
    "*.bmp",
    "*.tif*",
]


def _is_installed(path: Path) -> bool:
    """Code inside srbench or any installed distribution is on every node already (the cluster image)."""
    inside = Path(srbench.__file__).resolve().parent
    return path.is_relative_to(inside) or any(p in ("site-packages", "dist-packages") for p in path.parts)


def _top_level(module_name: str) -> Path:
    """The folder (or single file) of a module's top-level package, as Ray's ``py_modules`` takes it."""
    top = sys.modules[module_name.split(".")[0]]
    if getattr(top, "__path__", None):  # a package, namespace packages included
        return Path(list(top.__path__)[0])
    return Path(top.__file__)


class Code(Protocol):
    """A network's registry entry or a metric: where its code is defined."""

    file: str | None

    @property
    def module(self) -> str: ...


def trial_code(configs: Iterable[TrainConfig]) -> list[Code]:
    """The networks and metrics the trials' configurations use."""
    configs = list(configs)
    return [*(entry_for(c.model) for c in configs), *(m for c in configs for m in c.scored_metrics())]


def runtime_env(study_file: str | Path, entries: Iterable[Code]) -> dict[str, Any] | None:
    """Ray's runtime environment that brings the study's own networks and metrics to every node: the study file's
    folder as ``working_dir``, plus ``py_modules`` for an imported package outside it; ``None`` when all the code
    is srbench's or installed."""
    folder = Path(study_file).resolve().parent
    modules: list[str] = []
    ships = False
    for entry in entries:
        file = Path(entry.file).resolve() if entry.file else None
        if file is None or _is_installed(file):
            continue
        ships = True
        if not file.is_relative_to(folder):
            modules.append(str(_top_level(entry.module)))
    if not ships:
        return None
    return {
        "working_dir": str(folder),
        "excludes": EXCLUDES,
        **({"py_modules": sorted(set(modules))} if modules else {}),
    }


def register_study_models(study_file: str) -> None:
    """In a trial process: run the study file so its ``register`` calls run here too. It is read from the copy of
    its folder Ray's runtime environment brought to this node (first on PYTHONPATH; Tune and Train change the
    working directory), else from its own path (a Ray this process did not start shares the driver's machine).
    Re-running it registers the same code again, which the registry allows."""
    name = Path(study_file).name
    shipped = [Path(p) / name for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    path = next((p for p in shipped if p.is_file()), Path(study_file))
    folder = str(path.resolve().parent)
    if folder not in sys.path:  # the study's sibling modules, as on the driver
        sys.path.insert(0, folder)
    try:
        runpy.run_path(str(path), run_name=RUN_NAME)
    except FileNotFoundError:
        raise UserError(f"study file {study_file} is not on this node and the sweep did not ship it") from None
