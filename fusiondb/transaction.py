"""The ``db`` a query or mutation function receives: ``Reader`` (queries) and ``Writer``.

A ``Reader`` reads one snapshot and records its read set when asked to; a ``Writer`` adds
``insert``/``patch``/``replace``/``delete`` and records a write set. Both become unusable
when their transaction ends, so a context smuggled out of its function fails loudly.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import apsw
import orjson
import pydantic

from . import search
from .documents import encode, stored_invalid, to_input, unknown_fields
from .errors import (
    DatabaseClosed,
    DocumentNotFound,
    InvalidId,
    ReadOnlyError,
    SchemaError,
    ValidationError,
)
from .ids import MAX_ROWID, decode_id, encode_id
from .query import Query
from .readset import ReadSet
from .schema import SYSTEM_FIELDS, TableInfo
from .storage import ReaderStorage, WriterStorage
from .writeset import WriteSet, search_texts


@dataclass
class Tables:
    """The open database's tables, by name and by number (ids carry the number)."""

    by_name: dict[str, TableInfo]
    # Tables the file still holds but the schema no longer declares (see db.system).
    removed: frozenset[str] = frozenset()
    by_number: dict[int, TableInfo] = field(init=False)
    names: dict[int, str] = field(init=False)

    def __post_init__(self) -> None:
        self.by_number = {t.number: t for t in self.by_name.values()}
        self.names = {t.number: t.name for t in self.by_name.values()}

    def get(self, name: object) -> TableInfo:
        info = self.by_name.get(name) if isinstance(name, str) else None
        if info is None:
            if name in self.removed:
                raise SchemaError(
                    f"table {name!r} was removed from the schema; its documents are kept: read "
                    f"them with db.system.read({name!r}), or delete them with "
                    f"db.drop_table({name!r})",
                    table=str(name),
                )
            known = ", ".join(n for n in self.by_name if not n.startswith("_")) or "none"
            raise SchemaError(
                f"no table named {name!r} in the schema (tables: {known})",
                table=str(name),
            )
        return info


class Reader:
    """What a ``@fdb.query`` function receives as ``db``."""

    def __init__(
        self,
        conn: apsw.Connection,
        tables: Tables,
        readset: ReadSet | None = None,
        pins: dict[Any, tuple[str, bool]] | None = None,
        cursor: apsw.Cursor | None = None,
    ) -> None:
        self._conn = conn
        # For the per-document statements (gets, writes), whose rows are taken at once.
        self._cur = conn.cursor() if cursor is None else cursor
        self._tables = tables
        self._readset = readset
        self._pins = pins
        self._active = True

    def _check(self) -> None:
        if not self._active:
            raise DatabaseClosed(
                "this db context belongs to a finished transaction; use the db passed to the "
                "function while it runs"
            )

    def _pinned_end(self, key: Any) -> tuple[str, bool] | None:
        return None if self._pins is None else self._pins.get(("pinned", key))

    def _pin_end(self, key: Any, cursor: str, is_done: bool) -> None:
        if self._pins is not None:
            self._pins[("seen", key)] = (cursor, is_done)

    def _resolve(self, table_or_id: str, doc_id: str | None) -> tuple[TableInfo, int, str]:
        """(table, rowid, id) for ``get(id)`` or ``get(table, id)``; InvalidId otherwise."""
        if doc_id is None:
            doc_id, expected = table_or_id, None
        else:
            expected = self._tables.get(table_or_id)
        decoded = decode_id(doc_id)
        info = self._tables.by_number.get(decoded[0]) if decoded is not None else None
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
        return info, decoded[1], doc_id

    def _fetch(self, info: TableInfo, rowid: int) -> tuple[float, str] | None:
        # ``.get`` steps the statement to its end (one row: a tuple; none: None), so the
        # reused cursor holds no statement open after it.
        row: tuple[float, str] | None = self._cur.execute(info.sql_get, (rowid,)).get
        return row

    def get(self, table_or_id: str, doc_id: str | None = None) -> Any:
        """The document with this id, or ``None``. ``get(id)`` or ``get("tasks", id)``."""
        if not self._active:
            self._check()
        decoded = decode_id(table_or_id) if doc_id is None else None
        info = self._tables.by_number.get(decoded[0]) if decoded is not None else None
        if info is not None and decoded is not None:
            # get(id) of a table of this database: _resolve's checks, already done.
            rowid = decoded[1]
            doc_id = table_or_id
        else:
            info, rowid, doc_id = self._resolve(table_or_id, doc_id)
        if self._readset is not None:
            self._readset.add_point(info.name, rowid)
        # ``.get`` steps the statement to its end (one row: a tuple; none: None), so the
        # reused cursor holds no statement open after it.
        found = self._cur.execute(info.sql_get, (rowid,)).get
        if found is None:
            return None
        # decode_model, inlined (gets are the most frequent read).
        try:
            model = info.validate_json(found[1])
        except pydantic.ValidationError as exc:
            raise stored_invalid(info, (rowid, found[0], found[1]), exc) from None
        d = model.__dict__
        d["id"] = doc_id
        d["creation_time"] = found[0]
        return model

    @property
    def storage(self) -> ReaderStorage:
        """Files, read-only inside a query: ``open(id)``, ``get_metadata(id)``."""
        return ReaderStorage(self)

    def query(self, table: str) -> Query:
        """Start a query over ``table`` (by creation time unless ``with_index`` says otherwise)."""
        self._check()
        return Query(self, self._tables.get(table))

    def normalize_id(self, table: str, value: object) -> str | None:
        """``value`` if it is an id of ``table`` in this database, else ``None`` (as Convex)."""
        info = self._tables.get(table)
        decoded = decode_id(value)
        if decoded is None or decoded[0] != info.number:
            return None
        return value  # type: ignore[return-value]

    def _read_only(self, op: str) -> ReadOnlyError:
        return ReadOnlyError(
            f"{op}() inside a query: queries are read-only; write in a @fdb.mutation"
        )

    def insert(self, table: str, doc: Any) -> str:
        raise self._read_only("insert")

    def patch(self, doc_id: str, fields: Mapping[str, Any]) -> None:
        raise self._read_only("patch")

    def replace(self, doc_id: str, doc: Any) -> None:
        raise self._read_only("replace")

    def delete(self, doc_id: str) -> None:
        raise self._read_only("delete")


