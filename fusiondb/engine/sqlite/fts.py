"""Full-text search indexes on SQLite FTS5: tables, upkeep on every write, searches, tokens.

Each search index is one contentless FTS5 table (``contentless_delete=1``) named
``<table>$fts$<index>``, rowid = the document's rowid, with two columns:

- ``text``: the search field, tokenized by ``unicode61 remove_diacritics 2`` (the tokenizer
  ``tokenize`` below calls too, so the live-search matcher and the index agree on every token);
- ``filters``: one opaque token per filter field, ``f<position><kind><value>`` (the value hex
  encoded, or hashed when long). An ``eq`` filter becomes ``AND filters : "<token>"`` in the
  MATCH expression, so FTS5 intersects it with the terms inside its own index: filtering
  happens in SQLite, before ranking, and a selective filter makes a query cheaper, not dearer.

Ranking is ``bm25`` with weight 0 on ``filters``, configured once as the table's ``rank``.
The table stores no copy of the text; results are joined to the document table by rowid.

Upkeep is explicit: the writer calls ``sync`` (through the transaction's ``search_sync``) with
the entries it already computed for the write set. Measured against AFTER INSERT/UPDATE/DELETE
triggers that extract the same values with ``doc ->> '$.field'`` in SQL
(``benchmarks/bench_search.py`` prints both), explicit upkeep costs about a third as much per
write (triggers re-parse the JSON for every expression and load the old row on delete), and
it skips patches that leave the text and filters unchanged.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator
from typing import Any

import apsw
import orjson

from ...core.keys import SearchEntry, search_entry
from ...core.progress import Progress, ProgressCallback
from ...core.schema import SearchIndexDef
from ..base import SearchScan
from . import ddl
from .scan import compile_expr

BUILD_BATCH = 2_000
# Longer filter values are hashed so a token stays short (FTS5 keeps every distinct token).
MAX_PLAIN_TOKEN_BYTES = 24
# The FTS5 tokenizer of every search table: name and arguments.
TOKENIZER = ("unicode61", ("remove_diacritics", "2"))

_local = threading.local()


def _tokenizer() -> Any:
    tok = getattr(_local, "tokenizer", None)
    if tok is None:
        # A private in-memory connection per thread only lends its tokenizer (~1 us a call).
        _local.conn = apsw.Connection(":memory:")
        tok = _local.tokenizer = _local.conn.fts5_tokenizer(TOKENIZER[0], list(TOKENIZER[1]))
    return tok


def tokenize(text: str) -> list[str]:
    """The tokens FTS5 indexes for ``text`` (case-folded, diacritics removed), in order.

    Cut by FTS5's own tokenizer, called through apsw, so a term matches here exactly when it
    matches in the index (``Straße``, ligatures, full-width letters: a Python imitation of
    ``unicode61`` disagrees with it on each of these).
    """
    if not text:
        return []
    out = _tokenizer()(
        text.encode("utf-8", "surrogatepass"),
        apsw.FTS5_TOKENIZE_DOCUMENT,
        None,
        include_offsets=False,
        include_colocated=False,
    )
    return list(out)


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

    ``value`` is a search filter value (keys.search_entry): None, bool, int, float or str
    (an array or object as its JSON text). As in the value order of indexes, a boolean is
    not a number (its own kind of token), and an integral float equals the int.
    """
    if value is None:
        kind, text = "n", ""
    elif isinstance(value, bool):
        kind, text = "b", str(int(value))
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
    cur: apsw.Cursor,
    table: str,
    rowid: int,
    names: tuple[str, ...],
    old: tuple[SearchEntry, ...] | None,
    new: tuple[SearchEntry, ...] | None,
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
            cur.execute(f"DELETE FROM {fts} WHERE rowid = ?", (rowid,))
        if after is not None:
            cur.execute(
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

    Runs inside the caller's transaction, in batches, reporting through ``Progress``
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


def matches(conn: apsw.Connection, table: str, index: SearchIndexDef) -> bool:
    """Whether the search index holds exactly what the table's documents say it should.

    The index keeps no copy of the text, so both sides are summed into one fingerprint: a
    hash of every token occurrence (row, column, position, token), read back from the index
    through an ``fts5vocab`` table, and computed from the documents with the same tokenizer.
    Memory stays constant; a mismatch goes unseen with odds of about 2**-64.
    """
    vocab = ddl.quote(fts_table(table, index.name) + "$check")
    conn.execute(
        f"CREATE VIRTUAL TABLE temp.{vocab} USING "
        f"fts5vocab(main, {ddl.quote(fts_table(table, index.name))}, 'instance')"
    )
    try:
        found = 0
        for term, rowid, column, offset in conn.execute(
            f"SELECT term, doc, col, offset FROM temp.{vocab}"
        ):
            found += hash((rowid, column, offset, term))
    finally:
        conn.execute(f"DROP TABLE temp.{vocab}")
    expected = 0
    for rowid, raw in conn.execute(f"SELECT _id, doc FROM {ddl.quote(table)}"):
        text, values = search_entry(index, orjson.loads(raw))  # type: ignore[arg-type]
        for column, content in (("text", text), ("filters", filter_tokens(values))):
            for offset, token in enumerate(tokenize(content)):
                expected += hash((rowid, column, offset, token))
    return found == expected


def drop_search_index(conn: apsw.Connection, table: str, index: str) -> None:
    """Drop the FTS5 table of search index ``index`` (its shadow tables go with it)."""
    conn.execute(f"DROP TABLE IF EXISTS {ddl.quote(fts_table(table, index))}")


def _quote_term(token: str) -> str:
    return '"' + token.replace('"', '""') + '"'


def match_expression(spec: SearchScan) -> str:
    """The FTS5 MATCH expression: any term (the last one as a prefix), and every filter."""
    alternatives = [_quote_term(t) for t in spec.terms]
    if spec.prefix is not None:
        alternatives.append(_quote_term(spec.prefix) + "*")
    match = "text : (" + " OR ".join(alternatives) + ")"
    for position, value in spec.filters:
        match += f' AND filters : "{filter_token(position, value)}"'
    return match


def search_rows(cur: apsw.Cursor, spec: SearchScan) -> Iterator[Any]:
    """Rows ``(rowid, creation_time, doc, rank)`` of a search, in relevance order.

    Keys are ``(bm25 rank, rowid)``, so pagination cursors work as for index scans (a
    cursor stays meaningful while the corpus does not change; scores move when it does).
    """
    if not spec.terms and spec.prefix is None:
        return iter(())
    fts = ddl.quote(fts_table(spec.table, spec.index_name))
    params: list[Any] = [match_expression(spec)]
    inner = [f"{fts} MATCH ?"]
    if spec.after is not None:
        inner.append("(rank, rowid) > (?, ?)")
        params.extend(spec.after[-2:])
    if spec.until is not None:
        inner.append("(rank, rowid) <= (?, ?)")
        params.extend(spec.until[-2:])
    filtered = bool(spec.conditions)
    # The inner LIMIT (-1: none) keeps the subquery a co-routine that yields in rank order,
    # so only (rowid, rank) pairs are sorted and documents are read for the rows returned.
    params.append(spec.limit if spec.limit is not None and not filtered else -1)
    sql = (
        f"SELECT t._id, t.creation_time, t.doc, m.rank FROM (SELECT rowid AS r, rank FROM {fts} "
        f"WHERE {' AND '.join(inner)} ORDER BY rank, rowid LIMIT ?) AS m "
        f"JOIN {ddl.quote(spec.table)} AS t ON t._id = m.r"
    )
    if filtered:
        sql += " WHERE " + " AND ".join(compile_expr(e, params) for e in spec.conditions)
    sql += " ORDER BY m.rank, m.r"
    if filtered and spec.limit is not None:
        sql += " LIMIT ?"
        params.append(spec.limit)
    rows: Iterator[Any] = cur.execute(sql, params)
    return rows
