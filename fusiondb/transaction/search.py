"""Search queries: ``with_search_index(name, lambda q: q.search("text", "milk").eq("user_id", u))``.

The callback's ``q`` is a ``SearchFilter``; ``finish`` cuts the search text into the tokens the
engine's index holds (the engine's own tokenizer, so a term matches here exactly when it
matches in the index) and ``scan`` runs the search through the engine (SQLite: FTS5, see
``engine/sqlite/fts.py``), recording it in the read set so live searches follow writes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from ..core.documents import Row, python_filtered
from ..core.errors import InvalidQuery
from ..core.expr import Expr
from ..core.keys import Key, value_problem
from ..core.limits import MAX_SEARCH_RESULTS, MAX_SEARCH_TERMS
from ..core.schema import SearchIndexDef
from ..core.tableinfo import TableInfo
from ..engine.base import SearchScan
from .context import TxnContext
from .readset import SearchRead


class SearchFilter:
    """The ``q`` of ``with_search_index(name, lambda q: q.search(field, text).eq(...))``."""

    def __init__(self, table: str, index: SearchIndexDef) -> None:
        self._table = table
        self._def = index
        self.text: str | None = None
        self.filters: list[tuple[int, Any]] = []

    @property
    def index_name(self) -> str:
        return self._def.name

    def error(self, msg: str, field: str | None = None) -> InvalidQuery:
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
            raise self.error("search() can be called once", field)
        if field != self._def.search_field:
            raise self.error(f"search({field!r}): this index searches {self._def.search_field!r}", field)
        if not isinstance(text, str):
            raise self.error(f"search() takes a str to look for, got {type(text).__name__}", field)
        problem = value_problem(text)
        if problem is not None:
            raise self.error(f"search(): {problem}", field)
        self.text = text
        return self

    def eq(self, field: str, value: Any) -> SearchFilter:
        """Keep documents whose filter field ``field`` equals ``value`` (applied inside the index)."""
        if self.text is None:
            raise self.error(f"eq({field!r}) before search(); call search() first", field)
        if field not in self._def.filter_fields:
            raise self.error(f"eq({field!r}): not a filter field of this index", field)
        position = self._def.filter_fields.index(field)
        if any(p == position for p, _ in self.filters):
            raise self.error(f"eq({field!r}) given twice", field)
        if value is not None and not isinstance(value, int | float | str):  # bool: an int
            raise self.error(f"cannot compare {field!r} with a {type(value).__name__}", field)
        problem = value_problem(value)
        if problem is not None:
            raise self.error(f"cannot compare {field!r} with this value: {problem}", field)
        self.filters.append((position, value))
        return self


@dataclass(frozen=True)
class SearchSpec:
    """A finished search filter: the index, its whole terms, the prefix-matched last term,
    and the equality filters as (position in the index's filter_fields, value)."""

    index: str
    terms: tuple[str, ...]
    prefix: str | None
    filters: tuple[tuple[int, Any], ...]


def finish(q: SearchFilter, tokenize: Callable[[str], list[str]]) -> SearchSpec:
    """Tokenize the search text as the index does."""
    if q.text is None:
        raise q.error("the callback must call q.search(field, text)")
    tokens = tokenize(q.text)
    distinct = len(set(tokens))
    if distinct > MAX_SEARCH_TERMS:
        raise q.error(
            f"the search text has {distinct} different words; a search takes at most "
            f"{MAX_SEARCH_TERMS}"
        )
    filters = tuple(sorted(q.filters))
    if not tokens:
        return SearchSpec(q.index_name, (), None, filters)
    *whole, prefix = tokens
    return SearchSpec(q.index_name, tuple(dict.fromkeys(whole)), prefix, filters)


def check_results(table: str, spec: SearchSpec, count: int, asked: str) -> None:
    """Refuse a search call that would return more than MAX_SEARCH_RESULTS documents."""
    if count > MAX_SEARCH_RESULTS:
        raise InvalidQuery(
            f"search index {spec.index!r} of table {table!r}: {asked}; one search call returns "
            f"at most {MAX_SEARCH_RESULTS} documents: use take(n), paginate() or iterate",
            table=table,
            index=spec.index,
        )


def scan(
    ctx: TxnContext,
    info: TableInfo,
    spec: SearchSpec,
    conditions: tuple[Expr, ...],
    predicates: Sequence[Callable[[Any], Any]],
    limit: int | None,
    after: Key | None,
    until: Key | None,
) -> tuple[list[Any], Key | None, bool]:
    """Run a search: rows in relevance order, the last (rank, rowid) key, and whether the
    results ran out. ``conditions`` run in the engine, ``predicates`` in Python."""
    ctx.check()
    if ctx.readset is not None:
        ctx.readset.add_search(SearchRead(info.name, spec.index, spec.terms, spec.prefix, spec.filters))
    rows: list[Any] = []  # Row, or Row plus its model after a Python filter
    last: Key | None = None
    search = SearchScan(
        info.name, spec.index, spec.terms, spec.prefix, spec.filters, conditions, after, until,
        None if predicates else limit,
    )
    if not predicates:
        for r in ctx.txn.search(search):
            rows.append((r[0], r[1], r[2]))
            last = (r[3], r[0])
        return rows, last, limit is None or len(rows) < limit
    for r in ctx.txn.search(search):
        last = (r[3], r[0])
        row: Row = (r[0], r[1], r[2])
        kept = python_filtered(info, row, predicates)
        if kept is not None:
            rows.append(kept)
            if limit is not None and len(rows) >= limit:
                return rows, last, False
    return rows, last, True
