"""The example search study end to end on a real local Ray and a real MLflow store (SQLite): Ray Tune
samples the learning rate and batch size, ASHA stops trials that fall behind, and the stops are recorded
and shown apart. (Its own file: xdist runs it beside the other sweep tests.)"""

from __future__ import annotations

from test_sweep_identity import trial_runs

from srbench.sweep.run import run_sweep
from srbench.tracking.names import TAG_STOPPED_EARLY
from srbench.tracking.store import Tracker

from conftest import REPO


def test_search_study_samples_six_values_and_asha_stops_some_early(ray_session, tmp_path, monkeypatch, data_root):
    """The example search study at its smoke budget: 6 trials, 6 distinct sampled learning rates (each the `lr`
    param of its run), and ASHA's stops recorded (run KILLED, tag) and listed apart on the page."""
    monkeypatch.chdir(tmp_path)
    study = REPO / "experiments" / "srcnn_lr_search.py"
    summary = run_sweep(str(study), budget="smoke", data_root=data_root)
    tracker = Tracker(f"sqlite:///{tmp_path / 'mlflow.db'}")
    runs = trial_runs(tracker, "srcnn_lr_search", summary["sweep"])
    rates = [float(r.data.params["lr"]) for r in runs]
    assert len(runs) == 6 and len(set(rates)) == 6 and all(1e-5 < lr < 1e-2 for lr in rates)
    assert {int(r.data.params["batch_size"]) for r in runs} <= {16, 32, 64}
    stopped = [r for r in runs if TAG_STOPPED_EARLY in r.data.tags]
    finished = [r for r in runs if r.info.status == "FINISHED"]
    assert stopped and finished and len(stopped) + len(finished) == 6
    assert summary["stopped_early"] == len(stopped) and summary["finished"] == len(finished) and not summary["failed"]
    for run in stopped:
        assert run.info.status == "KILLED" and "Set5.psnr_y" not in run.data.metrics  # never scored as finished
        assert int(run.data.tags[TAG_STOPPED_EARLY]) % 6 == 0  # a validation (rung) iteration
    page = (tmp_path / "leaderboards-smoke" / "srcnn_lr_search.md").read_text()
    assert "Stopped early by the scheduler (ASHA)" in page and f"Sweep `{summary['sweep']}`" in page
    table, stopped_table = (
        page.split("Stopped early by the scheduler")[0],
        page.split("Stopped early by the scheduler")[1],
    )
    for run in stopped:
        assert run.info.run_id in stopped_table and run.info.run_id not in table
    for run in finished:
        assert run.info.run_id in table
    assert "Top 3 of 3 configurations" in page or f"Top {len(finished)} of {len(finished)}" in page
    assert (tmp_path / "leaderboards-smoke" / "srcnn_lr_search-search.png").exists()
