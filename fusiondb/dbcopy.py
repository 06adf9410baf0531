"""Copying a whole database to another one: ``fusiondb copy SOURCE DEST``.

Either side is a SQLite file or a ``postgresql://`` URL: the copy goes through the engine
seam only (``engine/base.py``), so it is the same code for every pair of engines. It keeps
what references rely on: every document's id and creation time, every stored file's id,
bytes and metadata, and the tables' numbers (ids carry them), so the copy is the same
database as far as the application can tell.

1. The source is opened with the schema it stores (``fdb.open_stored``); a table removed from
   its schema (no model) is not copied, and is listed in the result.
2. The destination must be new or empty: ``DestinationNotEmpty`` when it holds any table or
   stored file, before anything is written; ``replace=True`` drops them first.
3. One transaction creates the destination's tables, indexes and search indexes with the
   source's table numbers and records the source's own catalog entries (JSON Schema, validator
   fingerprint), so the application opening the copy finds nothing to change or check.
4. Documents are read from one snapshot of the source, in row order, in batches, and each
   batch is written in one transaction through the normal write path (validated, indexed,
   recorded for live queries). Files follow, one transaction each, streamed chunk by chunk.
   Memory stays flat whatever the size. A failure half way leaves a partial copy: run again
   with ``replace=True``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import orjson

from .core.errors import DatabaseError, DestinationNotEmpty, InvalidArgument, NotADatabase
from .core.progress import Progress, ProgressCallback
from .core.schema import Schema, TableDef
from .core.tableinfo import TableInfo
from .database import Database, open_stored
from .database import open as open_database
from .engine import open_engine, probe_file
from .engine.base import ReadTxn
from .evolution.catalog import StoredCatalog, open_catalog, read_catalog, write_catalog
from .evolution.stored import stored_schema
from .storage import system_tables as storage_tables
from .transaction.context import TxnContext
from .transaction.files import STORAGE_TABLE
from .transaction.restore import insert_restored, insert_restored_file
from .transaction.retry import retrying

BATCH = 2_000  # documents per destination transaction
URL_SCHEMES = ("postgresql://", "postgres://")


@dataclass(frozen=True)
class CopyResult:
    """What ``copy_database`` copied."""

    documents: dict[str, int]  # per table, in the order copied
    files: int
    file_bytes: int
    skipped: list[str] = field(default_factory=list)  # tables removed from the source's schema

    @property
    def total(self) -> int:
        return sum(self.documents.values())


def copy_database(
    source: str, dest: str, *, replace: bool = False, progress: ProgressCallback | None = None
) -> CopyResult:
    """Copy every table, document and stored file of ``source`` into ``dest`` (see the module
    docstring). ``replace``: drop what ``dest`` holds first instead of refusing it."""
    source, dest = os.fspath(source), os.fspath(dest)
    if _same_place(source, dest):
        raise InvalidArgument(f"copy: {dest} is the source itself; give another destination")
    src = open_stored(source)
    try:
        with src._engine.read() as rtxn:
            catalog = read_catalog(rtxn)
            schema = stored_schema(catalog)
            _prepare(dest, catalog, schema, replace)
            out = Database(dest, Schema(), stored_schema=True)
            try:
                return _copy_all(rtxn, catalog, out, progress)
            finally:
                out.close()
    finally:
        src.close()


def _same_place(source: str, dest: str) -> bool:
    if source.startswith(URL_SCHEMES) or dest.startswith(URL_SCHEMES):
        return source == dest
    return os.path.exists(dest) and os.path.exists(source) and os.path.samefile(source, dest)


# -- the destination -----------------------------------------------------------------------


def _prepare(dest: str, catalog: StoredCatalog, schema: Schema, replace: bool) -> None:
    """Check (or with ``replace``, empty) the destination, then make its tables."""
    kind = probe_file(dest)
    if kind in ("sqlite", "other"):
        what = "a SQLite database fusiondb did not make" if kind == "sqlite" else "not empty"
        raise NotADatabase(
            f"copy: {dest} is {what}, not a fusiondb database: copy writes into a new file or "
            "schema, or into a fusiondb database",
            path=dest,
        )
    if kind == "fusiondb":
        if replace:
            _empty(dest)
        else:
            _refuse_if_not_empty(dest)
    _create_tables(dest, catalog, schema)


def _refuse_if_not_empty(dest: str) -> None:
    engine = open_engine(dest)
    try:
        with engine.read() as txn:
            found = read_catalog(txn).tables
            for name, stored in sorted(found.items(), key=lambda kv: (kv[1].system, kv[1].number)):
                held = txn.count(name)
                if stored.system and not held:
                    continue
                what = (
                    f"{held} stored files" if name == STORAGE_TABLE else f"table {name!r} ({held} documents)"
                )
                raise DestinationNotEmpty(
                    f"copy: {dest} already holds {what}; nothing was "
                    "written. Copy into a new file or an empty PostgreSQL schema, or pass "
                    "--replace (replace=True) to drop everything it holds first",
                    dest=dest,
                    table=name,
                    documents=held,
                )
    finally:
        engine.close()


def _empty(dest: str) -> None:
    """Drop every table and delete every stored file of ``dest``, through the public API (so
    other processes on it see the changes as any schema change and deletion)."""
    with open_database(dest, Schema()) as db:  # every table of the schema becomes "removed"
        for table in db.system.tables():
            if table.removed:
                db.drop_table(table.name)
        for stored in db.system.read(STORAGE_TABLE):
            db.storage.delete(stored["id"])


def _create_tables(dest: str, catalog: StoredCatalog, schema: Schema) -> None:
    """In one transaction: the source's tables with their numbers, indexes and search indexes,
    and the source's catalog entries for them."""
    declared: dict[str, tuple[int, TableDef[Any]]] = {
        **storage_tables(),
        **{name: (catalog.tables[name].number, tdef) for name, tdef in schema.tables.items()},
    }
    engine = open_engine(dest)

    def attempt() -> None:
        with engine.write() as txn:
            made = open_catalog(txn, Schema(), declared).catalog
            for name in schema.tables:
                mine, theirs = made.tables[name], catalog.tables[name]
                mine.json_schema = theirs.json_schema
                mine.validators = theirs.validators
                mine.retired_fields = list(theirs.retired_fields)
                mine.unverified = theirs.unverified
            made.next_table_number = max(made.next_table_number, catalog.next_table_number)
            write_catalog(txn, made)
            txn.commit()

    try:
        retrying(attempt)  # PostgreSQL: a concurrent open can conflict; run it again
    finally:
        engine.close()


