"""The cross-process change feed: every write transaction appends its write set here.

The row is written in the same transaction as the documents, so a change is in the log if and
only if it committed. Other processes notice a commit through ``data_version`` and read the
rows after the last sequence number they saw. The log keeps the last ``KEEP`` commits; a
reader that finds a gap (it fell behind the trim) re-runs everything instead of missing one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import apsw
import orjson

from .writeset import DocWrite, WriteSet

KEEP = 2_000
TRIM_EVERY = 256

CREATE = (
    "CREATE TABLE IF NOT EXISTS _fdb_changelog ("
    "seq INTEGER PRIMARY KEY AUTOINCREMENT, origin TEXT NOT NULL, writes BLOB NOT NULL)"
)


def encode_writes(writes: WriteSet) -> bytes:
    # orjson writes tuples (the keys) as JSON arrays itself: no conversion per write.
    return orjson.dumps(
        [[w.table, w.rowid, w.old, w.new, w.old_text, w.new_text] for w in writes.writes]
    )


def _tuples(keys: dict[str, list[Any]] | None) -> dict[str, tuple[Any, ...]] | None:
    return None if keys is None else {name: tuple(k) for name, k in keys.items()}


def _texts(texts: dict[str, list[Any]] | None) -> dict[str, tuple[str, tuple[Any, ...]]] | None:
    return None if texts is None else {n: (t[0], tuple(t[1])) for n, t in texts.items()}


def decode_writes(blob: bytes) -> WriteSet:
    return WriteSet(
        [
            DocWrite(table, rowid, _tuples(old), _tuples(new), _texts(ot), _texts(nt))
            for table, rowid, old, new, ot, nt in orjson.loads(blob)
        ]
    )


def ensure(conn: apsw.Connection) -> None:
    conn.execute(CREATE)


def append(conn: apsw.Connection, origin: str, writes: WriteSet) -> int:
    """Append inside the caller's write transaction; returns the commit's sequence number."""
    conn.execute(
        "INSERT INTO _fdb_changelog(origin, writes) VALUES (?, ?)", (origin, encode_writes(writes))
    )
    seq: int = conn.last_insert_rowid()
    if seq % TRIM_EVERY == 0:
        conn.execute("DELETE FROM _fdb_changelog WHERE seq <= ?", (seq - KEEP,))
    return seq


def current(conn: apsw.Connection) -> int:
    """The sequence number of the last commit visible to this connection's snapshot."""
    row = conn.execute(
        "SELECT seq FROM sqlite_sequence WHERE name = '_fdb_changelog'"
    ).fetchone()
    return 0 if row is None else int(row[0])


@dataclass(frozen=True)
class Entry:
    seq: int
    origin: str
    writes: WriteSet


def read_since(
    conn: apsw.Connection, seq: int, skip_origin: str | None = None
) -> tuple[list[Entry], bool]:
    """Entries after ``seq``, and whether the log still reached back to ``seq`` (no gap).

    Entries from ``skip_origin`` (the reader's own commits, already handed over locally)
    come with an empty write set: neither read nor decoded, however large.
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
    return [Entry(s, o, WriteSet() if w is None else decode_writes(w)) for s, o, w in rows], complete
