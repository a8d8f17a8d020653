"""Build models by name from plain dict configs (what a sweep's search space produces).

A family registers a builder function; its keyword arguments are the config fields, their defaults the
paper's hyper-parameters, and ``variants`` name presets (e.g. SRCNN "9-5-5", SRDenseNet "ALL"). The entry
also owns how the family trains: its discriminator (which makes adversarial training possible) and its
training recipe per budget (``budgets``; ``adversarial_budgets`` where adversarial training takes another,
as SRGAN's does for SRResNet). A study's own network registers the same way, in the study file::

    @register("tinysr", "two convolutions and a pixel shuffle", "my lab, 2026")
    def tinysr(scale: int = 3) -> nn.Module: ...

or is named by its import path, ``{"builder": "mypkg.arch:MyNet", ...fields}``. What srbench reads off the
built network (channels, input kind, border, condition input) is in :mod:`srbench.models.interface`.
Unknown names, unknown fields and invalid values raise :class:`~srbench.errors.UserError` naming the field.
"""

from __future__ import annotations

import inspect
import math
import re
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from torch import nn

from srbench.errors import UserError
from srbench.typecheck import describe, matches
from srbench.user_code import attribute_of, load_module, source_file, split_reference

Budgets = Mapping[str, Mapping[str, Any]]


@dataclass(frozen=True)
class ModelEntry:
    name: str
    builder: Callable[..., nn.Module]
    summary: str
    paper: str
    variants: dict[str, dict[str, Any]] = field(default_factory=dict)
    scales: tuple[int, ...] = (2, 3, 4)
    default_variant: str | None = None
    role: Literal["generator", "discriminator"] = "generator"
    discriminator: str | None = None  # the registered discriminator adversarial training pits it against
    budgets: dict[str, dict[str, Any]] = field(default_factory=dict)  # training fields per budget name
    adversarial_budgets: dict[str, dict[str, Any]] = field(default_factory=dict)  # ... when adversarial_weight > 0
    file: str | None = None  # the builder's source file (None: compiled or unknown), read when it was registered

    def fields(self) -> list[str]:
        return [p for p in inspect.signature(self.builder).parameters]

    @property
    def source(self) -> str:
        """Where the builder is defined: registering the same code twice (a study file read again) is no conflict."""
        return f"{self.file or self.module}:{self.builder.__qualname__}"

    @property
    def module(self) -> str:
        return self.builder.__module__


MODELS: dict[str, ModelEntry] = {}
_BY_PATH: dict[str, ModelEntry] = {}  # ``{"builder": "pkg.mod:Net"}`` entries, imported once per process


