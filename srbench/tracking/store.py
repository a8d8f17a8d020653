"""MLflow tracking: one experiment per study, one parent run per sweep, one child run per trial.

Runs are found by tags before they are created, so a retried trial or a resumed sweep
continues its own run instead of adding one; metric steps already in a run are not
logged again (a resumed trial recomputes them exactly). With no tracking URI given,
srbench uses a local store in the working directory (``sqlite:///<cwd>/mlflow.db``,
artifacts in ``<cwd>/mlartifacts``), written as absolute paths so that Ray workers,
whatever their working directory, log to the same place.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import json
import os
import platform
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

from srbench import __version__
from srbench.errors import UserError
from srbench.scoped_env import scoped_env
from srbench.tracking.names import (MODEL_DEVELOPMENT, TAG_EXPERIMENT_KIND, TAG_SHARED_VIEW, TAG_KIND, TAG_STOPPED_EARLY,
                               TAG_SWEEP, TAG_VARIANT, final_metric, mlflow_name)

T = TypeVar("T")

DATASET_DIGEST_CHARS = 16  # MLflow stores dataset digests of at most 36 characters: the set digest's first 16 hex
SEARCH_PAGE = 1000  # MLflow's largest page for sqlite and REST stores


@contextlib.contextmanager
def fluent_tracking_uri(uri: str) -> Iterator[None]:
    """MLflow's fluent API (``mlflow.start_run``, ``mlflow.pytorch.log_model``, model URIs) pointed at ``uri`` for the
    block only: ``mlflow.set_tracking_uri`` also sets this process's MLFLOW_TRACKING_URI, which would otherwise send
    every later default-store lookup in the process (``resolve_tracking_uri``) to this store."""
    import mlflow

    before = os.environ.get("MLFLOW_TRACKING_URI")
    mlflow.set_tracking_uri(uri)
    try:
        yield
    finally:
        mlflow.set_tracking_uri(before)  # None clears the variable again


@contextlib.contextmanager
def quiet_downloads() -> Iterator[None]:
    """No MLflow download progress bars or notes among srbench's own output (a logged model's files are also
    looked for among its run's artifacts, where MLflow 3 keeps none, and MLflow says so)."""
    import logging

    repo_log = logging.getLogger("mlflow.store.artifact.artifact_repo")
    level = repo_log.level
    repo_log.setLevel(logging.WARNING)
    try:
        with scoped_env(MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR="false"):
            yield
    finally:
        repo_log.setLevel(level)


def resolve_tracking_uri(cli_value: str | None = None) -> str:
    if cli_value:
        return cli_value
    if os.environ.get("MLFLOW_TRACKING_URI"):
        return os.environ["MLFLOW_TRACKING_URI"]
    return f"sqlite:///{Path.cwd() / 'mlflow.db'}"


def store_exists(tracking_uri: str) -> bool:
    """False for a local sqlite store that is not there (opening one would create it)."""
    return not tracking_uri.startswith("sqlite:///") or Path(tracking_uri.removeprefix("sqlite:///")).exists()


def ui_command(tracking_uri: str, experiment_id: str | None = None, view: str | None = None) -> str:
    """How to see the runs: a server's runs view, or the `mlflow ui` command and the page to open there;
    ``view``: a saved view of the runs table (``Tracker.save_sweep_view``)."""
    page = f"#/experiments/{experiment_id}/runs" if experiment_id is not None else ""
    if page and view is not None:
        page += f"?viewStateShareKey={view}"
    if tracking_uri.startswith(("http://", "https://")):
        return f"open {tracking_uri.rstrip('/')}/{page} in a browser"
    return f"mlflow ui --backend-store-uri {tracking_uri}, then open http://127.0.0.1:5000/{page}"


SQLITE_HEADER = b"SQLite format 3\x00"


