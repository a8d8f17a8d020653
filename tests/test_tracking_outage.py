"""A real ``mlflow server`` stopped mid-sweep, three times, for longer than the MLflow client's (lowered) retry
budget, then restarted on the same store: while a trial trains, between two trials and as the sweep ends. Nothing
fails and nothing is lost. One sweep for the three: each sweep is a Ray and a server to start."""

from __future__ import annotations

import functools
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path

from test_sweep_faults import experiment, steps, wait_for

from srbench.tracking.names import TAG_KIND
from srbench.tracking.patience import PATIENCE_ENV, RETRY_ENV
from srbench.tracking.store import Tracker

from processes import kill_session, stop_session

BIN = Path(sys.executable).parent
# The server is down for OUTAGE_S plus its restart (3-5 s here): the client gives up after one try with a 2 s timeout,
# srbench's own tries (after 1, 2, 4 s) meet the outage before one meets the restarted server.
OUTAGE_S = 3
RETRY_S = 1  # srbench's first wait between tries (then 2, 4, 8 s...): the sweep resumes soon after the restart


def start_server(folder: Path, port: int) -> subprocess.Popen:
    proc = subprocess.Popen(
        [
            str(BIN / "mlflow"),
            "server",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "1",
            "--backend-store-uri",
            f"sqlite:///{folder / 'mlflow.db'}",
            "--artifacts-destination",
            str(folder / "artifacts"),
        ],
        env={**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"},
        cwd=folder,
        stdout=open(folder / "server.log", "ab"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )

    def healthy() -> bool:
        assert proc.poll() is None, (folder / "server.log").read_text()[-2000:]
        try:
            return urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2).status == 200
        except OSError:
            return False

    try:
        wait_for(healthy, "the mlflow server", timeout=300)
    except BaseException:
        kill_session(proc)
        raise
    return proc


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def sweep_through_outages(
    tmp_path: Path, data_root: Path, outages: Sequence[Callable[[Tracker], bool]], *extra: str
) -> Tracker:
    """Run faults.py against a real mlflow server; each time one of ``outages`` (in turn, polled through the server)
    says so, stop the server for OUTAGE_S and restart it on the same store; let the sweep end. The server's store
    to read."""
    server_folder = tmp_path / "server"
    server_folder.mkdir()
    port = free_port()
    uri = f"http://127.0.0.1:{port}"
    server = start_server(server_folder, port)
    env = {
        **os.environ,
        "SRBENCH_DATA": str(data_root),
        "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0",
        "MLFLOW_HTTP_REQUEST_TIMEOUT": "2",
        PATIENCE_ENV: "600",
        RETRY_ENV: str(RETRY_S),
    }
    env.pop("RAY_ADDRESS", None)
    sweep = subprocess.Popen(
        [sys.executable, "-m", "srbench", "sweep", "faults.py", "--budget", "smoke", "--tracking-uri", uri, *extra],
        cwd=tmp_path,
        env=env,
        start_new_session=True,
        stdout=open(tmp_path / "sweep.log", "ab"),
        stderr=subprocess.STDOUT,
    )
    tracker = Tracker(uri)
    try:
        for begins in outages:
            wait_for(functools.partial(begins, tracker), f"the moment of {begins.__name__}", timeout=300, every=0.2)
            stop_session(server)
            time.sleep(OUTAGE_S)
            server = start_server(server_folder, port)
        assert sweep.wait(timeout=400) == 0, (tmp_path / "sweep.log").read_text()[-3000:]
    finally:
        for proc in (sweep, server):
            if proc.poll() is None:
                kill_session(proc)
    return Tracker(f"sqlite:///{server_folder / 'mlflow.db'}")  # the server's store itself


def trial_runs(tracker: Tracker) -> list:
    found = tracker.client.get_experiment_by_name("faults")
    return (
        tracker.client.search_runs(
            [found.experiment_id], f"tags.`{TAG_KIND}` = 'trial'", order_by=["attributes.start_time ASC"]
        )
        if found
        else []
    )


def trial_run(tracker: Tracker, name: str):
    return next((r for r in trial_runs(tracker) if r.info.run_name == name), None)


def test_outages_while_a_trial_trains_between_trials_and_as_the_sweep_ends_pause_it_and_lose_nothing(
    tmp_path, data_root
):
    """One sweep of two trials, one at a time, through three outages, each beyond the client's retries: (1) while
    the first trial trains (after its first validation): it pauses instead of failing; (2) the moment its run is
    ended, while the second trial's driver starts (run found or created, configuration recorded); (3) the moment the
    last trial's run is ended: the sweep's own closing calls (trials counted, sweep run ended, page written and
    stored, best model registered). Every run ends with each step logged once and its whole history.jsonl."""
    experiment(tmp_path, '{"a": {}, "b": {"iterations": 40}}', iterations=200)

    def a_validated(tracker: Tracker) -> bool:
        run = trial_run(tracker, "a_seed0")
        return run is not None and bool(steps(tracker, run.info.run_id, "val.Set5.psnr_y"))

    def a_ended(tracker: Tracker) -> bool:
        run = trial_run(tracker, "a_seed0")
        return run is not None and run.info.status == "FINISHED"

    def b_ended(tracker: Tracker) -> bool:
        run = trial_run(tracker, "b_seed0")
        return run is not None and run.info.status == "FINISHED"

    tracker = sweep_through_outages(tmp_path, data_root, [a_validated, a_ended, b_ended], "--max-concurrent", "1")
    log = (tmp_path / "sweep.log").read_text()
    # each trial's warning on the sweep's own console, with its name; one of the closing calls met the last outage
    # (which one depends on how fast the sweep gets there)
    assert "trial a_seed0: the MLflow tracking server did not answer while" in log, log[-3000:]
    assert "trial b_seed0: the MLflow tracking server did not answer while" in log, log[-3000:]
    closing = ("reading the sweep's trials", "ending a run", "writing the leaderboards")
    assert any(f"did not answer while {call}" in log for call in closing), log[-3000:]

    runs = trial_runs(tracker)
    assert [(r.info.run_name, r.info.status) for r in runs] == [("a_seed0", "FINISHED"), ("b_seed0", "FINISHED")]
    a, b = runs
    assert steps(tracker, a.info.run_id, "val.Set5.psnr_y") == list(range(40, 201, 40))
    assert steps(tracker, a.info.run_id, "train.loss") == list(range(20, 201, 20))
    assert steps(tracker, b.info.run_id, "val.Set5.psnr_y") == [40]
    assert steps(tracker, b.info.run_id, "train.loss") == [20, 40]
    stored = tmp_path / "server" / "artifacts"  # the server's artifact store
    history_file = next(stored.rglob(f"{a.info.run_id}/artifacts/history.jsonl"))
    rows = [json.loads(line) for line in history_file.read_text().splitlines()]
    assert [r["iteration"] for r in rows if "loss" in r] == list(range(20, 201, 20))
    assert [r["iteration"] for r in rows if "val/Set5/psnr_y" in r] == list(range(40, 201, 40))

    parent = tracker.client.get_run(a.data.tags["mlflow.parentRunId"])
    assert parent.info.status == "FINISHED"
    page = (tmp_path / "leaderboards-smoke" / "faults.md").read_text()
    assert "\n| a | " in page and "\n| b | " in page
    assert {p.name for p in stored.rglob(f"{parent.info.run_id}/artifacts/leaderboard/*")} >= {
        "faults.md",
        "faults.csv",
    }
    best = max(runs, key=lambda r: r.data.metrics["Set5.psnr_y"])
    assert tracker.client.get_model_version_by_alias("faults", "best_smoke").run_id == best.info.run_id
