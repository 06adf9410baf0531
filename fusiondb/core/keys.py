"""Index keys: the values an index holds for a document, computed in Python, and their order.

Every index's key is ``(field values..., creation_time, rowid)``; ``by_id`` is ``(rowid,)``.
Values follow what SQLite's ``doc ->> '$.path'`` yields: booleans as 0/1, objects and arrays
as JSON text, a missing field as NULL. ``TOP`` extends a key prefix past every key that starts
with it, so a half-open range becomes a closed interval over key tuples.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import orjson

from .schema import SearchIndexDef


class _Top:
    """Sorts after every value (in normalized keys)."""

    _instance: _Top | None = None

    def __new__(cls) -> _Top:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "TOP"

    def __reduce__(self) -> str:
        return "TOP"


TOP = _Top()

Key = tuple[Any, ...]

# SQLite's integers are 64-bit.
INT64_MIN = -(1 << 63)
INT64_MAX = (1 << 63) - 1


def value_problem(value: Any) -> str | None:
    """Why ``value`` cannot be compared with stored values in SQL, or ``None`` if it can."""
    if isinstance(value, int):
        if not INT64_MIN <= value <= INT64_MAX:
            return f"the integer {value} is outside the 64-bit range SQLite stores"
    elif isinstance(value, str) and not value.isascii():
        try:
            value.encode()
        except UnicodeEncodeError:
            return f"the string {value!r} holds a lone surrogate, which UTF-8 cannot encode"
    return None


# A search index's entry for one document: (searched text, filter field values).
SearchEntry = tuple[str, tuple[Any, ...]]


def extract(doc: dict[str, Any], path: str) -> Any:
    """The value ``doc ->> '$.path'`` gives in SQLite."""
    value: Any = doc
    if "." not in path and type(doc) is dict:
        value = doc.get(path)  # the common case, on every write: one lookup
    else:
        for part in path.split("."):
            if type(value) is not dict:
                return None
            value = value.get(part)
            if value is None:
                return None
    t = type(value)
    if t is str or t is int or t is float or value is None:
        return value
    if value is True:
        return 1
    if value is False:
        return 0
    if isinstance(value, dict | list):
        return orjson.dumps(value).decode()
    return value


def search_entry(index: SearchIndexDef, doc: dict[str, Any]) -> SearchEntry:
    """What search index ``index`` holds for ``doc``: its text ('' unless a string) and the
    values of its filter fields. The one definition used by writes, index builds and matching.
    """
    text = extract(doc, index.search_field)
    return (
        text if isinstance(text, str) else "",
        tuple(extract(doc, f) for f in index.filter_fields),
    )


# Normalized keys compare like SQLite: NULL < numbers < text < blobs; TOP after all.
_RANK_NULL, _RANK_NUM, _RANK_TEXT, _RANK_BLOB, _RANK_TOP = 0, 1, 2, 3, 9


def normalize_value(value: Any) -> tuple[int, Any]:
    if value is None:
        return (_RANK_NULL, 0)
    if value is TOP:
        return (_RANK_TOP, 0)
    t = type(value)
    if t is int or t is float or t is bool:
        return (_RANK_NUM, value)
    if t is str:
        return (_RANK_TEXT, value)
    if t is bytes:
        return (_RANK_BLOB, value)
    return (_RANK_TEXT, orjson.dumps(value).decode())


def normalize_key(key: Key) -> tuple[tuple[int, Any], ...]:
    return tuple(normalize_value(v) for v in key)


class KeyLayout:
    """How a table's written documents are recorded in write sets, and their keys rebuilt.

    A write set records a document as the tuple of its values of ``fields`` (every field path
    the table's indexes cover, each once): a tuple of atomic values builds fast and CPython's
    cyclic GC stops tracking it after one look, where a dict of key tuples per index was
    re-scanned by every collection until the commit. Index ``name``'s key is rebuilt on
    demand from ``positions`` into that tuple, then creation time and rowid. ``search`` names
    the table's search indexes, in the order their entries are recorded.
    """

    __slots__ = ("fields", "indexes", "search", "values", "wire")

    def __init__(
        self,
        fields: tuple[str, ...],
        indexes: tuple[tuple[str, tuple[int, ...]], ...],
        search: tuple[str, ...],
    ) -> None:
        self.fields = fields
        self.indexes = indexes
        self.search = search
        self.values = _values_of(fields)
        # What a reader of the change log needs (no field paths: only positions).
        self.wire = [[[name, list(pos)] for name, pos in indexes], list(search)]

    @classmethod
    def build(
        cls, indexes: Iterable[tuple[str, tuple[str, ...]]], search: Iterable[str]
    ) -> KeyLayout:
        """The layout of a table with these (index name, field paths) and search indexes."""
        indexes = list(indexes)
        position: dict[str, int] = {}
        for _, fields in indexes:
            for f in fields:
                position.setdefault(f, len(position))
        return cls(
            tuple(position),
            tuple((name, tuple(position[f] for f in fields)) for name, fields in indexes),
            tuple(search),
        )

    @classmethod
    def from_wire(cls, wire: list[Any]) -> KeyLayout:
        indexes, search = wire
        return cls((), tuple((name, tuple(pos)) for name, pos in indexes), tuple(search))


def _values_of(fields: tuple[str, ...]) -> Callable[[dict[str, Any]], tuple[Any, ...]]:
    """``doc -> tuple(extract(doc, f) for f in fields)``, specialized (it runs per write)."""
    if not fields:
        return lambda doc: ()
    if len(fields) == 1:
        only = fields[0]
        if "." not in only:

            def one_plain(doc: dict[str, Any]) -> tuple[Any, ...]:
                value = doc.get(only)
                t = type(value)
                if t is str or t is int or t is float or value is None:
                    return (value,)
                return (extract(doc, only),)

            return one_plain
        return lambda doc: (extract(doc, only),)
    return lambda doc: tuple([extract(doc, f) for f in fields])
