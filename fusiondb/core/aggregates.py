"""Aggregates over a query's documents (``count``, ``sum``, ``min``, ``max``): what they mean.

An engine computes them itself (SQLite: ``engine/sqlite/aggregate.py``, from the index where
it can); ``aggregate`` here is the plain definition over stored documents, which the tests
hold every engine to and an engine without a native way may fall back to (reading the
documents of the range).

- ``count``: how many documents.
- ``sum``: of the field's values that are numbers (booleans are not numbers in the value
  order; null, missing, strings and the rest are left out). Ints add up exactly, to an int of
  any size; once a float is summed the result is a float (compensated summation, so it may
  differ from naive left-to-right addition in the last bits). Nothing summed: ``0``.
- ``min`` / ``max``: the least / greatest value of the field in the value order
  (``core/keys.py``: numbers < booleans < strings < bytes < arrays < objects), among the
  documents where it is present and not null; ``None`` if there is none. Of equal values
  (``1`` and ``1.0``) any one may be returned.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any, Literal

from .keys import extract, normalize_value

Function = Literal["count", "sum", "min", "max"]
FUNCTIONS: tuple[Function, ...] = ("count", "sum", "min", "max")


def aggregate(function: Function, field: str | None, docs: Iterable[dict[str, Any]]) -> Any:
    """``function`` over the stored documents ``docs`` (JSON objects), of ``field`` (a
    dotted path; ``None`` for ``count``)."""
    if function == "count":
        return sum(1 for _ in docs)
    assert field is not None, f"{function} reads a field"
    values = [extract(doc, field) for doc in docs]
    if function == "sum":
        return sum_numbers(values)
    present = [v for v in values if v is not None]
    if not present:
        return None
    pick = min if function == "min" else max
    return pick(present, key=normalize_value)


def sum_numbers(values: Iterable[Any]) -> int | float:
    """The sum of the numbers among ``values`` (see the module docstring)."""
    ints = 0
    floats: list[float] = []
    for v in values:
        kind = type(v)
        if kind is int:
            ints += v
        elif kind is float:
            floats.append(v)
    if not floats:
        return ints
    return math.fsum([*floats, ints]) if ints else math.fsum(floats)
