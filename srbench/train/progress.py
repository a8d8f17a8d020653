"""A one-line progress display on stderr: iterations, loss, it/s, ETA, last validation PSNR."""

from __future__ import annotations

import sys
import time


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    h, m, s = seconds // 3600, seconds // 60 % 60, seconds % 60
    return f"{h}h{m:02d}m" if h else f"{m}m{s:02d}s"


class Progress:
    """Redraws in place on a terminal; elsewhere (logs, CI) prints a line every ``every`` iterations."""

    def __init__(self, total: int, start: int, every: int, enabled: bool = True) -> None:
        self.total, self.start, self.every, self.enabled = total, start, every, enabled
        self.tty = sys.stderr.isatty()
        self.began = time.perf_counter()
        self.validation = ""
        self.loss: float | None = None

    def set_validation(self, text: str) -> None:
        self.validation = text

    def update(self, iteration: int, loss: float | None = None) -> None:
        """``loss`` when it was read (every ``log_every``); in between the last one read is shown."""
        self.loss = loss if loss is not None else self.loss
        if not self.enabled or (not self.tty and iteration % self.every and iteration != self.total):
            return
        done = iteration - self.start
        rate = done / max(time.perf_counter() - self.began, 1e-9)
        eta = (self.total - iteration) / rate if rate > 0 else 0.0
        line = (
            f"[{iteration:>{len(str(self.total))}}/{self.total}] {100 * iteration / self.total:5.1f}% "
            + (f"loss {self.loss:.5f}  " if self.loss is not None else "")
            + f"{rate:.1f} it/s  ETA {_duration(eta)}"
            + (f"  val {self.validation}" if self.validation else "")
        )
        print(("\r" + line) if self.tty else line, end="" if self.tty else "\n", file=sys.stderr, flush=True)

    def close(self) -> None:
        if self.enabled and self.tty:
            print(file=sys.stderr)
