"""Filter expressions (``core.expr``) evaluated in Python on the fetched rows.

PostgreSQL's own comparisons are not fusiondb's value order (see ``keys.py``), so filters are
not compiled to SQL here: each row the index range yields is tested against the filter with
the order of ``core.keys.normalize_value`` (the same truth as the SQLite engine's compiled SQL
and ``core.expr.ExprFilter``: a missing field is null, every comparison true or false).
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Any

import orjson

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
from ...core.keys import extract, normalize_value

_ORDER: dict[str, Callable[[Any, Any], bool]] = {
    "=": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}


def _value(expr: Expr, rowid: int, ct: float, doc: dict[str, Any]) -> Any:
    if isinstance(expr, Field):
        return extract(doc, expr.path)
    if isinstance(expr, Literal):
        return expr.value
    if isinstance(expr, SystemField):
        return rowid if expr.name == "rowid" else ct
    raise TypeError(f"not a value expression: {expr!r}")


def holds(expr: Expr, rowid: int, ct: float, doc: dict[str, Any]) -> bool:
    """Whether the row meets ``expr``."""
    if isinstance(expr, Literal):
        return bool(expr.value)
    if isinstance(expr, Compare):
        a = normalize_value(_value(expr.left, rowid, ct, doc))
        b = normalize_value(_value(expr.right, rowid, ct, doc))
        return _ORDER[expr.op](a, b)
    if isinstance(expr, Logical):
        parts = (holds(p, rowid, ct, doc) for p in expr.parts)
        return all(parts) if expr.op == "AND" else any(parts)
    if isinstance(expr, Not):
        return not holds(expr.inner, rowid, ct, doc)
    # The field conditions, as core.expr.ExprFilter means them.
    if isinstance(expr, In):
        value = normalize_value(_value(expr.item, rowid, ct, doc))
        return any(value == normalize_value(v) for v in expr.values)
    if isinstance(expr, StartsWith):
        found = _value(expr.item, rowid, ct, doc)
        return type(found) is str and found.startswith(expr.prefix)
    if isinstance(expr, Contains):
        found = _value(expr.item, rowid, ct, doc)
        wanted = normalize_value(expr.value)
        return type(found) is list and any(normalize_value(v) == wanted for v in found)
    if isinstance(expr, IsMissing):
        return _value(expr.item, rowid, ct, doc) is None
    raise TypeError(f"not a filter expression: {expr!r}")


def row_filter(filters: tuple[Expr, ...]) -> Callable[[tuple[Any, ...]], bool]:
    """``row -> bool`` for rows ``(rowid, creation_time, doc text, ...)``."""

    def keep(row: tuple[Any, ...]) -> bool:
        doc = orjson.loads(row[2])
        return all(holds(e, row[0], row[1], doc) for e in filters)

    return keep
