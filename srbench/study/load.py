"""Finding and running a study file (a path, or the name of a study srbench ships), and reading ``--set`` values."""

from __future__ import annotations

import difflib
import json
import runpy
import sys
from importlib import resources
from pathlib import Path
from typing import Any

from srbench.data import absolute_set_fields
from srbench.errors import UserError
from srbench.study.experiment import RUN_NAME, Experiment, validate_experiment
from srbench.user_code import absolute_references, failure_in


def parse_settings(items: list[str]) -> dict[str, Any]:
    """``["vgg_weights=random", "lr=1e-4"]`` -> ``{"vgg_weights": "random", "lr": 0.0001}`` (values read as
    JSON where they parse, e.g. numbers, true/false and lists, else as strings)."""
    settings = {}
    for item in items:
        key, sep, text = item.partition("=")
        if not sep or not key.strip():
            raise UserError(f"--set '{item}': expected KEY=VALUE, e.g. --set vgg_weights=/data/vgg19.pth")
        try:
            settings[key.strip()] = json.loads(text)
        except json.JSONDecodeError:
            settings[key.strip()] = text
    if "metrics" in settings:  # metric files too
        settings["metrics"] = absolute_references(settings["metrics"])
    return absolute_set_fields(settings)  # the trials resolve them on Ray workers, in other folders


def shipped_studies() -> dict[str, Path]:
    """The studies that ship with srbench (the repository's ``experiments/``, installed as ``srbench.studies``):
    name -> file."""
    files = resources.files("srbench.studies").iterdir()
    return {
        f.name.removesuffix(".py"): Path(str(f))
        for f in sorted(files, key=lambda f: f.name)
        if f.name.endswith(".py") and not f.name.startswith("_")
    }


def find_study(name_or_path: str | Path) -> Path:
    """A study file given by path, or a shipped study given by its bare name (``srcnn_ablation``)."""
    path = Path(name_or_path)
    if path.is_file():
        return path
    if path.is_dir():
        raise UserError(f"experiment file {path} is a folder; give the study's .py file in it")
    studies = shipped_studies()
    if path.parent == Path(".") and path.name.removesuffix(".py") in studies:
        return studies[path.name.removesuffix(".py")]
    if path.parent != Path("."):  # a path: the likeliest slip is in the file's name
        nearby = [f.name for f in path.parent.glob("*.py")] if path.parent.is_dir() else []
        guess = difflib.get_close_matches(path.name, nearby, n=1)
        raise UserError(
            f"experiment file {path} does not exist" + (f"; did you mean {path.parent / guess[0]}?" if guess else "")
        )
    guess = difflib.get_close_matches(path.name.removesuffix(".py"), studies, n=1)
    raise UserError(
        f"experiment file {path} does not exist, and '{path}' is not a study srbench ships "
        f"({', '.join(studies)})"
        + (f"; did you mean '{guess[0]}'?" if guess else "; give the path of your own study file")
    )


def load_experiment(path: str | Path) -> Experiment:
    """Run an experiment file and return its validated :class:`Experiment` (the one object it defines)."""
    path = find_study(path)
    folder = str(path.resolve().parent)
    if folder not in sys.path:  # the study's sibling modules import as they would for a script there
        sys.path.insert(0, folder)
    try:
        namespace = runpy.run_path(str(path), run_name=RUN_NAME)
    except UserError as exc:
        raise UserError(f"{path}: {exc}") from None
    except SystemExit as exc:  # a study file is run as code: it must define the study, not end srbench
        raise UserError(
            f"{path}: the file called exit({exc.code!r}) while it was read; a study file only "
            f"defines EXPERIMENT = Experiment(...)"
        ) from None
    except Exception as exc:  # a syntax error among them
        raise UserError(failure_in(path, exc)) from None
    found = [v for v in namespace.values() if isinstance(v, Experiment)]
    if len(found) != 1:
        what = "no Experiment object" if not found else f"{len(found)} Experiment objects"
        raise UserError(f"{path}: defines {what}; define exactly one, e.g. EXPERIMENT = Experiment(...)")
    return validate_experiment(found[0], str(path))
