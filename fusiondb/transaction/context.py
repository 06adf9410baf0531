"""``TxnContext``: what one running function's transaction holds, shared by its ``db``, its
queries and the features used inside it (files, search).

The ``Reader``/``Writer`` a function receives is the public face; queries and file
operations work on the context it was built from, through the small API below, so nothing
reaches into another object's private attributes. When the function returns, the runner
marks the context inactive, and every ``db``, query and stream built on it refuses to go on.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import orjson

from ..core.documents import decode_model
from ..core.errors import DatabaseClosed, InvalidId
from ..core.ids import decode_id
from ..core.tableinfo import TableInfo
from ..engine.base import ReadTxn, WriteTxn
from .readset import ReadSet
from .tables import Tables
from .vectorsync import sync as sync_vectors
from .writeset import WriteSet, search_texts

# Pins of live pagination: a run records ("seen", key) -> (end cursor, is done); the next
# run of the same live query finds them as ("pinned", key). A key is a paginate call's
# query identity and how many calls with that identity came before it in the run (two
# pages over one index that differ only in their filters each keep their own end).
Pins = dict[tuple[str, Any], tuple[str, bool]]


class Clock:
    """Creation times in ms since the epoch, strictly increasing within this process.

    ``synced`` names the tables whose newest stored creation time the clock is known to be
    past (``Writer.insert`` floors it on a table's first insert); that stays true while only
    this clock's writer commits, so it is kept across transactions and cleared when another
    connection has committed (``forget``).
    """

    def __init__(self) -> None:
        self._last = 0.0
        self.synced: set[str] = set()

    def __call__(self) -> float:
        now = time.time() * 1000.0
        if now <= self._last:
            now = self._last + 0.001
        self._last = now
        return now

    def floor(self, newest: float | None) -> None:
        """Make the next time come after ``newest`` (a creation time already stored)."""
        if newest is not None and newest > self._last:
            self._last = newest

    def forget(self) -> None:
        """Another connection committed: its inserts may be ahead of this clock."""
        self.synced.clear()


class TxnContext:
    """One transaction of one running function (see the module docstring)."""

    __slots__ = ("active", "clock", "pin_calls", "pins", "readset", "tables", "txn", "writes")

    def __init__(
        self,
        txn: ReadTxn,
        tables: Tables,
        readset: ReadSet | None = None,
        pins: Pins | None = None,
    ) -> None:
        self.txn = txn
        self.tables = tables
        self.readset = readset
        self.pins = pins
        self.pin_calls: dict[Any, int] = {}
        self.active = True
        # Set for a mutation (``writing``).
        self.writes: WriteSet | None = None
        self.clock: Clock | None = None

    @classmethod
    def writing(cls, txn: WriteTxn, tables: Tables, clock: Clock) -> TxnContext:
        ctx = cls(txn, tables)
        ctx.writes = WriteSet()
        ctx.clock = clock
        return ctx

    def check(self) -> None:
        if not self.active:
            raise DatabaseClosed(
                "this db context belongs to a finished transaction; use the db passed to the "
                "function while it runs"
            )

    def resolve(self, table_or_id: object, doc_id: object) -> tuple[TableInfo, int, str]:
        """(table, rowid, id) for ``get(id)`` or ``get(table, id)`` (a table's name or its
        ``TableDef``); InvalidId otherwise."""
        if doc_id is None:
            doc_id, expected = table_or_id, None
        else:
            expected = self.tables.get(table_or_id)
        decoded = decode_id(doc_id)
        info = self.tables.by_number.get(decoded[0]) if decoded is not None else None
        if decoded is None or info is None:
            where = f" of table {expected.name!r}" if expected else ""
            raise InvalidId(
                f"{doc_id!r} is not a document id{where} of this database",
                id=doc_id,
                table=expected.name if expected else None,
            )
        if expected is not None and info is not expected:
            raise InvalidId(
                f"{doc_id!r} is an id of table {info.name!r}, not {expected.name!r}",
                id=doc_id,
                table=expected.name,
            )
        return info, decoded[1], str(doc_id)  # decoded: a str

    def read(self, info: TableInfo, rowid: int, doc_id: str) -> Any:
        """Document ``rowid`` of ``info``'s table as a model, or ``None``; recorded in the
        read set (a point in ``by_id``), so a live query follows it."""
        if self.readset is not None:
            self.readset.add_point(info.name, rowid)
        found = self.txn.get(info.name, rowid)
        if found is None:
            return None
        return decode_model(info, found, doc_id)

    def pin_slot(self, identity: Any) -> Any:
        """The pin key of a paginate call with query ``identity``: numbered by how many
        calls with the same identity this run made before it."""
        if self.pins is None:
            return None
        n = self.pin_calls.get(identity, 0)
        self.pin_calls[identity] = n + 1
        return (identity, n)

    def pinned_end(self, key: Any) -> tuple[str, bool] | None:
        return None if self.pins is None else self.pins.get(("pinned", key))

    def pin_end(self, key: Any, cursor: str, is_done: bool) -> None:
        if self.pins is not None:
            self.pins[("seen", key)] = (cursor, is_done)

    def write_txn(self) -> WriteTxn:
        """The transaction, for writing (a mutation's context only)."""
        assert self.writes is not None, "a write outside a mutation"
        txn: WriteTxn = self.txn  # type: ignore[assignment]
        return txn

    @contextmanager
    def savepoint(self) -> Iterator[None]:
        """A nested transaction of a mutation: if the block raises, what it wrote is undone,
        in the engine (documents, search indexes, files) and in the write set, so that
        subscribers never hear of it; otherwise it stays part of the transaction."""
        writes = self.writes
        assert writes is not None, "a savepoint outside a mutation"
        mark = writes.mark()
        with self.write_txn().savepoint():
            try:
                yield
            except BaseException:
                writes.undo(mark)
                raise

    def record(
        self,
        info: TableInfo,
        rowid: int,
        creation_time: float,
        old: dict[str, Any] | None,
        new: dict[str, Any] | None,
    ) -> None:
        """Record one written document (before and after, ``None`` for absent) in the write
        set, and bring its search indexes up to date in the same transaction."""
        writes = self.writes
        assert writes is not None, "a write outside a mutation"
        if info.vector_indexes:
            sync_vectors(self.write_txn(), writes, info, rowid, old, new)
        if not info.search_indexes:
            writes.record(info, rowid, creation_time, old, new)
            return
        old_texts = search_texts(info, old) if old is not None else None
        new_texts = search_texts(info, new) if new is not None else None
        writes.record(info, rowid, creation_time, old, new, old_texts, new_texts)
        self.write_txn().search_sync(info.name, rowid, info.layout.search, old_texts, new_texts)

    def indexed_values(self, info: TableInfo, raw: str) -> dict[str, Any]:
        """The stored document ``raw`` as a dict, when the write set needs its values (the
        table has indexes or search indexes); an empty dict otherwise (no decode)."""
        if info.layout.fields or info.search_indexes or info.vector_indexes:
            doc: dict[str, Any] = orjson.loads(raw)
            return doc
        return {}