def check_store(tracking_uri: str, timeout: float = 10.0) -> None:
    """Fail early, with a clear message, on a tracking server that does not answer, a local file that is not an
    SQLite database, or a file store (MLflow 3 keeps that backend in maintenance mode)."""
    if tracking_uri.startswith(("http://", "https://")):
        try:
            urllib.request.urlopen(tracking_uri.rstrip("/") + "/health", timeout=timeout).read()
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise UserError(f"MLflow tracking server {tracking_uri} is unreachable ({reason}); start it or fix "
                            f"--tracking-uri / MLFLOW_TRACKING_URI") from None
        _check_credentials(tracking_uri, timeout)
    elif tracking_uri.startswith("sqlite:///"):
        path = Path(tracking_uri.removeprefix("sqlite:///"))
        if path.is_dir() or (path.exists() and _file_header(path) not in (b"", SQLITE_HEADER)):
            raise UserError(f"{path} is not an SQLite database, so not an MLflow store; give the mlflow.db a "
                            f"sweep wrote (--tracking-uri sqlite:///PATH/mlflow.db)")
    elif "://" not in tracking_uri or tracking_uri.startswith("file:"):
        raise UserError(f"tracking URI {tracking_uri}: file stores (mlruns folders) are not supported, MLflow 3 "
                        f"keeps them in maintenance mode; use sqlite:///PATH/mlflow.db or an http(s):// server")


def _check_credentials(tracking_uri: str, timeout: float) -> None:
    """An authenticating server (MLflow's basic-auth app) answers /health to anyone: ask it for one experiment
    with the credentials MLflow's client will send (MLFLOW_TRACKING_USERNAME / _PASSWORD, or _TOKEN)."""
    request = urllib.request.Request(tracking_uri.rstrip("/") + "/api/2.0/mlflow/experiments/search?max_results=1")
    user, token = os.environ.get("MLFLOW_TRACKING_USERNAME"), os.environ.get("MLFLOW_TRACKING_TOKEN")
    if user:
        pair = f"{user}:{os.environ.get('MLFLOW_TRACKING_PASSWORD', '')}".encode()
        request.add_header("Authorization", "Basic " + base64.b64encode(pair).decode())
    elif token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        urllib.request.urlopen(request, timeout=timeout).read()
    except urllib.error.HTTPError as exc:
        if exc.code in (401, 403):
            fix = ("check MLFLOW_TRACKING_USERNAME / MLFLOW_TRACKING_PASSWORD" if user else
                   "check MLFLOW_TRACKING_TOKEN" if token else
                   "set MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD (or MLFLOW_TRACKING_TOKEN)")
            who = f"the user '{user}'" if user else "the token" if token else "anonymous access"
            raise UserError(f"MLflow tracking server {tracking_uri} refused {who} (HTTP {exc.code}); {fix}") from None
    except (urllib.error.URLError, OSError):
        pass  # reachable a moment ago: the client's own retries deal with a blip


def _file_header(path: Path) -> bytes:
    try:
        with path.open("rb") as file:
            return file.read(len(SQLITE_HEADER))
    except OSError as exc:
        raise UserError(f"cannot read MLflow store {path}: {exc.strerror}") from None


def flatten(prefix: str, value: Any, out: dict[str, Any] | None = None) -> dict[str, Any]:
    """``{"model": {"name": "srcnn"}}`` -> ``{"model.name": "srcnn"}``."""
    out = {} if out is None else out
    if isinstance(value, Mapping):
        for k, v in value.items():
            flatten(f"{prefix}.{k}" if prefix else str(k), v, out)
    else:
        out[prefix] = json.dumps(value) if isinstance(value, (list, tuple)) else value
    return out


def git_commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True,
                              cwd=Path(__file__).parent, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def software_versions() -> dict[str, str]:
    import mlflow
    import ray
    import torch

    return {"srbench": __version__, "torch": torch.__version__, "ray": ray.__version__, "mlflow": mlflow.__version__,
            "python": platform.python_version()}


def search_all_runs(tracker: "Tracker", experiment_ids: list[str], filter_string: str = "",
                    order_by: list[str] | None = None) -> list[Any]:
    """Every run matching the filter, page after page (a single search stops at one page)."""
    runs: list[Any] = []
    token = None
    while True:
        page = tracker.client.search_runs(experiment_ids, filter_string=filter_string, max_results=SEARCH_PAGE,
                                          order_by=order_by, page_token=token)
        runs.extend(page)
        token = page.token
        if not token:
            return runs


