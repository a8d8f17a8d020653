"""What happens after Tune has run a sweep's trials: the trials read back from MLflow once, the sweep's run ended,
its leaderboards written and stored with it, its best trial registered, its makespan logged, its summary printed.
Every call waits out a tracking outage, as the trials do: a sweep of hours must not end in a traceback."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from srbench.data import set_label
from srbench.report.baseline import bicubic_scores
from srbench.report.leaderboard import write_leaderboards
from srbench.report.table_csv import images_csv_name
from srbench.sweep.makespan import Makespan, makespan
from srbench.tracking.model_registry import best_alias, register_best
from srbench.tracking.names import TAG_EVAL_IMAGES, TAG_STOPPED_EARLY, final_metric
from srbench.tracking.store import Tracker
from srbench.tracking.sweeps import count_trials
from srbench.tracking.uri import ui_command

# Smoke pages go beside, never over, the real ones (a smoke sweep from a checkout's root would replace them).
LEADERBOARD_FOLDERS = {"smoke": "leaderboards-smoke"}


@dataclass(frozen=True)
class Ended:
    """A sweep as Tune left it: which sweep, where its records are, and how many trials it meant to run."""

    sweep: str
    study: str
    file: str
    budget: str
    tracking_uri: str
    experiment_id: str
    parent_run_id: str
    view: str  # the sweep's saved view of the runs table
    resume: str  # the command that continues it (preflight.resume_command)
    trial_count: int
    errors: int  # trials Tune reports as failed
    resumed: bool
    slots: int  # trials at once
    sets: tuple[str, ...]  # the study's evaluation sets, the first one ranks the trials
    scale: int
    data_root: Path


def finish_sweep(tracker: Tracker, ended: Ended) -> dict[str, Any]:
    """Everything after ``Tuner.fit``; returns the sweep's summary."""
    # Counted from MLflow, not from Tune: after Ctrl-C Tune returns with trials still unfinished.
    trials = tracker.trials(ended.experiment_id, ended.sweep)
    counts = count_trials(trials)
    done = counts["finished"] + counts["stopped_early"]
    interrupted = not ended.errors and done < ended.trial_count
    tracker.finish(ended.parent_run_id, "FAILED" if ended.errors else "KILLED" if interrupted else "FINISHED")
    pages = _publish_leaderboards(tracker, ended) if done else []
    if done:
        _register_best(tracker, ended, trials)
    # A makespan describes a sweep run whole in one go: not one stopped part-way (its figure would cover the trials
    # done so far and stand on the parent run as the sweep's), nor one resumed (its wall time spans the pause).
    span = None if ended.resumed or interrupted else _log_makespan(tracker, ended, trials)
    summary = {
        "sweep": ended.sweep,
        "parent_run_id": ended.parent_run_id,
        "trials": ended.trial_count,
        "finished": counts["finished"],
        "stopped_early": counts["stopped_early"],
        "failed": ended.errors,
        "interrupted": interrupted,
        "leaderboards": [str(p) for p in pages],
    }
    print(summary_table(trials, list(ended.sets), ended.scale, ended.data_root))
    print(_closing_line(ended, counts, interrupted, pages))
    if span is not None:
        print(f"sweep {ended.sweep}: {span.describe()}")
        summary["makespan_ratio"] = span.ratio
    print(f"MLflow: {ui_command(ended.tracking_uri, ended.experiment_id, ended.view)}")
    return summary


def _publish_leaderboards(tracker: Tracker, ended: Ended) -> list[Path]:
    """The study's pages, written, and stored beside the sweep's run as this sweep wrote them: markdown, CSVs and
    pictures."""
    out = Path(LEADERBOARD_FOLDERS.get(ended.budget, "leaderboards"))
    pages = tracker.patiently(
        lambda: write_leaderboards([ended.study], ended.tracking_uri, out, ended.data_root), "writing the leaderboards"
    )
    if pages:
        for file in [
            *pages,
            *(p.with_suffix(s) for p in pages for s in (".csv", ".json")),
            *(p.with_name(images_csv_name(p.stem)) for p in pages),
            *sorted(out.glob(f"{ended.study}-*.png")),
        ]:
            tracker.log_artifact(ended.parent_run_id, file, artifact_path="leaderboard")
    return pages


