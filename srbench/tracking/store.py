"""The tracking store: srbench's one object over MLflow. Every query and write goes through it, and so does every
wait for a tracking server that is down. One experiment per study, one parent run per sweep, one child run per trial.

Runs are found by tags before they are created, so a retried trial or a resumed sweep
continues its own run instead of adding one; metric steps already in a run are not
logged again (a resumed trial recomputes them exactly). With no tracking URI given,
srbench uses a local store in the working directory (``sqlite:///<cwd>/mlflow.db``,
artifacts in ``<cwd>/mlartifacts``), written as absolute paths so that Ray workers,
whatever their working directory, log to the same place.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import json
import logging
import os
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

import mlflow
from mlflow.entities import Dataset, DatasetInput, InputTag, Metric, Param
from mlflow.exceptions import MlflowException
from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository
from mlflow.tracking import MlflowClient

from srbench.errors import UserError
from srbench.scoped_env import scoped_env
from srbench.tracking.names import (
    MODEL_DEVELOPMENT,
    TAG_CONFIG_HASH,
    TAG_EXPERIMENT_KIND,
    TAG_KIND,
    TAG_SHARED_VIEW,
    TAG_SWEEP,
    TAG_VARIANT,
    final_metric,
)
from srbench.tracking.patience import patiently

T = TypeVar("T")

DATASET_DIGEST_CHARS = 16  # MLflow stores dataset digests of at most 36 characters: the set digest's first 16 hex
SEARCH_PAGE = 1000  # MLflow's largest page for sqlite and REST stores


@contextlib.contextmanager
def fluent_tracking_uri(uri: str) -> Iterator[None]:
    """MLflow's fluent API (``mlflow.start_run``, ``mlflow.pytorch.log_model``, model URIs) pointed at ``uri`` for the
    block only: ``mlflow.set_tracking_uri`` also sets this process's MLFLOW_TRACKING_URI, which would otherwise send
    every later default-store lookup in the process (``resolve_tracking_uri``) to this store."""
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
    repo_log = logging.getLogger("mlflow.store.artifact.artifact_repo")
    level = repo_log.level
    repo_log.setLevel(logging.WARNING)
    try:
        with scoped_env(MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR="false"):
            yield
    finally:
        repo_log.setLevel(level)


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


def _waits(what: str) -> Callable[[Callable[..., T]], Callable[..., T]]:
    """A store call that, on a patient store, waits out a tracking outage (``patiently``) while doing ``what``."""

    def wrap(method: Callable[..., T]) -> Callable[..., T]:
        @functools.wraps(method)
        def call(self: Tracker, *args: Any, **kwargs: Any) -> T:
            if not self.patient:
                return method(self, *args, **kwargs)
            return patiently(lambda: method(self, *args, **kwargs), what)

        return call

    return wrap


class Tracker:
    """The store: ``MlflowClient`` with srbench's find-or-create rules and queries. ``patient``: every call waits out
    a tracking-server outage (trials and sweeps, which run for hours); otherwise a failure raises at once."""

    def __init__(self, tracking_uri: str, patient: bool = False) -> None:
        self.uri = tracking_uri
        self.patient = patient
        with store_lock(tracking_uri):  # the client creates (migrates) a new store: one process at a time
            try:
                self.client = MlflowClient(tracking_uri)
            except MlflowException as exc:
                if "out-of-date database schema" not in str(exc):
                    raise
                # MLflow never migrates an existing store by itself, and neither does srbench: the user decides.
                raise UserError(
                    f"{tracking_uri}: the MLflow store has an older schema than this MLflow's; back it up, then run "
                    f"'mlflow db upgrade {tracking_uri}'"
                ) from None

    def patiently(self, call: Callable[[], T], what: str) -> T:
        """``call()`` (several store calls that belong together, retried whole), patient as the store is."""
        return patiently(call, what) if self.patient else call()

    # -- experiments ------------------------------------------------------------------------------------------

    @_waits("saving the sweep's view")
    def save_sweep_view(self, experiment_id: str, sweep: str, sets: Sequence[str]) -> str:
        """A saved view of the runs table, kept on the experiment as MLflow's UI keeps a shared view: this sweep's
        runs only, a row per configuration (its variant and configuration hash: the runs that differ by seed alone,
        as a page pools them) averaging its seeds' final Y-PSNR and SSIM per set, each row opening onto its seeds;
        the sweep's own run is a row of its own. Returns its key (the sweep id), for ``ui_command``."""
        state = {
            "searchFilter": f"tags.`{TAG_SWEEP}` = '{sweep}'",
            "orderByKey": "attributes.start_time",
            "orderByAsc": False,
            "useGroupedValuesInCharts": False,  # charts per run
            "groupBy": {
                "aggregateFunction": "average",
                "groupByKeys": [{"mode": "tag", "groupByData": tag} for tag in (TAG_VARIANT, TAG_CONFIG_HASH)],
            },
            # (no seed column: a trial's name says its seed, and a group row would average the seeds' numbers)
            "selectedColumns": [
                f"metrics.`{final_metric(s, figure)}`" for s in sets for figure in ("psnr_y", "ssim_y")
            ],
        }
        self.client.set_experiment_tag(experiment_id, TAG_SHARED_VIEW + sweep, json.dumps(state))
        return sweep

    @_waits("finding the study's experiment")
    def experiment_id(self, study: str, description: str = "") -> str:
        """The study's experiment, created where missing as a model-development experiment (MLflow 3's UI then
        opens on its runs, not on GenAI traces) with the study's description as its note."""
        with store_lock(self.uri):
            found = self.client.get_experiment_by_name(study)
            if found is not None:
                if found.tags.get(TAG_EXPERIMENT_KIND) != MODEL_DEVELOPMENT:
                    self.client.set_experiment_tag(found.experiment_id, TAG_EXPERIMENT_KIND, MODEL_DEVELOPMENT)
                return found.experiment_id
            artifacts = None
            if self.uri.startswith("sqlite:///"):  # keep local artifacts beside the local store
                artifacts = (Path(self.uri.removeprefix("sqlite:///")).parent / "mlartifacts" / study).as_uri()
            tags = {
                TAG_EXPERIMENT_KIND: MODEL_DEVELOPMENT,
                **({"mlflow.note.content": description} if description else {}),
            }
            try:
                return self.client.create_experiment(study, artifact_location=artifacts, tags=tags)
            except MlflowException as exc:  # another client of the server created it first
                if exc.error_code != "RESOURCE_ALREADY_EXISTS":
                    raise
                return self.client.get_experiment_by_name(study).experiment_id

    @_waits("looking up an experiment")
    def experiment_by_name(self, name: str) -> Any:
        """The MLflow experiment of that name, or None."""
        return self.client.get_experiment_by_name(name)

    @_waits("listing the studies")
    def studies(self) -> list[str]:
        """Names of the experiments holding srbench trial runs."""
        return sorted(
            e.name
            for e in self.client.search_experiments()
            if self.client.search_runs([e.experiment_id], filter_string=f"tags.`{TAG_KIND}` = 'trial'", max_results=1)
        )

    # -- finding runs -----------------------------------------------------------------------------------------

    @_waits("reading a run")
    def run(self, run_id: str) -> Any:
        return self.client.get_run(run_id)

    @_waits("reading a metric's history")
    def metric_history(self, run_id: str, key: str) -> list[Any]:
        return self.client.get_metric_history(run_id, key)

    @_waits("searching runs")
    def runs(
        self, experiment_ids: Sequence[str], filter_string: str = "", order_by: list[str] | None = None
    ) -> list[Any]:
        """Every run matching the filter."""
        return self._search(experiment_ids, filter_string, order_by)

    @_waits("reading the sweep's trials")
    def trials(self, experiment_id: str, sweep: str) -> list[Any]:
        """The trial runs of one sweep."""
        return self._search([experiment_id], f"tags.`{TAG_SWEEP}` = '{sweep}' and tags.`{TAG_KIND}` = 'trial'")

    def _search(
        self, experiment_ids: Sequence[str], filter_string: str, order_by: list[str] | None = None
    ) -> list[Any]:
        """Page after page (a single search stops at one page)."""
        runs: list[Any] = []
        token = None
        while True:
            page = self.client.search_runs(
                list(experiment_ids),
                filter_string=filter_string,
                max_results=SEARCH_PAGE,
                order_by=order_by,
                page_token=token,
            )
            runs.extend(page)
            token = page.token
            if not token:
                return runs

    @_waits("looking for a run")
    def find_run(self, experiment_id: str, tags: Mapping[str, str]) -> str | None:
        return self._find_run(experiment_id, tags)

    def _find_run(self, experiment_id: str, tags: Mapping[str, str]) -> str | None:
        query = " and ".join(f"tags.`{k}` = '{v}'" for k, v in tags.items())
        runs = self.client.search_runs([experiment_id], filter_string=query, max_results=2)
        if len(runs) > 1:
            raise RuntimeError(f"more than one MLflow run carries {dict(tags)}")
        return runs[0].info.run_id if runs else None

    # -- writing runs -----------------------------------------------------------------------------------------

    @_waits("starting a run (found or created)")
    def find_or_create_run(
        self, experiment_id: str, tags: Mapping[str, str], run_name: str, parent_run_id: str | None = None
    ) -> str:
        """The run carrying ``tags`` (set RUNNING again), or a new one: retried whole, so a lost answer to the
        create never leaves two runs."""
        run_id = self._find_run(experiment_id, tags)
        if run_id is not None:
            if self.client.get_run(run_id).info.status != "RUNNING":
                self.client.update_run(run_id, status="RUNNING")
            return run_id
        all_tags = dict(tags)
        if parent_run_id:
            all_tags["mlflow.parentRunId"] = parent_run_id
        return self.client.create_run(experiment_id, tags=all_tags, run_name=run_name).info.run_id

    @_waits("recording the data sets")
    def log_datasets(self, run_id: str, datasets: Sequence[tuple[str, str, str, str]]) -> None:
        """Record ``(name, digest, source, context)`` data sets as the run's dataset inputs (the UI's Datasets
        column), once: a retried trial finds them there."""
        if self.client.get_run(run_id).inputs.dataset_inputs:
            return
        self.client.log_inputs(
            run_id,
            datasets=[
                DatasetInput(
                    Dataset(name=name, digest=digest[:DATASET_DIGEST_CHARS], source_type="local", source=source),
                    tags=[InputTag("mlflow.data.context", context)],
                )
                for name, digest, source, context in datasets
            ],
        )

    @_waits("logging params")
    def log_params(self, run_id: str, params: Mapping[str, Any]) -> None:
        """The params the run does not have yet (MLflow refuses to change one)."""
        existing = self.client.get_run(run_id).data.params
        new = [Param(k, str(v)[:6000]) for k, v in params.items() if k not in existing]
        for start in range(0, len(new), 100):
            self.client.log_batch(run_id, params=new[start : start + 100])

    @_waits("logging metrics")
    def log_metrics(self, run_id: str, metrics: Mapping[str, float], step: int = 0) -> None:
        now = int(time.time() * 1000)
        self.client.log_batch(run_id, metrics=[Metric(k, float(v), now, step) for k, v in metrics.items()])

    @_waits("tagging a run")
    def set_tags(self, run_id: str, tags: Mapping[str, Any]) -> None:
        for k, v in tags.items():
            self.client.set_tag(run_id, k, str(v))

    @_waits("removing a tag")
    def delete_tag(self, run_id: str, key: str) -> None:
        self.client.delete_tag(run_id, key)

    @_waits("marking a run running")
    def set_running(self, run_id: str) -> None:
        self.client.update_run(run_id, status="RUNNING")

    @_waits("ending a run")
    def finish(self, run_id: str, status: str = "FINISHED") -> None:
        self.client.set_terminated(run_id, status=status)

    @_waits("storing an artifact")
    def log_artifact(self, run_id: str, path: Path, artifact_path: str | None = None) -> None:
        self.client.log_artifact(run_id, str(path), artifact_path=artifact_path)

    @_waits("storing artifacts")
    def log_artifacts(self, run_id: str, folder: Path, artifact_path: str | None = None) -> None:
        self.client.log_artifacts(run_id, str(folder), artifact_path=artifact_path)

    @_waits("storing a table")
    def log_table(self, run_id: str, data: Any, artifact_file: str) -> None:
        self.client.log_table(run_id, data, artifact_file)

    @_waits("storing an image")
    def log_image(self, run_id: str, image: Any, key: str, step: int) -> None:
        self.client.log_image(run_id, image, key=key, step=step)

    @_waits("reading an artifact")
    def download_artifact(self, run_id: str, path: str, destination: Path) -> str:
        return self.client.download_artifacts(run_id, path, str(destination))

    @_waits("reading an artifact")
    def artifact_json(self, artifact_uri: str, name: str) -> Any | None:
        """A JSON file at the top of a run's artifacts (``artifact_uri``: the run's, as a search returns it), or None
        where the run has none. Straight from the artifact store, without querying the run again: a few ms a run,
        where ``download_artifact`` takes ~0.1 s, which a page of thousands of runs would feel."""
        repo = get_artifact_repository(artifact_uri, tracking_uri=self.uri)
        if name not in {f.path for f in repo.list_artifacts()}:
            return None
        with tempfile.TemporaryDirectory() as tmp:
            return json.loads(Path(repo.download_artifacts(name, tmp)).read_text())
