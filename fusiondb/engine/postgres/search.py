# pyright: reportArgumentType=false, reportCallIssue=false
# (psycopg types a query as a LiteralString; this module's SQL is built from names validated
# by ddl.py, with every value a bound parameter, which pyright cannot see. mypy checks the rest.)
"""Full-text search indexes on ``tsvector`` + GIN, fed with fusiondb's own tokens.

PostgreSQL's text parsers cut words differently from FTS5 (accents, ``user@example.com``), so
the documents' tokens are cut by the same tokenizer the SQLite engine and the live-search
matcher use (``engine/sqlite/fts.tokenize``: FTS5's ``unicode61 remove_diacritics 2``), and
handed to PostgreSQL as a ready ``tsvector`` (lexemes with their positions): a term matches
exactly when it matches on SQLite. Each search index is a table ``<table>$fts$<index>``:
``(rowid, tsv tsvector, filters text[])`` with GIN indexes on both; an ``eq`` filter is
``filters @> ARRAY[token]`` (the tokens of ``fts.filter_token``).

Ranking differs from SQLite: relevance is ``ts_rank`` (term frequency, no inverse document
frequency), not FTS5's bm25. The rank key is ``-ts_rank`` so that, as on SQLite, lower ranks
first and ``(rank, rowid)`` orders the results and pagination cursors.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from typing import Any

import orjson
import psycopg

from ...core.keys import SearchEntry, search_entry
from ...core.progress import Progress, ProgressCallback
from ...core.schema import SearchIndexDef
from ..base import SearchScan
from ..sqlite.fts import filter_token, tokenize
from . import ddl
from .filters import row_filter

BUILD_BATCH = 2_000
MAX_POSITION = 16_383  # tsvector positions stop there
MAX_POSITIONS = 256  # per lexeme


def fts_table(table: str, index: str) -> str:
    ddl.check_table_name(table)
    return ddl.short(f"{table}$fts${index}")


def _quoted(token: str) -> str:
    return "'" + token.replace("\\", "\\\\").replace("'", "''") + "'"


def tsvector_text(text: str) -> str:
    """The ``tsvector`` literal of ``text``'s tokens, with their positions."""
    positions: dict[str, list[int]] = defaultdict(list)
    for i, token in enumerate(tokenize(text), start=1):
        at = positions[token]
        if len(at) < MAX_POSITIONS:
            at.append(min(i, MAX_POSITION))
    return " ".join(f"{_quoted(t)}:{','.join(map(str, p))}" for t, p in positions.items())


def filter_array(values: tuple[Any, ...]) -> list[str]:
    return [filter_token(i, v) for i, v in enumerate(values)]


def create_sql(table: str, index: str) -> list[str]:
    name = ddl.quote(fts_table(table, index))
    return [
        f"CREATE TABLE IF NOT EXISTS {name} (rowid bigint PRIMARY KEY, tsv tsvector NOT NULL, "
        "filters text[] NOT NULL)",
        f"CREATE INDEX IF NOT EXISTS {ddl.quote(ddl.short(fts_table(table, index) + '$tsv'))} "
        f"ON {name} USING gin (tsv)",
        f"CREATE INDEX IF NOT EXISTS {ddl.quote(ddl.short(fts_table(table, index) + '$f'))} "
        f"ON {name} USING gin (filters)",
    ]


def _insert_sql(table: str, index: str) -> str:
    return (
        f"INSERT INTO {ddl.quote(fts_table(table, index))}(rowid, tsv, filters) VALUES (%s, %s::tsvector, %s)"
    )


def sync(
    cur: psycopg.Cursor[tuple[Any, ...]],
    table: str,
    rowid: int,
    names: tuple[str, ...],
    old: tuple[SearchEntry, ...] | None,
    new: tuple[SearchEntry, ...] | None,
) -> None:
    for i, name in enumerate(names):
        before = old[i] if old else None
        after = new[i] if new else None
        if before == after:
            continue
        if before is not None:
            cur.execute(f"DELETE FROM {ddl.quote(fts_table(table, name))} WHERE rowid = %s", (rowid,))
        if after is not None:
            cur.execute(
                _insert_sql(table, name),
                (rowid, tsvector_text(after[0]), filter_array(after[1])),
            )


