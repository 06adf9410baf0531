"""The change log's storage: one row per commit, written in the commit's own transaction.

A change is in the log if and only if it committed. The payload is opaque here (the
transaction layer encodes write sets: ``transaction/writeset.py``). Other processes notice a
commit through ``PRAGMA data_version`` on a connection of their own (``Watcher``) and read the
rows after the last sequence number they saw. The log keeps the last ``KEEP`` commits; a
reader that finds a gap (it fell behind the trim) is told so, and re-runs everything instead
of missing a commit. A commit that left no entry (made by another tool: fusiondb logs each
of its own) is reported the same way; but not a WAL restart, which moves ``data_version``
under a writer's open transaction before its commit lands (``Watcher.read_since``).

Noticing: ``Watcher.follow`` starts a thread that waits on file-change notifications of the
WAL (``watchfiles``: inotify, FSEvents, ReadDirectoryChangesW), so a process with live queries
that nobody writes to sleeps instead of polling. Notifications can be late by up to
``NOTIFY_STEP_MS`` (watchfiles checks its event queue at that step), so the consumer still
polls ``moved()`` quickly while commits are arriving, and slowly as a safety net.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable

import apsw

from ..base import LogEntry
from .connection import BUSY_TIMEOUT_MS, connect
from .errors import TRANSLATE

KEEP = 2_000
TRIM_EVERY = 256
# How often the notifier thread looks at watchfiles' event queue (its sleep granularity):
# the latency of a first commit after quiet, against idle CPU (~0.1 % of a core at 20 ms).
NOTIFY_STEP_MS = 20

log = logging.getLogger("fusiondb.changelog")

CREATE = (
    "CREATE TABLE IF NOT EXISTS _fdb_changelog ("
    "seq INTEGER PRIMARY KEY AUTOINCREMENT, origin TEXT NOT NULL, writes BLOB NOT NULL)"
)
_APPEND = "INSERT INTO _fdb_changelog(origin, writes) VALUES (?, ?)"
_POSITION = "SELECT seq FROM sqlite_sequence WHERE name = '_fdb_changelog'"


def append(conn: apsw.Connection, cur: apsw.Cursor, origin: str, payload: bytes) -> int:
    """Append inside the caller's write transaction; returns the commit's sequence number."""
    cur.execute(_APPEND, (origin, payload))
    seq: int = conn.last_insert_rowid()
    if seq % TRIM_EVERY == 0:
        cur.execute("DELETE FROM _fdb_changelog WHERE seq <= ?", (seq - KEEP,))
    return seq


def position(cur: apsw.Cursor) -> int:
    """The sequence number of the last commit visible to this cursor's snapshot."""
    row = cur.execute(_POSITION).get
    return 0 if row is None else int(row)  # type: ignore[arg-type]


def read_since(
    conn: apsw.Connection, seq: int, skip_origin: str
) -> tuple[list[LogEntry], bool]:
    """Entries after ``seq``, and whether the log still reached back to ``seq`` (no gap).

    Entries from ``skip_origin`` (the reader's own commits, already handed over locally)
    come without their payload: neither read nor decoded, however large.
    """
    rows = list(
        conn.execute(
            "SELECT seq, origin, CASE WHEN origin IS ? THEN NULL ELSE writes END "
            "FROM _fdb_changelog WHERE seq > ? ORDER BY seq",
            (skip_origin, seq),
        )
    )
    complete = True
    if rows and rows[0][0] != seq + 1:
        oldest = conn.execute("SELECT min(seq) FROM _fdb_changelog").fetchone()[0]  # type: ignore[index]
        complete = oldest is not None and oldest <= seq + 1
    entries = [LogEntry(s, str(o), _payload(w)) for s, o, w in rows]  # type: ignore[arg-type]
    return entries, complete


def _payload(value: object) -> bytes | None:
    """A row's payload as bytes, whatever type another tool (or damage) left in the column:
    decoding it is the transaction layer's job, and an undecodable one must reach it."""
    if value is None or isinstance(value, bytes):
        return value
    if isinstance(value, memoryview | bytearray):
        return bytes(value)
    return str(value).encode()


