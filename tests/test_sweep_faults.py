"""Fault tolerance of real sweeps run as `python -m srbench sweep` processes (each with its own local Ray):
a SIGKILLed training process (the Tune trial that trains itself, or a Ray Train worker) is restarted from its
checkpoint; a SIGKILLed sweep driver is continued with --resume. In both cases MLflow ends with exactly one run
per trial and no repeated steps."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import psutil
import pytest

from srbench.tracking.names import ITERATIONS_TRAINED, TAG_BUDGET_NOTE, TAG_KIND, TAG_RESUMED_AT
from srbench.tracking.store import Tracker

from processes import kill_session

TIMEOUT = 600  # a guard against a hung sweep, not a target: a loaded 2-core machine took over 240 s to resume one


# Long enough that a trial is still training a few seconds after its second validation, where the tests strike:
# a one-worker trial reaches its first step within a second or two of its start.
KILLABLE = 1000


def experiment(tmp_path: Path, variants: str, iterations: int, val_every: int = 40, log_every: int = 20) -> Path:
    path = tmp_path / "faults.py"
    path.write_text(
        textwrap.dedent(f"""
        from srbench.experiment import Experiment
        EXPERIMENT = Experiment(
            name="faults", model={{"name": "srcnn"}}, scale=3, variants={variants},
            budgets={{"smoke": {{"iterations": {iterations}, "val_every": {val_every}, "log_every": {log_every},
                                 "eval_sets": ["Set5"], "val_images": 1, "batch_size": 16}}}},
            budget_notes={{"smoke": "{iterations} iterations, to be killed"}},
        )
    """)
    )
    return path


def start_sweep(tmp_path: Path, data_root: Path, *extra: str) -> subprocess.Popen:
    env = {**os.environ, "SRBENCH_DATA": str(data_root)}
    env.pop("MLFLOW_TRACKING_URI", None)
    env.pop("RAY_ADDRESS", None)
    return subprocess.Popen(
        [sys.executable, "-m", "srbench", "sweep", "faults.py", "--budget", "smoke", "--max-concurrent", "1", *extra],
        cwd=tmp_path,
        env=env,
        start_new_session=True,
        stdout=open(tmp_path / "sweep.log", "ab"),
        stderr=subprocess.STDOUT,
    )


def runs(tmp_path: Path):
    tracker = Tracker(f"sqlite:///{tmp_path / 'mlflow.db'}")
    exp = tracker.client.get_experiment_by_name("faults")
    if exp is None:
        return tracker, []
    return tracker, tracker.client.search_runs([exp.experiment_id], filter_string=f"tags.`{TAG_KIND}` = 'trial'")


def wait_for(condition, what: str, timeout: float = TIMEOUT, every: float = 0.5) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(every)


def steps(tracker: Tracker, run_id: str, key: str) -> list[int]:
    return [m.step for m in tracker.client.get_metric_history(run_id, key)]


def assert_no_repeated_steps(tracker: Tracker, run) -> None:
    for key in run.data.metrics:
        history = steps(tracker, run.info.run_id, key)
        assert len(history) == len(set(history)), f"{key} logged twice at some step: {sorted(history)}"


# The process that trains a trial, by Ray's process title: the Tune trial itself, or a Ray Train worker.
TRAINING_PROCESS = {"tune": "ray::ImplicitFunc", "train": "ray::RayTrainWorker"}


def training_processes(proc: subprocess.Popen, launcher: str) -> list[psutil.Process]:
    """The processes training this sweep's trial (in its session), not of any other Ray on the machine."""
    sid = os.getsid(proc.pid)
    found = []
    for p in psutil.process_iter(["cmdline"]):
        try:
            title = TRAINING_PROCESS[launcher]
            if any(title in part for part in (p.info["cmdline"] or [])) and os.getsid(p.pid) == sid:
                found.append(p)
        except (psutil.Error, ProcessLookupError):
            pass
    return found


def assert_one_whole_run(tmp_path: Path):
    """The sweep's one trial finished, every validation and loss of its KILLABLE iterations logged once."""
    tracker, found = runs(tmp_path)
    assert len(found) == 1 and found[0].info.status == "FINISHED"
    assert found[0].data.metrics[ITERATIONS_TRAINED] == KILLABLE
    assert_no_repeated_steps(tracker, found[0])
    assert steps(tracker, found[0].info.run_id, "val.Set5.psnr_y") == list(range(200, KILLABLE + 1, 200))
    assert steps(tracker, found[0].info.run_id, "train.loss") == list(range(100, KILLABLE + 1, 100))
    return tracker, found


def wait_for_two_checkpoints(tmp_path: Path) -> None:
    """Until the sweep's one trial has validated (and checkpointed) twice."""

    def checkpointed() -> bool:
        tracker, found = runs(tmp_path)
        return bool(found) and len(steps(tracker, found[0].info.run_id, "val.Set5.psnr_y")) >= 2

    wait_for(checkpointed, "two validations (checkpoints) of the trial")


