"""Full-text search indexes on SQLite FTS5: tables, upkeep on every write, and search queries.

Each search index is one contentless FTS5 table (``contentless_delete=1``) named
``<table>$fts$<index>``, rowid = the document's rowid, with two columns:

- ``text``: the search field, tokenized by ``unicode61 remove_diacritics 2`` (the tokenizer
  ``search_match.tokenize`` calls too, so the matcher and the index agree on every token);
- ``filters``: one opaque token per filter field, ``f<position><kind><value>`` (the value hex
  encoded, or hashed when long). An ``eq`` filter becomes ``AND filters : "<token>"`` in the
  MATCH expression, so FTS5 intersects it with the terms inside its own index: filtering
  happens in SQLite, before ranking, and a selective filter makes a query cheaper, not dearer.

Ranking is ``bm25`` with weight 0 on ``filters``, configured once as the table's ``rank``.
The table stores no copy of the text; results are joined to the document table by rowid.

Upkeep is explicit: the writer calls ``sync`` with the entries it already computed for the
write set. Measured against AFTER INSERT/UPDATE/DELETE triggers that extract the same values
with ``doc ->> '$.field'`` in SQL (``benchmarks/bench_search.py`` prints both), explicit upkeep
costs about a third as much per write (triggers re-parse the JSON for every expression and
load the old row on delete), and it skips patches that leave the text and filters unchanged.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import apsw
import orjson

from . import ddl
from .documents import Row, python_filtered
from .errors import InvalidQuery
from .keys import Key
from .progress import Progress, ProgressCallback
from .readset import SearchRead
from .schema import SearchIndexDef
from .search_match import TOKENIZER, tokenize
from .writeset import SearchTexts, search_entry

if TYPE_CHECKING:
    from .query import Query

BUILD_BATCH = 2_000
# Longer filter values are hashed so a token stays short (FTS5 keeps every distinct token).
MAX_PLAIN_TOKEN_BYTES = 24


def fts_table(table: str, index: str) -> str:
    """SQL name of a search index's FTS5 table (``$`` keeps it apart from every other name)."""
    ddl.check_table_name(table)
    return f"{table}$fts${index}"


def create_fts_sql(table: str, index: str) -> str:
    tokenizer = " ".join([TOKENIZER[0], *TOKENIZER[1]])
    return (
        f"CREATE VIRTUAL TABLE IF NOT EXISTS {ddl.quote(fts_table(table, index))} USING fts5("
        f"text, filters, content='', contentless_delete=1, tokenize='{tokenizer}')"
    )


def filter_token(position: int, value: Any) -> str:
    """The token an equality filter on the ``position``-th filter field matches.

    ``value`` is what ``doc ->> '$.field'`` gives (keys.extract): None, int, float or str.
    Booleans count as 0/1 and integral floats as ints, as SQLite compares them in indexes.
    """
    if value is None:
        kind, text = "n", ""
    elif isinstance(value, bool):
        kind, text = "i", str(int(value))
    elif isinstance(value, int):
        kind, text = "i", str(value)
    elif isinstance(value, float):
        if value.is_integer() and abs(value) < 2**63:
            kind, text = "i", str(int(value))
        else:
            kind, text = "r", repr(value)
    else:
        kind, text = "t", str(value)
    raw = text.encode("utf-8", "surrogatepass")
    if len(raw) > MAX_PLAIN_TOKEN_BYTES:
        return f"f{position}h{kind}{hashlib.blake2b(raw, digest_size=20).hexdigest()}"
    return f"f{position}{kind}{raw.hex()}"


def filter_tokens(values: tuple[Any, ...]) -> str:
    return " ".join(filter_token(i, v) for i, v in enumerate(values))


def sync(
    conn: apsw.Connection,
    table: str,
    rowid: int,
    names: tuple[str, ...],
    old: SearchTexts | None,
    new: SearchTexts | None,
) -> None:
    """Bring the search indexes of one written document up to date (same transaction).

    ``old``/``new`` are the write set's entries, one per index of ``names`` (None: inserted /
    deleted); an index whose entry did not change is left alone, so a patch of other fields
    costs nothing here.
    """
    for i, name in enumerate(names):
        before = old[i] if old else None
        after = new[i] if new else None
        if before == after:
            continue
        fts = ddl.quote(fts_table(table, name))
        if before is not None:
            conn.execute(f"DELETE FROM {fts} WHERE rowid = ?", (rowid,))
        if after is not None:
            conn.execute(
                f"INSERT INTO {fts}(rowid, text, filters) VALUES (?, ?, ?)",
                (rowid, after[0], filter_tokens(after[1])),
            )


