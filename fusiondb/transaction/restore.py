"""Storing a document under a given id and creation time: what an import with kept ids needs.

``Writer.insert`` numbers a new document itself; restoring an export keeps the number (and so
the id, which other documents may reference) and the creation time it had. The document is
validated, stored and recorded in the write set exactly as an insert is, so live queries see
it. The caller checks that the row number is free and belongs to this table.
``insert_restored_file`` does the same for a stored file (``fusiondb copy``), with its bytes.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import orjson

from ..core.documents import encode, to_input
from ..core.errors import ReadOnlyError
from ..core.ids import MAX_ROWID, encode_id
from ..core.tableinfo import TableInfo
from ..engine.base import KeyTaken
from .context import TxnContext
from .unique import duplicate_key


def insert_restored(
    ctx: TxnContext, info: TableInfo, doc: dict[str, Any], rowid: int, creation_time: float
) -> str:
    """Validate ``doc`` and store it as row ``rowid`` created at ``creation_time``."""
    if info.system:
        raise ReadOnlyError(f"table {info.name!r} is maintained by fusiondb and is read-only")
    if not 0 < rowid <= MAX_ROWID:
        raise ValueError(f"row number {rowid} is out of range")
    txn = ctx.write_txn()
    raw, _ = encode(info, to_input(info, doc), ctx.tables.names)
    try:
        txn.insert(info.name, creation_time, raw, rowid)
    except KeyTaken as taken:
        raise duplicate_key(txn, info, raw, None, "insert", None, taken) from None
    assert ctx.clock is not None
    ctx.clock.floor(creation_time)  # later inserts are created after the restored ones
    ctx.record(info, rowid, creation_time, None, ctx.indexed_values(info, raw))
    return encode_id(info.number, rowid)


def insert_restored_file(
    ctx: TxnContext,
    info: TableInfo,
    meta_raw: str,
    rowid: int,
    creation_time: float,
    chunks: Iterable[bytes],
) -> str:
    """Store a file copied from another database as ``_storage`` row ``rowid``: its metadata
    document ``meta_raw`` (as stored there: sha256, size, chunk size) and its bytes, ``chunks``
    of that chunk size in order, streamed (one chunk in memory at a time)."""
    if not 0 < rowid <= MAX_ROWID:
        raise ValueError(f"row number {rowid} is out of range")
    meta = orjson.loads(meta_raw)
    raw, _ = encode(info, meta, ctx.tables.names)  # validated as FileMetadata
    txn = ctx.write_txn()
    with txn.savepoint():
        txn.insert(info.name, creation_time, "{}", rowid)
        for seq, chunk in enumerate(chunks):
            txn.write_chunk(rowid, seq, memoryview(chunk))
        txn.update(info.name, rowid, raw)
    assert ctx.clock is not None
    ctx.clock.floor(creation_time)
    ctx.record(info, rowid, creation_time, None, orjson.loads(raw))
    return encode_id(info.number, rowid)
