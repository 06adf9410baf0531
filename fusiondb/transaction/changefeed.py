"""The change feed: every committed write set, this process's and others', in one order.

A commit enters the feed in two ways. This process's mutations hand their write set over
right after COMMIT, still holding the write lock, so they arrive in commit order
(``commit``). Other processes' commits are read from the engine's change log, which each
commit appends to in its own transaction (``take_others`` polls it). Either way a commit carries its
sequence number: the log's for a file, a counter kept here for an in-memory database (no
other process can see it, so nothing is logged). A consumer (the subscription manager) waits
for commits (``wait``) and takes them, this process's (``take_own``) apart from the others'
(``take_others``), each in commit order: this process's come first, without waiting for a
look at the log (a read transaction). When the log no longer reaches back to the last commit
it saw (trimmed while it was behind), holds an entry this version cannot read, or a commit
left no entry at all (another tool wrote to the file), ``take_others`` says the feed is
incomplete, and the consumer must assume anything changed. A gap in the log made
only of this process's own commits (trimmed while the consumer was busy) is no loss: those
commits were handed over directly.

Waiting (``wait``): this process's commits wake the consumer at once. Other processes' commits
are noticed through the engine's file notifications (``LogReader.follow``) with a slow poll as
a safety net, and, for ``HOT_SECONDS`` after a commit of theirs arrived, by polling every
``HOT_POLL`` seconds (a notification can be late by a few ms; a burst deserves better). An idle
process therefore sleeps; without notifications it polls every ``POLL``.
"""

from __future__ import annotations

import threading
import time
import uuid

from ..engine.base import Engine, LogReader, ReadTxn, WriteTxn
from . import writeset
from .writeset import WriteSet

_EMPTY = writeset.encode(WriteSet())

Commit = tuple[int, WriteSet]
"""A committed write set and its sequence number."""

POLL = 0.002  # seconds between looks at the log when no notifications are available
HOT_POLL = 0.001  # ... while other processes' commits are arriving
HOT_SECONDS = 0.5  # how long after the last of them
SAFETY_POLL = 0.5  # ... otherwise, with notifications (in case one is lost)


class ChangeFeed:
    """Commits in one order (see the module docstring)."""

    def __init__(self, engine: Engine) -> None:
        self.origin = uuid.uuid4().hex  # names this process's commits in the log
        self._engine = engine
        self._shared = engine.shared
        self._cond = threading.Condition(threading.Lock())
        self._pending: list[Commit] = []
        self._woken = False
        self._listening = False
        self._latest = 0  # sequence number of this process's last commit
        self._log_lock = threading.Lock()
        self._log: LogReader | None = None
        self._seen = 0  # last log entry read
        self._own: set[int] = set()  # this process's commits not yet read in the log
        self._notified = False  # whether the log reader notifies (else poll)
        self._hot_until = 0.0  # poll fast until then (another process is committing)

    def commit(self, txn: WriteTxn, writes: WriteSet | None) -> None:
        """Commit ``txn`` and hand its write set over. Call holding the write transaction,
        so that commits enter the feed in the order they committed."""
        if not writes:
            if self._shared and txn.wrote():
                # Rows but no documents changed (a migration's progress): logged all the
                # same, since watchers take a commit without an entry for another tool's.
                txn.commit(self.origin, _EMPTY)
            else:
                txn.commit()
            return
        if self._shared:
            seq = txn.commit(self.origin, writeset.encode(writes))
        else:
            txn.commit()
            seq = self._latest + 1
        with self._cond:
            # max: on PostgreSQL threads of this process commit at the same time, and may
            # reach here out of commit order (``take`` puts them back in order).
            self._latest = max(self._latest, seq)
            if self._listening and self._log is not None:
                self._own.add(seq)
            if self._listening:
                self._pending.append((seq, writes))
                self._cond.notify()

    def position(self, txn: ReadTxn) -> int:
        """The sequence number of the last commit ``txn``'s snapshot sees."""
        return txn.log_position() if self._shared else self._latest

    def listen(self, on: bool) -> int:
        """Keep this process's commits for ``take`` (while something consumes them); returns
        the sequence number of the last commit made so far, kept or not."""
        if on and self._listening:
            # Already on (callers switch it under a lock of their own): no round trip on the
            # condition. A commit not yet counted here is not yet handed over either.
            return self._latest
        with self._cond:
            self._listening = on
            if not on:
                self._pending.clear()
            return self._latest

    def watch(self) -> None:
        """Start following other processes' commits (from the log's current end), if any
        process can see this database. Call before the snapshot of the first consumer."""
        if not self._shared or self._log is not None:  # (checked again under the lock)
            return
        with self._log_lock:
            if self._log is None:
                log = self._engine.log_reader()
                self._seen = log.position()
                self._log = log
                self._notified = log.follow(self.wake)

    @property
    def watching(self) -> bool:
        return self._log is not None

    def wait(self, polling: bool) -> None:
        """Block until a commit of this process arrives, ``wake`` is called (a notification
        of the log reader does), or it is time to look at the log again (``polling``: other
        processes' commits are wanted)."""
        timeout: float | None = None
        if polling and self._log is not None:
            if time.monotonic() < self._hot_until:
                timeout = HOT_POLL
            else:
                timeout = SAFETY_POLL if self._notified else POLL
        with self._cond:
            if not self._pending and not self._woken:
                self._cond.wait(timeout)

    def wake(self) -> None:
        """End a ``wait`` now (a consumer has other work, or is closing)."""
        with self._cond:
            self._woken = True
            self._cond.notify_all()

    def take_own(self) -> list[Commit]:
        """This process's commits since the last call, in commit order."""
        with self._cond:
            commits, self._pending = self._pending, []
            self._woken = False
        if len(commits) > 1:
            commits.sort(key=lambda c: c[0])
        return commits

    def take_others(self) -> tuple[list[Commit], bool]:
        """Other processes' commits since the last call, in commit order, and whether the
        feed is complete (``False``: some commits could not be read; assume anything
        changed). A commit of theirs may come before one of this process's taken already:
        a consumer that re-ran a query since has a snapshot that holds it (its commit number
        tells), and the others re-run now."""
        if self._log is None:
            return [], True
        return self._poll()

    def _poll(self) -> tuple[list[Commit], bool]:
        """Other processes' commits since the last poll. (An incomplete read whose entries
        follow on from the last one seen is not a trimmed log: the reader lost track some
        other way, e.g. its notifications, and it stays incomplete.)"""
        with self._log_lock:
            log = self._log
            if log is None or self._engine.closed or not log.moved():
                return [], True
            entries, complete = log.read_since(self._seen, self.origin)
            with self._cond:
                own = self._own
                if (
                    not complete and entries and entries[0].seq > self._seen + 1
                    and own.issuperset(range(self._seen + 1, entries[0].seq))
                ):
                    complete = True  # the gap holds only commits handed over directly
                if entries:
                    self._seen = entries[-1].seq
                    self._own = {s for s in own if s > self._seen}
        commits: list[Commit] = []
        for entry in entries:
            if entry.origin == self.origin or entry.payload is None:
                continue  # this process's own commit, handed over at commit time
            self._hot_until = time.monotonic() + HOT_SECONDS
            writes = writeset.decode(entry.payload)
            if writes is None:
                # Written by a fusiondb whose log format this one cannot read, or damaged:
                # what it touched is unknown.
                complete = False
                continue
            commits.append((entry.seq, writes))
        return commits, complete

    def close(self) -> None:
        with self._log_lock:
            if self._log is not None:
                self._log.close()
                self._log = None
        self.wake()
