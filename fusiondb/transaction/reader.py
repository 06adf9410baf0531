"""``Reader``: the ``db`` a ``@fdb.query`` function receives.

It reads one snapshot and, inside a live query, records what it read (``readset.py``). It
becomes unusable when its transaction ends, so a context smuggled out of its function fails
loudly.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, NoReturn, TypeVar, overload

from ..core.errors import ReadOnlyError
from ..core.functions import nested_run_error
from ..core.ids import IdOf, decode_id
from ..core.schema import Document, TableDef
from ..core.vectors import VectorResult
from .context import TxnContext
from .files import ReaderStorage
from .query import Query
from .vectors import VectorClause, VectorFilter
from .vectors import search as _vector_search

M = TypeVar("M", bound=Document)


class Reader:
    """What a ``@fdb.query`` function receives as ``db``."""

    def __init__(self, ctx: TxnContext) -> None:
        self._ctx = ctx
        self._tables = ctx.tables

    @overload
    def get(self, table_or_id: IdOf[M], doc_id: None = None) -> M | None: ...
    @overload
    def get(self, table_or_id: TableDef[M], doc_id: str) -> M | None: ...
    @overload
    def get(self, table_or_id: str, doc_id: str | None = None) -> Any: ...

    def get(self, table_or_id: str | TableDef[Any], doc_id: str | None = None) -> Any:
        """The document with this id, or ``None``. ``get(id)``, ``get("tasks", id)`` or
        ``get(tasks, id)`` (a typed handle ``tasks = fdb.table(Task)``)."""
        ctx = self._ctx
        if not ctx.active:
            ctx.check()
        # get(id) of a table of this database is the common case: one decode, one lookup.
        decoded = decode_id(table_or_id) if doc_id is None else None
        info = self._tables.by_number.get(decoded[0]) if decoded is not None else None
        if info is not None and decoded is not None:
            return ctx.read(info, decoded[1], table_or_id)  # type: ignore[arg-type]  # an id
        info, rowid, doc_id = ctx.resolve(table_or_id, doc_id)
        return ctx.read(info, rowid, doc_id)

    @property
    def storage(self) -> ReaderStorage:
        """Files, read-only inside a query: ``open(id)``, ``get_metadata(id)``."""
        return ReaderStorage(self._ctx)

    @overload
    def query(self, table: TableDef[M]) -> Query[M]: ...
    @overload
    def query(self, table: str) -> Query[Any]: ...

    def query(self, table: str | TableDef[Any]) -> Query[Any]:
        """Start a query over ``table`` (by creation time unless ``with_index`` says otherwise):
        its name, or its typed handle (``db.query(tasks)`` is a ``Query[Task]``)."""
        self._ctx.check()
        return Query(self._ctx, self._tables.get(table))

    def vector_search(
        self,
        table: str | TableDef[Any],
        index: str,
        vector: Sequence[float],
        *,
        limit: int = 10,
        filter: Callable[[VectorFilter], VectorClause] | None = None,
    ) -> list[VectorResult]:
        """The ``limit`` documents (1 to 256) of ``table`` whose vector in vector index
        ``index`` is closest to ``vector`` by cosine similarity, as ``VectorResult(id, score)``
        tuples, highest score first. ``filter``: ``lambda q: q.eq(field, value)`` on the
        index's filter fields, or ``q.or_(q.eq(...), ...)`` for any of several. In a live
        query it re-runs when a write changes a vector or filter field of the index within
        the filter's values (docs/vector-search.md)."""
        return _vector_search(self._ctx, self._tables.get(table), index, vector, limit, filter)

    @overload
    def normalize_id(self, table: TableDef[M], value: object) -> IdOf[M] | None: ...
    @overload
    def normalize_id(self, table: str, value: object) -> str | None: ...

    def normalize_id(self, table: str | TableDef[Any], value: object) -> str | None:
        """``value`` if it is an id of ``table`` in this database, else ``None`` (as Convex);
        with a typed handle, an ``fdb.IdOf`` its model."""
        info = self._tables.get(table)
        decoded = decode_id(value)
        if decoded is None or decoded[0] != info.number:
            return None
        return value  # type: ignore[return-value]

    def run(self, fn: Any, /, *args: Any, **kwargs: Any) -> NoReturn:
        """Refused: inside a function, call the other one directly, ``other(db, **args)``."""
        raise nested_run_error(fn)

    def _read_only(self, op: str) -> ReadOnlyError:
        return ReadOnlyError(
            f"{op}() inside a query: queries are read-only; write in a @fdb.mutation"
        )

    def insert(self, table: str | TableDef[Any], doc: Any) -> str:
        raise self._read_only("insert")

    def patch(self, doc_id: str, fields: Mapping[str, Any]) -> None:
        raise self._read_only("patch")

    def replace(self, doc_id: str, doc: Any) -> None:
        raise self._read_only("replace")

    def delete(self, doc_id: str) -> None:
        raise self._read_only("delete")
