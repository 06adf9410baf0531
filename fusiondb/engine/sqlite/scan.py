"""SQL for index range scans and filter expressions, built from validated names only.

An ``IndexScan`` becomes one ``SELECT ... INDEXED BY`` over the table's index. Each index
field is a pair of columns, its type tag and its comparable value (``ddl.index_columns``), so
that SQLite orders every value in Convex's order (``core/keys.py``); the rowid ends every
SQLite index and orders creation. So: ``tag = ? AND value = ?`` per eq, one row-value bound
``(tag, value) > (?, ?)`` on each side of the next field, pagination keys as row values over
the key columns, ``ORDER BY`` the key columns. A bound or eq on ``creation_time`` is a
condition on that column: creation time increases with the rowid, so the rows it keeps are
one stretch of the rowid order. Every value is a bound parameter. The common shapes (no
cursor, no filter) reuse their SQL text: only the parameters change.
"""

from __future__ import annotations

import operator
from typing import Any

from ...core.expr import (
    Compare,
    Contains,
    Expr,
    Field,
    In,
    IsMissing,
    Literal,
    Logical,
    Not,
    StartsWith,
    SystemField,
)
from ...core.keys import TAG_BOOL, TAG_NULL, TAG_STRING, sql_key
from ...core.schema import CREATION_INDEX, ID_INDEX
from ..base import IndexScan
from .ddl import index_columns, index_sql_name, json_path, quote, tag_sql, value_sql

_SQL_OP = {"gt": ">", "gte": ">=", "lt": "<", "lte": "<="}
_SYSTEM_COLUMNS = {"rowid": "_id", "creation_time": "creation_time"}
# A key position: an index field (its tag and value columns), the creation time (a number:
# tag 1, so that a bound at None, a bool or a string follows the value order), the rowid.
_CT = ("1", "creation_time")
_ROWID = ("_id",)
# SQL text per scan shape; shapes come from the schema, so few exist.
_CACHE: dict[tuple[Any, ...], str] = {}
_CACHE_MAX = 4096


def _side(expr: Expr, params: list[Any]) -> tuple[str, str]:
    """The (type tag, comparable value) SQL of one side of a comparison."""
    if isinstance(expr, Field):
        tag = tag_sql(expr.path)
        return tag, value_sql(expr.path, True, tag)
    if isinstance(expr, SystemField):
        return "1", _SYSTEM_COLUMNS[expr.name]
    if isinstance(expr, Literal):
        params.extend(sql_key(expr.value))
        return "?", "?"
    raise TypeError(f"not a value expression: {expr!r}")


# json_type's answer for each type tag (core.keys.TAG_*); a missing value (NULL) is tag 0 too.
_JSON_TYPES = (
    ("null", 0), ("integer", 1), ("real", 1), ("true", 2), ("false", 2), ("text", 3),
    ("array", 5), ("object", 6),  # an object may hold bytes (tag 4): past tag 3 all the same
)
_PY_OP = {
    "=": operator.eq, "!=": operator.ne, "<": operator.lt, "<=": operator.le,
    ">": operator.gt, ">=": operator.ge,
}
_MIRROR = {"=": "=", "!=": "!=", "<": ">", "<=": ">=", ">": "<", ">=": "<="}


def _field_vs_scalar(path: str, op: str, value: Any, params: list[Any]) -> str:
    """``field op value`` for a value of tag null, number, bool or string, with one
    ``json_type`` per document: the answer is known from the field's type alone unless it
    has the value's own type, where its text or number is compared. The same truth as the
    general ``(tag, value)`` row-value comparison (the tests hold both to a reference)."""
    jp = json_path(path)
    return _typed_vs_scalar(f"json_type(doc, '{jp}')", f"(doc ->> '{jp}')", op, value, params)


def _typed_vs_scalar(type_sql: str, value_sql: str, op: str, value: Any, params: list[Any]) -> str:
    """``x op value`` for a JSON value ``x`` given as the SQL of its ``json_type`` and of its
    SQL value (a field of the document, or an element of ``json_each``)."""
    tag, sql_value = sql_key(value)
    test = _PY_OP[op]
    parts = [f"CASE {type_sql}"]
    for name, t in _JSON_TYPES:
        if t != tag or tag == TAG_NULL:  # decided by the types (null equals null)
            result = str(int(test(t, tag)))
        elif tag == TAG_BOOL:
            result = str(int(test(int(name == "true"), sql_value)))
        else:
            params.append(sql_value)
            result = f"({value_sql} {'<>' if op == '!=' else op} ?)"
        parts.append(f"WHEN '{name}' THEN {result}")
    parts.append(f"ELSE {int(test(TAG_NULL, tag))} END")  # a missing field: null
    return "(" + " ".join(parts) + ")"


