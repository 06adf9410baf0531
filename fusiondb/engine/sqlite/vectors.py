"""Vector indexes on sqlite-vec: tables, upkeep on every write, nearest-neighbour searches.

Each vector index is one ``vec0`` virtual table named ``<table>$vec$<index>``, rowid = the
document's rowid, with the vector as ``embedding float[<dimensions>] distance_metric=cosine``
and one ``text`` metadata column per filter field, ``f0``, ``f1``..., holding the same opaque
token a search index's filter holds (``fts.filter_token``: the value's kind and value, so
``1`` and ``1.0`` are one token and ``True`` another). vec0 applies metadata constraints
inside its KNN scan (a pre-filter: ``k`` nearest among the matching rows), for ``=`` and
``IN``; it does not for ``OR`` across columns (SQLite then filters vec0's ``k`` rows after
the fact, which would return too few). So a filter is run as one KNN per filter field named
(``fN IN (...)``, values of one field being one ``IN``), and the results merged: the ``k``
nearest of a union are among the ``k`` nearest of each part, so the merge is exact.

Vectors are stored as float32 (sqlite-vec's ``float[]``), and scores are cosine similarity
``1 - distance`` computed on them. sqlite-vec is an optional package (the ``vector`` extra);
it is loaded into a connection the first time the connection touches a vector index, so that
databases without one pay nothing (loading costs ~0.3 ms per connection).
"""

from __future__ import annotations

import weakref
from array import array
from collections.abc import Sequence
from typing import Any

import apsw
import orjson

from ...core.errors import NotSupported
from ...core.progress import Progress, ProgressCallback
from ...core.vectordef import VectorIndexDef
from ...core.vectors import VectorEntry, vector_entry, vector_problem
from ..base import VectorScan
from . import ddl
from .fts import filter_token

BUILD_BATCH = 2_000
# Refused documents a failed build reports (with their count).
REPORTED_FAILURES = 10

_loaded: weakref.WeakSet[apsw.Connection] = weakref.WeakSet()


def ensure_loaded(conn: apsw.Connection) -> None:
    """Load sqlite-vec into ``conn`` (once); ``NotSupported`` naming the extra without it."""
    if conn in _loaded:
        return
    try:
        import sqlite_vec  # the `vector` extra
    except ImportError:
        raise NotSupported(
            "vector indexes need the sqlite-vec package: pip install 'fusiondb[vector]'",
            feature="vector search",
            extra="vector",
        ) from None
    conn.enable_load_extension(True)
    try:
        conn.load_extension(sqlite_vec.loadable_path())
    finally:
        conn.enable_load_extension(False)
    _loaded.add(conn)


def vec_table(table: str, index: str) -> str:
    """SQL name of a vector index's vec0 table (``$`` keeps it apart from every other name)."""
    ddl.check_table_name(table)
    return f"{table}$vec${index}"


def create_sql(table: str, index: VectorIndexDef) -> str:
    columns = [f"embedding float[{int(index.dimensions)}] distance_metric=cosine"]
    columns += [f"f{i} text" for i in range(len(index.filter_fields))]
    return (
        f"CREATE VIRTUAL TABLE IF NOT EXISTS {ddl.quote(vec_table(table, index.name))} "
        f"USING vec0({', '.join(columns)})"
    )


def blob(vector: Sequence[float]) -> bytes:
    """A vector as sqlite-vec's float32 blob."""
    return array("f", vector).tobytes()


def _row(rowid: int, entry: VectorEntry) -> tuple[Any, ...]:
    vector, values = entry
    return (rowid, blob(vector), *[filter_token(i, v) for i, v in enumerate(values)])


def _insert_sql(table: str, index: VectorIndexDef | str, filters: int) -> str:
    name = index if isinstance(index, str) else index.name
    columns = ["rowid", "embedding", *[f"f{i}" for i in range(filters)]]
    return (
        f"INSERT INTO {ddl.quote(vec_table(table, name))}({', '.join(columns)}) "
        f"VALUES ({', '.join('?' * len(columns))})"
    )


def sync(
    cur: apsw.Cursor,
    table: str,
    rowid: int,
    names: tuple[str, ...],
    old: tuple[VectorEntry | None, ...] | None,
    new: tuple[VectorEntry | None, ...] | None,
) -> None:
    """Bring the vector indexes ``names`` of one written document up to date (same
    transaction); an index whose entry did not change is left alone."""
    ensure_loaded(cur.connection)
    for i, name in enumerate(names):
        before = old[i] if old else None
        after = new[i] if new else None
        if before == after:
            continue
        if before is not None:
            cur.execute(f"DELETE FROM {ddl.quote(vec_table(table, name))} WHERE rowid = ?", (rowid,))
        if after is not None:
            cur.execute(_insert_sql(table, name, len(after[1])), _row(rowid, after))


