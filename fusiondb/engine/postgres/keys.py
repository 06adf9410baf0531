"""Index keys as bytes: fusiondb's own order, computed in Python on every write.

PostgreSQL's own orders are not fusiondb's (``doc->>'f'`` compares numbers as text, jsonb
puts strings before numbers, collations reorder case), so every index has a ``bytea`` key
column holding ``core.keys.sort_bytes`` of each indexed field's value, concatenated. Those
encodings are self-delimiting, so bytewise order of the concatenation is the order of the
value tuples: the same order and equality as the SQLite engine's index columns (which use
the same value order from ``core/keys.py``), for every type, arrays and objects included.

A range over a key's next position is a byte range: with ``p`` the bytes of the fixed prefix
and ``v`` those of the bound value, keys whose next value equals the bound start with
``p + v`` and are followed by another value's type byte (below ``0xff``), or end; so
``> v`` is ``>= p + v + ff``, ``>= v`` is ``>= p + v``, ``< v`` is ``< p + v`` and
``<= v`` is ``< p + v + ff``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ...core.keys import extract, sort_bytes

PAST = b"\xff"


def key_bytes(values: tuple[Any, ...] | list[Any]) -> bytes:
    return b"".join([sort_bytes(v) for v in values])


def key_function(fields: tuple[str, ...]) -> Callable[[dict[str, Any]], bytes]:
    """``doc -> key bytes`` of an index over ``fields``."""
    if len(fields) == 1:
        only = fields[0]
        return lambda doc: sort_bytes(extract(doc, only))
    return lambda doc: b"".join([sort_bytes(extract(doc, f)) for f in fields])


def unique_function(fields: tuple[str, ...]) -> Callable[[dict[str, Any]], bytes | None]:
    """``doc -> key bytes`` of a unique index over ``fields``, or ``None`` when any position
    is null or missing (such keys are exempt from uniqueness)."""

    def unique_key(doc: dict[str, Any]) -> bytes | None:
        values = [extract(doc, f) for f in fields]
        if any(v is None for v in values):
            return None
        return b"".join([sort_bytes(v) for v in values])

    return unique_key


def bound(prefix: bytes, op: str, value: Any) -> tuple[str, bytes]:
    """``(SQL operator, bytes)`` for ``key op value`` at the position after ``prefix``."""
    v = prefix + sort_bytes(value)
    if op == "gt":
        return ">=", v + PAST
    if op == "gte":
        return ">=", v
    if op == "lt":
        return "<", v
    return "<", v + PAST  # lte