@pytest.mark.parametrize("launcher", ["tune", "train"])
def test_sigkilled_training_process_resumes_from_its_checkpoint(tmp_path, data_root, launcher):
    experiment(tmp_path, '{"a": {}}', KILLABLE, val_every=200, log_every=100)
    proc = start_sweep(tmp_path, data_root, "--launcher", launcher)
    try:
        wait_for_two_checkpoints(tmp_path)
        workers = training_processes(proc, launcher)
        assert workers, f"no {TRAINING_PROCESS[launcher]} process found"
        for w in workers:
            w.kill()
        assert proc.wait(timeout=TIMEOUT) == 0, (tmp_path / "sweep.log").read_text()[-3000:]
    finally:
        if proc.poll() is None:
            kill_session(proc)
    tracker, found = assert_one_whole_run(tmp_path)
    resumed_at = int(found[0].data.tags[TAG_RESUMED_AT])  # the run says where its second attempt started:
    assert 0 < resumed_at < KILLABLE and resumed_at % 200 == 0, resumed_at  # a checkpoint's (one of the validations)
    # The restarted attempt continued the history its checkpoint carried: the artifact is whole.
    rows = [
        json.loads(line) for line in next((tmp_path / "mlartifacts").rglob("history.jsonl")).read_text().splitlines()
    ]
    assert [r["iteration"] for r in rows if "loss" in r] == list(range(100, KILLABLE + 1, 100))
    parent = tracker.client.get_run(found[0].data.tags["mlflow.parentRunId"])
    assert (
        parent.data.tags[TAG_BUDGET_NOTE] == f"{KILLABLE} iterations, to be killed"
    )  # the study's note for this budget


def test_a_stopped_driver_and_a_killed_one_each_resume_and_the_sweep_completes(tmp_path, data_root):
    """Two interruptions of one sweep of two trials, one at a time, each continued with ``--resume``: (1) SIGTERM to
    the driver (``kill``, a scheduler) as Ctrl-C, after the first trial's second checkpoint: Tune ends the trial at
    its checkpoint, the sweep prints its --resume command and exits 128 + 15; (2) SIGKILL to the resumed driver's
    whole session as the first trial has finished and the second runs. Resumed again, the sweep skips the finished
    trial and both end with every step logged once. One sweep for both: each start is a Ray of its own."""
    experiment(tmp_path, '{"first": {}, "second": {"model.variant": "n32-16"}}', KILLABLE, val_every=200, log_every=100)
    proc = start_sweep(tmp_path, data_root)
    try:
        wait_for_two_checkpoints(tmp_path)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=TIMEOUT) == 128 + signal.SIGTERM, (tmp_path / "sweep.log").read_text()[-3000:]
    finally:
        if proc.poll() is None:
            kill_session(proc)
    assert "; continue with: python -m srbench sweep faults.py --resume " in (tmp_path / "sweep.log").read_text()

    again = start_sweep(tmp_path, data_root, "--resume")
    try:

        def one_finished_one_running() -> bool:
            _, found = runs(tmp_path)
            return sorted(r.info.status for r in found) == ["FINISHED", "RUNNING"]

        wait_for(one_finished_one_running, "the first trial to finish and the second to start")
        time.sleep(3)  # let Tune record the finished trial in its experiment state
        kill_session(again)
    finally:
        if again.poll() is None:
            kill_session(again)
    tracker, before = runs(tmp_path)
    finished = next(r for r in before if r.info.status == "FINISHED")
    finished_history = steps(tracker, finished.info.run_id, "train.loss")

    last = start_sweep(tmp_path, data_root, "--resume")
    try:
        assert last.wait(timeout=TIMEOUT) == 0, (tmp_path / "sweep.log").read_text()[-3000:]
    finally:
        if last.poll() is None:
            kill_session(last)
    tracker, after = runs(tmp_path)
    assert sorted(r.info.run_name for r in after) == ["first_seed0", "second_seed0"]
    assert all(r.info.status == "FINISHED" for r in after)
    log = (tmp_path / "sweep.log").read_text()  # the console counts the trials Tune has not created yet
    assert re.search(r"first\S*\s+started \(1 running, 1 waiting\)", log), log[-3000:]
    assert re.search(r"second\S*\s+started \(1 running, 0 waiting\)", log), log[-3000:]
    same = next(r for r in after if r.info.run_id == finished.info.run_id)
    assert steps(tracker, same.info.run_id, "train.loss") == finished_history  # not trained again
    for run in after:  # both whole: the one stopped by SIGTERM, the one killed with its driver
        assert_no_repeated_steps(tracker, run)
        assert run.data.metrics[ITERATIONS_TRAINED] == KILLABLE
        assert steps(tracker, run.info.run_id, "val.Set5.psnr_y") == list(range(200, KILLABLE + 1, 200))
        assert steps(tracker, run.info.run_id, "train.loss") == list(range(100, KILLABLE + 1, 100))
    assert (tmp_path / "leaderboards-smoke" / "faults.md").exists()
    # Stopped part-way, then resumed: no makespan on its parent run (it would be of the first part's trials alone).
    parent = tracker.client.get_run(after[0].data.tags["mlflow.parentRunId"])
    assert "makespan_s" not in parent.data.metrics and parent.info.status == "FINISHED"
