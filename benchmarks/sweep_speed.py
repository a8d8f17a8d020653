"""A whole sweep, measured: its wall time, trial start-up (cold and with the node's training-set cache), makespan
against the ideal, and what the sweep leaves on disk.

    SRBENCH_DATA=../shared/data python benchmarks/sweep_speed.py [--study experiments/srcnn_ablation.py]
        [--budget smoke] [--set iterations=300] [--srbench-src OTHER_CHECKOUT] [-- --launcher train]

Runs ``python -m srbench sweep`` in a fresh temporary folder (its own MLflow store, Ray storage and
training-set cache, so the first trials start cold), then reads every trial's start-up figures from
MLflow: the start of its training process (Ray Train's worker group; ~0 where the trial trains in its Tune
trial), training-set preparation (or cache load), model build, and the time from the trial's start to its
first training step. Targets (issue 32), SRCNN smoke ablation on 2 cores: median first step at most 5 s after
the trial's start, makespan at most 1.10x ideal.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def folder_size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) if path.exists() else 0


def temp_run_folders() -> set[str]:
    return {p.name for p in Path(tempfile.gettempdir()).glob("srbench-*")}


def startup_table(trials: list) -> None:
    print(
        f"{'trial':<22}{'launcher':>9}{'cache':>7}{'to process':>12}{'training set':>14}{'model':>8}{'first step':>12}"
    )
    for run in trials:
        m = run.data.metrics
        print(
            f"{run.info.run_name:<22}{run.data.tags.get('srbench.launcher', 'train'):>9}"
            f"{run.data.tags.get('train_set_cache', '-'):>7}"
            f"{m['startup.worker_group_s']:>11.2f}s{m['startup.train_set_s']:>13.2f}s"
            f"{m['startup.model_build_s']:>7.2f}s{m['startup.to_first_step_s']:>11.2f}s"
        )
    for state in ("miss", "hit"):
        first = [
            r.data.metrics["startup.to_first_step_s"] for r in trials if r.data.tags.get("train_set_cache") == state
        ]
        if first:
            print(
                f"trial start to first step, training-set cache {state}: median {statistics.median(first):.2f} s "
                f"over {len(first)} trial(s)"
            )
    every = [r.data.metrics["startup.to_first_step_s"] for r in trials]
    print(f"trial start to first step, every trial: median {statistics.median(every):.2f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--study", default=str(REPO / "experiments" / "srcnn_ablation.py"))
    parser.add_argument("--budget", default="smoke")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="FIELD=VALUE",
        help="training field for every trial (default: none, the budget's own)",
    )
    parser.add_argument(
        "--srbench-src", type=Path, help="run the sweep with the srbench in this checkout (before/after)"
    )
    parser.add_argument("sweep_flags", nargs="*", help="after --: more flags for srbench sweep")
    args = parser.parse_args()

    from mlflow import MlflowClient

    from srbench.data import resolve_data_root
    from srbench.hardware import describe_hardware
    from srbench.sweep.makespan import makespan

    with tempfile.TemporaryDirectory(prefix="sweep-speed-") as tmp:
        work = Path(tmp)
        env = {**os.environ, "SRBENCH_CACHE": str(work / "cache"), "SRBENCH_DATA": str(resolve_data_root())}
        env.pop("MLFLOW_TRACKING_URI", None)
        env.pop("RAY_ADDRESS", None)
        if args.srbench_src:
            env["PYTHONPATH"] = str(args.srbench_src.resolve())
        before = temp_run_folders()
        command = [
            sys.executable,
            "-m",
            "srbench",
            "sweep",
            str(Path(args.study).resolve()),
            "--budget",
            args.budget,
            *[a for s in args.set for a in ("--set", s)],
            *args.sweep_flags,
        ]
        start = time.perf_counter()
        done = subprocess.run(command, cwd=work, env=env, capture_output=True, text=True)
        wall = time.perf_counter() - start
        if done.returncode != 0:
            sys.exit(f"sweep failed ({done.returncode}):\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
        client = MlflowClient(f"sqlite:///{work / 'mlflow.db'}")
        runs = client.search_runs([e.experiment_id for e in client.search_experiments()], max_results=1000)
        trials = sorted(
            (r for r in runs if r.data.tags.get("srbench.kind") == "trial"), key=lambda r: r.info.start_time
        )
        parent = next(r for r in runs if r.data.tags.get("srbench.kind") == "sweep")
        print(
            f"{Path(args.study).name}, budget {args.budget} {' '.join(args.set)}: {len(trials)} trials, "
            f"{parent.data.params.get('trials_at_once')} at once; {describe_hardware()}"
        )
        if all("startup.to_first_step_s" in r.data.metrics for r in trials):
            startup_table(trials)
        else:
            print("start-up: this version of srbench records no start-up figures")
        span = makespan(
            [(r.info.start_time / 1000, r.info.end_time / 1000) for r in trials],
            int(parent.data.params["trials_at_once"]),
        )
        print(f"{span.describe()}")
        print(f"whole sweep: {wall:.0f} s (Ray start, pre-flight and leaderboards included)")
        print(
            f"disk: ray_results {folder_size(work / 'ray_results') / 1e6:.1f} MB, MLflow artifacts "
            f"{folder_size(work / 'mlartifacts') / 1e6:.1f} MB, "
            f"training-set cache {folder_size(work / 'cache') / 1e6:.1f} MB; "
            f"per-attempt run folders left in {tempfile.gettempdir()}: {len(temp_run_folders() - before)}"
        )


if __name__ == "__main__":
    main()
