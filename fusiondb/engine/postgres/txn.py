# pyright: reportArgumentType=false, reportCallIssue=false
# (psycopg types a query as a LiteralString; this module's SQL is built from names validated
# by ddl.py, with every value a bound parameter, which pyright cannot see. mypy checks the rest.)
"""``PgTxn``: the engine's transaction object on one pooled psycopg connection (``base.py``).

Connections are in autocommit mode and transactions are begun explicitly, together with a
read of ``_fdb_meta`` (``BEGIN_WRITE``, ``BEGIN_READ``): a write as ``SERIALIZABLE``, a read as
``REPEATABLE READ READ ONLY`` (one snapshot). The ``BEGIN`` is sent with the transaction's first
statement, in one string and one round trip (``PgTxn.run``); a statement that cannot carry it
(a server-side cursor, a write) sends it alone first, through the ``cur`` property, so no
statement ever runs outside the transaction. A write's schema guard runs when the ``BEGIN``
has been answered: before any write, and a refusal is raised again by ``commit``.

Every write computes the key bytes of the table's indexes from the document (``keys.py``),
using the index registry cached per table under the ``ddl`` token it was read with.

Unique indexes are enforced by PostgreSQL (``ddl.py``). PostgreSQL aborts a transaction on any
error, so a write to a table that has a unique index runs inside a savepoint: a refused write
rolls back to it and leaves ``KeyTaken`` with the transaction still usable (``base.py``).
Writes to other tables pay nothing for it.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from types import TracebackType
from typing import Any, Literal, NamedTuple, Protocol

import orjson
import psycopg
from psycopg import generators, pq

from ...core.documents import Row
from ...core.errors import DatabaseError
from ...core.keys import SearchEntry, sort_bytes
from ...core.progress import Progress, ProgressCallback
from ...core.schema import SearchIndexDef
from ...core.vectordef import VectorIndexDef
from ...core.vectors import VectorEntry
from ..base import (
    Aggregate,
    IndexScan,
    KeyTaken,
    RetryTransaction,
    SearchScan,
    VectorScan,
    insert_after_newest_plainly,
)
from ..sqlite.fts import tokenize
from . import aggregate, blobs, catalog, changelog, ddl, search, vectors, wire
from .errors import key_taken
from .filters import row_filter
from .keys import key_function, unique_function
from .scan import scan_sql

Cursor = psycopg.Cursor[tuple[Any, ...]]

BEGIN_WRITE = "BEGIN ISOLATION LEVEL SERIALIZABLE; SELECT catalog_version, ddl, NULL FROM _fdb_meta"
# A read also takes the change log's position in its snapshot (a live query needs it). Not a
# write: under SERIALIZABLE that read would make every two concurrent writers conflict.
BEGIN_READ = (
    "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; "
    f"SELECT catalog_version, ddl, ({changelog.POSITION}) FROM _fdb_meta"
)
FETCH_BATCH = 500
INVALID_STATEMENT_NAME = "26000"  # EXECUTE of a statement this session no longer has
DUPLICATE_STATEMENT = "42P05"  # PREPARE of a name this session has
UNDEFINED_OR_DUPLICATE = "42"  # the class of both, and of a missing table or column


class Layout(NamedTuple):
    """A table's indexes as its writes need them: key functions (the range keys, then the
    unique keys), the statements, and the unique indexes' constraint names -> index names.
    ``first``: the name and ``PREPARE`` of the insert that rides a write's ``BEGIN``
    (``PgTxn.insert_after_newest``)."""

    keys: tuple[Callable[[dict[str, Any]], bytes | None], ...]
    insert: str
    insert_at: str
    update: str
    unique: dict[str, str]
    first: tuple[bytes, bytes]


def _layout(table: str, indexes: list[catalog.Registered]) -> Layout:
    t = ddl.table_sql(table)
    uniques = [r for r in indexes if r.unique]
    columns = [ddl.key_column(r.name) for r in indexes]
    columns += [ddl.unique_column(r.name) for r in uniques]
    names = ", ".join(["creation_time", "doc", *columns])
    marks = ", ".join(["%s"] * (2 + len(columns)))
    sets = ", ".join(["doc = %s", *(f"{c} = %s" for c in columns)])
    keys: list[Callable[[dict[str, Any]], bytes | None]] = [key_function(r.fields) for r in indexes]
    keys += [unique_function(r.fields) for r in uniques]
    return Layout(
        tuple(keys),
        f"INSERT INTO {t} ({names}) VALUES ({marks}) RETURNING _id",
        f"INSERT INTO {t} (_id, {names}) VALUES (%s, {marks})",
        f"UPDATE {t} SET {sets} WHERE _id = %s",
        {ddl.unique_sql_name(table, r.name): r.name for r in uniques},
        _first_insert(t, names, len(columns)),
    )


def _first_insert(t: str, names: str, keys: int) -> tuple[bytes, bytes]:
    """The name and ``PREPARE`` of a table's insert that rides a write's ``BEGIN``: created
    0.001 ms after the table's newest row if its time is not later (the clock floor, read
    in the statement), and written only if the catalog version and the ddl token are the
    given ones (those this process knows: its schema guard passes and its layout is
    current), else not at all. Named by a hash of its text: a name stands for one text."""
    n = 2 + keys
    values = ", ".join(
        [f"greatest($1, (SELECT creation_time FROM {t} ORDER BY _id DESC LIMIT 1) + 0.001)"]
        + [f"${i}" for i in range(2, n + 1)]
    )
    types = ", ".join(["float8", "json", *["bytea"] * keys, "bigint", "text"])
    sql = (
        f"INSERT INTO {t} ({names}) SELECT {values} FROM _fdb_meta "
        f"WHERE catalog_version = ${n + 1} AND ddl = ${n + 2} RETURNING _id, creation_time"
    )
    name = "fdb_first_" + hashlib.blake2b(sql.encode(), digest_size=8).hexdigest()
    return name.encode(), f"PREPARE {name} ({types}) AS {sql}".encode()


class _Savepoint:
    __slots__ = ("_cur",)

    def __init__(self, cur: Cursor) -> None:
        self._cur = cur

    def __enter__(self) -> None:
        self._cur.execute("SAVEPOINT fdb")

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> Literal[False]:
        if exc is None:
            self._cur.execute("RELEASE SAVEPOINT fdb")
        else:
            try:
                self._cur.execute("ROLLBACK TO SAVEPOINT fdb")
                self._cur.execute("RELEASE SAVEPOINT fdb")
            except psycopg.Error:
                pass  # the transaction failed as a whole; its rollback undoes this too
        return False


class EngineState(Protocol):
    """What a transaction shares with its engine (``engine.PgEngine``)."""

    layouts: dict[str, Any]
    guard: Any
    cursor_seq: int
    channel: str
    schema: str

    def check_guard(self, txn: Any) -> None: ...


class PgTxn:
    """Reads and writes of one connection's current transaction."""

    def __init__(self, engine: EngineState, conn: psycopg.Connection[tuple[Any, ...]]) -> None:
        self.engine = engine
        self.conn = conn
        self._cur: Cursor = conn.cursor()
        self._marks: Cursor = conn.cursor()  # unique-index savepoints: never clobbers cur's rows
        # Several statements in one string with bound values (one round trip): psycopg binds
        # them client side, escaping each by its type. (Strings without parameters to adapt
        # go straight through libpq: wire.py.)
        self.client: Cursor = psycopg.ClientCursor(conn)
        self.literal = wire.Literals(conn)
        self._channel = self.literal(engine.channel)  # the commit's constant arguments, quoted
        self._origin = ("", b"")
        # Other processes may insert at any time: the clock's floor is looked up in every
        # write transaction (that read also makes concurrent inserts into one table conflict,
        # so creation time keeps increasing with the row number).
        self.foreign = True
        self.ddl = ""
        self.begun_version = 0
        self.begun = False  # whether the BEGIN was answered (begun_version and ddl are this one's)
        self.writing = False
        self.refused: Exception | None = None  # the schema guard's refusal of this write
        self._pending: str | None = None  # the BEGIN the next statement carries
        self.changed = False
        self.generation = 0  # counts transactions: a stale scan generator closes nothing
        self.born = time.monotonic()  # the engine gives the connection back to the pool when old
        self.position: int | None = None  # the log position a read's snapshot sees
        # Statements this connection's session has PREPAREd (insert_after_newest); psycopg
        # deallocates them all with its own after a ROLLBACK or DDL: then this set is stale
        # and the statement's absence is noticed when it is executed (_first_insert).
        self.prepared: set[bytes] = set()

    def begin(self, write: bool) -> None:
        """Start a transaction; its ``BEGIN`` goes with the first statement (see ``run``)."""
        self._pending = BEGIN_WRITE if write else BEGIN_READ
        self.writing = write
        self.begun = False
        self.refused = None
        self.position = None
        self.changed = False
        self.generation += 1

    def run(self, sql: str, params: Sequence[Any] | None = None) -> Cursor:
        """``sql`` executed in the transaction, the cursor on its result. The first statement
        carries the ``BEGIN`` and the catalog read: one string, values bound client side."""
        begin = self._pending
        if begin is None:
            return self._cur.execute(sql, params)
        self._pending = None
        cur = self.client
        cur.execute(f"{begin}; {sql}", params)
        cur.nextset()
        self._begun(cur.fetchone())
        cur.nextset()
        return cur

    def _first_value(self, sql: str) -> bytes | None:
        """The first value of ``sql``'s answer, as text: ``sql`` (a statement without
        parameters) rides the pending ``BEGIN`` straight through libpq (``wire.py``)."""
        begin, self._pending = self._pending, None
        assert begin is not None
        results = wire.simple(self.conn, f"{begin}; {sql}".encode())
        head = results[1]
        version, ddl, position = (wire.value(head, 0, i) for i in range(3))
        assert version is not None and ddl is not None
        self._begun((int(version), ddl.decode(), None if position is None else int(position)))
        return wire.value(results[2], 0, 0)

    def end(self) -> None:
        """End the transaction if still open: a read with ``COMMIT`` (its snapshot wrote
        nothing, and psycopg forgets its prepared statements after a ``ROLLBACK``), anything
        else with ``ROLLBACK``."""
        self._pending = None
        status = self._status()
        if status == pq.TransactionStatus.IDLE:
            return
        end = "COMMIT" if status == pq.TransactionStatus.INTRANS and not self.writing else "ROLLBACK"
        self._cur.execute(end)

    def end_later(self) -> bool:
        """Send an open read's ``COMMIT`` without waiting for its answer, which ``ended``
        reads before the connection's next use (a round trip less per read). ``True`` with
        nothing sent for a transaction that has ended already (a committed write: the
        connection is ready as is, and ``ended`` finds no answer to read); ``False``, and
        nothing sent, for any other (a write still open is rolled back by ``end``)."""
        self._pending = None
        status = self._status()
        if status == pq.TransactionStatus.IDLE:
            return True
        if self.writing or status != pq.TransactionStatus.INTRANS:
            return False
        pgconn = self.conn.pgconn
        pgconn.send_query(b"COMMIT")
        self.conn.wait(generators.send(pgconn))
        return True

    def _status(self) -> int:
        """libpq's transaction status of the connection (``conn.info``'s, without building a
        ``ConnectionInfo`` each time: ~2 us)."""
        return self.conn.pgconn.transaction_status

    def ended(self) -> None:
        """Read the answer to ``end_later``'s ``COMMIT``."""
        for result in self.conn.wait(generators.fetch_many(self.conn.pgconn)):
            if result.status != pq.ExecStatus.COMMAND_OK:
                raise psycopg.OperationalError("a read's COMMIT failed")

    @property
    def cur(self) -> Cursor:
        """The transaction's cursor, its ``BEGIN`` sent first if still pending."""
        self._started()
        return self._cur

    @property
    def marks(self) -> Cursor:
        self._started()
        return self._marks

    def _started(self) -> psycopg.Connection[tuple[Any, ...]]:
        """The connection, the transaction's ``BEGIN`` sent (for a cursor of its own)."""
        if self._pending is not None:
            self._send_begin()
        return self.conn

    def _send_begin(self) -> None:
        begin, self._pending = self._pending, None
        assert begin is not None
        cur = self._cur
        cur.execute(begin)
        cur.nextset()
        self._begun(cur.fetchone())

    def _begun(self, row: tuple[Any, ...] | None) -> None:
        assert row is not None
        self.begun_version, self.ddl = int(row[0]), str(row[1])
        self.position = None if row[2] is None else int(row[2])
        self.begun = True
        if self.writing:
            try:
                self.engine.check_guard(self)
            except Exception as exc:
                self.refused = exc  # raised again by commit, should the function catch it
                raise

    # -- reads --------------------------------------------------------------------------

    def get(self, table: str, rowid: int) -> Row | None:
        row = self.run(
            f"SELECT _id, creation_time, doc FROM {ddl.table_sql(table)} WHERE _id = %s", (rowid,)
        ).fetchone()
        return row  # type: ignore[return-value]

    def scan(self, spec: IndexScan) -> list[Any]:
        if not spec.filters:
            sql, params = scan_sql(spec)
            return self.run(sql, params).fetchall()
        return list(self.iter_scan(spec))

    def iter_scan(self, spec: IndexScan) -> Iterator[Any]:
        sql, params = scan_sql(spec)
        keep = row_filter(spec.filters) if spec.filters else None
        return self._stream(sql, params, keep, spec.limit)

    def _stream(
        self,
        sql: str,
        params: list[Any],
        keep: Callable[[tuple[Any, ...]], bool] | None,
        limit: int | None,
    ) -> Iterator[Any]:
        """Rows of ``sql`` through a server-side cursor (other statements may run meanwhile)."""
        self.engine.cursor_seq += 1
        generation = self.generation
        cur = self._started().cursor(name=f"fdb_scan_{self.engine.cursor_seq}")
        try:
            cur.itersize = FETCH_BATCH
            cur.execute(sql, params)
            taken = 0
            while limit is None or taken < limit:
                rows = cur.fetchmany(FETCH_BATCH)
                if not rows:
                    return
                for row in rows:
                    if keep is None or keep(row):
                        yield row
                        taken += 1
                        if limit is not None and taken >= limit:
                            return
        finally:
            # Only in its own transaction: the cursor ended with it, and another may run now.
            if (
                generation == self.generation
                and not self.conn.closed
                and self._status() == pq.TransactionStatus.INTRANS
            ):
                cur.close()

    def aggregate(self, spec: Aggregate) -> Any:
        return aggregate.run(self.cur, spec, lambda: self.iter_scan(spec.scan))

    def search(self, spec: SearchScan) -> Iterator[Any]:
        return search.search_rows(self._started().cursor(), spec)

    def rows_after(self, table: str, rowid: int, limit: int) -> list[Any]:
        return self.run(
            f"SELECT _id, creation_time, doc FROM {ddl.table_sql(table)} WHERE _id > %s "
            "ORDER BY _id LIMIT %s",
            (rowid, None if limit < 0 else limit),  # -1: no limit, as SQLite reads it
        ).fetchall()

    def count(self, table: str, after_rowid: int = 0) -> int:
        row = self.run(
            f"SELECT count(*) FROM {ddl.table_sql(table)} WHERE _id > %s", (after_rowid,)
        ).fetchone()
        return int(row[0])  # type: ignore[index]

    def max_creation_time(self, table: str) -> float | None:
        sql = f"SELECT creation_time FROM {ddl.table_sql(table)} ORDER BY _id DESC LIMIT 1"
        if self._pending is not None:  # the write's first statement (Writer._synced_clock)
            newest = self._first_value(sql)
            return None if newest is None else float(newest)
        row = self._cur.execute(sql).fetchone()
        return None if row is None else float(row[0])

    def tokenize(self, text: str) -> list[str]:
        return tokenize(text)

    def read_file(
        self, file: int, chunk_size: int, pos: int, n: int, into: memoryview | None
    ) -> list[bytes] | None:
        return blobs.read(self.cur, file, chunk_size, pos, n, into)

    def log_position(self) -> int:
        self._started()  # a read's BEGIN reads the position too
        if self.position is not None:
            return self.position
        return changelog.position(self.cur)

    def catalog_version(self) -> int:
        row = self.run("SELECT catalog_version FROM _fdb_meta").fetchone()
        return 0 if row is None else int(row[0])

    def read_catalog(self) -> dict[str, str] | None:
        return catalog.read(self.cur)

    def migration_state(self, name: str) -> tuple[int, int, int, bool] | None:
        return catalog.migration_state(self.cur, name)

    def integrity_problems(self) -> list[str]:
        """Rows whose stored index keys differ from the keys of their documents."""
        problems: list[str] = []
        tables = [
            str(r[0])
            for r in self.cur.execute("SELECT DISTINCT tbl FROM _fdb_indexes ORDER BY tbl").fetchall()
        ]
        for table in tables:
            indexes = catalog.registered_indexes(self.cur, table)
            layout = _layout(table, indexes)
            names = [r.name for r in indexes] + [r.name for r in indexes if r.unique]
            columns = ", ".join(
                [ddl.key_column(r.name) for r in indexes]
                + [ddl.unique_column(r.name) for r in indexes if r.unique]
            )
            for row in self.cur.execute(
                f"SELECT _id, doc, {columns} FROM {ddl.table_sql(table)} ORDER BY _id"
            ).fetchall():
                doc = orjson.loads(row[1])
                for name, fn, stored in zip(names, layout.keys, row[2:], strict=True):
                    if (None if stored is None else bytes(stored)) != fn(doc):
                        problems.append(f"table {table!r}, row {row[0]}: index {name!r} key is stale")
        return problems

    def duplicate_keys(
        self,
        table: str,
        index: str,
        fields: tuple[str, ...],
        composite: frozenset[str],
        limit: int,
    ) -> tuple[int, list[list[int]]]:
        """Groups by the stored range key (bytes: the value order's equality), those whose key
        holds null dropped (told from one document of each group)."""
        column = ddl.key_column(index)
        exempt = unique_function(fields)
        count = 0
        groups: list[list[int]] = []
        for rowids, doc in self.cur.execute(
            f"SELECT array_agg(_id ORDER BY _id), (array_agg(doc::text ORDER BY _id))[1] "
            f"FROM {ddl.table_sql(table)} WHERE {column} IS NOT NULL "
            f"GROUP BY {column} HAVING count(*) > 1 ORDER BY {column}"
        ).fetchall():
            if exempt(orjson.loads(doc)) is None:
                continue
            count += 1
            if len(groups) < limit:
                groups.append([int(r) for r in rowids])
        return count, groups

    def creation_order_breaks(self, table: str) -> int:
        row = self.cur.execute(
            "SELECT count(*) FROM (SELECT creation_time < lag(creation_time) OVER (ORDER BY _id) "
            f"AS back FROM {ddl.table_sql(table)}) s WHERE back"
        ).fetchone()
        return int(row[0])  # type: ignore[index]

    def search_index_matches(self, table: str, index: SearchIndexDef) -> bool:
        return search.matches(self.cur, table, index)

    def vector_search(self, spec: VectorScan) -> list[tuple[int, float]]:
        vectors.unsupported()

    def vector_index_matches(self, table: str, index: VectorIndexDef) -> bool:
        vectors.unsupported()

    # -- writes -------------------------------------------------------------------------

    def _layout(self, table: str) -> Layout:
        cache = self.engine.layouts
        found = cache.get(table)
        if found is not None and found[0] == self.ddl:
            cached: Layout = found[1]
            return cached
        layout = _layout(table, catalog.registered_indexes(self.cur, table))
        cache[table] = (self.ddl, layout)
        return layout

    def _guarded(self, table: str, layout: Layout, write: Callable[[], Any]) -> Any:
        """``write()``; on a table with unique indexes inside a savepoint, so that a refused
        write leaves ``KeyTaken`` and the transaction usable."""
        if not layout.unique:
            return write()
        cur = self.marks
        cur.execute("SAVEPOINT fdb_key")
        try:
            result = write()
        except psycopg.Error as exc:
            taken = key_taken(exc, table, layout.unique)
            if taken is None:
                raise
            cur.execute("ROLLBACK TO SAVEPOINT fdb_key")
            cur.execute("RELEASE SAVEPOINT fdb_key")
            raise taken from None
        cur.execute("RELEASE SAVEPOINT fdb_key")
        return result

    def insert(self, table: str, creation_time: float, doc: str, rowid: int | None = None) -> int:
        layout = self._layout(table)
        keys = _keys(layout, doc)
        self.changed = True
        cur = self.cur
        if rowid is not None:
            at = rowid
            self._guarded(
                table, layout, lambda: cur.execute(layout.insert_at, (at, creation_time, doc, *keys))
            )
            cur.execute(
                "SELECT setval(s, %s) FROM (SELECT pg_get_serial_sequence(%s, '_id') AS s) q "
                "WHERE coalesce(pg_sequence_last_value(s), 0) < %s",
                (rowid, ddl.table_sql(table), rowid),
            )
            return rowid
        row = self._guarded(
            table, layout, lambda: cur.execute(layout.insert, (creation_time, doc, *keys)).fetchone()
        )
        return int(row[0])

    def insert_after_newest(self, table: str, creation_time: float, doc: str) -> tuple[int, float]:
        if self._pending is not None:  # the write's first statement: it rides the BEGIN
            stored = self._first_insert(table, creation_time, doc)
            if stored is not None:
                return stored
        return insert_after_newest_plainly(self, table, creation_time, doc)

    def _first_insert(self, table: str, creation_time: float, doc: str) -> tuple[int, float] | None:
        """The insert with the pending ``BEGIN`` and catalog read: one string, one round trip
        (``wire.py``), the insert a statement this session has prepared (``Layout.first``).
        ``None`` when it could not be written that way: nothing was written, and the write
        goes the usual way (the ``BEGIN`` sent, and answered, or pending again). That is when
        the table's layout is not cached or it has unique indexes (a refused write needs a
        savepoint first), when there is no schema guard to agree with, or when the catalog
        version or ddl token are not the ones this process knows (the guard then runs on the
        ``BEGIN``'s answer, as for any first statement)."""
        version = getattr(self.engine.guard, "version", None)
        cached = self.engine.layouts.get(table)
        if version is None or cached is None or cached[1].unique:
            return None
        token: str = cached[0]
        layout: Layout = cached[1]
        begin, self._pending = self._pending, None
        assert begin is not None
        query = self._riding(begin, layout, token, int(version), creation_time, doc)
        try:
            results = wire.simple(self.conn, query)
        except psycopg.Error as exc:
            if not _statement_unusable(exc):
                raise
            self._unprepared(exc, layout.first[0])
            self._pending = begin
            return None
        self.prepared.add(layout.first[0])
        return self._first_inserted(results)

    def _riding(
        self, begin: str, layout: Layout, token: str, version: int, creation_time: float, doc: str
    ) -> bytes:
        """The string of ``_first_insert``: the ``BEGIN`` and its catalog read, the insert's
        ``PREPARE`` if this session lacks it, and its ``EXECUTE`` with the values quoted. (A
        ``PREPARE`` before the ``BEGIN`` would start the string's implicit transaction.)"""
        literal = self.literal
        args = [repr(creation_time).encode(), literal(doc)]
        args += [b"NULL" if k is None else wire.bytea(k) for k in _keys(layout, doc)]
        args += [str(version).encode(), literal(token)]
        name, prepare = layout.first
        statements = [begin.encode(), b"EXECUTE %s(%s)" % (name, b", ".join(args))]
        if name not in self.prepared:
            statements.insert(1, prepare)
        return b"; ".join(statements)

    def _unprepared(self, exc: psycopg.Error, name: bytes) -> None:
        """After ``_first_insert``'s statement was missing (deallocated by psycopg), there
        already (prepared after all), or named a column or table no longer there (another
        process changed the schema): nothing ran past the catalog read. Roll back, and note
        whether the session holds the statement."""
        wire.simple(self.conn, b"ROLLBACK")
        if exc.sqlstate == DUPLICATE_STATEMENT:
            self.prepared.add(name)
        else:
            self.prepared.discard(name)

    def _first_inserted(self, results: list[wire.Result]) -> tuple[int, float] | None:
        """The row number and creation time ``_first_insert`` stored, after the ``BEGIN``'s
        answer was taken (the schema guard runs if the catalog moved); ``None`` when the
        catalog or layout were not the expected ones and nothing was written."""
        head, inserted = results[1], results[-1]  # BEGIN, catalog read, [PREPARE,] insert
        version, ddl_token = wire.value(head, 0, 0), wire.value(head, 0, 1)
        assert version is not None and ddl_token is not None
        self._begun((int(version), ddl_token.decode(), None))
        rowid, stored_at = wire.value(inserted, 0, 0), wire.value(inserted, 0, 1)
        if rowid is None or stored_at is None:
            return None
        self.changed = True
        return int(rowid), float(stored_at)

    def insert_many(self, table: str, rows: list[tuple[float, str]]) -> Sequence[int]:
        layout = self._layout(table)
        self.changed = True
        cur = self.cur
        params = [(ct, doc, *_keys(layout, doc)) for ct, doc in rows]
        self._guarded(table, layout, lambda: cur.executemany(layout.insert, params, returning=True))
        ids: list[int] = []
        while True:
            row = cur.fetchone()
            if row is not None:
                ids.append(int(row[0]))
            if not cur.nextset():
                break
        return ids

    def update(self, table: str, rowid: int, doc: str) -> None:
        layout = self._layout(table)
        self.changed = True
        params = (doc, *_keys(layout, doc), rowid)
        self._guarded(table, layout, lambda: self.cur.execute(layout.update, params))

    def delete(self, table: str, rowid: int) -> None:
        self.changed = True
        self.cur.execute(f"DELETE FROM {ddl.table_sql(table)} WHERE _id = %s", (rowid,))

    def search_sync(
        self,
        table: str,
        rowid: int,
        indexes: tuple[str, ...],
        old: tuple[SearchEntry, ...] | None,
        new: tuple[SearchEntry, ...] | None,
    ) -> None:
        search.sync(self.cur, table, rowid, indexes, old, new)

    def vector_sync(
        self,
        table: str,
        rowid: int,
        indexes: tuple[str, ...],
        old: tuple[VectorEntry | None, ...] | None,
        new: tuple[VectorEntry | None, ...] | None,
    ) -> None:
        vectors.unsupported()

    def savepoint(self) -> _Savepoint:
        return _Savepoint(self.cur)

    def write_chunk(self, file: int, seq: int, data: memoryview) -> None:
        self.changed = True
        blobs.write_chunk(self.cur, file, seq, data)

    def delete_chunks(self, file: int) -> None:
        self.changed = True
        blobs.delete_chunks(self.cur, file)

    def wrote(self) -> bool:
        return self.changed

    def commit(self, origin: str | None = None, payload: bytes | None = None) -> int:
        if self.refused is not None:
            raise self.refused
        if self._pending is not None and payload is None:  # no statement ran: nothing to do
            self._pending = None
            return 0
        if self._status() == pq.TransactionStatus.INERROR:
            raise DatabaseError(
                "a statement of this transaction failed and the function caught the error: "
                "the transaction was rolled back and nothing of it was written"
            )
        conn = self._started()
        if payload is None:
            wire.simple(conn, b"COMMIT")
            return 0
        assert origin is not None
        # Append (lock, log row, NOTIFY: one function) and commit: one round trip, as one
        # simple-query string sent through libpq (wire.py; a pipeline costs more than the
        # round trips it saves).
        if self._origin[0] != origin:
            self._origin = (origin, self.literal(origin))
        append = changelog.append_sql(self._origin[1], wire.bytea(payload), self._channel)
        seq = int(wire.value(wire.simple(conn, append + b"; COMMIT")[0], 0, 0) or 0)
        if changelog.trims(seq):  # after COMMIT: its own autocommit statement
            changelog.trim(self._cur, self.engine.schema)
        return seq

    # -- schema -------------------------------------------------------------------------

    def _ddl_changed(self) -> None:
        self.ddl = catalog.bump_ddl(self.cur)

    def ensure_internal_tables(self) -> None:
        pass  # made once per schema when the engine opens (catalog.bootstrap)

    def create_table(self, table: str) -> None:
        self.cur.execute(ddl.create_table(table))  # type: ignore[arg-type]
        self._ddl_changed()

    def drop_table(
        self, table: str, search_indexes: tuple[str, ...], vector_indexes: tuple[str, ...] = ()
    ) -> None:
        # vector_indexes: none (a PostgreSQL database never has one, see vectors.py)
        for index in search_indexes:
            search.drop(self.cur, table, index)
        self.cur.execute(ddl.drop_table(table))  # type: ignore[arg-type]
        catalog.unregister_index(self.cur, table, None)
        self._ddl_changed()

    def sync_view(self, table: str, number: int, fields: tuple[str, ...]) -> None:
        pass  # no views for other tools on PostgreSQL (the SQLite engine's are for its shell)

    def create_index(
        self,
        table: str,
        index: str,
        fields: tuple[str, ...],
        composite: frozenset[str],
        rows: int,
        progress: ProgressCallback | None,
        unique: bool = False,
    ) -> None:
        cur = self.cur
        cur.execute(ddl.add_key_column(table, index))  # type: ignore[arg-type]
        catalog.register_index(cur, table, index, fields)
        self._ddl_changed()
        if rows:
            fn = key_function(fields)
            report = Progress(f"building index {table}.{index}", rows, progress)
            last, done = 0, 0
            t, column = ddl.table_sql(table), ddl.key_column(index)
            while True:
                batch = cur.execute(
                    f"SELECT _id, doc FROM {t} WHERE _id > %s ORDER BY _id LIMIT %s",
                    (last, FETCH_BATCH * 4),
                ).fetchall()
                if not batch:
                    break
                cur.executemany(
                    f"UPDATE {t} SET {column} = %s WHERE _id = %s",
                    [(fn(orjson.loads(doc)), rowid) for rowid, doc in batch],
                )
                last = int(batch[-1][0])
                done += len(batch)
                report.update(min(done, rows - 1))
            report.finish()
        cur.execute(ddl.create_index(table, index))  # type: ignore[arg-type]
        if unique:
            self._make_unique(table, index, fields)

    def _make_unique(self, table: str, index: str, fields: tuple[str, ...]) -> None:
        """Fill the unique column of ``index`` (keys holding no null), then let PostgreSQL
        enforce it. Over one field, in SQL from the stored range keys (every key but null's);
        over several, from the documents (the null positions are not told apart in SQL)."""
        cur = self.cur
        cur.execute(ddl.add_unique_column(table, index))  # type: ignore[arg-type]
        fn = unique_function(fields)
        t, column = ddl.table_sql(table), ddl.unique_column(index)
        last = 0
        if len(fields) == 1:
            cur.execute(
                f"UPDATE {t} SET {column} = {ddl.key_column(index)} WHERE {ddl.key_column(index)} <> %s",
                (sort_bytes(None),),
            )
        while len(fields) > 1:
            batch = cur.execute(
                f"SELECT _id, doc FROM {t} WHERE _id > %s ORDER BY _id LIMIT %s",
                (last, FETCH_BATCH * 4),
            ).fetchall()
            if not batch:
                break
            keyed = [(key, rowid) for rowid, doc in batch if (key := fn(orjson.loads(doc))) is not None]
            if keyed:
                cur.executemany(f"UPDATE {t} SET {column} = %s WHERE _id = %s", keyed)
            last = int(batch[-1][0])
        try:
            cur.execute(ddl.create_unique_index(table, index))  # type: ignore[arg-type]
        except psycopg.Error as exc:
            taken = key_taken(exc, table, {ddl.unique_sql_name(table, index): index})
            if taken is None:
                raise
            raise taken from None
        catalog.set_unique(cur, table, index, True)
        self._ddl_changed()

    def drop_unique(self, table: str, index: str) -> None:
        self.cur.execute(ddl.drop_unique_index(table, index))  # type: ignore[arg-type]
        self.cur.execute(ddl.drop_unique_column(table, index))  # type: ignore[arg-type]
        catalog.set_unique(self.cur, table, index, False)
        self._ddl_changed()

    def drop_format1_indexes(self, table: str) -> None:
        pass  # PostgreSQL databases start at format 2

    def drop_index(self, table: str, index: str) -> None:
        self.cur.execute(ddl.drop_unique_index(table, index))  # type: ignore[arg-type]
        self.cur.execute(ddl.drop_unique_column(table, index))  # type: ignore[arg-type]
        self.cur.execute(ddl.drop_index(table, index))  # type: ignore[arg-type]
        self.cur.execute(ddl.drop_key_column(table, index))  # type: ignore[arg-type]
        catalog.unregister_index(self.cur, table, index)
        self._ddl_changed()

    def create_search_index(
        self, table: str, index: SearchIndexDef, progress: ProgressCallback | None
    ) -> None:
        search.create(self.cur, table, index, progress)

    def drop_search_index(self, table: str, index: str) -> None:
        search.drop(self.cur, table, index)

    def rebuild_search_index(
        self, table: str, index: SearchIndexDef, progress: ProgressCallback | None
    ) -> None:
        search.drop(self.cur, table, index.name)
        search.create(self.cur, table, index, progress)

    def require_vectors(self) -> None:
        vectors.unsupported()

    def create_vector_index(
        self, table: str, index: VectorIndexDef, progress: ProgressCallback | None
    ) -> tuple[int, list[tuple[int, str]]]:
        vectors.unsupported()

    def drop_vector_index(self, table: str, index: str) -> None:
        vectors.unsupported()

    def backfill_default(self, table: str, path: str, value_json: str) -> None:
        """Write ``value_json`` at top-level ``path`` of every document that lacks it (in
        Python: the documents are JSON text, kept exactly as fusiondb wrote them)."""
        value = orjson.loads(value_json)
        t = ddl.table_sql(table)
        layout = self._layout(table)
        last = 0
        while True:
            batch = self.cur.execute(
                f"SELECT _id, doc FROM {t} WHERE _id > %s ORDER BY _id LIMIT %s",
                (last, FETCH_BATCH * 4),
            ).fetchall()
            if not batch:
                break
            changed = []
            for rowid, raw in batch:
                doc = orjson.loads(raw)
                if isinstance(doc, dict) and path not in doc:
                    doc[path] = value
                    text = orjson.dumps(doc).decode()
                    changed.append((text, *_keys(layout, text), rowid))
            if changed:
                self.changed = True
                try:
                    self.cur.executemany(layout.update, changed)
                except psycopg.Error as exc:
                    taken = key_taken(exc, table, layout.unique)
                    if taken is None:
                        raise
                    raise taken from None  # the caller refuses the schema change: all rolls back
            last = int(batch[-1][0])

    def write_catalog(self, entries: Mapping[str, str], version: int) -> None:
        catalog.write(self.cur, entries, version)

    def save_migration(
        self, name: str, table: str, state: tuple[int, int, int, bool], started: float | None
    ) -> None:
        self.changed = True
        catalog.save_migration(self.cur, name, table, state, started, time.time())

    def forget_migrations(self, table: str) -> None:
        catalog.forget_migrations(self.cur, table)


def _statement_unusable(exc: psycopg.Error) -> bool:
    """Whether ``exc`` says the statement riding the ``BEGIN`` could not run as prepared
    (missing, already there, or naming what is no longer there): then nothing was written."""
    state = exc.sqlstate or ""
    return state == INVALID_STATEMENT_NAME or state.startswith(UNDEFINED_OR_DUPLICATE)


def _keys(layout: Layout, doc: str) -> list[bytes | None]:
    if not layout.keys:
        return []
    data = orjson.loads(doc)
    return [fn(data) for fn in layout.keys]


__all__ = ["KeyTaken", "PgTxn", "RetryTransaction"]
