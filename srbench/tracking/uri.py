"""Where the MLflow store is and whether it can be used: the tracking URI srbench resolves, the command that shows
its runs, and the checks that fail early, in one line, on a store that is unreachable, refuses us or is no store."""

from __future__ import annotations

import base64
import contextlib
import os
import sqlite3
import urllib.error
import urllib.request
from pathlib import Path

from srbench.errors import UserError
from srbench.outdir import check_output_folder


def resolve_tracking_uri(cli_value: str | None = None) -> str:
    """The flag's store, else MLFLOW_TRACKING_URI's, else ``./mlflow.db``; a local store given by a relative path
    (``sqlite:///mlflow.db``) made absolute, as trials and workers open it from folders of their own."""
    uri = cli_value or os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{Path.cwd() / 'mlflow.db'}"
    if uri.startswith("sqlite:///") and not uri.removeprefix("sqlite:///").strip():
        source = "--tracking-uri" if cli_value else "MLFLOW_TRACKING_URI"
        raise UserError(f"{source} {uri} names no file: give sqlite:///PATH/mlflow.db")
    if uri.startswith("sqlite:///"):
        return f"sqlite:///{Path(uri.removeprefix('sqlite:///')).absolute()}"
    return uri


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
# Tables every MLflow SQL store has; an SQLite file without them is someone else's database.
MLFLOW_TABLES = frozenset({"alembic_version", "experiments", "runs"})
# Schemes MLflow's client takes as a tracking URI (servers, SQL databases, Databricks).
SCHEMES = ("http", "https", "sqlite", "postgresql", "mysql", "mssql", "databricks", "databricks-uc")


def check_uri_form(tracking_uri: str) -> None:
    """A URI MLflow can use as a store at all: a scheme it knows; file stores are refused (MLflow 3 keeps that
    backend in maintenance mode)."""
    scheme = tracking_uri.split("://", 1)[0].split("+", 1)[0] if "://" in tracking_uri else ""
    if not scheme and Path(tracking_uri).suffix in (".db", ".sqlite", ".sqlite3"):  # a path where a URI goes
        raise UserError(
            f"tracking URI {tracking_uri}: a path, not a URI; for that SQLite store give "
            f"sqlite:///{Path(tracking_uri).absolute()}"
        )
    if not scheme or scheme == "file":
        raise UserError(
            f"tracking URI {tracking_uri}: file stores (mlruns folders) are not supported, MLflow 3 "
            f"keeps them in maintenance mode; use sqlite:///PATH/mlflow.db or an http(s):// server"
        )
    if scheme not in SCHEMES:
        raise UserError(
            f"tracking URI {tracking_uri}: unknown scheme '{scheme}'; use sqlite:///PATH/mlflow.db or an "
            f"http(s):// server (MLflow also takes {', '.join(SCHEMES[2:])})"
        )


def check_store(tracking_uri: str, timeout: float = 10.0, reading: bool = False) -> None:
    """Fail early, with a clear message, on a URI MLflow cannot use, a tracking server that does not answer, or a
    local file that is not an MLflow store (looked at read-only, before MLflow opens it and adds its tables).
    ``reading``: the command only reads (sweeps, leaderboard, eval --model-uri), so a store that is not there is
    an error, never created; a writing command needs the store's folder to exist and be writable."""
    check_uri_form(tracking_uri)
    if tracking_uri.startswith(("http://", "https://")):
        try:
            urllib.request.urlopen(tracking_uri.rstrip("/") + "/health", timeout=timeout).read()
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise UserError(
                f"MLflow tracking server {tracking_uri} is unreachable ({reason}); start it or fix "
                f"--tracking-uri / MLFLOW_TRACKING_URI"
            ) from None
        _check_credentials(tracking_uri, timeout)
    elif tracking_uri.startswith("sqlite:///"):
        _check_sqlite(Path(tracking_uri.removeprefix("sqlite:///")), tracking_uri, reading)


def _check_sqlite(path: Path, tracking_uri: str, reading: bool) -> None:
    if path.is_dir() or (path.exists() and _file_header(path) not in (b"", SQLITE_HEADER)):
        raise UserError(
            f"{path} is not an SQLite database, so not an MLflow store; give the mlflow.db a "
            f"sweep wrote (--tracking-uri sqlite:///PATH/mlflow.db)"
        )
    if path.exists() and _file_header(path) == SQLITE_HEADER:
        missing = MLFLOW_TABLES - _tables(path)
        if missing:
            raise UserError(
                f"{path} is an SQLite database but not an MLflow store (no {', '.join(sorted(missing))} table); "
                f"give the mlflow.db a sweep wrote"
            )
    elif reading:
        raise UserError(f"no MLflow store at {tracking_uri}; give --tracking-uri (or run a sweep here first)")
    elif not path.parent.is_dir():
        raise UserError(f"MLflow store {path}: the folder {path.parent} does not exist")
    else:
        check_output_folder(path.parent, f"MLflow store {path}:")


def _tables(path: Path) -> set[str]:
    """The tables of an SQLite file, opened read-only (``mode=ro``): looking never changes it."""
    try:
        with contextlib.closing(sqlite3.connect(f"{path.absolute().as_uri()}?mode=ro", uri=True)) as db:
            return {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    except sqlite3.Error as exc:
        raise UserError(f"cannot read MLflow store {path}: {exc}") from None


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
            fix = (
                "check MLFLOW_TRACKING_USERNAME / MLFLOW_TRACKING_PASSWORD"
                if user
                else "check MLFLOW_TRACKING_TOKEN"
                if token
                else "set MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD (or MLFLOW_TRACKING_TOKEN)"
            )
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
