"""A real ``mlflow server`` stopped mid-sweep for longer than the MLflow client's (lowered) retry budget, then
restarted on the same store: the trial pauses instead of failing, and ends with every validation step logged
once and its whole history.jsonl."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

from test_sweep_faults import experiment, steps, wait_for

from srbench.tracking.names import TAG_KIND
from srbench.tracking.patience import PATIENCE_ENV, RETRY_ENV
from srbench.tracking.store import Tracker

from processes import kill_session, stop_session

BIN = Path(sys.executable).parent
OUTAGE_S = 8  # the client gives up after one try with a 2 s timeout: the outage outlasts it four times
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


def sweep_through_outage(
    tmp_path: Path, data_root: Path, outage_begins: Callable[[Tracker], bool], *extra: str
) -> Tracker:
    """Run faults.py against a real mlflow server, stop the server for OUTAGE_S once ``outage_begins`` (polled
    through the server), restart it on the same store and let the sweep end; the server's store to read."""
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
        wait_for(lambda: outage_begins(tracker), "the moment of the outage", timeout=300, every=0.2)
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


def test_a_tracking_outage_beyond_the_client_retries_pauses_the_trial_and_loses_nothing(tmp_path, data_root):
    experiment(tmp_path, '{"a": {}}', iterations=200)

    def validated_once(tracker: Tracker) -> bool:
        runs = trial_runs(tracker)
        return bool(runs) and bool(steps(tracker, runs[0].info.run_id, "val.Set5.psnr_y"))

    tracker = sweep_through_outage(tmp_path, data_root, validated_once)
    # The trial's warning on the sweep's own console, with the trial's name
    assert "trial a_seed0: the MLflow tracking server did not answer while" in (tmp_path / "sweep.log").read_text()
    [run] = trial_runs(tracker)
    assert run.info.status == "FINISHED"
    assert steps(tracker, run.info.run_id, "val.Set5.psnr_y") == list(range(40, 201, 40))
    assert steps(tracker, run.info.run_id, "train.loss") == list(range(20, 201, 20))
    server_folder = tmp_path / "server"
    history_file = next((server_folder / "artifacts").rglob("history.jsonl"))
    rows = [json.loads(line) for line in history_file.read_text().splitlines()]
    assert [r["iteration"] for r in rows if "loss" in r] == list(range(20, 201, 20))
    assert [r["iteration"] for r in rows if "val/Set5/psnr_y" in r] == list(range(40, 201, 40))


def test_an_outage_as_one_trial_ends_and_the_next_starts_fails_neither(tmp_path, data_root):
    """The trials' drivers (run found or created, configuration recorded, run ended) wait out an outage too: it
    begins the moment the first trial's run is ended, while the second trial's driver starts."""
    experiment(tmp_path, '{"a": {}, "b": {}}', iterations=40)

    def first_ended(tracker: Tracker) -> bool:
        runs = trial_runs(tracker)
        return bool(runs) and runs[0].info.status == "FINISHED"

    tracker = sweep_through_outage(tmp_path, data_root, first_ended, "--max-concurrent", "1")
    assert "trial b_seed0: the MLflow tracking server did not answer while" in (tmp_path / "sweep.log").read_text()
    runs = trial_runs(tracker)
    assert [(r.data.tags["mlflow.runName"], r.info.status) for r in runs] == [
        ("a_seed0", "FINISHED"),
        ("b_seed0", "FINISHED"),
    ]
    for run in runs:
        assert steps(tracker, run.info.run_id, "val.Set5.psnr_y") == [40]
        assert steps(tracker, run.info.run_id, "train.loss") == [20, 40]


def test_an_outage_as_the_last_trial_ends_lets_the_sweep_finish_its_records(tmp_path, data_root):
    """The sweep's own closing calls (trials counted, sweep run ended, page written and stored, best model
    registered) wait out an outage that begins the moment the last trial's run is ended."""
    experiment(tmp_path, '{"a": {}}', iterations=40)

    def ended(tracker: Tracker) -> bool:
        runs = trial_runs(tracker)
        return bool(runs) and runs[0].info.status == "FINISHED"

    tracker = sweep_through_outage(tmp_path, data_root, ended)
    # which closing call meets the outage first depends on how fast the sweep gets there; one of them must
    closing = ("reading the sweep's trials", "ending a run", "writing the leaderboards")
    log = (tmp_path / "sweep.log").read_text()
    assert any(f"did not answer while {call}" in log for call in closing), log[-3000:]
    [run] = trial_runs(tracker)
    parent = tracker.client.get_run(run.data.tags["mlflow.parentRunId"])
    assert parent.info.status == "FINISHED"
    assert "\n| a | " in (tmp_path / "leaderboards-smoke" / "faults.md").read_text()
    stored = tmp_path / "server" / "artifacts"  # the server's artifact store: the page beside the sweep's run
    assert {p.name for p in stored.rglob(f"{parent.info.run_id}/artifacts/leaderboard/*")} >= {
        "faults.md",
        "faults.csv",
    }
    assert tracker.client.get_model_version_by_alias("faults", "best_smoke").run_id == run.info.run_id
