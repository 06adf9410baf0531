"""Unique indexes on the write path: turning the engine's ``KeyTaken`` into ``fdb.DuplicateKey``.

The engine enforces uniqueness (``engine/base.py``, ``KeyTaken``): that holds against every
writer, other processes included, and costs the happy path nothing here. When a write is
refused, this module finds which unique index and which document hold the key, through the
seam (an index scan with an ``eq`` on every field, the rule every engine implements), and
builds the error that names them.
"""

from __future__ import annotations

from typing import Any

import orjson

from ..core.bytesvalues import untag_any
from ..core.errors import DuplicateKey
from ..core.ids import encode_id
from ..core.keys import extract
from ..core.schema import IndexDef
from ..core.tableinfo import TableInfo
from ..engine.base import IndexScan, KeyTaken, ReadTxn


def holder(txn: ReadTxn, info: TableInfo, index: IndexDef, key: tuple[Any, ...]) -> list[int]:
    """The row numbers (at most two) of documents whose key of unique index ``index`` is
    ``key`` (values as stored), in creation order."""
    spec = IndexScan(
        info.name,
        index.name,
        index.fields,
        key,
        None,
        None,
        False,
        (),
        None,
        None,
        2,
        info.composite & frozenset(index.fields),
    )
    return [int(row[0]) for row in txn.scan(spec)]


def duplicate_key(
    txn: ReadTxn,
    info: TableInfo,
    raw: str,
    rowid: int | None,
    op: str,
    doc_id: str | None,
    taken: KeyTaken,
) -> DuplicateKey | KeyTaken:
    """The ``DuplicateKey`` for a refused write of document ``raw`` (JSON as stored) that is
    row ``rowid`` (``None``: a new one) and id ``doc_id``, by ``op`` (``insert``, ``patch``...):
    the first unique index of the table whose key another document holds."""
    doc: dict[str, Any] = orjson.loads(raw)
    for index in info.unique_indexes:
        if taken.index is not None and index.name != taken.index:
            continue
        key = tuple(extract(doc, f) for f in index.fields)
        if any(v is None for v in key):
            continue  # a key holding null is never taken
        others = [r for r in holder(txn, info, index, key) if r != rowid]
        if not others:
            continue
        shown = tuple(untag_any(v) for v in key)
        existing = encode_id(info.number, others[0])
        fields = ", ".join(index.fields)
        return DuplicateKey(
            f"{op}() in table {info.name!r}: unique index {index.name!r} ({fields}) already "
            f"holds the key {shown!r}, in document {existing}; nothing was written. Use "
            "another value, or change the existing document (db.query(...).with_index("
            f"{index.name!r}, ...).unique() finds it)",
            table=info.name,
            index=index.name,
            key=shown,
            existing_id=existing,
            field=index.fields[0],
            id=doc_id,
        )
    return taken  # no unique index says which: the engine's own error is all there is
