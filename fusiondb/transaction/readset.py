"""Read sets: what a query run read, as key intervals per (table, index).

A query records only what it actually scanned: a ``take(10)`` records up to its 10th key, a
``get`` a point in ``by_id``, an unindexed scan the ``by_creation_time`` range. The
subscription manager turns these into entries of its interval index.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..core.keys import Key
from ..core.schema import ID_INDEX


@dataclass(slots=True)
class KeyRange:
    """Keys ``lo`` to ``hi`` (both included; ``TOP`` ends a prefix) of one index. Not frozen:
    one is made on every run of a live query, and a frozen dataclass costs ~2x to build."""

    table: str
    index: str
    lo: Key
    hi: Key


@dataclass(frozen=True)
class SearchRead:
    """A full-text search read: table, index, whole terms, the prefix-matched last term, and
    the equality filters as (position in the index's filter_fields, value)."""

    table: str
    index: str
    terms: tuple[str, ...]
    prefix: str | None
    filters: tuple[tuple[int, Any], ...]


@dataclass(frozen=True)
class VectorRead:
    """A vector search read: table, vector index, and the filter values it was limited to,
    as ``(position in the index's filter_fields, core.vectors.eq_key(value))`` (any of them;
    empty: every document of the index)."""

    table: str
    index: str
    filters: frozenset[tuple[int, Any]]


@dataclass
class ReadSet:
    ranges: list[KeyRange] = field(default_factory=list)
    searches: list[SearchRead] = field(default_factory=list)
    vectors: list[VectorRead] = field(default_factory=list)

    def add_range(self, table: str, index: str, lo: Key, hi: Key) -> None:
        self.ranges.append(KeyRange(table, index, lo, hi))

    def add_point(self, table: str, rowid: int) -> None:
        self.ranges.append(KeyRange(table, ID_INDEX, (rowid,), (rowid,)))

    def add_search(self, read: SearchRead) -> None:
        self.searches.append(read)

    def add_vector(self, read: VectorRead) -> None:
        self.vectors.append(read)
