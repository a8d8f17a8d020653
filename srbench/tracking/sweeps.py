"""The sweeps recorded in MLflow: each ``srbench sweep`` invocation is one parent run with its own
sweep id; its trials are child runs carrying that id. This module lists them (``srbench sweeps``)
and finds the one ``--resume`` continues.
"""

from __future__ import annotations

import datetime
import json
from dataclasses import dataclass
from typing import Any

from srbench.errors import UserError
from srbench.tracking.names import TAG_GIT_COMMIT, TAG_KIND, TAG_STOPPED_EARLY, TAG_STUDY, TAG_SWEEP
from srbench.tracking.store import Tracker


@dataclass(frozen=True)
class SweepRecord:
    sweep_id: str
    study: str
    budget: str
    parent_run_id: str
    status: str  # the parent run's: RUNNING (or killed without a word), FINISHED, FAILED, KILLED
    start_time: int  # ms since the epoch
    git_commit: str
    settings: dict[str, str]  # --set KEY=VALUE as typed (values as text)
    params: dict[str, str]

    @property
    def interrupted(self) -> bool:
        return self.status != "FINISHED"


def setting_text(value: Any) -> str:
    """A ``--set`` value as the command line takes it back (``parse_settings`` reads it as the same value)."""
    return value if isinstance(value, str) else json.dumps(value)


def _record(run: Any) -> SweepRecord:
    params, tags = run.data.params, run.data.tags
    return SweepRecord(
        sweep_id=tags[TAG_SWEEP],
        study=tags.get(TAG_STUDY, ""),
        budget=params.get("budget", ""),
        parent_run_id=run.info.run_id,
        status=run.info.status,
        start_time=run.info.start_time,
        git_commit=tags.get(TAG_GIT_COMMIT, tags.get("git_commit", "unknown")),
        settings={k.removeprefix("set."): v for k, v in sorted(params.items()) if k.startswith("set.")},
        params=params,
    )


def sweeps_of(tracker: Tracker, study: str) -> list[SweepRecord]:
    """The study's sweeps, newest first."""
    experiment = tracker.experiment_by_name(study)
    if experiment is None:
        return []
    runs = tracker.runs(
        [experiment.experiment_id], f"tags.`{TAG_KIND}` = 'sweep'", order_by=["attributes.start_time DESC"]
    )
    return [_record(r) for r in runs if TAG_SWEEP in r.data.tags]


def find_sweep(tracker: Tracker, study: str, sweep_id: str) -> SweepRecord:
    found = [s for s in sweeps_of(tracker, study) if s.sweep_id == sweep_id]
    if not found:
        known = ", ".join(s.sweep_id for s in sweeps_of(tracker, study)[:5]) or "none"
        raise UserError(
            f"no sweep '{sweep_id}' of study {study} in {tracker.uri}; latest sweeps: {known} "
            f"(see 'srbench sweeps {study}')"
        )
    return found[0]


def sweep_to_resume(tracker: Tracker, study: str, budget: str | None, sweep_id: str | None) -> SweepRecord:
    """``--resume SWEEP_ID``: that sweep; ``--resume``: the latest interrupted sweep of the study and budget."""
    if sweep_id is not None:
        record = find_sweep(tracker, study, sweep_id)
        if not record.interrupted:
            raise UserError(f"sweep {sweep_id} finished: nothing to resume; start a new sweep without --resume")
        if budget is not None and budget != record.budget:
            raise UserError(
                f"--budget {budget}: sweep {sweep_id} ran at budget {record.budget}; drop --budget "
                f"or give a sweep of budget {budget}"
            )
        return record
    budget = budget or "quick"
    for record in sweeps_of(tracker, study):
        if record.budget == budget and record.interrupted:
            return record
    raise UserError(
        f"nothing to resume: no interrupted sweep of {study} at budget {budget} in {tracker.uri} "
        f"(see 'srbench sweeps {study}')"
    )


def trial_counts(tracker: Tracker, experiment_id: str, sweep_id: str) -> dict[str, int]:
    """How the sweep's trials ended, from their MLflow runs: finished, failed, stopped early, unfinished."""
    return count_trials(tracker.trials(experiment_id, sweep_id))


def count_trials(runs: list[Any]) -> dict[str, int]:
    """How these trial runs ended: finished, failed, stopped early, unfinished."""
    counts = {"finished": 0, "failed": 0, "stopped_early": 0, "unfinished": 0}
    for run in runs:
        if TAG_STOPPED_EARLY in run.data.tags:
            counts["stopped_early"] += 1
        elif run.info.status == "FINISHED":
            counts["finished"] += 1
        elif run.info.status == "FAILED":
            counts["failed"] += 1
        else:
            counts["unfinished"] += 1
    return counts


def sweep_table(tracker: Tracker, studies: list[str]) -> str:
    """``srbench sweeps``: one line per sweep, newest first within each study."""
    lines = [
        f"{'sweep id':<48}{'started (UTC)':<18}{'budget':<8}{'commit':<10}{'status':<10}"
        f"{'finished':>9}{'failed':>7}{'stopped':>8}{'other':>6}  settings"
    ]
    for study in studies:
        experiment = tracker.experiment_by_name(study)
        for record in sweeps_of(tracker, study):
            counts = trial_counts(tracker, experiment.experiment_id, record.sweep_id)
            started = datetime.datetime.fromtimestamp(record.start_time / 1000, datetime.timezone.utc)
            settings = " ".join(f"--set {k}={v}" for k, v in record.settings.items())
            only = record.params.get("only")
            lines.append(
                f"{record.sweep_id:<48}{started:%Y-%m-%d %H:%M} {record.budget:<8}{record.git_commit[:8]:<10}"
                f"{record.status:<10}{counts['finished']:>9}{counts['failed']:>7}{counts['stopped_early']:>8}"
                f"{counts['unfinished']:>6}  "
                + (" ".join(p for p in (settings, f"--only {only!r}" if only else "") if p) or "-")
            )
    return "\n".join(lines)
