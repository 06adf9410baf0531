"""The query behind ``fusiondb show`` and ``fusiondb watch``: one index range of a table, as dicts.

``--eq FIELD=VALUE`` values are read as JSON when they parse (``priority=3`` is a number,
``done=true`` a boolean, ``name='"3"'`` a string) and as text otherwise (``user_id=u1``).
"""

from __future__ import annotations

from typing import Any

import orjson

import fusiondb as fdb

from ..core.errors import InvalidQuery


def parse_eq(text: str) -> tuple[str, Any]:
    """``FIELD=VALUE`` as ``(field, value)``; ``InvalidQuery`` without a ``=``."""
    field, sep, raw = text.partition("=")
    if not sep or not field:
        raise InvalidQuery(f"--eq takes FIELD=VALUE, got {text!r}")
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError:
        value = raw
    return field, value


@fdb.query
def browse(
    db: fdb.Reader,
    table: str,
    index: str | None,
    eqs: list[tuple[str, Any]],
    order: str,
    limit: int,
) -> list[dict[str, Any]]:
    """Up to ``limit`` documents of ``table`` in ``index`` order, the range fixed by ``eqs``."""
    query = db.query(table)
    if index is not None:

        def fix(r: Any) -> Any:
            for field, value in eqs:
                r = r.eq(field, value)
            return r

        query = query.with_index(index, fix)
    elif eqs:
        raise InvalidQuery("--eq needs --index: the fields it fixes are an index's, in order")
    rows: list[dict[str, Any]] = query.order("desc" if order == "desc" else "asc").as_dicts().take(limit)
    return rows
