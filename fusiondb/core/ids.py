"""Document ids: opaque strings that name their table and are never reused.

An id packs the table's number (2 bytes), the row's number (6 bytes) and a 16-bit checksum
into 10 bytes, written as 16 lowercase base32 characters. Row numbers come from SQLite's
AUTOINCREMENT, so a deleted document's id is never handed out again, and table numbers are
never reused either (the catalog keeps the counter). Encoding and decoding are table
lookups plus C-level calls (``int.to_bytes``, ``zlib.crc32``) because they sit on every read.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from pydantic import GetCoreSchemaHandler
from pydantic_core import core_schema

ID_LENGTH = 16
MAX_ROWID = (1 << 48) - 1
MAX_TABLE_NUMBER = (1 << 16) - 1
ID_CONTEXT_KEY = "fusiondb_table_names"


# Multiplying by an odd constant mod 2**64 is a bijection: ids look random, not sequential,
# while decoding stays one multiplication by the inverse.
_MASK = (1 << 64) - 1
_MIX = 0x9E3779B97F4A7C15
_UNMIX = pow(_MIX, -1, 1 << 64)


# base64's b32encode/b32decode are pure Python before 3.13 (~2 us per id); ids sit on every
# read, so the same RFC 4648 base32 (lowercase, 80 bits = 16 characters, no padding) is done
# here: encoding with a table of 10-bit chunks (8 lookups), decoding with int(..., 32).
_ALPHABET = "abcdefghijklmnopqrstuvwxyz234567"
# For engines that compute ids themselves (engine/sqlite/views.py spells them in SQL).
ID_ALPHABET = _ALPHABET
ID_MULTIPLIER = _MIX
_PAIRS = [a + b for a in _ALPHABET for b in _ALPHABET]


def encode_id(table_number: int, rowid: int) -> str:
    body = (((table_number << 48) | rowid) * _MIX) & _MASK
    n = (body << 16) | (zlib.crc32(body.to_bytes(8, "big")) & 0xFFFF)
    p = _PAIRS
    return "".join((
        p[n >> 70], p[(n >> 60) & 1023], p[(n >> 50) & 1023], p[(n >> 40) & 1023],
        p[(n >> 30) & 1023], p[(n >> 20) & 1023], p[(n >> 10) & 1023], p[n & 1023],
    ))


class _Lanes:
    """Constants for encoding ``size`` ids at once, one 128-bit lane of a big int per id."""

    __slots__ = ("body_slices", "crcs", "low64", "m5", "m10", "m20", "m40", "ones", "out_slices",
                 "rows", "size")

    def __init__(self, size: int) -> None:
        def pattern(lane_bytes: int, bits: int) -> int:  # the low ``bits`` of every lane set
            return int.from_bytes(((1 << bits) - 1).to_bytes(lane_bytes, "big") * (16 * size // lane_bytes),
                                  "big")

        self.size = size
        self.rows = struct.Struct(">" + "8xQ" * size)
        self.crcs = struct.Struct(">" + "14xH" * size)
        self.low64 = pattern(16, 64)
        self.ones = pattern(16, 1)
        self.m40, self.m20, self.m10, self.m5 = (
            pattern(16, 40), pattern(8, 20), pattern(4, 10), pattern(2, 5)
        )
        self.body_slices = [slice(i + 8, i + 16) for i in range(0, 16 * size, 16)]
        self.out_slices = [slice(i, i + 16) for i in range(0, 16 * size, 16)]


_LANES = {size: _Lanes(size) for size in (8, 16, 32, 64, 128, 256)}
_B32_BYTES = _ALPHABET.encode().ljust(256, b"?")


def encode_ids(table_number: int, rowids: Sequence[int]) -> list[str]:
    """``[encode_id(table_number, r) for r in rowids]``, two to three times faster for many.

    Every id of a result set is encoded on each read, so this is on the read path. The
    arithmetic is done on all ids at once as one big int of 128-bit lanes (the multiply
    cannot carry across lanes), the base32 digits are spread to one per byte by shifts and
    masks, and one ``bytes.translate`` spells them; only the checksum is per id.
    """
    k = len(rowids)
    if k < 8:
        return [encode_id(table_number, r) for r in rowids]
    if k > 256:
        out: list[str] = []
        for i in range(0, k, 256):
            out.extend(encode_ids(table_number, rowids[i : i + 256]))
        return out
    lanes = _LANES[max(8, 1 << (k - 1).bit_length())]
    pad = lanes.size - k
    x = int.from_bytes(lanes.rows.pack(*rowids, *_ZEROS[:pad]), "big")
    x = ((x | (table_number << 48) * lanes.ones) * _MIX) & lanes.low64
    body = x.to_bytes(16 * lanes.size, "big")
    crc32 = zlib.crc32
    checks = [crc32(body[s]) & 0xFFFF for s in lanes.body_slices[:k]]
    x = (x << 16) | int.from_bytes(lanes.crcs.pack(*checks, *_ZEROS[:pad]), "big")
    # 80 bits per lane -> 16 groups of 5 bits, one per byte: halve the pieces four times.
    m = lanes.m40
    x = (x & m) | ((x >> 40 & m) << 64)
    m = lanes.m20
    x = (x & m) | ((x >> 20 & m) << 32)
    m = lanes.m10
    x = (x & m) | ((x >> 10 & m) << 16)
    m = lanes.m5
    x = (x & m) | ((x >> 5 & m) << 8)
    text = x.to_bytes(16 * lanes.size, "big").translate(_B32_BYTES).decode("ascii")
    return list(map(text.__getitem__, lanes.out_slices[:k]))


_ZEROS = (0,) * 256


# Decoding maps the alphabet onto the digits of int(..., 32) ("0-9a-v") with one bytes
# translation, and lets int() parse all 16 digits at once (~4x the 8 pair lookups). Every
# other byte maps to "!", which int() refuses, so nothing but the lowercase alphabet (no
# sign, space, underscore or capital, all of which int() would accept) decodes.
_TO_INT32_DIGITS = bytes(
    ord("0123456789abcdefghijklmnopqrstuv"[_ALPHABET.index(chr(b))]) if chr(b) in _ALPHABET else ord("!")
    for b in range(256)
)


def decode_id(value: object) -> tuple[int, int] | None:
    """Return ``(table_number, rowid)`` for a well-formed id, else ``None``."""
    if type(value) is not str or len(value) != ID_LENGTH:
        return None
    # One spelling per id (lowercase), so ids compare as strings: other spellings miss here.
    try:
        n = int(value.encode("ascii").translate(_TO_INT32_DIGITS), 32)
    except (UnicodeEncodeError, ValueError):
        return None
    body = n >> 16
    if (zlib.crc32(body.to_bytes(8, "big")) & 0xFFFF) != (n & 0xFFFF):
        return None
    n = (body * _UNMIX) & _MASK
    return n >> 48, n & MAX_ROWID


class _IdType(str):
    """Runtime class of ``fdb.Id["table"]`` and ``fdb.IdOf[Model]`` annotations: a ``str``
    that validates its shape.

    Pydantic checks that the value is a well-formed id; the database checks, on every write,
    that it names a document of ``table`` (the numbering of tables lives in the file). An
    ``IdOf[Model]`` learns its table when a ``Schema`` declares the table of ``model``.
    """

    table: str = ""
    model: type | None = None

    @classmethod
    def __get_pydantic_core_schema__(
        cls, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        def check(value: str, info: core_schema.ValidationInfo) -> str:
            table = cls.table  # read now: an IdOf[Model] learns it from the Schema
            decoded = decode_id(value)
            if decoded is None:
                raise ValueError(f"not a document id (expected an id of table {table!r})")
            # Inside the database the context maps table numbers to names, so an id of
            # another table is caught on write; outside it only the shape can be checked.
            names = info.context.get(ID_CONTEXT_KEY) if isinstance(info.context, dict) else None
            if names is not None:
                actual = names.get(decoded[0])
                if actual != table:
                    where = f"table {actual!r}" if actual else "no table of this database"
                    raise ValueError(f"id of {where}, expected an id of table {table!r}")
            return value

        return core_schema.with_info_after_validator_function(check, core_schema.str_schema())

    @classmethod
    def __get_pydantic_json_schema__(cls, schema: Any, handler: Any) -> Any:
        out = handler(schema)
        out["x-fusiondb-id"] = cls.table
        return out


class _IdFactory:
    """``fdb.Id["tasks"]``: a string type for ids of table ``tasks``."""

    _cache: dict[str, type[str]] = {}

    def __getitem__(self, table: str) -> type[str]:
        if not isinstance(table, str):
            raise TypeError("Id[...] takes a table name, e.g. Id['tasks']")
        cached = self._cache.get(table)
        if cached is None:
            cached = type(f"Id[{table!r}]", (_IdType,), {"table": table})
            self._cache[table] = cached
        return cached

    def __repr__(self) -> str:
        return "fusiondb.Id"


Id: Any = _IdFactory()

M = TypeVar("M")
_ID_OF: dict[type, type[_IdType]] = {}  # IdOf[model] by model

if TYPE_CHECKING:

    class IdOf(str, Generic[M]):
        """``fdb.IdOf[Task]``: the id of a document of the table whose model is ``Task``.

        To a type checker a ``str`` subtype that remembers the model (``db.get`` of one
        returns a ``Task | None``); at run time a ``str`` validated as ``fdb.Id`` is.
        """

else:

    class IdOf:
        """``fdb.IdOf[Task]``: the id of a document of the table whose model is ``Task``."""

        def __class_getitem__(cls, model: type) -> type[str]:
            if not isinstance(model, type):
                raise TypeError(f"IdOf[...] takes a document model, e.g. IdOf[Task], got {model!r}")
            cached = _ID_OF.get(model)
            if cached is None:
                name = f"IdOf[{model.__name__}]"
                cached = _ID_OF[model] = type(name, (_IdType,), {"model": model})
            return cached


def id_target_of(annotation: object) -> str | type | None:
    """What an ``Id[...]`` annotation refers to: a table name (``Id["tasks"]``), a model
    (``IdOf[Task]``, until a schema names its table), else ``None``."""
    if isinstance(annotation, type) and issubclass(annotation, _IdType):
        return annotation.model or annotation.table
    return None


def bind_id_table(model: type, table: str) -> str | None:
    """A schema declares ``table`` with ``model``: ``IdOf[model]`` now names it. Returns the
    other table it already named (a model's ids name one table), else ``None``."""
    cls = _ID_OF.get(model)
    if cls is None or cls.table in ("", table):
        if cls is not None:
            cls.table = table
        return None
    return cls.table
