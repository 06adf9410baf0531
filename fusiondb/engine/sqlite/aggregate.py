"""SQL for aggregates over an index range (``base.Aggregate``), from validated names only.

The range's conditions are ``scan.where_sql``'s, over the same ``INDEXED BY`` index, so
``count(*)`` over an index range reads that index alone (a covering index scan: no document
is read), and so do ``sum``/``min``/``max`` of a field of the index. A field outside the
index, or a filter, is read from the document by SQLite; nothing is sent up but the result.

- ``sum``: SQLite's ``sum()`` over the values whose type tag is a number (compensated for
  floats). On an integer overflow (only ints summed, past 64 bits) the same values are
  fetched and added up exactly in Python, so the result is the exact int.
- ``min``/``max``: the row whose ``(tag, value)`` pair (the index's form of the value order,
  ``ddl.tag_sql``/``value_sql``) is least/greatest among the non-null ones, ``_id`` breaking
  ties; its document gives the value (read by orjson, exactly as stored).
"""

from __future__ import annotations

from typing import Any

import apsw
import orjson

from ...core.aggregates import sum_numbers
from ...core.keys import TAG_NULL, TAG_NUMBER, extract
from ..base import Aggregate
from .ddl import json_path, quote, tag_column, tag_sql, value_column, value_sql
from .scan import source_sql, where_sql


def field_sql(spec: Aggregate) -> tuple[str, str]:
    """The SQL of the aggregated field's type tag and comparable value: the index's columns
    when the field is one of the scanned index's, else computed from the document."""
    field = spec.field
    assert field is not None
    scan = spec.scan
    if field in scan.fields:
        composite = field in scan.composite
        return quote(tag_column(field)), quote(value_column(field, composite))
    tag = tag_sql(field)
    return tag, value_sql(field, True, tag)


def aggregate_sql(
    spec: Aggregate, rowids: tuple[int | None, int | None] = (None, None)
) -> tuple[str, list[Any]]:
    """The statement and parameters computing ``spec`` (one row, one column: the count, the
    sum, or the ``_id`` of the min/max row; ``rows_sql`` for a sum's exact fallback)."""
    params: list[Any] = []
    where = where_sql(spec.scan, params, rowids)
    if spec.function == "count":
        return _select("count(*)", spec, where), params
    tag, value = field_sql(spec)
    if spec.function == "sum":
        where.append(f"{tag} = {TAG_NUMBER}")
        return _select(f"sum({_number(spec, value)})", spec, where), params
    where.append(f"{tag} <> {TAG_NULL}")
    direction = "" if spec.function == "min" else " DESC"
    sql = _select("_id", spec, where)
    sql += f" ORDER BY {tag}{direction}, {value}{direction}, _id LIMIT 1"
    return sql, params


def rows_sql(spec: Aggregate, rowids: tuple[int | None, int | None] = (None, None)) -> tuple[str, list[Any]]:
    """The numbers a ``sum`` adds, one per row (its exact fallback)."""
    params: list[Any] = []
    where = where_sql(spec.scan, params, rowids)
    tag, value = field_sql(spec)
    where.append(f"{tag} = {TAG_NUMBER}")
    return _select(_number(spec, value), spec, where), params


def _number(spec: Aggregate, value: str) -> str:
    """A number's SQL value: the index column holds it as is; from the document, the
    number itself (``value_sql`` would be the same, through a CASE)."""
    if spec.field in spec.scan.fields:
        return value
    return f"(doc ->> '{json_path(spec.field or '')}')"


def _select(what: str, spec: Aggregate, where: list[str]) -> str:
    sql = f"SELECT {what} FROM {source_sql(spec.scan)}"
    if where:
        sql += " WHERE " + " AND ".join(where)
    return sql


_DOC = "SELECT doc FROM {t} WHERE _id = ?"


def run(cur: apsw.Cursor, spec: Aggregate, rowids: tuple[int | None, int | None]) -> Any:
    """``spec``'s value (see ``base.Aggregate``)."""
    sql, params = aggregate_sql(spec, rowids)
    if spec.function == "sum":
        try:
            total = cur.execute(sql, params).get
        except apsw.SQLError as exc:
            if "integer overflow" not in str(exc):
                raise
            sql, params = rows_sql(spec, rowids)
            return sum_numbers(v for (v,) in cur.execute(sql, params))
        return 0 if total is None else total
    found = cur.execute(sql, params).get
    if spec.function == "count":
        return int(found)  # type: ignore[arg-type]
    if found is None:
        return None
    doc = cur.execute(_DOC.format(t=quote(spec.scan.table)), (found,)).get
    return extract(orjson.loads(doc), spec.field or "")  # type: ignore[arg-type]