def register(
    name: str,
    summary: str = "",
    paper: str = "",
    variants: Mapping[str, Mapping[str, Any]] | None = None,
    scales: tuple[int, ...] = (2, 3, 4),
    default_variant: str | None = None,
    role: Literal["generator", "discriminator"] = "generator",
    discriminator: str | None = None,
    budgets: Budgets | None = None,
    adversarial_budgets: Budgets | None = None,
    replace: bool = False,
) -> Callable:
    """Decorator registering a builder (a function or an ``nn.Module`` class) under ``name``. A name registered
    by other code is refused unless ``replace=True``."""

    def decorate(builder: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        if not callable(builder):
            raise UserError(f"register('{name}'): {builder!r} is not a function or class that builds a network")
        entry = ModelEntry(
            str(name).lower(),
            builder,
            summary or (inspect.getdoc(builder) or "").split("\n")[0],
            paper,
            {k: dict(v) for k, v in (variants or {}).items()},
            tuple(scales),
            default_variant,
            role,
            discriminator,
            _copy(budgets),
            _copy(adversarial_budgets),
            source_file(builder),
        )
        existing = MODELS.get(entry.name)
        if existing is not None and existing.source != entry.source and not replace:
            raise UserError(
                f"register('{name}'): the name is taken by {existing.source}; choose another name or pass replace=True"
            )
        MODELS[entry.name] = entry
        return builder

    return decorate


def _copy(budgets: Budgets | None) -> dict[str, dict[str, Any]]:
    return {k: dict(v) for k, v in (budgets or {}).items()}


def get_entry(name: str) -> ModelEntry:
    entry = MODELS.get(str(name).lower())
    if entry is None:
        raise UserError(
            f"model: unknown model '{name}'; valid: {', '.join(sorted(MODELS))}, or a study's own "
            f"(register it in the study file, or give {{'builder': 'package.module:Callable'}})"
        )
    return entry


def generator_names() -> list[str]:
    return [n for n, e in MODELS.items() if e.role == "generator"]


def model_reference(text: str) -> dict[str, str]:
    """A command line's ``--model``: a registered name, or an import path ``package.module:Callable``."""
    return {"builder": text} if ":" in text else {"name": text}


def import_builder(path: str) -> ModelEntry:
    """The entry for ``"package.module:Callable"``: the callable imported (it must be importable where it runs:
    a sweep ships the package to its workers) and registered under its path, with srbench's defaults."""
    if path in _BY_PATH:
        return _BY_PATH[path]
    module_name, attribute = split_reference(path, "model: builder", "Callable", "mylab.nets:TinySR")
    builder = attribute_of(load_module(module_name, path, "model: builder"), attribute)
    if builder is None:
        raise UserError(f"model: builder '{path}': {module_name} has no '{attribute}'")
    if not callable(builder):
        raise UserError(f"model: builder '{path}' is not a function or class")
    entry = ModelEntry(
        path, builder, (inspect.getdoc(builder) or "").split("\n")[0], "", scales=(), file=source_file(builder)
    )
    _BY_PATH[path] = entry
    return entry


def entry_for(config: Mapping[str, Any]) -> ModelEntry:
    """The entry a model config names: ``{"name": ...}`` (registered) or ``{"builder": "pkg.mod:Callable"}``."""
    if "builder" in config:
        return import_builder(config["builder"])
    if "name" not in config:
        raise UserError("model: config has neither 'name' nor 'builder'; valid names: " + ", ".join(sorted(MODELS)))
    return get_entry(config["name"])


def resolve_config(config: Mapping[str, Any]) -> dict[str, Any]:
    """Expand ``{"name": ..., "variant": ..., **fields}`` into the full keyword set, validated."""
    config = dict(config)
    entry = entry_for(config)
    key = "builder" if "builder" in config else "name"
    config.pop(key)
    variant = config.pop("variant", entry.default_variant)
    fields: dict[str, Any] = {}
    if variant is not None:
        if str(variant) not in entry.variants:
            valid = f"valid: {', '.join(entry.variants)}" if entry.variants else "it has no variants: leave it out"
            raise UserError(f"model {entry.name}: unknown variant '{variant}'; {valid}")
        fields.update(entry.variants[str(variant)])
    unknown = [k for k in config if k not in entry.fields()]
    if unknown:
        raise UserError(f"model {entry.name}: unknown field '{unknown[0]}'; valid: {', '.join(entry.fields())}")
    _check_types(entry, config)
    fields.update(config)
    scale = fields.get("scale")
    if scale is not None and entry.scales and scale not in entry.scales:
        raise UserError(
            f"model {entry.name}: field 'scale' = {scale!r} is not supported; valid: "
            f"{', '.join(map(str, entry.scales))}"
        )
    return {key: entry.name, **({"variant": str(variant)} if variant is not None else {}), **fields}


def _check_types(entry: ModelEntry, given: Mapping[str, Any]) -> None:
    """The fields a user gave (``--model-config``, ``--set model.<field>``, a study's ``model``) against the
    builder's annotations, and every number finite: one line, never a crash inside the builder."""
    builder = entry.builder.__init__ if inspect.isclass(entry.builder) else entry.builder
    try:
        hints = typing.get_type_hints(builder)
    except Exception:  # a user's builder whose annotations do not resolve: its own checks stand
        hints = {}
    for name, value in given.items():
        hint = hints.get(name)
        if hint is not None and not matches(value, hint):
            raise UserError(f"model {entry.name}: field '{name}' = {value!r}: must be {describe(hint)}")
        if isinstance(value, float) and not math.isfinite(value):
            raise UserError(f"model {entry.name}: field '{name}' = {value!r}: must be a finite number")


def build_model(config: Mapping[str, Any]) -> nn.Module:
    """Build a model from ``{"name": "srcnn", "variant": "9-5-5", "scale": 3, ...}``."""
    resolved = resolve_config(config)
    entry = entry_for(resolved)
    passed_through = set(entry.fields())  # a family may take "variant" itself (SRDenseNet's H/HL/ALL)
    kwargs = {
        k: v for k, v in resolved.items() if k not in ("name", "builder") and (k != "variant" or k in passed_through)
    }
    try:
        return entry.builder(**kwargs)
    except (ValueError, TypeError) as exc:
        if not _about_fields(exc, kwargs):
            raise  # the builder's own bug, not the user's fields: its traceback is what helps
        raise UserError(f"model {entry.name}: {exc}") from None


def _about_fields(exc: Exception, kwargs: Mapping[str, Any]) -> bool:
    """A builder's error is the user's when it names one of the given fields (e.g. "field 'scale': x4 only");
    any other is the builder's own bug, and its traceback is what helps."""
    return any(re.search(rf"\b{re.escape(k)}\b", str(exc)) for k in kwargs)
