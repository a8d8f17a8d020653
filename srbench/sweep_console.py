"""Warnings from inside a trial on the sweep's own terminal.

The sweep runs Ray with ``log_to_driver=False`` (worker logs would bury its output), so a trial that has to
tell the user something (the tracking server is down and the trial is waiting for it) puts one line on a
small queue actor named after the sweep; the driver's Tune callback prints the queued lines at every step of
Tune's loop. Both ends find the queue by name, so a resumed sweep (whose Tune callbacks are restored from
storage) reaches the queue of its new Ray session."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

NAMESPACE = "srbench"


def console(sweep: str) -> Any:
    """The sweep's queue, created by the first caller (the driver): an actor that takes no CPU, so it never holds
    a trial's slot, and lives as long as the driver."""
    from ray.util.queue import Queue

    return Queue(actor_options={"name": f"console-{sweep}", "namespace": NAMESPACE, "get_if_exists": True,
                                "num_cpus": 0})


def writer(sweep: str, prefix: str) -> Callable[[str], None]:
    """A worker's sink for lines to the driver, each line prefixed (``trial 9-5-5_seed0: ...``)."""
    queue = console(sweep)
    return lambda line: queue.put_nowait(f"{prefix}{line}")


def printer(sweep: str) -> Any:
    """The Tune callback printing, on stderr, what the trials queued, as soon as Tune's loop next steps."""
    from ray.tune import Callback

    class PrintQueued(Callback):
        def on_step_end(self, iteration: int, trials: list[Any], **info: Any) -> None:
            self.drain()

        def on_experiment_end(self, trials: list[Any], **info: Any) -> None:
            self.drain()

        def drain(self) -> None:
            queue = console(sweep)
            waiting = queue.qsize()
            for line in queue.get_nowait_batch(waiting) if waiting else []:
                print(line, file=sys.stderr, flush=True)

    return PrintQueued()
