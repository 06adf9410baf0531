"""``Writer``: the ``db`` a ``@fdb.mutation`` function receives: the reader's calls plus
``insert``/``patch``/``replace``/``delete``, each validated, written through the engine, and
recorded in the transaction's write set (``context.TxnContext.record``)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from contextlib import AbstractContextManager
from typing import Any, overload

import orjson

from ..core.bytesvalues import untag_any
from ..core.documents import encode, encode_many, stored_dict, to_input, unknown_fields
from ..core.errors import DocumentNotFound, DocumentTooLarge, ReadOnlyError, ValidationError
from ..core.functions import Nesting
from ..core.ids import MAX_ROWID, IdOf, encode_id, encode_ids
from ..core.schema import SYSTEM_FIELDS, TableDef
from ..core.tableinfo import TableInfo
from ..engine.base import KeyTaken
from .context import Clock, TxnContext
from .files import WriterStorage
from .reader import M, Reader
from .unique import duplicate_key

# Documents stored per statement by insert_many.
INSERT_BATCH = 1_000


# What a write raises for a document it refuses (insert_many names the document in them).
_REFUSED = (ValidationError, DocumentTooLarge)


def _nth(exc: ValidationError | DocumentTooLarge, i: int) -> ValidationError | DocumentTooLarge:
    """``exc`` for the ``i``-th document of an ``insert_many`` call (counting from 0)."""
    exc.args = (f"insert_many(): document {i}: {exc.args[0]}", *exc.args[1:])
    return exc


class Writer(Reader, Nesting):
    """What a ``@fdb.mutation`` function receives as ``db``: reads plus writes."""

    def __init__(self, ctx: TxnContext) -> None:
        super().__init__(ctx)
        self._txn = ctx.write_txn()
        assert ctx.clock is not None
        self._clock: Clock = ctx.clock

    def _nested(self) -> AbstractContextManager[None]:
        """Where a mutation called with this db runs (``core.functions.Nesting``)."""
        self._ctx.check()
        return self._ctx.savepoint()

    @property
    def storage(self) -> WriterStorage:
        """Files, in this transaction: ``store``, ``delete``, ``open``, ``get_metadata``."""
        return WriterStorage(self._ctx)

    def _writable(self, table: str | TableDef[Any]) -> TableInfo:
        info = self._tables.get(table)
        if info.system:
            raise ReadOnlyError(
                f"table {info.name!r} is maintained by fusiondb and is read-only "
                "(use db.storage for files)"
            )
        return info

    @overload
    def insert(self, table: TableDef[M], doc: M | Mapping[str, Any]) -> IdOf[M]: ...
    @overload
    def insert(self, table: str, doc: Any) -> str: ...

    def insert(self, table: str | TableDef[Any], doc: Any) -> str:
        """Validate and store a new document in ``table`` (its name or its typed handle);
        returns its id (an ``fdb.IdOf`` the model, given a handle)."""
        ctx = self._ctx
        if not ctx.active:
            ctx.check()
        info = self._tables.by_name.get(table) if type(table) is str else None
        if info is None or info.system:
            info = self._writable(table)
        raw, _ = encode(info, to_input(info, doc), self._tables.names)
        clock = self._clock
        try:
            if info.name in clock.synced:
                ct = clock()
                rowid = self._txn.insert(info.name, ct, raw)
            else:
                rowid, ct = self._first_insert(info, raw)
        except KeyTaken as taken:
            raise duplicate_key(self._txn, info, raw, None, "insert", None, taken) from None
        if rowid > MAX_ROWID:
            raise ValidationError(f"table {info.name!r} is full (row numbers exhausted)")
        ctx.record(info, rowid, ct, None, ctx.indexed_values(info, raw))
        return encode_id(info.number, rowid)

    def insert_many(self, table: str, docs: Iterable[Any]) -> list[str]:
        """Validate and store new documents; returns their ids, in order.

        The same as ``[db.insert(table, d) for d in docs]``: the same validation, the same
        write set, and on an invalid document the same error (its message says which
        document, counting from 0) after the documents before it were stored. Faster for
        many: documents are stored ``INSERT_BATCH`` at a time with one statement, and their
        ids encoded together.
        """
        ctx = self._ctx
        ctx.check()
        info = self._writable(table)
        ids: list[str] = []
        batch: list[dict[str, Any]] = []
        for i, doc in enumerate(docs):
            try:
                data = to_input(info, doc)
            except ValidationError as exc:
                self._encode_batch(info, batch, i - len(batch), ids)
                raise _nth(exc, i) from None
            batch.append(data)
            if len(batch) >= INSERT_BATCH:
                self._encode_batch(info, batch, i + 1 - len(batch), ids)
                batch = []
        self._encode_batch(info, batch, len(ids), ids)
        return ids

    def _encode_batch(
        self, info: TableInfo, batch: list[dict[str, Any]], first: int, ids: list[str]
    ) -> None:
        """Validate and store ``batch`` (documents ``first``... of the call); on an invalid
        one, store those before it and raise its error."""
        if not batch:
            return
        try:
            raws = encode_many(info, batch, self._tables.names)
        except _REFUSED:
            for j, data in enumerate(batch):
                try:
                    encode(info, data, self._tables.names)
                except _REFUSED as exc:
                    self._insert_batch(info, encode_many(info, batch[:j], self._tables.names), ids)
                    raise _nth(exc, first + j) from None
            raise
        self._insert_batch(info, raws, ids)

    def _insert_batch(self, info: TableInfo, raws: list[str], ids: list[str]) -> None:
        if not raws:
            return
        clock = self._synced_clock(info)
        cts = [clock() for _ in raws]
        rows = list(zip(cts, raws, strict=True))
        if info.unique_indexes:
            try:
                # A refused document leaves those before it stored but unrecorded: undo them,
                # then store one at a time to keep them and name the refused one.
                with self._txn.savepoint():
                    rowids = self._txn.insert_many(info.name, rows)
            except KeyTaken:
                self._insert_each(info, rows, ids)  # raises the refused document's error
                return
        else:
            rowids = self._txn.insert_many(info.name, rows)
        if rowids[-1] > MAX_ROWID:
            raise ValidationError(f"table {info.name!r} is full (row numbers exhausted)")
        ctx = self._ctx
        for rowid, ct, raw in zip(rowids, cts, raws, strict=True):
            ctx.record(info, rowid, ct, None, ctx.indexed_values(info, raw))
        ids.extend(encode_ids(info.number, rowids))

    def _insert_each(self, info: TableInfo, rows: list[tuple[float, str]], ids: list[str]) -> None:
        """Store ``rows`` one at a time, recording each, until one's key is taken: raise its
        ``DuplicateKey``, saying which document of the ``insert_many`` call it is (``ids``
        holds the ids of the call's documents stored before ``rows``)."""
        ctx = self._ctx
        for ct, raw in rows:
            try:
                rowid = self._txn.insert(info.name, ct, raw)
            except KeyTaken as taken:
                exc = duplicate_key(self._txn, info, raw, None, "insert", None, taken)
                if isinstance(exc, ValidationError):
                    raise _nth(exc, len(ids)) from None
                raise exc from None
            ctx.record(info, rowid, ct, None, ctx.indexed_values(info, raw))
            ids.append(encode_id(info.number, rowid))

    def _first_insert(self, info: TableInfo, raw: str) -> tuple[int, float]:
        """An insert into a table the clock is not known to be past: the engine creates it
        after the table's newest document (on PostgreSQL looked up with the insert itself,
        sent with the transaction's BEGIN), and the clock follows. Once per table until
        another connection commits (``Clock.forget``), as ``_synced_clock``."""
        clock = self._clock
        rowid, ct = self._txn.insert_after_newest(info.name, clock(), raw)
        clock.floor(ct)
        clock.synced.add(info.name)  # only once stored: a refused insert floored nothing
        return rowid, ct

    def _synced_clock(self, info: TableInfo) -> Clock:
        clock = self._clock
        if info.name not in clock.synced:
            # Another process may have inserted with a clock a hair ahead of ours: start
            # after the newest creation time so that insertion order is creation order.
            # Once per table until another connection commits (Clock.forget).
            clock.synced.add(info.name)
            clock.floor(self._txn.max_creation_time(info.name))
        return clock

    def _existing(self, doc_id: str, op: str) -> tuple[TableInfo, int, str, float, dict[str, Any]]:
        info, rowid, doc_id = self._ctx.resolve(doc_id, None)
        self._writable(info.name)
        found = self._txn.get(info.name, rowid)
        if found is None:
            raise DocumentNotFound(
                f"{op}(): no document {doc_id} in table {info.name!r} (deleted or never existed)",
                id=doc_id,
                table=info.name,
            )
        return info, rowid, doc_id, found[1], stored_dict(info.name, info.number, found)

    def _update(
        self, info: TableInfo, rowid: int, ct: float, old: dict[str, Any], raw: str, op: str,
        doc_id: str,
    ) -> None:
        try:
            self._txn.update(info.name, rowid, raw)
        except KeyTaken as taken:
            raise duplicate_key(self._txn, info, raw, rowid, op, doc_id, taken) from None
        self._ctx.record(info, rowid, ct, old, self._ctx.indexed_values(info, raw))

    def patch(self, doc_id: str, fields: Mapping[str, Any]) -> None:
        """Shallow-merge ``fields`` into the document; a ``None`` value removes that field.

        Keys the stored document holds that the model does not know (fields since removed
        from the schema) are kept, unless the model forbids extras; patch one to ``None`` to
        remove it.
        """
        self._ctx.check()
        info, rowid, doc_id, ct, old = self._existing(doc_id, "patch")
        if not isinstance(fields, Mapping):
            raise ValidationError(
                f"patch() takes a dict of fields, got {type(fields).__name__}", table=info.name
            )
        merged = untag_any(old)  # stored bytes ({"$bytes": ...}) back to bytes
        for name, value in fields.items():
            if name in SYSTEM_FIELDS:
                raise ValidationError(
                    f"patch(): {name!r} is set by the database and cannot be changed",
                    table=info.name,
                    field=name,
                    id=doc_id,
                )
            if value is None:
                merged.pop(name, None)
            else:
                if name not in info.input_names and not info.allows_extra:
                    raise unknown_fields(info, [name], doc_id=doc_id)
                merged[name] = value
        raw, _ = encode(info, merged, self._tables.names, doc_id=doc_id)
        if info.ignores_extra:
            raw = _keep_leftovers(info, raw, old, fields)
        self._update(info, rowid, ct, old, raw, "patch", doc_id)

    def replace(self, doc_id: str, doc: Any) -> None:
        """Replace the whole document (keeping its id and creation time).

        As in Convex, the new document is all there is: keys of the old one that the model
        does not know (fields removed from the schema) are dropped, unlike with ``patch``.
        """
        self._ctx.check()
        info, rowid, doc_id, ct, old = self._existing(doc_id, "replace")
        raw, _ = encode(info, to_input(info, doc, doc_id), self._tables.names, doc_id=doc_id)
        self._update(info, rowid, ct, old, raw, "replace", doc_id)

    def delete(self, doc_id: str) -> None:
        """Delete the document. Its id is never reused."""
        self._ctx.check()
        info, rowid, doc_id, ct, old = self._existing(doc_id, "delete")
        self._txn.delete(info.name, rowid)
        self._ctx.record(info, rowid, ct, old, None)


def _keep_leftovers(info: TableInfo, raw: str, old: dict[str, Any], fields: Mapping[str, Any]) -> str:
    """``raw`` plus the old document's keys that are no field of the model (unless patched to None).

    Validation drops unknown keys; a field removed from the schema must not vanish from a
    stored document just because another field of it was patched.
    """
    known = info.field_names
    if old.keys() <= known:  # the usual case, checked in C
        return raw
    leftovers = {
        k: v for k, v in old.items() if k not in known and fields.get(k, v) is not None
    }
    if not leftovers:
        return raw
    doc: dict[str, Any] = orjson.loads(raw)
    doc.update(leftovers)
    return orjson.dumps(doc).decode()
