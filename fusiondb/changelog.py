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

from .keys import KeyLayout
from .writeset import SearchTexts, WriteSet

KEEP = 2_000
TRIM_EVERY = 256

CREATE = (
    "CREATE TABLE IF NOT EXISTS _fdb_changelog ("
    "seq INTEGER PRIMARY KEY AUTOINCREMENT, origin TEXT NOT NULL, writes BLOB NOT NULL)"
)


def encode_writes(writes: WriteSet) -> bytes:
    """The write set as one JSON object: each written table's layout, and the writes.

    The writes are flat tuples of atomic values (writeset.py), which orjson writes as arrays
    in one C call, with no Python loop over the documents.
    """
    return orjson.dumps(
        {
            "layouts": {table: layout.wire for table, layout in writes.layouts.items()},
            "writes": writes.writes,
        }
    )


def _values(values: list[Any] | None) -> tuple[Any, ...] | None:
    return None if values is None else tuple(values)


def _texts(texts: list[Any] | None) -> SearchTexts | None:
    return None if texts is None else tuple([(t[0], tuple(t[1])) for t in texts])


def decode_writes(blob: bytes) -> WriteSet | None:
    """The write set ``encode_writes`` wrote; None for a format this version does not know."""
    data = orjson.loads(blob)
    if type(data) is not dict or "layouts" not in data or "writes" not in data:
        return None
    return WriteSet(
        [
            (table, rowid, ct, _values(old), _values(new), _texts(ot), _texts(nt))
            for table, rowid, ct, old, new, ot, nt in data["writes"]
        ],
        {table: KeyLayout.from_wire(wire) for table, wire in data["layouts"].items()},
    )


def ensure(conn: apsw.Connection) -> None:
    conn.execute(CREATE)


def append(
    conn: apsw.Connection, origin: str, writes: WriteSet, cursor: apsw.Cursor | None = None
) -> int:
    """Append inside the caller's write transaction; returns the commit's sequence number.

    ``cursor`` (of ``conn``) runs the statement when given, saving a new cursor per commit.
    """
    (conn if cursor is None else cursor).execute(
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
    entries = []
    for s, o, w in rows:
        writes = WriteSet() if w is None else decode_writes(w)
        if writes is None:
            # Written by a fusiondb whose log format this one cannot read: what it touched
            # is unknown, so report the feed as incomplete (everything re-runs).
            complete = False
            writes = WriteSet()
        entries.append(Entry(s, o, writes))
    return entries, complete
