"""SQL for index range scans and filter expressions, built from validated names only.

An ``IndexScan`` becomes one ``SELECT ... INDEXED BY`` over the table's index: ``IS ?`` on
the eq prefix, one bound on each side of the next key column, the pagination keys spelled
out null-aware, ``ORDER BY`` the key columns. Every value is a bound parameter. The common
shapes (no cursor, no filter) reuse their SQL text: only the parameters change.
"""

from __future__ import annotations

from typing import Any

from ...core.expr import Compare, Expr, Field, Literal, Logical, Not, SystemField
from ...core.schema import ID_INDEX
from ..base import IndexScan
from .ddl import column_of, index_sql_name, json_path, quote

_SQL_OP = {"gt": ">", "gte": ">=", "lt": "<", "lte": "<="}
# A bound at None: NULL (a missing or null field) sorts before every value, as null does in
# Convex, so ``gt(None)`` is "not null" and ``lt(None)`` is nothing. None means no condition.
_NULL_BOUND = {"gt": "{} IS NOT NULL", "gte": None, "lt": "0", "lte": "{} IS NULL"}
_SYSTEM_COLUMNS = {"rowid": "_id", "creation_time": "creation_time"}
# SQL text per scan shape; shapes come from the schema, so few exist.
_CACHE: dict[tuple[Any, ...], str] = {}
_CACHE_MAX = 4096


def compile_expr(expr: Expr, params: list[Any]) -> str:
    """SQL for a filter expression over the stored JSON (``doc``); values go to ``params``."""
    if isinstance(expr, Field):
        return f"(doc ->> '{json_path(expr.path)}')"
    if isinstance(expr, SystemField):
        return _SYSTEM_COLUMNS[expr.name]
    if isinstance(expr, Literal):
        params.append(expr.value)
        return "?"
    if isinstance(expr, Compare):
        left = compile_expr(expr.left, params)
        right = compile_expr(expr.right, params)
        # Equality is null-safe (missing == None), as in Python and Convex.
        if expr.op in ("=", "!="):
            return f"({left} {'IS' if expr.op == '=' else 'IS NOT'} {right})"
        # An ordering with a missing field is false, not SQL's unknown, so that ~ (NOT) is
        # its complement, as it is for the same predicate evaluated in Python.
        return f"coalesce({left} {expr.op} {right}, 0)"
    if isinstance(expr, Logical):
        return "(" + f" {expr.op} ".join(compile_expr(p, params) for p in expr.parts) + ")"
    if isinstance(expr, Not):
        return f"(NOT {compile_expr(expr.inner, params)})"
    raise TypeError(f"not a filter expression: {expr!r}")


def scan_sql(spec: IndexScan) -> tuple[str, list[Any]]:
    """The statement and parameters for ``spec`` (rows as ``IndexScan`` documents them)."""
    limited = spec.limit is not None
    if spec.after is None and spec.until is None and not spec.filters:
        shape = (
            spec.table, spec.index_name, spec.fields, spec.desc, limited, len(spec.eqs),
            _bound_shape(spec.lower), _bound_shape(spec.upper),
        )
        sql = _CACHE.get(shape)
        if sql is None:
            sql = _build(spec, [])
            if len(_CACHE) >= _CACHE_MAX:
                _CACHE.clear()
            _CACHE[shape] = sql
        # Parameters in the order _build appends them: eqs, bounds, limit.
        params = list(spec.eqs)
        params.extend(b[1] for b in (spec.lower, spec.upper) if b is not None and b[1] is not None)
        if limited:
            params.append(spec.limit)
        return sql, params
    params = []
    return _build(spec, params), params


def _bound_shape(bound: tuple[str, Any] | None) -> tuple[str, bool] | None:
    return None if bound is None else (bound[0], bound[1] is None)


def _build(spec: IndexScan, params: list[Any]) -> str:
    cols = [quote(column_of(f)) for f in spec.fields]
    by_id = spec.index_name == ID_INDEX
    # by_id is the table's own rowid order (its primary key), keyed by the rowid alone.
    key_cols = ["_id"] if by_id else [*cols, "creation_time", "_id"]
    where: list[str] = []
    for col, value in zip(key_cols, spec.eqs, strict=False):
        where.append(f"{col} IS ?")
        params.append(value)
    pos = len(spec.eqs)
    for bound in (spec.lower, spec.upper):
        if bound is None:
            continue
        if bound[1] is not None:
            where.append(f"{key_cols[pos]} {_SQL_OP[bound[0]]} ?")
            params.append(bound[1])
        elif (null_sql := _NULL_BOUND[bound[0]]) is not None:
            where.append(null_sql.format(key_cols[pos]))
    for expr in spec.filters:
        where.append(compile_expr(expr, params))
    tail = key_cols[pos:]
    if spec.after is not None:
        # With every key column fixed by eq, nothing comes after the one possible key.
        where.append(_after(tail, spec.after[pos:], spec.desc, params) if tail else "0")
    if spec.until is not None and tail:
        where.append(f"NOT {_after(tail, spec.until[pos:], spec.desc, params)}")
    # Key columns fixed by the eq prefix are not selected: their value is the eq value
    # (and reading a generated column per row is not free).
    select = ", ".join(["_id", "creation_time", "doc", *cols[pos:]])
    sql = f"SELECT {select} FROM {quote(spec.table)}"
    if not by_id:
        sql += f" INDEXED BY {quote(index_sql_name(spec.table, spec.index_name))}"
    if where:
        sql += " WHERE " + " AND ".join(where)
    direction = " DESC" if spec.desc else ""
    sql += " ORDER BY " + ", ".join(c + direction for c in key_cols)
    if spec.limit is not None:
        sql += " LIMIT ?"
        params.append(spec.limit)
    return sql


def _after(cols: list[str], key: tuple[Any, ...], desc: bool, params: list[Any]) -> str:
    """SQL for "key tuple of these columns comes after ``key`` in scan order", null-aware.

    Row values would drop rows holding NULL, which sorts first in an index, so the
    comparison is spelled out: c1 > v1 OR (c1 IS v1 AND (c2 > v2 OR ...)).
    """
    col, value = cols[0], key[0]
    if not desc:
        if value is None:
            strict = f"{col} IS NOT NULL"
        else:
            strict = f"{col} > ?"
            params.append(value)
    elif value is None:
        strict = "0"
    else:
        strict = f"({col} < ? OR {col} IS NULL)"
        params.append(value)
    if len(cols) == 1:
        return f"({strict})"
    params.append(value)
    rest = _after(cols[1:], key[1:], desc, params)
    return f"({strict} OR ({col} IS ? AND {rest}))"
