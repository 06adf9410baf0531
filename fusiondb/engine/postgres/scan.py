"""SQL for index range scans, built from validated names; every value a bound parameter.

An ``IndexScan`` becomes one ``SELECT`` over the table's btree index ``(key column, _id)``
(``by_id`` and ``by_creation_time``: the primary key ``_id``; creation time increases with
the row number, so the row number orders the creation-time tail of every key). Equalities on
the index fields fix a byte prefix of the key column; a bound on the next field is a byte
bound (``keys.bound``); a condition on the creation time or row number is one on its column,
decided by the value order when the bound is not a number (a number is above null and below
everything else). Pagination keys compare ``(key column, _id)`` as a row value. Filters are
not SQL: ``filters.py`` tests the rows.
"""

from __future__ import annotations

from typing import Any

from ...core.keys import TAG_NUMBER, tag_of
from ...core.schema import CREATION_INDEX, ID_INDEX
from ..base import IndexScan
from . import ddl
from .keys import PAST, bound, key_bytes

_SQL_OP = {"gt": ">", "gte": ">=", "lt": "<", "lte": "<="}
_PY_OP = {
    "gt": lambda a, b: a > b,
    "gte": lambda a, b: a >= b,
    "lt": lambda a, b: a < b,
    "lte": lambda a, b: a <= b,
    "eq": lambda a, b: a == b,
}


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _numeric(column: str, op: str, value: Any, where: list[str], params: list[Any]) -> None:
    """``column op value`` for a number column, with ``value`` of any type (value order)."""
    if _is_number(value):
        where.append(f"{column} {'=' if op == 'eq' else _SQL_OP[op]} %s")
        params.append(value)
    elif not _PY_OP[op](TAG_NUMBER, tag_of(value)):
        where.append("false")


def scan_sql(spec: IndexScan) -> tuple[str, list[Any]]:
    """The statement and parameters for ``spec``: rows ``(_id, creation_time, doc)``."""
    where, params, order = range_sql(spec)
    sql = f"SELECT _id, creation_time, doc FROM {ddl.table_sql(spec.table)}"
    if where:
        sql += " WHERE " + " AND ".join(where)
    direction = " DESC" if spec.desc else ""
    sql += " ORDER BY " + ", ".join(c + direction for c in order)
    if spec.limit is not None and not spec.filters:
        sql += " LIMIT %s"
        params.append(spec.limit)
    return sql, params


def range_sql(spec: IndexScan) -> tuple[list[str], list[Any], list[str]]:
    """The conditions (joined by ``AND``) and parameters selecting ``spec``'s range (its
    filters aside), and the columns ordering it."""
    where: list[str] = []
    params: list[Any] = []
    n = len(spec.fields)
    by_id = spec.index_name == ID_INDEX
    column = None if by_id or spec.index_name == CREATION_INDEX else ddl.key_column(spec.index_name)
    eqs = spec.eqs
    if by_id:
        # The key is (rowid,).
        if eqs:
            _numeric("_id", "eq", eqs[0], where, params)
        for b in (spec.lower, spec.upper):
            if b is not None and not eqs:
                _numeric("_id", b[0], b[1], where, params)
    else:
        prefix = key_bytes(eqs[:n]) if column is not None else b""
        if column is not None and eqs:
            if len(eqs) >= n:
                where.append(f"{column} = %s")
                params.append(prefix)
            else:
                where.append(f"{column} >= %s AND {column} < %s")
                params.extend((prefix, prefix + PAST))
        if len(eqs) > n:
            _numeric("creation_time", "eq", eqs[n], where, params)
        if len(eqs) > n + 1:
            _numeric("_id", "eq", eqs[n + 1], where, params)
        for b in (spec.lower, spec.upper):
            if b is None:
                continue
            if len(eqs) < n:
                assert column is not None
                op, value = bound(prefix, b[0], b[1])
                where.append(f"{column} {op} %s")
                params.append(value)
            elif len(eqs) == n:
                _numeric("creation_time", b[0], b[1], where, params)
            else:
                _numeric("_id", b[0], b[1], where, params)
    order = ["_id"] if column is None else [column, "_id"]
    for key, strict in ((spec.after, True), (spec.until, False)):
        if key is None:
            continue
        op = (">" if not spec.desc else "<") if strict else ("<=" if not spec.desc else ">=")
        if column is None:
            where.append(f"_id {op} %s")
            params.append(key[-1])
        else:
            where.append(f"({column}, _id) {op} (%s, %s)")
            params.extend((key_bytes(key[:n]), key[-1]))
    return where, params, order