@contextlib.contextmanager
def store_lock(tracking_uri: str) -> Iterator[None]:
    """Serialises, across processes, creating a local sqlite store and its experiments: MLflow's schema
    migrations on a new file are not safe to run twice at once (a second process crashes, or the store is left
    half-migrated). A lock file beside the store; nothing for servers, which serialise themselves."""
    if not tracking_uri.startswith("sqlite:///"):
        yield
        return
    with open(f"{tracking_uri.removeprefix('sqlite:///')}.lock", "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


class Tracker:
    """Thin wrapper over ``MlflowClient`` with srbench's find-or-create rules."""

    def __init__(self, tracking_uri: str) -> None:
        from mlflow.tracking import MlflowClient

        self.uri = tracking_uri
        with store_lock(tracking_uri):  # the client creates (migrates) a new store: one process at a time
            self.client = MlflowClient(tracking_uri)

    def save_sweep_view(self, experiment_id: str, sweep: str, sets: Sequence[str]) -> str:
        """A saved view of the runs table, kept on the experiment as MLflow's UI keeps a shared view: this sweep's
        runs only, grouped into the sweep's run and its trials, both groups open (a shared view cannot open a
        parent run's nested rows), the final Y-PSNR and SSIM per set as columns. Returns its key (the sweep
        id), for ``ui_command``."""
        groups = {f"tag.{TAG_KIND}.{kind}": True for kind in ("sweep", "trial")}
        state = {"searchFilter": f"tags.`{TAG_SWEEP}` = '{sweep}'", "orderByKey": "attributes.start_time",
                 "orderByAsc": False, "groupsExpanded": groups, "useGroupedValuesInCharts": False,  # charts per run
                 "groupBy": {"aggregateFunction": "average", "groupByKeys": [{"mode": "tag", "groupByData": TAG_KIND}]},
                 "selectedColumns": [f"tags.`{TAG_VARIANT}`", *(f"metrics.`{final_metric(s, figure)}`"
                                                               for s in sets for figure in ("psnr_y", "ssim_y"))]}
        self.client.set_experiment_tag(experiment_id, TAG_SHARED_VIEW + sweep, json.dumps(state))
        return sweep

    def experiment_id(self, study: str, description: str = "") -> str:
        """The study's experiment, created where missing as a model-development experiment (MLflow 3's UI then
        opens on its runs, not on GenAI traces) with the study's description as its note."""
        from mlflow.exceptions import MlflowException

        with store_lock(self.uri):
            found = self.client.get_experiment_by_name(study)
            if found is not None:
                if found.tags.get(TAG_EXPERIMENT_KIND) != MODEL_DEVELOPMENT:
                    self.client.set_experiment_tag(found.experiment_id, TAG_EXPERIMENT_KIND, MODEL_DEVELOPMENT)
                return found.experiment_id
            artifacts = None
            if self.uri.startswith("sqlite:///"):  # keep local artifacts beside the local store
                artifacts = (Path(self.uri.removeprefix("sqlite:///")).parent / "mlartifacts" / study).as_uri()
            tags = {TAG_EXPERIMENT_KIND: MODEL_DEVELOPMENT, **({"mlflow.note.content": description} if description else {})}
            try:
                return self.client.create_experiment(study, artifact_location=artifacts, tags=tags)
            except MlflowException as exc:  # another client of the server created it first
                if exc.error_code != "RESOURCE_ALREADY_EXISTS":
                    raise
                return self.client.get_experiment_by_name(study).experiment_id

    def find_run(self, experiment_id: str, tags: Mapping[str, str]) -> str | None:
        query = " and ".join(f"tags.`{k}` = '{v}'" for k, v in tags.items())
        runs = self.client.search_runs([experiment_id], filter_string=query, max_results=2)
        if len(runs) > 1:
            raise RuntimeError(f"more than one MLflow run carries {dict(tags)}")
        return runs[0].info.run_id if runs else None

    def find_or_create_run(self, experiment_id: str, tags: Mapping[str, str], run_name: str,
                           parent_run_id: str | None = None) -> str:
        run_id = self.find_run(experiment_id, tags)
        if run_id is not None:
            if self.client.get_run(run_id).info.status != "RUNNING":
                self.client.update_run(run_id, status="RUNNING")
            return run_id
        all_tags = dict(tags)
        if parent_run_id:
            all_tags["mlflow.parentRunId"] = parent_run_id
        return self.client.create_run(experiment_id, tags=all_tags, run_name=run_name).info.run_id

    def log_datasets(self, run_id: str, datasets: Sequence[tuple[str, str, str, str]]) -> None:
        """Record ``(name, digest, source, context)`` data sets as the run's dataset inputs (the UI's Datasets
        column), once: a retried trial finds them there."""
        from mlflow.entities import Dataset, DatasetInput, InputTag

        if self.client.get_run(run_id).inputs.dataset_inputs:
            return
        self.client.log_inputs(run_id, datasets=[
            DatasetInput(Dataset(name=name, digest=digest[:DATASET_DIGEST_CHARS], source_type="local", source=source),
                         tags=[InputTag("mlflow.data.context", context)])
            for name, digest, source, context in datasets])

    def log_params(self, run_id: str, params: Mapping[str, Any]) -> None:
        from mlflow.entities import Param

        existing = self.client.get_run(run_id).data.params
        new = [Param(k, str(v)[:6000]) for k, v in params.items() if k not in existing]
        for start in range(0, len(new), 100):
            self.client.log_batch(run_id, params=new[start : start + 100])

    def log_metrics(self, run_id: str, metrics: Mapping[str, float], step: int = 0) -> None:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        self.client.log_batch(run_id, metrics=[Metric(k, float(v), now, step) for k, v in metrics.items()])

    def set_tags(self, run_id: str, tags: Mapping[str, Any]) -> None:
        for k, v in tags.items():
            self.client.set_tag(run_id, k, str(v))

    def finish(self, run_id: str, status: str = "FINISHED") -> None:
        self.client.set_terminated(run_id, status=status)


PATIENCE_ENV = "SRBENCH_TRACKING_PATIENCE_S"  # how long a trial waits out a tracking outage (default: an hour)
# Where else ``patiently``'s warnings go: a trial's worker adds the sweep's console (srbench.sweep_console).
OUTAGE_SINKS: list[Callable[[str], None]] = []


def _transient(exc: Exception) -> bool:
    """A failure of the connection to the tracking server (refused, timed out, 5xx after MLflow's own retries),
    not a request the server refused for what it said."""
    import requests
    from mlflow.exceptions import MlflowException

    return isinstance(exc, (requests.exceptions.ConnectionError, requests.exceptions.Timeout)) or (
        isinstance(exc, MlflowException) and str(exc).startswith("API request to"))


def patiently(call: Callable[[], T], what: str) -> T:
    """``call()``, waiting out a tracking-server outage longer than the MLflow client's own retries: a warning,
    then retries with backoff (5 s doubling to 60 s) for up to $SRBENCH_TRACKING_PATIENCE_S seconds, so a trial
    pauses instead of failing and losing what it was logging. Other errors raise at once."""
    deadline = time.monotonic() + float(os.environ.get(PATIENCE_ENV, 3600))
    wait = 5.0
    while True:
        try:
            return call()
        except Exception as exc:
            if not _transient(exc) or time.monotonic() + wait > deadline:
                raise
            warning = (f"the MLflow tracking server did not answer while {what} "
                       f"({str(exc).splitlines()[0][:160]}); retrying in {wait:.0f} s")
            print(f"srbench: {warning}", file=sys.stderr, flush=True)
            for sink in OUTAGE_SINKS:
                with contextlib.suppress(Exception):  # the sweep's console is a courtesy: never a reason to fail
                    sink(warning)
            time.sleep(wait)
            wait = min(2 * wait, 60.0)


class MetricLogger:
    """A training callback (rank 0) logging metrics over iterations, never the same step twice."""

    def __init__(self, tracker: Tracker, run_id: str, watch_stop: bool = False) -> None:
        """``watch_stop``: the sweep has a scheduler that may stop this trial (ASHA), so ask the run for it."""
        from mlflow.entities import Metric  # noqa: F401  (fail early if MLflow is missing)

        self.tracker, self.run_id, self.watch_stop = tracker, run_id, watch_stop
        self.logged: dict[str, int] = {}
        for key in patiently(lambda: tracker.client.get_run(run_id).data.metrics, "reading the run"):
            history = patiently(lambda: tracker.client.get_metric_history(run_id, key), "reading the run")
            self.logged[key] = max((m.step for m in history), default=-1)

    def report(self, iteration: int, metrics: dict[str, float], checkpoint: Path | None) -> None:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        fresh = [Metric(mlflow_name(k), float(v), now, iteration) for k, v in metrics.items()
                 if iteration > self.logged.get(mlflow_name(k), -1)]
        if fresh:  # before Ray has the checkpoint of this step: a crash after it loses no figure
            patiently(lambda: self.tracker.client.log_batch(self.run_id, metrics=fresh), f"logging iteration {iteration}")
            for m in fresh:
                self.logged[m.key] = iteration

    def stop_requested(self) -> bool:
        """Whether a scheduler (ASHA) has stopped this trial: the sweep driver tags the run when it decides."""
        return self.watch_stop and TAG_STOPPED_EARLY in patiently(
            lambda: self.tracker.client.get_run(self.run_id).data.tags, "asking for a scheduler's stop")
