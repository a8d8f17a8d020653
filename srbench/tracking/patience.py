"""Waiting out a tracking-server outage: a trial of hours pauses, with a warning, instead of failing and losing
what it was logging."""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Callable
from typing import TypeVar

import requests
from mlflow.exceptions import MlflowException

T = TypeVar("T")

PATIENCE_ENV = "SRBENCH_TRACKING_PATIENCE_S"  # how long a trial waits out a tracking outage (default: an hour)
RETRY_ENV = "SRBENCH_TRACKING_RETRY_S"  # the first wait between tries (default 5 s), doubled each time up to 60 s
# Where else ``patiently``'s warnings go: a trial's worker adds the sweep's console (srbench.sweep_console).
OUTAGE_SINKS: list[Callable[[str], None]] = []


def _transient(exc: Exception) -> bool:
    """A failure of the connection to the tracking server (refused, timed out, 5xx after MLflow's own retries),
    not a request the server refused for what it said."""
    return isinstance(exc, (requests.exceptions.ConnectionError, requests.exceptions.Timeout)) or (
        isinstance(exc, MlflowException) and str(exc).startswith("API request to")
    )


def patiently(call: Callable[[], T], what: str) -> T:
    """``call()``, waiting out a tracking-server outage longer than the MLflow client's own retries: a warning,
    then retries with backoff ($SRBENCH_TRACKING_RETRY_S, default 5 s, doubling to 60 s) for up to
    $SRBENCH_TRACKING_PATIENCE_S seconds, so a trial pauses instead of failing and losing what it was logging. Other
    errors raise at once."""
    deadline = time.monotonic() + float(os.environ.get(PATIENCE_ENV, 3600))
    wait = float(os.environ.get(RETRY_ENV, 5))
    while True:
        try:
            return call()
        except Exception as exc:
            if not _transient(exc) or time.monotonic() + wait > deadline:
                raise
            warning = (
                f"the MLflow tracking server did not answer while {what} "
                f"({str(exc).splitlines()[0][:160]}); retrying in {wait:.0f} s"
            )
            print(f"srbench: {warning}", file=sys.stderr, flush=True)
            for sink in OUTAGE_SINKS:
                with contextlib.suppress(Exception):  # the sweep's console is a courtesy: never a reason to fail
                    sink(warning)
            time.sleep(wait)
            wait = min(2 * wait, 60.0)
