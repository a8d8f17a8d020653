"""Trained networks in MLflow: each finished trial logs its best weights as an MLflow PyTorch model
(``runs:/<trial run>/model``), each sweep registers its best trial under the study's name, and
``srbench eval --model-uri`` scores either. Anything MLflow users do with a model (load it, serve it, compare
versions) then works on srbench's trials."""

from __future__ import annotations

import json
import re
import tempfile
from importlib.metadata import version
from pathlib import Path
from typing import Any

import mlflow
import mlflow.pytorch
import numpy as np
import torch
from mlflow.exceptions import MlflowException
from mlflow.utils.mlflow_tags import MLFLOW_MODEL_VERSIONS

from srbench.errors import UserError
from srbench.models import build_model
from srbench.models.interface import traits
from srbench.tracking.patience import patiently
from srbench.tracking.store import Tracker, fluent_tracking_uri, quiet_downloads
from srbench.train.checkpoint import load_checkpoint

MODEL_NAME = "model"  # runs:/<run id>/model
WEIGHTS_FILE = "srbench_weights.pt"  # configuration + state dict: what srbench itself loads
EXAMPLE_SIDE = 16  # the input example's side: small, so that logging runs the network in milliseconds


def best_alias(budget: str) -> str:
    """The registry alias of a budget's best trial: one per budget, so a smoke sweep never moves a quick alias."""
    return f"best_{budget}"


def log_trained_model(tracking_uri: str, run_id: str, model_config: dict[str, Any], weights: Path) -> None:
    """Log the network with ``weights`` (a checkpoint's ``model`` state) to the trial's run: MLflow's PyTorch model
    (pickled: ``torch.export``'s format fixes the input size, and SR networks take any size), with a small input
    example where the network takes the image alone, plus ``extra_files/srbench_weights.pt`` (the model's
    configuration and weights, no pickled code), which is what ``srbench eval --model-uri`` loads."""
    model = build_model(model_config)
    model.load_state_dict(load_checkpoint(weights)["model"])
    model.eval()
    example = None
    network = traits(model)
    if not network.needs_condition:
        example = np.full((1, network.channels, EXAMPLE_SIDE, EXAMPLE_SIDE), 0.5, dtype=np.float32)
    with tempfile.TemporaryDirectory() as folder, fluent_tracking_uri(tracking_uri):
        plain = Path(folder) / WEIGHTS_FILE
        torch.save({"model_config": model_config, "state_dict": model.state_dict()}, plain)

        def log() -> None:
            mlflow.start_run(run_id=run_id)
            try:
                mlflow.pytorch.log_model(
                    model,
                    name=MODEL_NAME,
                    input_example=example,
                    serialization_format="pickle",
                    extra_files=[str(plain)],
                    # given, not inferred: inference imports and scans the whole environment
                    pip_requirements=[
                        f"torch=={torch.__version__.split('+')[0]}",
                        f"torchvision=={version('torchvision').split('+')[0]}",  # not imported: 1.6 s
                    ],
                )
            finally:
                mlflow.end_run(status="RUNNING")  # the trial's driver ends the run, as for every trial

        patiently(log, "logging the trained model")


def register_best(tracker: Tracker, study: str, budget: str, sweep: str, run_id: str, figure: str) -> str:
    """Register ``runs:/<run_id>/model`` under the study's name, tagged with its sweep, budget and figure, and point
    the budget's alias (``best_<budget>``) at it; returns the version. Retried whole on a patient store."""

    def register() -> str:
        with fluent_tracking_uri(tracker.uri):  # the registry resolves a models:/ source in the default store
            return _register(tracker.client, study, budget, sweep, run_id, figure)

    return tracker.patiently(register, "registering the best trial's model")


