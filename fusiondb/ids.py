"""Document ids: opaque strings that name their table and are never reused.

An id packs the table's number (2 bytes), the row's number (6 bytes) and a 16-bit checksum
into 10 bytes, written as 16 lowercase base32 characters. Row numbers come from SQLite's
AUTOINCREMENT, so a deleted document's id is never handed out again, and table numbers are
never reused either (the catalog keeps the counter). Encoding and decoding are table
lookups plus C-level calls (``int.to_bytes``, ``zlib.crc32``) because they sit on every read.
"""

from __future__ import annotations

import zlib
from typing import Any

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
# here with tables of 10-bit chunks: 8 lookups each way.
_ALPHABET = "abcdefghijklmnopqrstuvwxyz234567"
_PAIRS = [a + b for a in _ALPHABET for b in _ALPHABET]
_PAIR_VALUE = {pair: i for i, pair in enumerate(_PAIRS)}


def encode_id(table_number: int, rowid: int) -> str:
    body = (((table_number << 48) | rowid) * _MIX) & _MASK
    n = (body << 16) | (zlib.crc32(body.to_bytes(8, "big")) & 0xFFFF)
    p = _PAIRS
    return (
        p[n >> 70] + p[(n >> 60) & 1023] + p[(n >> 50) & 1023] + p[(n >> 40) & 1023]
        + p[(n >> 30) & 1023] + p[(n >> 20) & 1023] + p[(n >> 10) & 1023] + p[n & 1023]
    )


def decode_id(value: object) -> tuple[int, int] | None:
    """Return ``(table_number, rowid)`` for a well-formed id, else ``None``."""
    if type(value) is not str or len(value) != ID_LENGTH:
        return None
    # One spelling per id (lowercase), so ids compare as strings: other spellings miss here.
    v = _PAIR_VALUE
    try:
        n = (
            (v[value[0:2]] << 70) | (v[value[2:4]] << 60) | (v[value[4:6]] << 50)
            | (v[value[6:8]] << 40) | (v[value[8:10]] << 30) | (v[value[10:12]] << 20)
            | (v[value[12:14]] << 10) | v[value[14:16]]
        )
    except KeyError:
        return None
    body = n >> 16
    if (zlib.crc32(body.to_bytes(8, "big")) & 0xFFFF) != (n & 0xFFFF):
        return None
    n = (body * _UNMIX) & _MASK
    return n >> 48, n & MAX_ROWID


class _IdType(str):
    """Runtime class of ``fdb.Id["table"]`` annotations: a ``str`` that validates its shape.

    Pydantic checks that the value is a well-formed id; the database checks, on every write,
    that it names a document of ``table`` (the numbering of tables lives in the file).
    """

    table: str = ""

    @classmethod
    def __get_pydantic_core_schema__(
        cls, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        table = cls.table

        def check(value: str, info: core_schema.ValidationInfo) -> str:
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

        return core_schema.with_info_after_validator_function(
            check,
            core_schema.str_schema(),
            metadata={"fusiondb_id_table": table},
        )

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


def id_table_of(annotation: object) -> str | None:
    """The table named by an ``Id[...]`` annotation, else ``None``."""
    if isinstance(annotation, type) and issubclass(annotation, _IdType):
        return annotation.table
    return None