def _register_best(tracker: Tracker, ended: Ended, trials: list[Any]) -> None:
    """The sweep's best finished trial (Y-PSNR on the study's first evaluation set) into the Model Registry."""
    figure = final_metric(ended.sets[0], "psnr_y")
    finished = [r for r in trials if r.info.status == "FINISHED" and figure in r.data.metrics]
    if not finished:
        return
    best = max(finished, key=lambda r: r.data.metrics[figure])
    version = register_best(tracker, ended.study, ended.budget, ended.sweep, best.info.run_id, figure)
    alias = best_alias(ended.budget)
    print(
        f"Model Registry: {ended.study} version {version} = trial {best.info.run_name} ({figure} "
        f"{best.data.metrics[figure]:.2f} dB), alias {alias}; load it with "
        f"mlflow.pytorch.load_model('models:/{ended.study}@{alias}')"
    )


def _log_makespan(tracker: Tracker, ended: Ended, trials: list[Any]) -> Makespan | None:
    """How close the sweep's wall time came to its trials' total time / slots (a sweep run in one go)."""
    span = makespan(
        [(r.info.start_time / 1000, r.info.end_time / 1000 if r.info.end_time else None) for r in trials], ended.slots
    )
    if span is not None:
        tracker.log_metrics(
            ended.parent_run_id,
            {"makespan_s": span.wall_s, "makespan_ideal_s": span.ideal_s, "makespan_ratio": span.ratio},
        )
    return span


def _closing_line(ended: Ended, counts: dict[str, int], interrupted: bool, pages: list[Path]) -> str:
    return (
        f"sweep {ended.sweep}: {counts['finished']} of {ended.trial_count} trials finished"
        + (f", {counts['stopped_early']} stopped early" if counts["stopped_early"] else "")
        + (f", {ended.errors} failed" if ended.errors else "")
        + (f"; continue with: {ended.resume}" if interrupted or ended.errors else "")
        + (f"; leaderboard: {', '.join(str(p) for p in pages)}" if pages else "; no leaderboard: no finished trial")
    )


def summary_table(trials: list[Any], sets: list[str], scale: int, data_root: Path) -> str:
    """One line per trial of the sweep: status and final Y-PSNR / SSIM per set; the bicubic row first where
    the trials were scored on whole sets (a smoke trial's subset is not comparable with it)."""
    width = max([22] + [len(r.info.run_name) + 2 for r in trials])
    lines = [f"  {'trial':<{width}}{'status':<22}" + "".join(f"{set_label(s) + ' PSNR / SSIM':>22}" for s in sets)]
    scored = [r for r in trials if final_metric(sets[0], "psnr_y") in r.data.metrics]
    if scored and all(r.data.tags.get(TAG_EVAL_IMAGES) == "all" for r in scored):
        bicubic = bicubic_scores([scale], data_root, sets)
        lines.append(
            f"  {'bicubic':<{width}}{'':<22}"
            + "".join(f"{bicubic[scale, s]['psnr']:>14.2f} / {bicubic[scale, s]['ssim']:.4f}" for s in sets)
        )
    for run in sorted(trials, key=lambda r: r.info.run_name):
        stopped = run.data.tags.get(TAG_STOPPED_EARLY)
        status = f"stopped early @{stopped}" if stopped else run.info.status
        lines.append(
            f"  {run.info.run_name:<{width}}{status:<22}" + "".join(_figures(run.data.metrics, s) for s in sets)
        )
    return "\n".join(lines)


def _figures(metrics: dict[str, float], set_name: str) -> str:
    psnr, ssim = metrics.get(final_metric(set_name, "psnr_y")), metrics.get(final_metric(set_name, "ssim_y"))
    return f"{psnr:>14.2f} / {ssim:.4f}" if psnr is not None and ssim is not None else f"{'-':>22}"