def _register(client: Any, study: str, budget: str, sweep: str, run_id: str, figure: str) -> str:
    if not client.search_registered_models(f"name = '{study}'"):
        client.create_registered_model(study, description=f"srbench study {study}: the best trial of each sweep")
    # A sweep registers a run once: a retry after a tracking outage, or the end of a resumed sweep, finds its version.
    registered = [
        v
        for v in client.search_model_versions(f"name = '{study}' and run_id = '{run_id}'")
        if v.tags.get("srbench.sweep") == sweep
    ]
    model_id = _logged_model_id(client, run_id)
    version = (
        registered[0]
        if registered
        else client.create_model_version(
            study,
            f"models:/{model_id}" if model_id else f"runs:/{run_id}/{MODEL_NAME}",
            run_id=run_id,
            tags={"srbench.sweep": sweep, "budget": budget, "selected_by": figure},
            model_id=model_id,
        )
    )
    if model_id:
        _list_version_on_model(client, model_id, study, version.version)
    client.set_registered_model_alias(study, best_alias(budget), version.version)
    return version.version


def _logged_model_id(client: Any, run_id: str) -> str | None:
    """The id of the model ``log_trained_model`` logged to the run (MLflow 3 keeps models apart from the run's
    artifacts); None where the run logged none."""
    outputs = client.get_run(run_id).outputs
    ids = [o.model_id for o in (outputs.model_outputs if outputs else [])]
    return next((i for i in reversed(ids) if client.get_logged_model(i).name == MODEL_NAME), None)


def _list_version_on_model(client: Any, model_id: str, study: str, version: str | int) -> None:
    """The logged model's list of its registered versions (what the MLflow UI shows beside it), kept as
    ``mlflow.register_model`` keeps it; once per version, however often registering is retried."""
    listed = json.loads(client.get_logged_model(model_id).tags.get(MLFLOW_MODEL_VERSIONS, "[]"))
    entry = {"name": study, "version": int(version)}  # an int, however the store returned it
    if entry not in listed:
        client.set_logged_model_tags(model_id, {MLFLOW_MODEL_VERSIONS: json.dumps([*listed, entry])})


def load_logged_model(model_uri: str, tracking_uri: str) -> tuple[torch.nn.Module, int, str]:
    """The network at an MLflow model URI (``runs:/ID/model``, ``models:/STUDY@best_quick``, ...) in the store at
    ``tracking_uri``, rebuilt from its configuration and weights file (never unpickled), with the scale it was
    trained for and the run id."""
    try:
        with fluent_tracking_uri(tracking_uri), quiet_downloads():
            info = mlflow.models.get_model_info(model_uri)
            folder = Path(mlflow.artifacts.download_artifacts(artifact_uri=model_uri))
    except (MlflowException, OSError) as exc:
        known = _registered_aliases(model_uri, tracking_uri)
        raise UserError(f"--model-uri {model_uri}: {str(exc).splitlines()[0]}{known}") from None
    except ImportError as exc:  # an artifact store's client library (S3: boto3) not installed
        raise UserError(f"--model-uri {model_uri}: {exc}; install it to read from this store") from None
    # A registered version's download nests the files in the source's folder (model/extra_files/...).
    weights = next(folder.rglob(f"extra_files/{WEIGHTS_FILE}"), None)
    if info.run_id is None or weights is None:
        raise UserError(f"--model-uri {model_uri}: not a model an srbench trial logged (no run, or no {WEIGHTS_FILE})")
    saved = torch.load(weights, map_location="cpu", weights_only=True)
    model = build_model(saved["model_config"])
    model.load_state_dict(saved["state_dict"])
    scale = Tracker(tracking_uri).client.get_run(info.run_id).data.params.get("scale")
    if scale is None:
        raise UserError(f"--model-uri {model_uri}: run {info.run_id} has no 'scale' parameter; not an srbench trial")
    return model.eval(), int(scale), info.run_id


def _registered_aliases(model_uri: str, tracking_uri: str) -> str:
    """For a ``models:/NAME@ALIAS`` that failed: the aliases NAME does have (a smoke sweep sets only best_smoke)."""
    found = re.fullmatch(r"models:/([^@/]+)@[^/]+", model_uri)
    if found is None:
        return ""
    try:
        aliases = Tracker(tracking_uri).client.get_registered_model(found[1]).aliases
    except MlflowException:
        return f"; the store at {tracking_uri} has no registered model '{found[1]}'"
    return f"; {found[1]}'s aliases: {', '.join(sorted(aliases)) or 'none'}"