class Writer(Reader):
    """What a ``@fdb.mutation`` function receives as ``db``: reads plus writes."""

    def __init__(
        self, conn: apsw.Connection, tables: Tables, clock: Clock, cursor: apsw.Cursor | None = None
    ) -> None:
        super().__init__(conn, tables, cursor=cursor)
        self.writes = WriteSet()
        self._clock = clock

    @property
    def storage(self) -> WriterStorage:
        """Files, in this transaction: ``store``, ``delete``, ``open``, ``get_metadata``."""
        return WriterStorage(self)

    def _writable(self, info: TableInfo) -> None:
        if info.system:
            raise ReadOnlyError(
                f"table {info.name!r} is maintained by fusiondb and is read-only "
                "(use db.storage for files)"
            )

    def _record(
        self,
        info: TableInfo,
        rowid: int,
        ct: float,
        old: dict[str, Any] | None,
        new: dict[str, Any] | None,
    ) -> None:
        if not info.search_indexes:
            self.writes.record(info, rowid, ct, old, new)
            return
        old_text = search_texts(info, old) if old is not None else None
        new_text = search_texts(info, new) if new is not None else None
        self.writes.record(info, rowid, ct, old, new, old_text, new_text)
        # FTS upkeep in the same transaction, from the entries just computed (search.py).
        search.sync(self._conn, info.name, rowid, info.layout.search, old_text, new_text)

    def _new_dict(self, info: TableInfo, raw: str) -> dict[str, Any]:
        # Values are only needed for indexed fields; skip the decode when there are none.
        if info.layout.fields or info.search_indexes:
            doc: dict[str, Any] = orjson.loads(raw)
            return doc
        return {}

    def insert(self, table: str, doc: Any) -> str:
        """Validate and store a new document; returns its id."""
        if not self._active:
            self._check()
        info = self._tables.by_name.get(table) if type(table) is str else None
        if info is None or info.system:
            info = self._tables.get(table)
            self._writable(info)
        raw, _ = encode(info, to_input(info, doc), self._tables.names)
        clock = self._clock
        if info.name not in clock.synced:
            # Another process may have inserted with a clock a hair ahead of ours: start
            # after the newest creation time so that insertion order is creation order.
            # Once per table until another connection commits (Clock.sync).
            clock.synced.add(info.name)
            newest = self._cur.execute(info.sql_max_ct).get
            clock.floor(newest)
        ct = clock()
        self._cur.execute(info.sql_insert, (ct, raw))
        rowid = self._conn.last_insert_rowid()
        if rowid > MAX_ROWID:
            raise ValidationError(f"table {info.name!r} is full (row numbers exhausted)")
        if info.search_indexes:
            self._record(info, rowid, ct, None, self._new_dict(info, raw))
        else:
            # WriteSet.record for an insert, inlined (a bulk insert runs this per document).
            layout = info.layout
            writes = self.writes
            if info.name not in writes.layouts:
                writes.layouts[info.name] = layout
            values = layout.values(orjson.loads(raw)) if layout.fields else ()
            writes.writes.append((info.name, rowid, ct, None, values, None, None))
        return encode_id(info.number, rowid)

    def _existing(self, doc_id: str, op: str) -> tuple[TableInfo, int, str, float, dict[str, Any]]:
        info, rowid, doc_id = self._resolve(doc_id, None)
        self._writable(info)
        found = self._fetch(info, rowid)
        if found is None:
            raise DocumentNotFound(
                f"{op}(): no document {doc_id} in table {info.name!r} (deleted or never existed)",
                id=doc_id,
                table=info.name,
            )
        return info, rowid, doc_id, found[0], orjson.loads(found[1])

    def _update(
        self, info: TableInfo, rowid: int, ct: float, old: dict[str, Any], raw: str
    ) -> None:
        self._cur.execute(info.sql_update, (raw, rowid))
        self._record(info, rowid, ct, old, self._new_dict(info, raw))

    def patch(self, doc_id: str, fields: Mapping[str, Any]) -> None:
        """Shallow-merge ``fields`` into the document; a ``None`` value removes that field.

        Keys the stored document holds that the model does not know (fields since removed
        from the schema) are kept, unless the model forbids extras; patch one to ``None`` to
        remove it.
        """
        self._check()
        info, rowid, doc_id, ct, old = self._existing(doc_id, "patch")
        if not isinstance(fields, Mapping):
            raise ValidationError(
                f"patch() takes a dict of fields, got {type(fields).__name__}", table=info.name
            )
        merged = dict(old)
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
        self._update(info, rowid, ct, old, raw)

    def replace(self, doc_id: str, doc: Any) -> None:
        """Replace the whole document (keeping its id and creation time).

        As in Convex, the new document is all there is: keys of the old one that the model
        does not know (fields removed from the schema) are dropped, unlike with ``patch``.
        """
        self._check()
        info, rowid, doc_id, ct, old = self._existing(doc_id, "replace")
        raw, _ = encode(info, to_input(info, doc), self._tables.names, doc_id=doc_id)
        self._update(info, rowid, ct, old, raw)

    def delete(self, doc_id: str) -> None:
        """Delete the document. Its id is never reused."""
        self._check()
        info, rowid, doc_id, ct, old = self._existing(doc_id, "delete")
        self._cur.execute(info.sql_delete, (rowid,))
        self._record(info, rowid, ct, old, None)


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


class Clock:
    """Creation times in ms since the epoch, strictly increasing within this process.

    ``synced`` names the tables whose newest stored creation time the clock is known to be
    past (``Writer.insert`` floors it on a table's first insert); that stays true while
    only this clock's writer commits, so it is kept across transactions and cleared when
    the file's data version shows another connection's commit (``sync``).
    """

    def __init__(self) -> None:
        self._last = 0.0
        self.synced: set[str] = set()
        self._data_version: int | None = None

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

    def sync(self, data_version: int) -> None:
        """Call with the writer's ``data_version()`` at the start of each write transaction,
        after ``BEGIN IMMEDIATE`` (which makes it see other connections' commits)."""
        if data_version != self._data_version:
            self._data_version = data_version
            self.synced.clear()

    def committed(self, data_version: int) -> None:
        """Call with the writer's ``data_version()`` after its own commit (which moves it):
        the clock is still past everything stored in the ``synced`` tables."""
        self._data_version = data_version
