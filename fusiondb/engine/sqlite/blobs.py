"""File bytes in a SQLite file: rows of ``_storage_chunks(file, seq, data)``, one per chunk.

Each chunk row is inserted as a ``zeroblob`` and filled with apsw's incremental blob I/O, and
read back the same way straight into the caller's buffer, so neither side copies a chunk
more than once.
"""

from __future__ import annotations

import apsw

CHUNK_TABLE = "_storage_chunks"

CREATE_CHUNKS = (
    f"CREATE TABLE IF NOT EXISTS {CHUNK_TABLE} ("
    "id INTEGER PRIMARY KEY, file INTEGER NOT NULL, seq INTEGER NOT NULL, data BLOB NOT NULL)"
)
CREATE_CHUNKS_INDEX = (
    f"CREATE UNIQUE INDEX IF NOT EXISTS {CHUNK_TABLE}_by_file ON {CHUNK_TABLE}(file, seq)"
)
_INSERT_CHUNK = f"INSERT INTO {CHUNK_TABLE}(file, seq, data) VALUES (?, ?, zeroblob(?))"
_CHUNK_ROWS = (
    f"SELECT seq, id FROM {CHUNK_TABLE} WHERE file = ? AND seq BETWEEN ? AND ? ORDER BY seq"
)


def write_chunk(conn: apsw.Connection, cur: apsw.Cursor, file: int, seq: int, data: memoryview) -> None:
    cur.execute(_INSERT_CHUNK, (file, seq, len(data)))
    with conn.blob_open("main", CHUNK_TABLE, "data", conn.last_insert_rowid(), True) as blob:
        blob.write(data)


def delete_chunks(cur: apsw.Cursor, file: int) -> None:
    cur.execute(f"DELETE FROM {CHUNK_TABLE} WHERE file = ?", (file,))


def read(
    conn: apsw.Connection, file: int, chunk_size: int, pos: int, n: int, into: memoryview | None
) -> list[bytes] | None:
    """``n`` bytes from ``pos``: into ``into`` (returning ``[]``) or as pieces; ``None`` when
    a chunk is missing (the file was deleted)."""
    first = pos // chunk_size
    last = (pos + n - 1) // chunk_size
    rows = [(int(r[0]), int(r[1])) for r in conn.execute(_CHUNK_ROWS, (file, first, last))]  # type: ignore[arg-type]
    if len(rows) != last - first + 1:
        return None
    parts: list[bytes] = []
    end, done = pos + n, 0
    with conn.blob_open("main", CHUNK_TABLE, "data", rows[0][1], False) as blob:
        for i, (seq, chunk_rowid) in enumerate(rows):
            if i:
                blob.reopen(chunk_rowid)
            start = pos - seq * chunk_size
            take = min(chunk_size - start, end - pos)
            blob.seek(start)
            if into is not None:
                blob.read_into(into, done, take)
            else:
                parts.append(blob.read(take))
            pos += take
            done += take
    return parts