def create_vector_index(
    conn: apsw.Connection,
    table: str,
    index: VectorIndexDef,
    progress: ProgressCallback | None = None,
) -> tuple[int, list[tuple[int, str]]]:
    """Create the vec0 table of ``index`` and fill it from the table's documents, in batches
    with progress. Returns how many documents cannot be indexed (a vector of the wrong length
    or all zeros; left out) and ``(rowid, reason)`` for the first few: schema evolution then
    refuses the change (the transaction rolls back)."""
    ensure_loaded(conn)
    conn.execute(create_sql(table, index))
    src = ddl.quote(table)
    total = conn.execute(f"SELECT count(*) FROM {src}").fetchone()[0]  # type: ignore[index]
    if not total:
        return 0, []
    insert = _insert_sql(table, index, len(index.filter_fields))
    report = Progress(f"building vector index {table}.{index.name}", total, progress)
    last, done, refused = 0, 0, 0
    failures: list[tuple[int, str]] = []
    while True:
        rows = conn.execute(
            f"SELECT _id, doc FROM {src} WHERE _id > ? ORDER BY _id LIMIT ?", (last, BUILD_BATCH)
        ).fetchall()
        if not rows:
            break
        batch = []
        for rowid, raw in rows:
            entry = vector_entry(index, orjson.loads(raw))  # type: ignore[arg-type]
            if entry is None:
                continue
            problem = vector_problem(list(entry[0]), index.dimensions)
            if problem is not None:
                refused += 1
                if len(failures) < REPORTED_FAILURES:
                    failures.append((int(rowid), problem))  # type: ignore[arg-type]
                continue
            batch.append(_row(int(rowid), entry))  # type: ignore[arg-type]
        conn.executemany(insert, batch)
        last = int(rows[-1][0])  # type: ignore[arg-type]
        done += len(rows)
        report.update(done)
    report.finish()
    return refused, failures


def drop_vector_index(conn: apsw.Connection, table: str, index: str) -> None:
    """Drop the vec0 table of vector index ``index`` (its shadow tables go with it)."""
    name = vec_table(table, index)
    exists = conn.execute("SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = ?", (name,)).fetchone()
    if exists:
        ensure_loaded(conn)  # dropping a virtual table needs its module
        conn.execute(f"DROP TABLE {ddl.quote(name)}")


def matches(conn: apsw.Connection, table: str, index: VectorIndexDef) -> bool:
    """Whether the vector index holds exactly the entries of the table's documents: both
    sides summed into one fingerprint of (rowid, float32 vector, filter tokens), so memory
    stays constant; a mismatch goes unseen with odds of about 2**-64."""
    ensure_loaded(conn)
    filters = [f"f{i}" for i in range(len(index.filter_fields))]
    found = 0
    for row in conn.execute(
        f"SELECT {', '.join(['rowid', 'embedding', *filters])} FROM {ddl.quote(vec_table(table, index.name))}"
    ):
        found += hash(tuple(row))
    expected = 0
    for rowid, raw in conn.execute(f"SELECT _id, doc FROM {ddl.quote(table)}"):
        entry = vector_entry(index, orjson.loads(raw))  # type: ignore[arg-type]
        if entry is not None and vector_problem(list(entry[0]), index.dimensions) is None:
            expected += hash(_row(int(rowid), entry))  # type: ignore[arg-type]
    return found == expected


def search(cur: apsw.Cursor, spec: VectorScan) -> list[tuple[int, float]]:
    """``(rowid, cosine similarity)`` of the ``spec.limit`` nearest documents whose filter
    fields hold one of ``spec.filters``' values (all documents without filters), closest
    first, ties by rowid."""
    ensure_loaded(cur.connection)
    vec = ddl.quote(vec_table(spec.table, spec.index_name))
    sql = f"SELECT rowid, distance FROM {vec} WHERE embedding MATCH ? AND k = ?"
    query = blob(spec.vector)
    parts: list[tuple[str, list[Any]]] = []
    if not spec.filters:
        parts.append((sql, [query, spec.limit]))
    for position, values in spec.filters:
        tokens = list(dict.fromkeys(filter_token(position, v) for v in values))
        marks = ", ".join("?" * len(tokens))
        parts.append((f"{sql} AND f{int(position)} IN ({marks})", [query, spec.limit, *tokens]))
    found: dict[int, float] = {}
    for part_sql, params in parts:
        for rowid, distance in cur.execute(part_sql, params):
            if distance is not None:  # an all-zero vector another tool stored: no direction
                found[rowid] = distance  # type: ignore[index,assignment]
    nearest = sorted(found.items(), key=lambda item: (item[1], item[0]))[: spec.limit]
    return [(rowid, 1.0 - distance) for rowid, distance in nearest]