def _condition_sql(expr: Expr, params: list[Any]) -> str:
    """SQL for a field condition (``core.expr.FieldCondition``), with the truth
    ``ExprFilter`` gives it."""
    assert isinstance(expr, In | StartsWith | Contains | IsMissing)
    item = expr.item
    assert isinstance(item, Field)
    jp = json_path(item.path)
    if isinstance(expr, IsMissing):
        return f"(coalesce(json_type(doc, '{jp}'), 'null') = 'null')"
    if isinstance(expr, StartsWith):
        # Compared as UTF-8 bytes: a byte prefix that is whole characters is a character
        # prefix, and bytes keep a NUL inside a string that text functions stop at. IS, not
        # =: never NULL (substr of an empty blob is NULL), so NOT is the complement.
        raw = expr.prefix.encode()
        if not raw:
            return f"(json_type(doc, '{jp}') = 'text')"
        params.extend((len(raw), raw))
        return (
            f"(json_type(doc, '{jp}') = 'text' "
            f"AND substr(CAST((doc ->> '{jp}') AS BLOB), 1, ?) IS ?)"
        )
    if isinstance(expr, Contains):
        # json_each walks an object's members or a scalar itself too: arrays only.
        element = _typed_vs_scalar("e.type", "e.value", "=", expr.value, params)
        return (
            f"(json_type(doc, '{jp}') = 'array' AND EXISTS "
            f"(SELECT 1 FROM json_each(doc, '{jp}') AS e WHERE {element}))"
        )
    if not expr.values:
        return "0"
    # The field's (tag, value) pair, as an index holds it, against the values' pairs.
    tag = tag_sql(item.path)
    pairs = ", ".join("(?, ?)" for _ in expr.values)
    for v in expr.values:
        params.extend(sql_key(v))
    return f"(({tag}, {value_sql(item.path, False, tag)}) IN (VALUES {pairs}))"


def compile_expr(expr: Expr, params: list[Any]) -> str:
    """SQL for a filter expression over the stored JSON (``doc``); values go to ``params``.

    Comparisons follow the value order of the indexes (``core/keys.py``): each side is its
    ``(type tag, value)`` pair and the pairs compare as row values, which are never NULL (a
    missing field is null, tag 0), so every comparison is true or false and ``NOT`` is its
    complement, as in the Python evaluator (``core.expr.ExprFilter``).
    """
    if isinstance(expr, Literal):  # a condition known when binding (e.g. id == other table's)
        params.append(bool(expr.value))
        return "?"
    if isinstance(expr, Compare):
        left, right, op = expr.left, expr.right, expr.op
        if isinstance(left, Literal) and isinstance(right, Field):
            left, right, op = right, left, _MIRROR[op]
        if (
            isinstance(left, Field) and isinstance(right, Literal)
            and sql_key(right.value)[0] <= TAG_STRING
        ):
            return _field_vs_scalar(left.path, op, right.value, params)
        lt, lv = _side(expr.left, params)
        rt, rv = _side(expr.right, params)
        op = "<>" if expr.op == "!=" else expr.op
        return f"(({lt}, {lv}) {op} ({rt}, {rv}))"
    if isinstance(expr, Logical):
        return "(" + f" {expr.op} ".join(compile_expr(p, params) for p in expr.parts) + ")"
    if isinstance(expr, Not):
        return f"(NOT {compile_expr(expr.inner, params)})"
    if isinstance(expr, In | StartsWith | Contains | IsMissing):
        return _condition_sql(expr, params)
    raise TypeError(f"not a filter expression: {expr!r}")


def _positions(spec: IndexScan) -> list[tuple[str, ...]]:
    """The key positions of the scanned index: ``(tag column, value column)`` per field, then
    creation time and rowid (``by_id``: the rowid alone)."""
    if spec.index_name == ID_INDEX:
        return [_ROWID]
    cols = index_columns(spec.fields, spec.composite)
    pairs = [(cols[i], cols[i + 1]) for i in range(0, len(cols), 2)]
    return [*pairs, _CT, _ROWID]


def _params(position: tuple[str, ...], value: Any) -> tuple[Any, ...]:
    return sql_key(value) if len(position) == 2 else (value,)


def creation_bounds(spec: IndexScan) -> list[tuple[str, Any]]:
    """The scan's bounds on the creation time (when its range is on that position)."""
    if spec.index_name == ID_INDEX or len(spec.eqs) != len(spec.fields):
        return []
    return [b for b in (spec.lower, spec.upper) if b is not None]


