"""Type checks of a dataclass's fields against its annotations, for configurations read from users' files and
``--set`` (JSON values): every field of the wrong type is a one-line error, never a crash hours later."""

from __future__ import annotations

import collections.abc
import dataclasses
import types
import typing
from collections.abc import Callable
from typing import Any


def matches(value: Any, hint: Any) -> bool:
    """Whether ``value`` is of the annotated type ``hint`` (a bool is not a number here; an int is a float)."""
    args = typing.get_args(hint)
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return any(matches(value, arg) for arg in args)
    if hint is Any:
        return True
    if hint is type(None):
        return value is None
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if origin is list:
        return isinstance(value, list) and all(matches(v, args[0]) for v in value)
    if origin is collections.abc.Sequence:  # a model builder's Sequence[int]: a JSON list (or a tuple default)
        return isinstance(value, (list, tuple)) and all(matches(v, args[0]) for v in value)
    if origin is dict:
        return isinstance(value, dict) and all(matches(k, args[0]) and matches(v, args[1]) for k, v in value.items())
    if origin is not None or not isinstance(hint, type):
        return True  # a hint this check does not know (a user's builder may annotate anything): the builder's own
    return isinstance(value, hint)


def describe(hint: Any) -> str:
    """``int | None`` -> "an integer or null"; ``list[str]`` -> "a list of strings"."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(describe(arg) for arg in typing.get_args(hint))
    if origin in (list, collections.abc.Sequence):
        return f"a list of {describe(typing.get_args(hint)[0]).split(' ', 1)[1]}s"
    if origin is dict:
        return "a dict"
    return {int: "an integer", float: "a number", str: "a string", bool: "a boolean", type(None): "null"}.get(
        hint, "a value"
    )


def check_fields(instance: Any, error: Callable[[str, str], Exception]) -> None:
    """Raise ``error(field, why)`` for the first field of a dataclass instance that does not match its annotation."""
    hints = typing.get_type_hints(type(instance))
    for field in dataclasses.fields(instance):
        if not matches(getattr(instance, field.name), hints[field.name]):
            raise error(field.name, f"must be {describe(hints[field.name])}")
