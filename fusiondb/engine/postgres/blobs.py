"""File bytes in PostgreSQL: rows of ``_storage_chunks(file, seq, data bytea)``, one per chunk.

A read fetches only the chunks that hold the requested range, each cut to the bytes needed
with ``substr`` on the server, and copies them into the caller's buffer.
"""

from __future__ import annotations

from typing import Any

import psycopg

CHUNK_TABLE = "_storage_chunks"

CREATE_CHUNKS = (
    f"CREATE TABLE IF NOT EXISTS {CHUNK_TABLE} ("
    "file bigint NOT NULL, seq bigint NOT NULL, data bytea NOT NULL, PRIMARY KEY (file, seq))"
)


def write_chunk(cur: psycopg.Cursor[tuple[Any, ...]], file: int, seq: int, data: memoryview) -> None:
    cur.execute(f"INSERT INTO {CHUNK_TABLE}(file, seq, data) VALUES (%s, %s, %s)", (file, seq, bytes(data)))


def delete_chunks(cur: psycopg.Cursor[tuple[Any, ...]], file: int) -> None:
    cur.execute(f"DELETE FROM {CHUNK_TABLE} WHERE file = %s", (file,))


def read(
    cur: psycopg.Cursor[tuple[Any, ...]],
    file: int,
    chunk_size: int,
    pos: int,
    n: int,
    into: memoryview | None,
) -> list[bytes] | None:
    """``n`` bytes from ``pos``: into ``into`` (returning ``[]``) or as pieces; ``None`` when
    a chunk is missing (the file was deleted)."""
    first = pos // chunk_size
    last = (pos + n - 1) // chunk_size
    end = pos + n
    # Each chunk's part in the range: from max(pos, chunk start) to min(end, chunk end).
    rows = cur.execute(
        f"SELECT seq, substr(data, greatest(%s - seq * %s, 0)::int + 1, "
        f"(least(%s, (seq + 1) * %s) - greatest(%s, seq * %s))::int) "
        f"FROM {CHUNK_TABLE} WHERE file = %s AND seq BETWEEN %s AND %s ORDER BY seq",
        (pos, chunk_size, end, chunk_size, pos, chunk_size, file, first, last),
    ).fetchall()
    if len(rows) != last - first + 1:
        return None
    parts: list[bytes] = []
    done = 0
    for _, piece in rows:
        data = bytes(piece)  # type: ignore[arg-type]
        if into is not None:
            into[done : done + len(data)] = data
        else:
            parts.append(data)
        done += len(data)
    return parts