def scan_sql(
    spec: IndexScan, rowids: tuple[int | None, int | None] = (None, None)
) -> tuple[str, list[Any]]:
    """The statement and parameters for ``spec`` (rows as ``IndexScan`` documents them).

    ``rowids``: the row numbers ``[first, last)`` that hold the creation times the scan's
    creation-time bounds keep (``txn.SqliteTxn`` finds them), so that SQLite seeks to them
    instead of testing every row; the creation-time conditions stay."""
    limited = spec.limit is not None
    if rowids != (None, None):
        params: list[Any] = []
        return _build(spec, params, rowids), params
    if spec.after is None and spec.until is None and not spec.filters:
        shape = (
            spec.table, spec.index_name, spec.fields, spec.composite, spec.desc, limited,
            len(spec.eqs), None if spec.lower is None else spec.lower[0],
            None if spec.upper is None else spec.upper[0],
        )
        sql = _CACHE.get(shape)
        if sql is None:
            sql = _build(spec, [])
            if len(_CACHE) >= _CACHE_MAX:
                _CACHE.clear()
            _CACHE[shape] = sql
        # Parameters in the order _build appends them: eqs, bounds, limit.
        positions = _positions(spec)
        params = []
        for position, value in zip(positions, spec.eqs, strict=False):
            params.extend(_params(position, value))
        at = positions[len(spec.eqs)] if len(spec.eqs) < len(positions) else _ROWID
        for bound in (spec.lower, spec.upper):
            if bound is not None:
                params.extend(_params(at, bound[1]))
        if limited:
            params.append(spec.limit)
        return sql, params
    params = []
    return _build(spec, params), params


def _condition(position: tuple[str, ...], op: str, value: Any, params: list[Any]) -> str:
    params.extend(_params(position, value))
    if len(position) == 2:
        return f"(({position[0]}, {position[1]}) {op} (?, ?))"
    return f"{position[0]} {op} ?"


def _build(
    spec: IndexScan, params: list[Any], rowids: tuple[int | None, int | None] = (None, None)
) -> str:
    positions = _positions(spec)
    where = where_sql(spec, params, rowids)
    sql = f"SELECT _id, creation_time, doc FROM {source_sql(spec)}"
    direction = " DESC" if spec.desc else ""
    order = [c for p in positions if p is not _CT for c in p]
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += " ORDER BY " + ", ".join(c + direction for c in order)
    if spec.limit is not None:
        sql += " LIMIT ?"
        params.append(spec.limit)
    return sql


def source_sql(spec: IndexScan) -> str:
    """The table, with the scanned index named (``INDEXED BY``) unless it is the table's own
    row order."""
    sql = quote(spec.table)
    if spec.index_name not in (ID_INDEX, CREATION_INDEX):
        sql += f" INDEXED BY {quote(index_sql_name(spec.table, spec.index_name))}"
    return sql


def where_sql(
    spec: IndexScan, params: list[Any], rowids: tuple[int | None, int | None] = (None, None)
) -> list[str]:
    """The conditions (joined by AND) that keep the rows of ``spec``: its eq prefix, bounds,
    row numbers (``rowids``, see ``scan_sql``), filters and pagination keys."""
    positions = _positions(spec)
    where: list[str] = []
    for position, value in zip(positions, spec.eqs, strict=False):
        if len(position) == 2:
            params.extend(sql_key(value))
            where.append(f"{position[0]} = ? AND {position[1]} = ?")
        else:
            params.append(value)
            where.append(f"{position[0]} = ?")
    pos = len(spec.eqs)
    for bound in (spec.lower, spec.upper):
        if bound is not None:
            where.append(_condition(positions[pos], _SQL_OP[bound[0]], bound[1], params))
    if rowids[0] is not None:
        where.append("_id >= ?")
        params.append(rowids[0])
    if rowids[1] is not None:
        where.append("_id < ?")
        params.append(rowids[1])
    for expr in spec.filters:
        where.append(compile_expr(expr, params))
    # The rest of the key, less the creation time, which the rowid after it orders the same.
    tail = [(i, p) for i, p in enumerate(positions) if i >= pos and p is not _CT]
    if spec.after is not None:
        # With every key column fixed by eq, nothing comes after the one possible key.
        where.append(_after(tail, spec.after, spec.desc, params, strict=True) if tail else "0")
    if spec.until is not None and tail:
        where.append(_after(tail, spec.until, spec.desc, params, strict=False))
    return where


def _after(
    tail: list[tuple[int, tuple[str, ...]]], key: tuple[Any, ...], desc: bool, params: list[Any],
    strict: bool,
) -> str:
    """SQL for "the row's key comes after ``key`` in scan order" (``strict``) or "is not past
    ``key``" (not ``strict``), over the key positions ``tail``, as one row-value comparison
    (no key column is ever NULL)."""
    cols: list[str] = []
    for i, position in tail:
        cols.extend(position)
        params.extend(_params(position, key[i]))
    op = (">" if not desc else "<") if strict else ("<=" if not desc else ">=")
    marks = ", ".join("?" * len(cols))
    if len(cols) == 1:
        return f"{cols[0]} {op} ?"
    return f"(({', '.join(cols)}) {op} ({marks}))"