# -- the data -----------------------------------------------------------------------------


def _copy_all(
    rtxn: ReadTxn, catalog: StoredCatalog, out: Database, progress: ProgressCallback | None
) -> CopyResult:
    tables = out._tables
    counts: dict[str, int] = {}
    skipped = sorted(n for n, t in catalog.tables.items() if t.removed and not t.system)
    live = sorted(
        (n for n, t in catalog.tables.items() if not t.removed and not t.system),
        key=lambda n: catalog.tables[n].number,
    )
    for name in live:
        counts[name] = _copy_table(rtxn, tables.get(name), out, progress)
    files, size = _copy_files(rtxn, tables.get(STORAGE_TABLE), out, progress)
    return CopyResult(counts, files, size, skipped)


def _copy_table(rtxn: ReadTxn, info: TableInfo, out: Database, progress: ProgressCallback | None) -> int:
    report = Progress(f"copying {info.name}", rtxn.count(info.name), progress)
    done = last = 0
    while rows := rtxn.rows_after(info.name, last, BATCH):

        def write(ctx: TxnContext, rows: list[Any] = rows) -> None:
            for rowid, ct, raw in rows:
                insert_restored(ctx, info, orjson.loads(raw), rowid, ct)

        out._runner.write_in(write)
        done += len(rows)
        last = rows[-1][0]
        report.update(done)
    report.finish()
    return done


def _copy_files(
    rtxn: ReadTxn, info: TableInfo, out: Database, progress: ProgressCallback | None
) -> tuple[int, int]:
    report = Progress("copying stored files", rtxn.count(STORAGE_TABLE), progress)
    done = size = last = 0
    while rows := rtxn.rows_after(STORAGE_TABLE, last, BATCH):
        for rowid, ct, raw in rows:
            meta = orjson.loads(raw)
            length, chunk = int(meta["size"]), int(meta["chunk_size"])

            # Reads the bytes afresh each time it runs (a retried transaction runs it again).
            def write(
                ctx: TxnContext,
                rowid: int = rowid,
                ct: float = ct,
                raw: str = raw,
                length: int = length,
                chunk: int = chunk,
            ) -> None:
                chunks = _chunks(rtxn, rowid, length, chunk)
                insert_restored_file(ctx, info, raw, rowid, ct, chunks)

            out._runner.write_in(write)
            done += 1
            size += length
            report.update(done)
        last = rows[-1][0]
    report.finish()
    return done, size


def _chunks(rtxn: ReadTxn, rowid: int, size: int, chunk: int) -> Iterator[bytes]:
    """The stored file's bytes, one chunk at a time, from the source's snapshot."""
    for pos in range(0, size, chunk):
        parts = rtxn.read_file(rowid, chunk, pos, min(chunk, size - pos), None)
        if parts is None:  # cannot happen in one snapshot; says so if an engine breaks that
            raise DatabaseError(f"copy: the bytes of stored file row {rowid} are missing")
        yield b"".join(parts)
