"""Progress of long schema work (index builds, ``db.migrate``): a callback, a bar, or a log line.

Callers pass ``progress=fn`` to ``fdb.open`` or ``db.migrate`` to receive
``fn(task, done, total)`` calls. Without one, a task over ``LARGE`` documents draws a one-line
bar on stderr when stderr is a terminal and logs to the ``fusiondb`` logger otherwise; small
tasks stay quiet (a debug line). A bar of our own, not a dependency: it is twenty lines.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable

ProgressCallback = Callable[[str, int, int], None]
"""``fn(task, done, total)``: ``task`` describes the work, ``done`` of ``total`` documents."""

LARGE = 50_000
REFRESH = 0.1  # seconds between redraws of the terminal bar
WIDTH = 30

log = logging.getLogger("fusiondb")


class Progress:
    """Reports one task's progress to a callback, a terminal bar or the log."""

    def __init__(self, task: str, total: int, callback: ProgressCallback | None = None) -> None:
        self.task = task
        self.total = total
        self._callback = callback
        self._started = time.monotonic()
        self._drawn = 0.0
        self._done = 0
        self._bar = callback is None and total >= LARGE and _stderr_is_tty()
        if callback is not None:
            callback(task, 0, total)
        elif not self._bar:
            log.log(logging.INFO if total >= LARGE else logging.DEBUG, "%s: %d documents", task, total)

    def update(self, done: int) -> None:
        self._done = done
        if self._callback is not None:
            self._callback(self.task, done, self.total)
        elif self._bar:
            now = time.monotonic()
            if now - self._drawn >= REFRESH:
                self._drawn = now
                self._draw(done)

    def finish(self) -> None:
        elapsed = time.monotonic() - self._started
        if self._callback is not None:
            if self._done != self.total:
                self._callback(self.task, self.total, self.total)
        elif self._bar:
            self._draw(self.total)
            sys.stderr.write(f" {elapsed:.1f}s\n")
            sys.stderr.flush()
        else:
            level = logging.INFO if self.total >= LARGE else logging.DEBUG
            log.log(level, "%s: done in %.2f s", self.task, elapsed)

    def _draw(self, done: int) -> None:
        frac = min(done / self.total, 1.0) if self.total else 1.0
        filled = int(frac * WIDTH)
        bar = "#" * filled + "-" * (WIDTH - filled)
        sys.stderr.write(f"\r{self.task} [{bar}] {frac:4.0%} {done:,}/{self.total:,}")
        sys.stderr.flush()


def _stderr_is_tty() -> bool:
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False
