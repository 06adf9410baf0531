"""The change log's storage: one row per commit, written in the commit's own transaction.

A change is in the log if and only if it committed. The payload is opaque here (the
transaction layer encodes write sets: ``transaction/writeset.py``). Other processes notice a
commit through ``PRAGMA data_version`` on a connection of their own (``Watcher``) and read the
rows after the last sequence number they saw. The log keeps the last ``KEEP`` commits; a
reader that finds a gap (it fell behind the trim) is told so, and re-runs everything instead
of missing a commit.
"""

from __future__ import annotations

import apsw

from ..base import LogEntry
from .connection import connect
from .errors import TRANSLATE

KEEP = 2_000
TRIM_EVERY = 256

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
    entries = [LogEntry(s, o, None if w is None else bytes(w)) for s, o, w in rows]  # type: ignore[arg-type]
    return entries, complete


class Watcher:
    """A connection of its own that notices other connections' commits and reads the log.

    ``PRAGMA data_version`` checks the shared WAL index, so it sees other connections'
    commits at once (the file-control ``data_version`` only moves when this connection reads).
    """

    def __init__(self, path: str) -> None:
        self._conn = connect(path)
        self._version = self._conn.pragma("data_version")

    def moved(self) -> bool:
        with TRANSLATE:
            current = self._conn.pragma("data_version")
        if current == self._version:
            return False
        self._version = current
        return True

    def position(self) -> int:
        with TRANSLATE:
            return position(self._conn.cursor())

    def read_since(self, seq: int, skip_origin: str) -> tuple[list[LogEntry], bool]:
        with TRANSLATE:
            return read_since(self._conn, seq, skip_origin)

    def close(self) -> None:
        self._conn.close()