def create(
    cur: psycopg.Cursor[tuple[Any, ...]],
    table: str,
    index: SearchIndexDef,
    progress: ProgressCallback | None,
) -> None:
    for sql in create_sql(table, index.name):
        cur.execute(sql)  # type: ignore[arg-type]
    src = ddl.table_sql(table)
    total = int(cur.execute(f"SELECT count(*) FROM {src}").fetchone()[0])  # type: ignore[index,call-overload]
    if not total:
        return
    report = Progress(f"building search index {table}.{index.name}", total, progress)
    last, done = 0, 0
    while True:
        rows = cur.execute(
            f"SELECT _id, doc FROM {src} WHERE _id > %s ORDER BY _id LIMIT %s", (last, BUILD_BATCH)
        ).fetchall()
        if not rows:
            break
        batch = []
        for rowid, raw in rows:
            text, values = search_entry(index, orjson.loads(raw))  # type: ignore[arg-type]
            batch.append((rowid, tsvector_text(text), filter_array(values)))
        cur.executemany(_insert_sql(table, index.name), batch)
        last = int(rows[-1][0])  # type: ignore[call-overload]
        done += len(rows)
        report.update(done)
    report.finish()


def drop(cur: psycopg.Cursor[tuple[Any, ...]], table: str, index: str) -> None:
    cur.execute(f"DROP TABLE IF EXISTS {ddl.quote(fts_table(table, index))}")


def matches(cur: psycopg.Cursor[tuple[Any, ...]], table: str, index: SearchIndexDef) -> bool:
    """Whether the search table holds exactly the entries of the table's documents."""
    ids: list[int] = []
    vectors: list[str] = []
    filters: list[str] = []
    for rowid, raw in cur.execute(f"SELECT _id, doc FROM {ddl.table_sql(table)}").fetchall():
        text, values = search_entry(index, orjson.loads(raw))  # type: ignore[arg-type]
        ids.append(int(rowid))  # type: ignore[call-overload]
        vectors.append(tsvector_text(text))
        filters.append(orjson.dumps(filter_array(values)).decode())
    row = cur.execute(
        f"SELECT count(*) FROM {ddl.quote(fts_table(table, index.name))} f "
        "FULL JOIN (SELECT * FROM unnest(%s::bigint[], %s::tsvector[], %s::text[]) "
        "AS e(rowid, tsv, filters)) e USING (rowid) "
        "WHERE f.tsv IS DISTINCT FROM e.tsv "
        "OR to_jsonb(f.filters)::text IS DISTINCT FROM (e.filters::jsonb)::text",
        (ids, vectors, filters),
    ).fetchone()
    return row is not None and int(row[0]) == 0  # type: ignore[call-overload]


def query_text(spec: SearchScan) -> str:
    """The ``tsquery`` literal: any term, the prefix as a prefix match."""
    parts = [_quoted(t) for t in spec.terms]
    if spec.prefix is not None:
        parts.append(_quoted(spec.prefix) + ":*")
    return " | ".join(parts)


def search_rows(cur: psycopg.Cursor[tuple[Any, ...]], spec: SearchScan) -> Iterator[Any]:
    """Rows ``(rowid, creation_time, doc, rank)`` in relevance order (``rank`` ascending)."""
    if not spec.terms and spec.prefix is None:
        return iter(())
    fts = ddl.quote(fts_table(spec.table, spec.index_name))
    params: list[Any] = [query_text(spec)]
    where = ["f.tsv @@ q.q"]
    if spec.filters:
        where.append("f.filters @> %s")
        params.append([filter_token(p, v) for p, v in spec.filters])
    outer: list[str] = []
    if spec.after is not None:
        outer.append("(m.rank, m.rowid) > (%s, %s)")
        params.extend(spec.after[-2:])
    if spec.until is not None:
        outer.append("(m.rank, m.rowid) <= (%s, %s)")
        params.extend(spec.until[-2:])
    sql = (
        "SELECT t._id, t.creation_time, t.doc, m.rank FROM "
        f"(SELECT f.rowid, (-ts_rank(f.tsv, q.q))::float8 AS rank FROM {fts} f, "
        f"(SELECT %s::tsquery AS q) q WHERE {' AND '.join(where)}) m "
        f"JOIN {ddl.table_sql(spec.table)} t ON t._id = m.rowid"
    )
    # The query text comes first in the SQL, then the filters: reorder the parameters.
    if outer:
        sql += " WHERE " + " AND ".join(outer)
    sql += " ORDER BY m.rank, m.rowid"
    if spec.limit is not None and not spec.conditions:
        sql += " LIMIT %s"
        params.append(spec.limit)
    rows = cur.execute(sql, params).fetchall()
    if not spec.conditions:
        return iter(rows)
    keep = row_filter(spec.conditions)
    kept = [r for r in rows if keep(r)]
    return iter(kept if spec.limit is None else kept[: spec.limit])