def create_search_index(
    conn: apsw.Connection,
    table: str,
    index: SearchIndexDef,
    progress: ProgressCallback | None = None,
) -> None:
    """Create the FTS5 table of ``index`` and fill it from the table's existing documents.

    Runs inside the caller's transaction, in batches, reporting through progress.Progress
    (``progress(task, done, total)`` after each batch, or a bar or log line without one).
    """
    name = fts_table(table, index.name)
    fts = ddl.quote(name)
    conn.execute(create_fts_sql(table, index.name))
    # bm25 weights: the text column counts, the filter tokens do not.
    conn.execute(f"INSERT INTO {fts}({fts}, rank) VALUES ('rank', 'bm25(1.0, 0.0)')")
    src = ddl.quote(table)
    total = conn.execute(f"SELECT count(*) FROM {src}").fetchone()[0]  # type: ignore[index]
    if not total:
        return
    insert = f"INSERT INTO {fts}(rowid, text, filters) VALUES (?, ?, ?)"
    report = Progress(f"building search index {table}.{index.name}", total, progress)
    last, done = 0, 0
    while True:
        rows = conn.execute(
            f"SELECT _id, doc FROM {src} WHERE _id > ? ORDER BY _id LIMIT ?", (last, BUILD_BATCH)
        ).fetchall()
        if not rows:
            break
        batch = []
        for rowid, raw in rows:
            text, values = search_entry(index, orjson.loads(raw))  # type: ignore[arg-type]
            batch.append((rowid, text, filter_tokens(values)))
        conn.executemany(insert, batch)
        last = int(rows[-1][0])  # type: ignore[arg-type]
        done += len(rows)
        report.update(done)
    report.finish()


def drop_search_index(conn: apsw.Connection, table: str, index: str) -> None:
    """Drop the FTS5 table of search index ``index`` (its shadow tables go with it)."""
    conn.execute(f"DROP TABLE IF EXISTS {ddl.quote(fts_table(table, index))}")


def stored_form(index: SearchIndexDef) -> dict[str, Any]:
    """How the catalog records a search index (compared on open to spot changes)."""
    return {"search_field": index.search_field, "filter_fields": list(index.filter_fields)}


def apply_search_indexes(
    conn: apsw.Connection,
    table: str,
    declared: dict[str, SearchIndexDef],
    stored: dict[str, dict[str, Any]],
    progress: ProgressCallback | None = None,
) -> None:
    """Make the file's search indexes of ``table`` match ``declared``; updates ``stored``.

    A removed or changed index is dropped, a new or changed one is built from the documents.
    """
    for name in list(stored):
        want = declared.get(name)
        if want is None or stored_form(want) != stored[name]:
            drop_search_index(conn, table, name)
            del stored[name]
    for name, index in declared.items():
        if name not in stored:
            create_search_index(conn, table, index, progress)
            stored[name] = stored_form(index)


class SearchFilter:
    """The ``q`` of ``with_search_index(name, lambda q: q.search(field, text).eq(...))``."""

    def __init__(self, table: str, index: SearchIndexDef) -> None:
        self._table = table
        self._def = index
        self.text: str | None = None
        self.filters: list[tuple[int, Any]] = []

    def _err(self, msg: str, field: str | None = None) -> InvalidQuery:
        d = self._def
        fields = ", ".join(d.filter_fields) or "none"
        return InvalidQuery(
            f"search index {d.name!r} of table {self._table!r}: {msg} (search field "
            f"{d.search_field!r}; filter fields: {fields})",
            table=self._table,
            index=d.name,
            field=field,
        )

    def search(self, field: str, text: str) -> SearchFilter:
        """Match documents whose ``field`` has any of the words of ``text`` (the last as prefix)."""
        if self.text is not None:
            raise self._err("search() can be called once", field)
        if field != self._def.search_field:
            raise self._err(f"search({field!r}): this index searches {self._def.search_field!r}", field)
        if not isinstance(text, str):
            raise self._err(f"search() takes a str to look for, got {type(text).__name__}", field)
        self.text = text
        return self

    def eq(self, field: str, value: Any) -> SearchFilter:
        """Keep documents whose filter field ``field`` equals ``value`` (applied inside FTS5)."""
        if self.text is None:
            raise self._err(f"eq({field!r}) before search(); call search() first", field)
        if field not in self._def.filter_fields:
            raise self._err(f"eq({field!r}): not a filter field of this index", field)
        position = self._def.filter_fields.index(field)
        if any(p == position for p, _ in self.filters):
            raise self._err(f"eq({field!r}) given twice", field)
        if isinstance(value, bool):
            value = int(value)
        elif value is not None and not isinstance(value, int | float | str):
            raise self._err(f"cannot compare {field!r} with a {type(value).__name__}", field)
        self.filters.append((position, value))
        return self


