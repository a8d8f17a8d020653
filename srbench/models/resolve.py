"""A network given as a weights file, made ready to score: ``super_resolve(lr, scale, name)`` with a title, its scale
and its architecture's name. ``srbench eval --weights`` (with or without ``--model``) and ``srbench bench`` build
their networks here, so both read a file, refuse a bad one and score the result the same way."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Collection
from pathlib import Path
from typing import NamedTuple

import torch
from torch import nn

from srbench.errors import UserError
from srbench.models.given import Given


class Resolved(NamedTuple):
    """A network ready to score: ``resolve(lr_uint8, scale, image_name) -> sr_uint8`` (a ``SuperResolver``)."""

    resolve: Callable[[torch.Tensor, int, str], torch.Tensor]
    title: str
    scale: int
    architecture: str  # what was detected (``RRDBNet (ESRGAN)``), else the model as named (``srcnn``)


def resolver(model: nn.Module):
    """A network as ``super_resolve(lr, scale, name)``, with SFT-GAN's condition maps where it takes them."""
    from srbench.models.conditions import build_condition_source  # imported on use: conditions load torchvision
    from srbench.models.interface import traits
    from srbench.train.inference import SuperResolver

    network = traits(model)
    condition = build_condition_source(network.condition_config) if network.needs_condition else None
    return SuperResolver(model, condition)


def weights_resolver(
    model_text: str, fields_json: str | None, weights: Path, scales: list[int] | None, given: Given
) -> Resolved:
    """``model_text`` (a registered name, ``package.module:Callable`` or ``file.py:Callable``) built at the one scale
    given, else the srbench checkpoint's own, with ``weights`` loaded; errors name them as ``given``."""
    from srbench.models.interface import check_network  # the registry imports every family: only on use
    from srbench.models.registry import build_model, entry_for, model_reference, resolve_config

    reference = model_reference(model_text)
    entry = entry_for(reference)
    state, saved = read_weights(weights, given.weights)
    fields = dict(saved.get("model", {})) if saved else {}
    if fields and _saved_source(fields) != entry.source:  # the same code under another name (registered / path) is fine
        saved_name = fields.get("builder", fields.get("name"))
        raise UserError(f"{given.weights} holds a {saved_name} network, not {entry.name}")
    given_fields = _json_object(fields_json, "--model-config") if fields_json else {}
    if "scale" in given_fields:  # one place for the scale: --scales (or the checkpoint's own)
        raise UserError(f"--model-config: give the scale with --scales, not as a field (got {given_fields['scale']!r})")
    fields.update(given_fields)
    if scales is not None and len(scales) != 1:
        raise UserError(f"--scales: --model scores one scale at a time, got {','.join(map(str, scales))}")
    scale = scales[0] if scales else saved.get("scale") if saved else None
    if scale is None:
        raise UserError(f"--scales: give the scale {given.network} works at, e.g. --scales 4")
    if "scale" in entry.fields():
        fields["scale"] = scale
    fields = {k: v for k, v in fields.items() if k not in ("name", "builder")}  # --model names the network
    model = build_model(resolve_config({**reference, **fields}))
    check_network(model, scale, given.network)
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:  # missing / unexpected keys, wrong shapes: the first lines say which
        raise UserError(f"{given.weights} does not fit {given.network}: {' '.join(str(exc).split())[:300]}") from None
    return Resolved(resolver(model.eval()), f"{model_text} with {weights} (x{scale})", scale, model_text)


def detected_resolver(weights: Path, scales: Collection[int] | None, given: Given, among: bool = False) -> Resolved:
    """The network spandrel detects in ``weights``, at its own scale: that must be ``scales`` (``eval``: the one
    scale asked for), or with ``among`` one of them (``bench``: every file at its own scale); errors name the file as
    ``given``."""
    from srbench.models.detect import detect_network  # spandrel imports every architecture: only on use

    network, found = detect_network(weights, given)
    if scales is not None and (found.scale not in scales if among else list(scales) != [found.scale]):
        raise UserError(
            f"{given.weights} holds a x{found.scale} network ({found.architecture}), but --scales asks for "
            f"{','.join(map(str, scales))}; give --scales {found.scale} or leave it out"
        )
    print(f"detected {found} in {weights}", file=sys.stderr)
    return Resolved(resolver(network), f"{weights} ({found})", found.scale, found.architecture)


def _saved_source(model: dict) -> str | None:
    from srbench.models.registry import entry_for  # the registry imports every family: only on use

    try:
        return entry_for(model).source
    except UserError:  # registered by a study this process has not read
        return None


def read_weights(path: Path, label: str) -> tuple[dict, dict | None]:
    """The state dict in ``path`` and, for an srbench checkpoint, its training configuration; errors name the file as
    ``label`` (``--weights w.pth``)."""
    from srbench.train.checkpoint import FORMAT, load_checkpoint, read_tensors  # torch.load's wrappers: only on use

    data = read_tensors(path, label)
    if isinstance(data, dict) and data.get("format") == FORMAT:
        state = load_checkpoint(path)
        return state["model"], state["config"]
    if isinstance(data, dict) and isinstance(data.get("state_dict"), dict):  # a common convention
        data = data["state_dict"]
    if not isinstance(data, dict) or not all(hasattr(v, "shape") for v in data.values()):
        raise UserError(f"{label} holds no state dict (parameter name -> tensor)")
    return data, None


def _json_object(text: str, flag: str) -> dict:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UserError(f"{flag} is not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise UserError(f"{flag} must be a JSON object, e.g. '{{\"channels\": 8}}'")
    return value
