"""Leaderboard time on a large MLflow store: every run is read, page after page.

    SRBENCH_DATA=../shared/data python benchmarks/leaderboard_scale.py [--runs 2520]

Builds a SQLite MLflow store with one sweep of the SRCNN ablation holding ``--runs`` finished
trial runs (8 variants, many seeds each, the tags, params and metrics a sweep records), then
times reading them (``load_runs``) and writing the whole page (``write_leaderboards``: bicubic
row, tables, pictures). The runs are inserted in bulk through MLflow's own SQLAlchemy models
(the client would take ~30 ms a run); everything is read back through MLflow's public API.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
import uuid
from pathlib import Path

from srbench.hardware import describe_hardware
from srbench.tracking.names import (
    FINAL_STEP,
    ITERATIONS_TRAINED,
    TAG_CONFIG_HASH,
    TAG_GIT_COMMIT,
    TAG_KIND,
    TAG_STUDY,
    TAG_SWEEP,
    TAG_VARIANT,
    TAG_VGG_USED,
    final_metric,
)
from srbench.tracking.store import Tracker

VARIANTS = ["9-1-5", "9-3-5", "9-5-5", "n128-64", "n32-16", "9-1-1-5", "9-3-3-5", "9-3-3-3-5"]
SWEEP = "srcnn_ablation-quick-20261101-120000-beef"


def build_large_store(uri: str, runs: int = 2520) -> None:
    """One sweep of ``runs`` finished trials (variant i scores 31 + i/10 dB on every set)."""
    import sqlalchemy
    from mlflow.store.tracking.dbmodels.models import SqlLatestMetric, SqlMetric, SqlParam, SqlRun, SqlTag
    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

    tracker = Tracker(uri)
    experiment = tracker.experiment_id("srcnn_ablation")
    parent = tracker.client.create_run(
        experiment,
        run_name=SWEEP,
        tags={TAG_KIND: "sweep", TAG_SWEEP: SWEEP, TAG_STUDY: "srcnn_ablation", TAG_GIT_COMMIT: "0" * 40},
    ).info.run_id
    tracker.log_params(parent, {"budget": "quick", "trials_at_once": 1})
    tracker.finish(parent)
    store = SqlAlchemyStore(uri, tempfile.mkdtemp(prefix="srbench-artifacts-"))
    now = int(time.time() * 1000)
    table_rows: dict = {SqlRun: [], SqlTag: [], SqlParam: [], SqlMetric: [], SqlLatestMetric: []}
    for i in range(runs):
        variant, seed = VARIANTS[i % len(VARIANTS)], i // len(VARIANTS)
        run_id, name = uuid.uuid4().hex, f"{variant}_seed{seed}"
        table_rows[SqlRun].append(
            dict(
                run_uuid=run_id,
                name=name,
                experiment_id=int(experiment),
                status="FINISHED",
                start_time=now,
                end_time=now + 1,
                lifecycle_stage="active",
                user_id="benchmark",
                source_type="LOCAL",
                source_name="",
                entry_point_name="",
                source_version="",
                artifact_uri=f"file:///unused/{run_id}",
            )
        )
        tags = {
            TAG_KIND: "trial",
            TAG_STUDY: "srcnn_ablation",
            TAG_SWEEP: SWEEP,
            TAG_CONFIG_HASH: f"hash-{variant}",
            "mlflow.parentRunId": parent,
            "mlflow.runName": name,
            "budget": "quick",
            "eval_images": "all",
            "hardware": "benchmark",
            TAG_VGG_USED: "none",
            "condition_source": "none",
            TAG_VARIANT: variant,
        }
        params = {
            "seed": str(seed),
            "scale": "3",
            "adversarial_weight": "0.0",
            "eval_sets": json.dumps(["Set5", "Set14", "BSD100"]),
        }
        psnr = 31.0 + VARIANTS.index(variant) / 10
        metrics = {
            **{final_metric(s, "psnr_y"): psnr for s in ("Set5", "Set14", "BSD100")},
            **{final_metric(s, "ssim_y"): 0.88 for s in ("Set5", "Set14", "BSD100")},
            "parameters": 8129.0,
            "macs_per_mp": 8.1e9,
            ITERATIONS_TRAINED: 20000.0,
            "wall_time_s": 600.0,
        }
        table_rows[SqlTag] += [dict(key=k, value=v, run_uuid=run_id) for k, v in tags.items()]
        table_rows[SqlParam] += [dict(key=k, value=v, run_uuid=run_id) for k, v in params.items()]
        for model in (SqlMetric, SqlLatestMetric):
            table_rows[model] += [
                dict(key=k, value=v, timestamp=now, step=FINAL_STEP, is_nan=False, run_uuid=run_id)
                for k, v in metrics.items()
            ]
    with store.ManagedSessionMaker(read_only=False) as session:
        for model, values in table_rows.items():  # one executemany per table
            session.execute(sqlalchemy.insert(model.__table__), values)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=2520)
    args = parser.parse_args()

    from srbench.report.baseline import bicubic_scores
    from srbench.report.leaderboard import write_leaderboards
    from srbench.report.runs import load_runs

    with tempfile.TemporaryDirectory() as tmp:
        uri = f"sqlite:///{Path(tmp) / 'mlflow.db'}"
        started = time.perf_counter()
        build_large_store(uri, args.runs)
        built = time.perf_counter() - started
        started = time.perf_counter()
        frame = load_runs(Tracker(uri), "srcnn_ablation")
        read = time.perf_counter() - started
        from srbench.data import resolve_data_root

        bicubic_scores([3], resolve_data_root())  # memoised: the page's time below is MLflow and rendering
        started = time.perf_counter()
        write_leaderboards(["srcnn_ablation"], uri, Path(tmp) / "lb")
        page = time.perf_counter() - started
    print(f"hardware: {describe_hardware()}")
    print(f"store: {args.runs} trial runs of one sweep (built in {built:.1f} s)")
    print(f"load_runs: {len(frame)} runs read in {read:.2f} s ({read / len(frame) * 1000:.2f} ms a run)")
    print(f"write_leaderboards (tables, CSV, pictures; bicubic row memoised): {page:.2f} s")


if __name__ == "__main__":
    main()
