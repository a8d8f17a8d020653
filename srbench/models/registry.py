"""Build models by name from plain dict configs (what a sweep's search space produces).

A family registers a builder function; its keyword arguments are the config
fields, their defaults the paper's hyper-parameters, and ``variants`` name
presets (e.g. SRCNN "9-5-5", SRDenseNet "ALL"). Unknown names, unknown fields
and invalid values raise :class:`~srbench.errors.UserError` naming the field.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from torch import nn

from srbench.errors import UserError


@dataclass(frozen=True)
class ModelEntry:
    name: str
    builder: Callable[..., nn.Module]
    summary: str
    paper: str
    variants: dict[str, dict[str, Any]] = field(default_factory=dict)
    scales: tuple[int, ...] = (2, 3, 4)
    default_variant: str | None = None

    def fields(self) -> list[str]:
        return [p for p in inspect.signature(self.builder).parameters]


MODELS: dict[str, ModelEntry] = {}


def register(name: str, summary: str, paper: str, variants: Mapping[str, Mapping[str, Any]] | None = None,
             scales: tuple[int, ...] = (2, 3, 4), default_variant: str | None = None) -> Callable:
    def decorate(builder: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        MODELS[name] = ModelEntry(name, builder, summary, paper, {k: dict(v) for k, v in (variants or {}).items()},
                                  scales, default_variant)
        return builder
    return decorate


def get_entry(name: str) -> ModelEntry:
    entry = MODELS.get(str(name).lower())
    if entry is None:
        raise UserError(f"model: unknown model '{name}'; valid: {', '.join(sorted(MODELS))}")
    return entry


def resolve_config(config: Mapping[str, Any]) -> dict[str, Any]:
    """Expand ``{"name": ..., "variant": ..., **fields}`` into the full keyword set, validated."""
    config = dict(config)
    if "name" not in config:
        raise UserError("model: config has no 'name' field; valid names: " + ", ".join(sorted(MODELS)))
    entry = get_entry(config.pop("name"))
    variant = config.pop("variant", entry.default_variant)
    fields: dict[str, Any] = {}
    if variant is not None:
        if str(variant) not in entry.variants:
            raise UserError(f"model {entry.name}: unknown variant '{variant}'; valid: {', '.join(entry.variants)}")
        fields.update(entry.variants[str(variant)])
    unknown = [k for k in config if k not in entry.fields()]
    if unknown:
        raise UserError(f"model {entry.name}: unknown field '{unknown[0]}'; valid: {', '.join(entry.fields())}")
    fields.update(config)
    scale = fields.get("scale")
    if scale is not None and scale not in entry.scales:
        raise UserError(f"model {entry.name}: field 'scale' = {scale!r} is not supported; valid: "
                        f"{', '.join(map(str, entry.scales))}")
    return {"name": entry.name, **({"variant": str(variant)} if variant is not None else {}), **fields}


def build_model(config: Mapping[str, Any]) -> nn.Module:
    """Build a model from ``{"name": "srcnn", "variant": "9-5-5", "scale": 3, ...}``."""
    resolved = resolve_config(config)
    entry = get_entry(resolved["name"])
    passed_through = set(entry.fields())  # a family may take "variant" itself (SRDenseNet's H/HL/ALL)
    kwargs = {k: v for k, v in resolved.items() if k != "name" and (k != "variant" or k in passed_through)}
    try:
        return entry.builder(**kwargs)
    except (ValueError, TypeError) as exc:
        raise UserError(f"model {entry.name}: {exc}") from None
