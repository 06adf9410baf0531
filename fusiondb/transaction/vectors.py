"""Vector searches and the upkeep of vector indexes on the write path.

``db.vector_search("docs", "by_embedding", vector, limit=10, filter=lambda q: q.eq("user_id",
u))``: the callback's ``q`` is a ``VectorFilter``, whose ``eq`` and ``or_`` build the filter
as Convex's do (equality on filter fields, any of several). ``search`` checks the call,
records it in the read set (table, index and filter values: ``reactive/vector_match.py``
re-runs a live query when a write changes a vector or a filter field within those values),
and runs it through the engine (SQLite: sqlite-vec, ``engine/sqlite/vectors.py``).
The write path's upkeep is in ``vectorsync.py``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from ..core.errors import InvalidQuery
from ..core.ids import encode_id
from ..core.keys import value_problem
from ..core.limits import MAX_VECTOR_FILTER_VALUES, MAX_VECTOR_RESULTS
from ..core.tableinfo import TableInfo
from ..core.vectordef import VectorIndexDef
from ..core.vectors import VectorResult, eq_key, vector_problem
from ..engine.base import VectorScan
from .context import TxnContext
from .readset import VectorRead


class VectorClause:
    """A vector search filter: any of ``(field position, value)`` (built by ``VectorFilter``)."""

    __slots__ = ("values",)

    def __init__(self, values: tuple[tuple[int, Any], ...]) -> None:
        self.values = values

    def __repr__(self) -> str:
        return f"VectorClause({self.values!r})"


class VectorFilter:
    """The ``q`` of ``vector_search(..., filter=lambda q: q.eq(field, value))``."""

    def __init__(self, table: str, index: VectorIndexDef) -> None:
        self._table = table
        self._def = index

    def error(self, msg: str, field: str | None = None) -> InvalidQuery:
        d = self._def
        fields = ", ".join(d.filter_fields) or "none"
        return InvalidQuery(
            f"vector index {d.name!r} of table {self._table!r}: {msg} (filter fields: {fields})",
            table=self._table,
            index=d.name,
            field=field,
        )

    def eq(self, field: str, value: Any) -> VectorClause:
        """Documents whose filter field ``field`` equals ``value``."""
        if field not in self._def.filter_fields:
            raise self.error(f"eq({field!r}): not a filter field of this index", field)
        if value is not None and not isinstance(value, int | float | str):  # bool: an int
            raise self.error(f"cannot compare {field!r} with a {type(value).__name__}", field)
        problem = value_problem(value)
        if problem is not None:
            raise self.error(f"cannot compare {field!r} with this value: {problem}", field)
        return VectorClause(((self._def.filter_fields.index(field), value),))

    def or_(self, *clauses: VectorClause) -> VectorClause:
        """Documents that match any of ``clauses`` (Convex's ``q.or``)."""
        if not clauses:
            raise self.error("or_() needs at least one clause")
        for clause in clauses:
            if not isinstance(clause, VectorClause):
                raise self.error(f"or_() takes q.eq(...) clauses, got {type(clause).__name__}")
        return VectorClause(tuple(v for c in clauses for v in c.values))


def _check_call(
    info: TableInfo, index: str, vector: Any, limit: Any
) -> tuple[VectorIndexDef, tuple[float, ...]]:
    vdef = info.vector_indexes.get(index)
    if vdef is None:
        known = ", ".join(info.vector_indexes) or "none"
        raise InvalidQuery(
            f"table {info.name!r} has no vector index {index!r} (its vector indexes: {known})",
            table=info.name,
            index=index,
        )
    if type(limit) is not int or not 1 <= limit <= MAX_VECTOR_RESULTS:
        raise InvalidQuery(
            f"vector_search(limit={limit!r}): the limit is an integer from 1 to {MAX_VECTOR_RESULTS}",
            table=info.name,
            index=index,
        )
    if hasattr(vector, "tolist") and not isinstance(vector, list):  # a numpy array
        vector = vector.tolist()
    values = list(vector) if isinstance(vector, Sequence) and not isinstance(vector, str) else vector
    problem = vector_problem(values, vdef.dimensions)
    if problem is not None:
        raise InvalidQuery(f"vector_search() on {info.name}.{index}: {problem}", table=info.name, index=index)
    return vdef, tuple(float(x) for x in values)


def search(
    ctx: TxnContext,
    info: TableInfo,
    index: str,
    vector: Sequence[float],
    limit: int,
    filter: Callable[[VectorFilter], VectorClause] | None,
) -> list[VectorResult]:
    """Run a vector search: the ``limit`` nearest documents, highest score first."""
    ctx.check()
    vdef, query = _check_call(info, index, vector, limit)
    disjuncts: tuple[tuple[int, Any], ...] = ()
    if filter is not None:
        q = VectorFilter(info.name, vdef)
        clause = filter(q)
        if not isinstance(clause, VectorClause):
            raise q.error(f"the filter must return q.eq(...) or q.or_(...), got {type(clause).__name__}")
        disjuncts = clause.values
        if len(disjuncts) > MAX_VECTOR_FILTER_VALUES:
            raise q.error(
                f"the filter names {len(disjuncts)} values; a vector search filter takes at "
                f"most {MAX_VECTOR_FILTER_VALUES}"
            )
    by_field: dict[int, list[Any]] = {}
    for position, value in disjuncts:
        by_field.setdefault(position, []).append(value)
    if ctx.readset is not None:
        keys = frozenset((p, eq_key(v)) for p, v in disjuncts)
        ctx.readset.add_vector(VectorRead(info.name, index, keys))
    spec = VectorScan(
        info.name, index, query, tuple((p, tuple(vs)) for p, vs in sorted(by_field.items())), limit
    )
    number = info.number
    return [VectorResult(encode_id(number, rowid), score) for rowid, score in ctx.txn.vector_search(spec)]
