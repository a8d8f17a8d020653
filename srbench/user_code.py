"""Users' own code by name: an object given as ``package.module:attr`` or ``path/file.py:attr``, imported once per
process, and the file an object is defined in. Networks and metrics of one's own are found this way."""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import inspect
import sys
import traceback
from pathlib import Path
from types import ModuleType
from typing import Any

from srbench.errors import UserError


def split_reference(path: str, where: str, kind: str, example: str) -> tuple[str, str]:
    """``"pkg.mod:attr"`` -> ``("pkg.mod", "attr")``; ``where``, ``kind`` (what the attribute is) and ``example``
    make the one-line error."""
    module_name, sep, attribute = str(path).rpartition(":")
    if not sep or not module_name or not attribute:
        raise UserError(f"{where} '{path}' is not 'package.module:{kind}' or 'file.py:{kind}', e.g. '{example}'")
    return module_name, attribute


def absolute_references(value: Any) -> Any:
    """A list of names and import paths with each ``file.py:attr``'s file made absolute (the list travels to Ray
    trial processes, which run in other folders); anything else as it is, for validation to refuse."""
    if not isinstance(value, list):
        return value
    return [_absolute(text) if isinstance(text, str) else text for text in value]


def _absolute(text: str) -> str:
    module_name, sep, attribute = text.rpartition(":")
    if sep and module_name.endswith(".py"):
        return f"{Path(module_name).expanduser().resolve()}:{attribute}"
    return text


def load_module(module_name: str, path: str, where: str) -> ModuleType:
    """A module by import name, or a ``.py`` file by path (run once, kept in ``sys.modules``)."""
    if module_name.endswith(".py"):
        return _load_file(module_name, where)
    try:
        return importlib.import_module(module_name)
    except ImportError as exc:
        raise UserError(
            f"{where} '{path}': cannot import {module_name} ({exc}); install the package or "
            f"run from the folder that holds it"
        ) from None


def attribute_of(module: ModuleType, attribute: str) -> Any:
    """``module.a.b`` for ``"a.b"``; None where there is no such attribute."""
    value: Any = module
    for part in attribute.split("."):
        value = getattr(value, part, None)
        if value is None:
            return None
    return value


def _load_file(file: str, where: str) -> ModuleType:
    """A Python file as a module (e.g. a study file that defines a network), kept in ``sys.modules`` so its
    classes pickle and its objects' source is found."""
    location = Path(file).expanduser().resolve()
    if not location.is_file():
        raise UserError(f"{where} file {file} does not exist")
    name = f"srbench_user_{hashlib.sha256(str(location).encode()).hexdigest()[:12]}"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, location)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        try:
            spec.loader.exec_module(module)
        except BaseException as exc:
            del sys.modules[name]
            if isinstance(exc, Exception) and not isinstance(exc, UserError):  # the user's code failed as it ran
                raise UserError(f"{where} {failure_in(location, exc)}") from None
            raise
    return sys.modules[name]


def failure_in(path: Path, exc: Exception) -> str:
    """What a user's Python file did wrong as it ran, in one line: ``file.py:3: syntax error: ...`` or
    ``file.py:7: NameError: ...`` (the file's own line where the traceback passes through it)."""
    if isinstance(exc, SyntaxError):
        return f"{path}:{exc.lineno}: syntax error: {exc.msg}"
    frame = next((f for f in reversed(traceback.extract_tb(exc.__traceback__)) if f.filename == str(path)), None)
    return f"{path}:{frame.lineno}: {type(exc).__name__}: {exc}" if frame else f"{path}: {type(exc).__name__}: {exc}"


def source_file(obj: Any) -> str | None:
    """Where ``obj`` is defined (None: compiled or unknown). Read while the defining module is still importable: a
    study file's module exists only while it runs."""
    try:
        return inspect.getsourcefile(obj)
    except TypeError:  # builtins and compiled code
        return None