class Watcher:
    """A connection of its own that notices other connections' commits and reads the log.

    ``PRAGMA data_version`` checks the shared WAL index, so it sees other connections'
    commits at once (the file-control ``data_version`` only moves when this connection reads).
    The log is read in a read transaction together with the data version of that snapshot,
    so the watcher knows exactly which commits a read covered: when the version moved but
    the log gained no entry, a commit was made without one (another tool wrote to the file).
    """

    def __init__(self, path: str) -> None:
        self._path = path
        self._conn = connect(path)
        self._version: int | None = None  # data_version of the snapshot last read
        self._stop = threading.Event()
        self._notifier: threading.Thread | None = None

    def follow(self, on_change: Callable[[], None]) -> bool:
        """Call ``on_change`` (from a thread of its own) whenever the file may have changed;
        ``False`` if notifications are not available here (then poll ``moved()``)."""
        try:
            import watchfiles
        except ImportError:  # pragma: no cover - a dependency, but degrade to polling
            return False
        wal = self._path + "-wal"
        if self._notifier is not None or not os.path.exists(wal):
            return self._notifier is not None
        self._notifier = threading.Thread(
            target=_notify, args=(watchfiles, wal, on_change, self._stop),
            name="fusiondb-log-notifier", daemon=True,
        )
        self._notifier.start()
        return True

    def moved(self) -> bool:
        with TRANSLATE:
            return bool(self._conn.pragma("data_version") != self._version)

    def position(self) -> int:
        with TRANSLATE, self._conn:  # one read transaction: the position and its version
            seq = position(self._conn.cursor())
            self._version = self._conn.pragma("data_version")
            return seq
        raise AssertionError("unreachable: the block returns or raises")

    def read_since(self, seq: int, skip_origin: str) -> tuple[list[LogEntry], bool]:
        entries, complete, version = self._read(seq, skip_origin)
        if version != self._version and not entries:
            # The version also moves when a writer restarts the WAL (a checkpoint emptied
            # it), as it writes its first page: before its commit, and its log entry, land.
            # A restart happens only under the write lock, so while a writer holds it, look
            # again once it is done (the version stays unseen, so ``moved()`` stays true);
            # with the lock free, that writer's entry is visible to a new read if it made one.
            with TRANSLATE:
                if self._writer_busy():
                    return [], True
                entries, complete, version = self._read(seq, skip_origin)
            if not entries:
                complete = False  # something committed without a log entry: not fusiondb
        self._version = version
        return entries, complete

    def _read(self, seq: int, skip_origin: str) -> tuple[list[LogEntry], bool, int]:
        """The entries after ``seq`` and the data version, in one read transaction."""
        with TRANSLATE, self._conn:
            entries, complete = read_since(self._conn, seq, skip_origin)
            return entries, complete, self._conn.pragma("data_version")
        raise AssertionError("unreachable: the block returns or raises")

    def _writer_busy(self) -> bool:
        """Whether another connection holds the write lock now (asked without waiting)."""
        conn = self._conn
        conn.set_busy_timeout(0)
        try:
            conn.execute("BEGIN IMMEDIATE")
        except apsw.BusyError:
            return True
        finally:
            conn.set_busy_timeout(BUSY_TIMEOUT_MS)
        conn.execute("ROLLBACK")
        return False

    def close(self) -> None:
        self._stop.set()
        if self._notifier is not None and self._notifier is not threading.current_thread():
            # watchfiles looks at the stop event every few milliseconds: wait for it, so no
            # thread outlives db.close().
            self._notifier.join(timeout=5)
        self._conn.close()


def _notify(watchfiles: object, wal: str, on_change: Callable[[], None], stop: threading.Event) -> None:
    """The notifier thread: ``on_change()`` on every change of the WAL until ``stop``.

    The callback is called from the watch filter, which sees each raw change: nothing is
    yielded, so watchfiles neither builds change sets nor logs each change at INFO.
    """

    def seen(_change: object, _path: str) -> bool:
        on_change()
        return False

    try:
        for _ in watchfiles.watch(  # type: ignore[attr-defined]
            wal, watch_filter=seen, debounce=NOTIFY_STEP_MS, step=NOTIFY_STEP_MS,
            stop_event=stop, rust_timeout=1_000, raise_interrupt=False, recursive=False,
        ):
            pass
    except Exception:  # the consumer's safety poll still notices every commit
        log.warning("fusiondb: file notifications stopped; polling instead", exc_info=True)