@dataclass(frozen=True)
class SearchSpec:
    """A finished search filter: what to match, ready to run and to record."""

    index: str
    terms: tuple[str, ...]
    prefix: str | None
    filters: tuple[tuple[int, Any], ...]
    match: str = field(repr=False)


def _quote_term(token: str) -> str:
    return '"' + token.replace('"', '""') + '"'


def finish(table: str, q: SearchFilter) -> SearchSpec:
    """Tokenize the search text as the index does; build the FTS5 MATCH expression."""
    if q.text is None:
        raise q._err("the callback must call q.search(field, text)")
    tokens = tokenize(q.text)
    filters = tuple(sorted(q.filters))
    if not tokens:
        return SearchSpec(q._def.name, (), None, filters, "")
    *whole, prefix = tokens
    terms = tuple(dict.fromkeys(whole))
    alternatives = [_quote_term(t) for t in terms] + [_quote_term(prefix) + "*"]
    match = "text : (" + " OR ".join(alternatives) + ")"
    for position, value in filters:
        match += f' AND filters : "{filter_token(position, value)}"'
    return SearchSpec(q._def.name, terms, prefix, filters, match)


def scan(
    query: Query, limit: int | None, after: Key | None = None, until: Key | None = None
) -> tuple[list[Row], Key | None, bool]:
    """Run a search query: rows in relevance order, the last (rank, rowid) key, exhausted?

    Keys are ``(bm25 rank, rowid)``, so pagination cursors work as for index scans (a
    cursor stays meaningful while the corpus does not change; scores move when it does).
    """
    reader = query._reader
    reader._check()
    spec = query._search
    assert spec is not None
    info = query._info
    if reader._readset is not None:
        reader._readset.add_search(
            SearchRead(info.name, spec.index, spec.terms, spec.prefix, spec.filters)
        )
    if not spec.match:
        return [], None, True
    fts = ddl.quote(fts_table(info.name, spec.index))
    params: list[Any] = [spec.match]
    inner = [f"{fts} MATCH ?"]
    if after is not None:
        inner.append("(rank, rowid) > (?, ?)")
        params.extend(after[-2:])
    if until is not None:
        inner.append("(rank, rowid) <= (?, ?)")
        params.extend(until[-2:])
    in_sql = not query._py_filters
    filtered = bool(query._sql_filters)
    # The inner LIMIT (-1: none) keeps the subquery a co-routine that yields in rank order,
    # so only (rowid, rank) pairs are sorted and documents are read for the rows returned.
    params.append(limit if limit is not None and in_sql and not filtered else -1)
    sql = (
        f"SELECT t._id, t.creation_time, t.doc, m.rank FROM (SELECT rowid AS r, rank FROM {fts} "
        f"WHERE {' AND '.join(inner)} ORDER BY rank, rowid LIMIT ?) AS m "
        f"JOIN {ddl.quote(info.name)} AS t ON t._id = m.r"
    )
    if filtered:
        sql += " WHERE " + " AND ".join(expr.sql(params) for expr in query._sql_filters)
    sql += " ORDER BY m.rank, m.r"
    if filtered and in_sql and limit is not None:
        sql += " LIMIT ?"
        params.append(limit)
    rows: list[Any] = []  # Row, or Row plus its model after a Python filter
    last: Key | None = None
    exhausted = True
    if in_sql:
        for r in reader._conn.execute(sql, params):
            rows.append((r[0], r[1], r[2]))
            last = (r[3], r[0])
        exhausted = limit is None or len(rows) < limit
        return rows, last, exhausted
    for r in reader._conn.execute(sql, params):
        last = (r[3], r[0])
        kept = python_filtered(info, (r[0], r[1], r[2]), query._py_filters)
        if kept is not None:
            rows.append(kept)
            if limit is not None and len(rows) >= limit:
                exhausted = False
                break
    return rows, last, exhausted
