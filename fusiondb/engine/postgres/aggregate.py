# pyright: reportArgumentType=false, reportCallIssue=false
# (psycopg types a query as a LiteralString; this module's SQL is built from names validated
# by ddl.py, with every value a bound parameter, which pyright cannot see. mypy checks the rest.)
"""Aggregates over an index range (``base.Aggregate``) on PostgreSQL, from validated names
only, every value a bound parameter.

The range's conditions are ``scan.range_sql``'s (the same btree over the key column):

- ``count`` without filters: ``count(*)`` over the range; only the number comes back.
- ``min``/``max`` of the field at the range's next key position (the first index field after
  the equalities), without filters: key bytes are in the value order (``keys.py``) and a
  null sorts first, so it is the first (last) row of the range past the nulls; one document
  comes back.
- ``sum`` without filters: PostgreSQL adds the field's JSON numbers as ``numeric`` (exact,
  ints of any size); if one of them is a float (its JSON text has ``.``, ``e`` or ``E``) the
  result is the exact sum rounded once to a float, as ``math.fsum`` rounds.
- ``min``/``max`` of another field without filters: only that field's JSON values come back,
  compared in Python in the value order (PostgreSQL's own orders are not fusiondb's).
- with filters (evaluated in Python, ``filters.py``), or a path PostgreSQL's ``#>`` would read
  differently (a part that is an array position): the range's documents, through the scan's
  server-side cursor, then ``core.aggregates.aggregate``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

import orjson
import psycopg

from ...core.aggregates import aggregate
from ...core.keys import extract, normalize_value
from ...core.schema import CREATION_INDEX, ID_INDEX
from ..base import Aggregate
from . import ddl
from .keys import bound, key_bytes
from .scan import range_sql

Cursor = psycopg.Cursor[tuple[Any, ...]]


def _path(field: str) -> list[str] | None:
    """``field`` as a ``#>`` path, or ``None`` when ``#>`` would not mean ``extract``."""
    parts = field.split(".")
    if any(p.lstrip("-").isdigit() for p in parts):
        return None
    return parts


def _select(what: str, spec: Aggregate, where: list[str]) -> str:
    sql = f"SELECT {what} FROM {ddl.table_sql(spec.scan.table)}"
    if where:
        sql += " WHERE " + " AND ".join(where)
    return sql


def _key_position(spec: Aggregate) -> bool:
    """Whether ``spec.field`` is the key position right after the range's equalities."""
    scan = spec.scan
    if scan.index_name in (ID_INDEX, CREATION_INDEX):
        return False
    at = len(scan.eqs)
    return at < len(scan.fields) and scan.fields[at] == spec.field


def run(cur: Cursor, spec: Aggregate, rows: Callable[[], Iterator[Any]]) -> Any:
    """``spec``'s value (see ``base.Aggregate``); ``rows()``: the range's rows, filtered
    (the fallback)."""
    scan = spec.scan
    field = spec.field
    path = None if field is None else _path(field)
    if scan.filters or (field is not None and path is None):
        docs = (orjson.loads(row[2]) for row in rows())
        return aggregate(spec.function, field, docs)
    where, params, _ = range_sql(scan)
    if spec.function == "count":
        found = cur.execute(_select("count(*)", spec, where), params).fetchone()
        return int(found[0])  # type: ignore[index]
    assert field is not None and path is not None
    if spec.function == "sum":
        where.append("json_typeof(doc #> %s) = 'number'")
        params.append(path)
        sql = _select("sum((doc #>> %s)::numeric), bool_or((doc #>> %s) ~ '[.eE]')", spec, where)
        total, floats = cur.execute(sql, [path, path, *params]).fetchone()  # type: ignore[misc]
        if total is None:
            return 0
        assert isinstance(total, Decimal)
        return float(total) if floats else int(total)
    if _key_position(spec):
        column = ddl.key_column(scan.index_name)
        op, past_nulls = bound(key_bytes(scan.eqs), "gt", None)
        where.append(f"{column} {op} %s")
        params.append(past_nulls)
        direction = "" if spec.function == "min" else " DESC"
        sql = _select("doc", spec, where) + f" ORDER BY {column}{direction}, _id LIMIT 1"
        found = cur.execute(sql, params).fetchone()
        return None if found is None else extract(orjson.loads(found[0]), field)
    sql = _select("doc #> %s", spec, where)
    values = [orjson.loads(v) for (v,) in cur.execute(sql, [path, *params]) if v is not None]
    present = [v for v in values if v is not None]
    if not present:
        return None
    pick = min if spec.function == "min" else max
    return pick(present, key=normalize_value)
