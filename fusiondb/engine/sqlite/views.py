"""Read-only SQL views of user tables, for plain SQLite tools: ``SELECT * FROM _view_tasks``.

Each table ``t`` gets a view ``_view_t`` with the document's public ``id``, its
``creation_time`` and one column per top-level field of the model (``doc ->> '$.field'``), so
a tool that has none of fusiondb's functions (the ``sqlite3`` shell, datasette) shows readable
rows, and an ``fdb.Id`` field joins to another view's ``id``. User names cannot start with
``_``, so the name cannot collide with a table, and ``$``-free names avoid quoting.

The id is computed in SQL with the same steps as ``core.ids.encode_id``:

1. ``body = ((table_number << 48) | rowid) * MIX mod 2**64``. SQLite turns an overflowing
   integer product into a float, so the product is done in four 16-bit limbs with explicit
   carries (every partial sum stays below 2**35).
2. ``crc = crc32(body as 8 big-endian bytes) & 0xFFFF``. CRC-32 is affine over GF(2): the
   checksum of 8 bytes is a constant XOR one table entry per (byte position, byte value). The
   8 tables of 256 16-bit entries are spelled as strings of code points ``0x10000 + entry``
   and read with ``unicode(substr(table, byte + 1, 1))``; SQLite has no XOR, so ``a ^ b`` is
   ``(a | b) - (a & b)``.
3. The 80 bits ``body << 16 | crc`` as 16 base32 letters, 5 bits each.

Each step is one level of nested ``SELECT`` naming its results, so no expression is spelled
out (or evaluated) more than a few times. Everything spliced into the SQL is a validated name or a number.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence

from ...core.ids import ID_ALPHABET, ID_MULTIPLIER
from . import ddl

VIEW_PREFIX = "_view_"
_M = [(ID_MULTIPLIER >> (16 * k)) & 0xFFFF for k in range(4)]  # the multiplier's 16-bit limbs, low first


def view_name(table: str) -> str:
    return VIEW_PREFIX + ddl.check_table_name(table)


def _crc_tables() -> tuple[int, list[str]]:
    """(checksum of 8 zero bytes, per byte position the string of its 256 contributions)."""
    zero = zlib.crc32(bytes(8))
    tables = []
    for position in range(8):
        entries = []
        for value in range(256):
            data = bytearray(8)
            data[position] = value
            entries.append((zlib.crc32(bytes(data)) ^ zero) & 0xFFFF)
        tables.append("".join(chr(0x10000 + e) for e in entries))
    return zero & 0xFFFF, tables


_CRC_ZERO, _CRC_TABLES = _crc_tables()


def _xor(a: str, b: str) -> str:
    return f"(({a} | {b}) - ({a} & {b}))"


def _digit(i: int) -> str:
    """The SQL for base32 digit ``i`` (0 = most significant) of ``hi << 32 | lo``."""
    p = 75 - 5 * i  # the digit's lowest bit in the 80-bit value
    if p >= 32:
        bits = f"((hi >> {p - 32}) & 31)"
    elif p + 5 <= 32:
        bits = f"((lo >> {p}) & 31)"
    else:
        bits = f"(((hi << {32 - p}) | (lo >> {p})) & 31)"
    return f"substr('{ID_ALPHABET}', {bits} + 1, 1)"


def id_select(table_number: int, source: str) -> str:
    """``SELECT _id, creation_time, doc, id FROM (...)``: ``source`` (a quoted table name or a
    parenthesized query with ``_id``, ``creation_time`` and ``doc``) plus each row's public id."""
    if not 0 <= table_number <= 0xFFFF:
        raise ValueError(f"table number out of range: {table_number}")
    x = ["(_id & 65535)", "((_id >> 16) & 65535)", "((_id >> 32) & 65535)", str(table_number)]
    products = [
        " + ".join(f"{x[i]} * {_M[k - i]}" for i in range(k + 1)) for k in range(4)
    ]
    keep = "_id, creation_time, doc"
    # Levels, innermost first; each adds named columns for the next.
    limbs = f"SELECT {keep}, " + ", ".join(f"{p} AS c{k}" for k, p in enumerate(products))
    s1 = "(c1 + (c0 >> 16))"
    s2 = f"(c2 + ({s1} >> 16))"
    s3 = f"(c3 + ({s2} >> 16))"
    body = (
        f"SELECT {keep}, (c0 & 65535) AS r0, ({s1} & 65535) AS r1, ({s2} & 65535) AS r2, "
        f"({s3} & 65535) AS r3"
    )
    # body's big-endian bytes: r3 high, r3 low, r2 high, ..., r0 low
    byte_sql = [f"({r} >> 8)" if half == 0 else f"({r} & 255)"
                for r in ("r3", "r2", "r1", "r0") for half in (0, 1)]
    lookups = ", ".join(
        f"(unicode(substr('{table}', {b} + 1, 1)) - 65536) AS t{k}"
        for k, (table, b) in enumerate(zip(_CRC_TABLES, byte_sql, strict=True))
    )
    regs = "r0, r1, r2, r3"
    crc_parts = f"SELECT {keep}, {regs}, {lookups}"
    pairs = f"SELECT {keep}, {regs}, " + ", ".join(
        f"{_xor(f't{2 * k}', f't{2 * k + 1}')} AS u{k}" for k in range(4)
    )
    quads = f"SELECT {keep}, {regs}, {_xor('u0', 'u1')} AS v0, {_xor('u2', 'u3')} AS v1"
    halves = (
        f"SELECT {keep}, ((r3 << 32) | (r2 << 16) | r1) AS hi, "
        f"((r0 << 16) | {_xor(_xor('v0', 'v1'), str(_CRC_ZERO))}) AS lo"
    )
    spelled = " || ".join(_digit(i) for i in range(16))
    query = source
    for level in (limbs, body, crc_parts, pairs, quads, halves):
        # OFFSET 0 keeps SQLite from flattening the levels into one expression, which would
        # evaluate the inner ones once per use (~100 times each) instead of once per row.
        query = f"({level} FROM {query} LIMIT -1 OFFSET 0)"
    return f"SELECT {keep}, {spelled} AS id FROM {query}"


def create_view_sql(table: str, table_number: int, fields: Sequence[str]) -> str:
    """The view of ``table``: id, creation_time, then each top-level field (as SQL values:
    JSON text for objects and arrays, 1/0 for booleans)."""
    columns = ", ".join(
        f"doc ->> '{ddl.json_path(f)}' AS {ddl.quote(f)}" for f in fields
    )
    return (
        f"CREATE VIEW {ddl.quote(view_name(table))} AS SELECT id, creation_time"
        + (f", {columns}" if columns else "")
        + f" FROM ({id_select(table_number, ddl.quote(table))})"
    )


def drop_view_sql(table: str) -> str:
    return f"DROP VIEW IF EXISTS {ddl.quote(view_name(table))}"
