"""The upkeep of vector indexes on the write path.

``sync`` is what the writer calls for every written document of a table with vector indexes
(``TxnContext.record``): it updates the engine's indexes in the same transaction and records
each changed entry in the write set, without its vector (``writeset.py``).
"""

from __future__ import annotations

from typing import Any

from ..core.tableinfo import TableInfo
from ..core.vectors import VectorEntry, vector_entry
from ..engine.base import WriteTxn
from .writeset import WriteSet


def sync(
    txn: WriteTxn,
    writes: WriteSet,
    info: TableInfo,
    rowid: int,
    old: dict[str, Any] | None,
    new: dict[str, Any] | None,
) -> None:
    """Update the vector indexes of one written document (``old``/``new``: the stored document
    before and after, ``None`` when absent) and record each changed entry in ``writes``."""
    names: list[str] = []
    before: list[VectorEntry | None] = []
    after: list[VectorEntry | None] = []
    for vdef in info.vector_indexes.values():
        a = None if old is None else vector_entry(vdef, old)
        b = None if new is None else vector_entry(vdef, new)
        if a == b:
            continue
        names.append(vdef.name)
        before.append(a)
        after.append(b)
        writes.record_vector(info.name, vdef.name, None if a is None else a[1], None if b is None else b[1])
    if names:
        txn.vector_sync(info.name, rowid, tuple(names), tuple(before), tuple(after))
