"""A brand-new local sqlite store with several writers at once: MLflow migrates a new store on first use, and two
processes doing that together crashed one of them (or left the store half-migrated) before srbench's store lock."""

from __future__ import annotations

import subprocess
import sys

from srbench.tracking.store import Tracker

WRITERS = 4  # on 2 cores, as many as keep both busy through the migration twice over
WRITER = """
import sys
from srbench.tracking.store import Tracker
tracker = Tracker(sys.argv[1])
experiment = tracker.experiment_id("concurrent")
run = tracker.client.create_run(experiment, run_name=f"writer{sys.argv[2]}").info.run_id
for step in range(5):
    tracker.client.log_metric(run, "value", float(step), step=step)
tracker.finish(run)
"""


def test_writers_creating_a_new_store_at_once_all_succeed_and_lose_nothing(tmp_path):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    writers = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, uri, str(i)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for i in range(WRITERS)
    ]
    results = [(w.wait(timeout=300), w.stderr.read()) for w in writers]
    assert all(code == 0 for code, _ in results), [err[-1500:] for code, err in results if code]
    tracker = Tracker(uri)
    [experiment] = [e for e in tracker.client.search_experiments() if e.name == "concurrent"]
    runs = tracker.client.search_runs([experiment.experiment_id])
    assert sorted(r.info.run_name for r in runs) == [f"writer{i}" for i in range(WRITERS)]
    for run in runs:
        assert run.info.status == "FINISHED"
        history = tracker.client.get_metric_history(run.info.run_id, "value")
        assert sorted(m.step for m in history) == list(range(5))
