"""Running a write transaction again when the engine aborted it for concurrency alone.

On PostgreSQL a ``SERIALIZABLE`` transaction can fail because of what other transactions did
at the same time (a serialization failure, a deadlock); nothing of it was written, and
running it again from the start is the fix. The engine says so with ``RetryTransaction``;
``retrying`` re-runs the whole attempt, the mutation function included, up to
``MAX_ATTEMPTS`` times with randomized exponential backoff, then gives up with
``TransactionConflict``. So a mutation function may run more than once: what it does besides
reading and writing the database (sending mail, appending to a list) happens once per
attempt. SQLite's single writer never fails this way.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import TypeVar

from ..core.errors import TransactionConflict
from ..engine.base import RetryTransaction

R = TypeVar("R")

MAX_ATTEMPTS = 30
BACKOFF_FIRST = 0.0005  # seconds: the first wait's upper bound, doubled per attempt
BACKOFF_MAX = 0.05


def retrying(attempt: Callable[[], R]) -> R:
    """``attempt()``, run again while it raises ``RetryTransaction`` (see the module docstring)."""
    last: RetryTransaction | None = None
    for n in range(MAX_ATTEMPTS):
        try:
            return attempt()
        except RetryTransaction as exc:
            last = exc
            time.sleep(random.uniform(0, min(BACKOFF_MAX, BACKOFF_FIRST * 2**n)))
    raise TransactionConflict(
        f"a write transaction conflicted with concurrent ones {MAX_ATTEMPTS} times in a row and "
        "was not written: retry later, or have fewer writers update the same documents at once",
        attempts=MAX_ATTEMPTS,
        orig=last,
    )
