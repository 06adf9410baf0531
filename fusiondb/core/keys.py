"""Index keys: the values an index holds for a document, and their order (Convex's).

Every index's key is ``(field values..., creation_time, rowid)``; ``by_id`` is ``(rowid,)``,
``by_creation_time`` ``(creation_time, rowid)``. A field value is the document's JSON value at
the field's path, as stored (``extract``): ``None`` (null, or a missing field or parent
object: the model reads those as ``None`` too), ``bool``, ``int``, ``float``, ``str``, a
``list``, a ``dict``, and bytes as the tagged object ``{"$bytes": "<hex>"}``
(``documents.py``). Creation time increases with the rowid, so the rowid alone orders the
creation-time tail of every key (the file has no creation-time index).

The order is Convex's total order over values (its ``crates/value/src/sorting.rs``)::

    null (and missing) < numbers < booleans < strings < bytes < arrays < objects

Numbers compare by value, ints and floats as one number type (Convex keeps int64 and
float64 apart because JavaScript must; Python need not). Strings compare by code point
(= UTF-8 bytes), bytes bytewise, arrays element by element and then by length, objects as
their (key, value) pairs in key order, then by length. ``normalize_value`` maps a value to
a Python tuple that sorts in that order (what reactive matching compares); ``sort_bytes``
encodes it as bytes that sort bytewise in the same order (what SQLite compares for arrays
and objects: ``engine/sqlite`` registers it as a SQL function); ``sql_key`` is the
``(type tag, value)`` pair the SQLite index holds. ``TOP`` extends a key prefix past every key
that starts with it, so a half-open range becomes a closed interval over key tuples.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterable
from typing import Any

import orjson

from .bytesvalues import BYTES_TAG, bytes_of
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
    elif isinstance(value, list | tuple):
        return next((p for p in map(value_problem, value) if p is not None), None)
    elif isinstance(value, dict):
        parts = (value_problem(x) for kv in value.items() for x in kv)
        return next((p for p in parts if p is not None), None)
    return None


# A search index's entry for one document: (searched text, filter field values).
SearchEntry = tuple[str, tuple[Any, ...]]

# The type tags, in the order of the types (also the tag column of a SQLite index).
TAG_NULL, TAG_NUMBER, TAG_BOOL, TAG_STRING, TAG_BYTES, TAG_ARRAY, TAG_OBJECT = range(7)
_TAG_TOP = 9


def extract(doc: dict[str, Any], path: str) -> Any:
    """The JSON value at ``path`` of a stored document; ``None`` if missing."""
    if "." not in path and type(doc) is dict:
        return doc.get(path)  # the common case, on every write: one lookup
    value: Any = doc
    for part in path.split("."):
        if type(value) is not dict:
            return None
        value = value.get(part)
    return value


def search_entry(index: SearchIndexDef, doc: dict[str, Any]) -> SearchEntry:
    """What search index ``index`` holds for ``doc``: its text ('' unless a string) and the
    values of its filter fields. The one definition used by writes, index builds and matching.
    """
    text = extract(doc, index.search_field)
    return (
        text if isinstance(text, str) else "",
        tuple(search_value(doc, f) for f in index.filter_fields),
    )


def search_value(doc: dict[str, Any], path: str) -> Any:
    """A search filter field's value: the JSON value, an array or object as its JSON text
    (search filters compare with ``eq`` only: the same value, booleans not numbers)."""
    value = extract(doc, path)
    if type(value) is dict or type(value) is list:
        return orjson.dumps(value).decode()
    return value


def stored_json(value: Any) -> Any:
    """A plain value as a document stores it: JSON values as they are, ``bytes`` as
    ``{"$bytes": "<hex>"}``, tuples as lists; raises ``ValueError`` for NaN and infinity and
    ``TypeError`` for anything else."""
    kind = type(value)
    if value is None or kind is str or kind is int or kind is bool:
        return value
    if kind is float:
        if value - value != 0.0:
            raise ValueError("NaN and infinity are never stored")
        return value
    if kind is bytes:
        return {BYTES_TAG: value.hex()}
    if kind is list or kind is tuple:
        return [stored_json(v) for v in value]
    if kind is dict:
        out = {}
        for k, v in value.items():
            if type(k) is not str:
                raise TypeError(f"object keys are strings, got {type(k).__name__}")
            out[k] = stored_json(v)
        return out
    raise TypeError(f"a {kind.__name__} is not a JSON value")


def tag_of(value: Any) -> int:
    """The type tag of a stored JSON value (``TAG_*``)."""
    if value is None:
        return TAG_NULL
    t = type(value)
    if t is str:
        return TAG_STRING
    if t is bool:
        return TAG_BOOL
    if t is int or t is float:
        return TAG_NUMBER
    if t is list:
        return TAG_ARRAY
    if t is dict:
        return TAG_BYTES if bytes_of(value) is not None else TAG_OBJECT
    if t is bytes:
        return TAG_BYTES
    raise TypeError(f"not an index value: {type(value).__name__}")


def normalize_value(value: Any) -> tuple[int, Any]:
    """``(tag, comparable)``: tuples that sort in the value order (see the module docstring)."""
    t = type(value)
    if t is str:
        return (TAG_STRING, value)
    if t is int or t is float:
        return (TAG_NUMBER, value)
    if value is None:
        return (TAG_NULL, 0)
    if t is bool:
        return (TAG_BOOL, value)
    if value is TOP:
        return (_TAG_TOP, 0)
    if t is list:
        return (TAG_ARRAY, tuple([normalize_value(v) for v in value]))
    if t is dict:
        raw = bytes_of(value)
        if raw is not None:
            return (TAG_BYTES, raw)
        return (TAG_OBJECT, tuple([(k, normalize_value(value[k])) for k in sorted(value)]))
    if t is bytes:
        return (TAG_BYTES, value)
    raise TypeError(f"not an index value: {type(value).__name__}")


def normalize_key(key: Key) -> tuple[tuple[int, Any], ...]:
    return tuple([normalize_value(v) for v in key])


# -- sort_bytes: the same order as bytes (FoundationDB tuple-layer style, self-delimiting) ---

_END = 0  # ends a string, an array, an object; below every element tag, so shorter sorts first
_PAIR = 1  # starts an object's (key, value) pair
_B_NULL, _B_NUMBER, _B_BOOL, _B_STRING, _B_BYTES, _B_ARRAY, _B_OBJECT = range(2, 9)
_RESIDUAL = 1 << 15  # offset of an int's distance to its float (fits 2 bytes)
_PACK = struct.Struct(">d").pack


def _escaped(raw: bytes) -> bytes:
    # A 0 byte inside a string becomes 0 255, so the 0 that ends it sorts before any content.
    return raw.replace(b"\x00", b"\x00\xff")


def _number(value: int | float, out: bytearray) -> None:
    """A number as 10 bytes: its nearest float64 (order-preserving), then, for an int, its
    distance to that float, so that ints and floats compare exactly by value."""
    f = float(value)
    if f == 0.0:
        f = 0.0  # -0.0 == 0.0
    packed = bytearray(_PACK(f))
    if packed[0] & 0x80:
        packed = bytearray(b ^ 0xFF for b in packed)
    else:
        packed[0] |= 0x80
    out += packed
    residual = 0 if type(value) is float else int(value) - int(f)
    residual = max(-_RESIDUAL + 1, min(_RESIDUAL - 1, residual)) + _RESIDUAL
    out += residual.to_bytes(2, "big")


def _encode(value: Any, out: bytearray) -> None:
    t = type(value)
    if t is str:
        out.append(_B_STRING)
        out += _escaped(value.encode())
        out.append(_END)
    elif t is int or t is float:
        out.append(_B_NUMBER)
        _number(value, out)
    elif value is None:
        out.append(_B_NULL)
    elif t is bool:
        out.append(_B_BOOL)
        out.append(1 if value else 0)
    elif t is list:
        out.append(_B_ARRAY)
        for item in value:
            _encode(item, out)
        out.append(_END)
    elif t is dict or t is bytes:
        raw = value if t is bytes else bytes_of(value)
        if raw is not None:
            out.append(_B_BYTES)
            out += _escaped(raw)
            out.append(_END)
            return
        out.append(_B_OBJECT)
        for k in sorted(value):
            out.append(_PAIR)
            out += _escaped(k.encode())
            out.append(_END)
            _encode(value[k], out)
        out.append(_END)
    else:
        raise TypeError(f"not an index value: {type(value).__name__}")


_STRING_TAG = bytes([_B_STRING])
_END_BYTE = bytes([_END])


def sort_bytes(value: Any) -> bytes:
    """``value`` encoded so that bytewise order is the value order."""
    if type(value) is str:  # the most common key value: no bytearray to build and copy
        return _STRING_TAG + _escaped(value.encode()) + _END_BYTE
    out = bytearray()
    _encode(value, out)
    return bytes(out)


def sort_bytes_of_json(*args: Any) -> bytes | None:
    """``sort_bytes`` of one JSON text (the SQL function the SQLite engine registers)."""
    text = args[0]
    return None if text is None else sort_bytes(orjson.loads(text))


def sql_key(value: Any) -> tuple[int, Any]:
    """The ``(tag, value)`` pair a SQLite index holds for ``value``: numbers, 0/1 for booleans,
    text, the hex text of bytes, ``sort_bytes`` of an array or object, 0 for null."""
    t = type(value)
    if t is str:
        return (TAG_STRING, value)
    if t is int or t is float:
        return (TAG_NUMBER, value)
    if value is None:
        return (TAG_NULL, 0)
    if t is bool:
        return (TAG_BOOL, int(value))
    raw = bytes_of(value) if t is dict else value if t is bytes else None
    if raw is not None:
        return (TAG_BYTES, raw.hex())
    if t is list:
        return (TAG_ARRAY, sort_bytes(value))
    if t is dict:
        return (TAG_OBJECT, sort_bytes(value))
    raise TypeError(f"not an index value: {type(value).__name__}")


def is_key_value(value: Any) -> bool:
    """Whether ``value`` is a JSON value an index key can hold (for decoded cursors)."""
    try:
        normalize_value(value)
    except (TypeError, ValueError, RecursionError):
        return False
    return value is not TOP and type(value) is not bytes


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
                return (doc.get(only),)

            return one_plain
        return lambda doc: (extract(doc, only),)
    return lambda doc: tuple([extract(doc, f) for f in fields])
