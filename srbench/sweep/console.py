"""srbench's own sweep console: one line per trial event, with srbench's trial names.

Ray's boxed status table is off unless ``--verbose``; instead the driver's Tune callback prints when a trial
starts, each validation (iteration / total, the first validation set's PSNR, an ETA), and when it finishes
or fails. The sweep runs Ray with ``log_to_driver=False`` (worker logs would bury this), so a trial that has
to tell the user something (the tracking server is down and the trial is waiting for it) puts one line on a
small queue actor named after the sweep, which the callback prints at every step of Tune's loop. Both ends
find the queue by name, so a resumed sweep (whose Tune callbacks are restored from storage) reaches the queue
of its new Ray session."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Any

from ray.tune import Callback
from ray.util.queue import Queue

from srbench.tracking.names import val_report_key

NAMESPACE = "srbench"
DRAIN_EVERY_S = 5.0  # how often the driver looks for the trials' lines: they are warnings, not a live feed


def console(sweep: str) -> Any:
    """The sweep's queue, created by the first caller (the driver, which holds it for the sweep: Ray removes an
    actor nobody holds, named or not): an actor that takes no CPU, so it never holds a trial's slot."""
    return Queue(
        actor_options={"name": f"console-{sweep}", "namespace": NAMESPACE, "get_if_exists": True, "num_cpus": 0}
    )


def writer(sweep: str, prefix: str) -> Callable[[str], None]:
    """A worker's sink for lines to the driver, each line prefixed (``trial 9-5-5_seed0: ...``)."""
    queue = console(sweep)
    return lambda line: queue.put_nowait(f"{prefix}{line}")


def duration(seconds: float) -> str:
    """``3h05m``, ``12m40s``, ``45s``."""
    seconds = int(round(seconds))
    if seconds >= 3600:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    return f"{seconds // 60}m{seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"


def sweep_console(sweep: str, val_set: str, trial_count: int) -> Any:
    """The Tune callback of a sweep: ``val_set`` is the validation set whose PSNR the progress lines show,
    ``trial_count`` the sweep's number of trials; each trial's length comes with its reports."""
    metric = val_report_key(val_set)

    class SweepConsole(Callback):
        def __init__(self) -> None:
            # trial -> (time, iteration) of its first report seen here: the ETA is the pace since then (a trial
            # resumed from a checkpoint reports from there on, so its pace is never overstated)
            self.first_report: dict[str, tuple[float, int]] = {}
            self.printed: dict[str, int] = {}  # trial -> the last iteration it printed
            self.queue: Any = None  # looked up at the first step: Tune pickles callbacks before the sweep starts
            self.drained_at = 0.0

        def __getstate__(self) -> dict[str, Any]:
            return {**self.__dict__, "queue": None}

        @staticmethod
        def say(trial: Any, text: str) -> None:
            print(f"[{time.strftime('%H:%M:%S')}] {str(trial):<24} {text}", flush=True)

        def on_trial_start(self, iteration: int, trials: list[Any], trial: Any, **info: Any) -> None:
            # (Tune may still call the starting trial PENDING here.) Tune creates trials only as places free up,
            # so the waiting ones are counted from the sweep's size, not from Tune's list.
            others = [t for t in trials if t is not trial]
            running = 1 + sum(t.status == "RUNNING" for t in others)
            waiting = trial_count - 1 - sum(t.status != "PENDING" for t in others)
            self.say(trial, f"started ({running} running, {waiting} waiting)")

        def on_trial_result(
            self, iteration: int, trials: list[Any], trial: Any, result: dict[str, Any], **info: Any
        ) -> None:
            name = str(trial)
            if "iteration" not in result:  # a trial that had finished before the sweep was resumed
                self.say(trial, "finished before the resume (its figures are in MLflow)")
                return
            done, total = int(result["iteration"]), int(result["total_iterations"])
            if done <= self.printed.get(name, -1):  # the final report repeats the last validation
                return
            self.printed[name] = done
            since, first = self.first_report.setdefault(name, (time.monotonic(), done))
            rate = (done - first) / max(time.monotonic() - since, 1e-9)
            eta = f", ETA {duration((total - done) / rate)}" if rate > 0 and done < total else ""
            figure = f", {val_set} {result[metric]:.2f} dB" if metric in result else ""
            self.say(trial, f"iteration {done}/{total}{figure}{eta}")

        def on_trial_complete(self, iteration: int, trials: list[Any], trial: Any, **info: Any) -> None:
            self.say(trial, "finished")

        def on_trial_error(self, iteration: int, trials: list[Any], trial: Any, **info: Any) -> None:
            self.say(trial, f"failed; Ray's error: {trial.error_file or 'see the trial folder'}")

        def on_step_end(self, iteration: int, trials: list[Any], **info: Any) -> None:
            if time.monotonic() - self.drained_at >= DRAIN_EVERY_S:  # each look is a call to the queue's actor
                self.drain()

        def on_experiment_end(self, trials: list[Any], **info: Any) -> None:
            self.drain()

        def drain(self) -> None:
            self.drained_at = time.monotonic()
            if self.queue is None:
                self.queue = console(sweep)
            waiting = self.queue.qsize()
            for line in self.queue.get_nowait_batch(waiting) if waiting else []:
                print(line, file=sys.stderr, flush=True)

    return SweepConsole()
