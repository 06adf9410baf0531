"""``SqliteTxn``: the engine's transaction object on one apsw connection (see ``base.py``).

One object per connection, reused by every transaction on it. Statements whose rows are
taken at once (a get, a write, a scan fetched whole) run on the connection's one reused
cursor: ``Connection.execute`` makes a new cursor each call, which costs about half a
microsecond. Lazily iterated statements get a cursor of their own, so other statements can
run while they are open. Per-table SQL text is built once per table name.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from types import TracebackType
from typing import Any, Literal

import apsw

from ...core.documents import Row
from ...core.keys import SearchEntry
from ...core.progress import Progress, ProgressCallback
from ...core.schema import SearchIndexDef
from ...core.vectordef import VectorIndexDef
from ...core.vectors import VectorEntry
from ..base import Aggregate, IndexScan, KeyTaken, SearchScan, VectorScan, insert_after_newest_plainly
from . import aggregate, blobs, catalog, changelog, ddl, fts, vectors, views
from .scan import creation_bounds, scan_sql


class _PerTable(dict[str, str]):
    """SQL text per table name, from a template, built on first use."""

    def __init__(self, template: str) -> None:
        super().__init__()
        self.template = template

    def __missing__(self, table: str) -> str:
        sql = self[table] = self.template.format(t=ddl.quote(table))
        return sql


_GET = _PerTable("SELECT _id, creation_time, doc FROM {t} WHERE _id = ?")
_INSERT = _PerTable("INSERT INTO {t}(creation_time, doc) VALUES (?, ?)")
_INSERT_AT = _PerTable("INSERT INTO {t}(_id, creation_time, doc) VALUES (?, ?, ?)")
_UPDATE = _PerTable("UPDATE {t} SET doc = ? WHERE _id = ?")
_DELETE = _PerTable("DELETE FROM {t} WHERE _id = ?")
_MAX_CT = _PerTable("SELECT creation_time FROM {t} ORDER BY _id DESC LIMIT 1")
_ROWS_AFTER = _PerTable("SELECT _id, creation_time, doc FROM {t} WHERE _id > ? ORDER BY _id LIMIT ?")
_COUNT_AFTER = _PerTable("SELECT count(*) FROM {t} WHERE _id > ?")
_ORDER_BREAKS = _PerTable(
    "SELECT count(*) FROM (SELECT creation_time < lag(creation_time) OVER (ORDER BY _id) AS back "
    "FROM {t}) WHERE back"
)
_ROWID_SPAN = _PerTable("SELECT min(_id), max(_id) FROM {t}")
_NEXT_ROW = _PerTable("SELECT _id, creation_time FROM {t} WHERE _id >= ? ORDER BY _id LIMIT 1")
# Below this many row numbers, a creation-time bound is a plain condition on each row; above,
# the row numbers it keeps are found first by binary search (creation time increases with
# the row number), ~log2(rows) lookups.
SEEK_MIN_ROWS = 2_048

# CREATE INDEX costs about this many SQLite VM steps per row, plus per indexed column;
# the progress bar estimates its total from them.
INDEX_STEPS_PER_ROW = 12
INDEX_STEPS_PER_COLUMN = 3
PROGRESS_STEPS = 1_000


# SQLite's extended result code for a UNIQUE index violation (not the primary key's).
_CONSTRAINT_UNIQUE = 2067


def _key_taken(table: str, exc: apsw.ConstraintError) -> KeyTaken | None:
    """``KeyTaken`` for a unique index's violation (the only UNIQUE indexes fusiondb makes on
    a documents table are those of unique indexes); ``None`` for another constraint."""
    if getattr(exc, "extendedresult", None) != _CONSTRAINT_UNIQUE:
        return None
    return KeyTaken(
        f"a write to table {table!r} would duplicate a key of a unique index ({exc})",
        table=table, orig=exc,
    )


class _Savepoint:
    __slots__ = ("_cur",)

    def __init__(self, cur: apsw.Cursor) -> None:
        self._cur = cur

    def __enter__(self) -> None:
        self._cur.execute("SAVEPOINT fdb")

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> Literal[False]:
        if exc is None:
            self._cur.execute("RELEASE fdb")
        else:
            try:
                self._cur.execute("ROLLBACK TO fdb")
                self._cur.execute("RELEASE fdb")
            except apsw.Error:
                pass  # the outer transaction is gone already; its rollback undoes this too
        return False


class SqliteTxn:
    """Reads and writes of one connection's current transaction."""

    __slots__ = (
        "_position", "changes_at_begin", "conn", "cur", "foreign", "last_version", "shared",
    )

    def __init__(self, conn: apsw.Connection, shared: bool) -> None:
        self.conn = conn
        self.cur = conn.cursor()
        self.shared = shared
        self.foreign = False
        # data_version after this connection's last transaction: another connection's
        # commit moves it (the engine compares at the start of each transaction).
        self.last_version: int | None = None
        self.changes_at_begin = 0  # the connection's total_changes() when the write began
        # (data_version, change-log position) of the last snapshot whose position was read.
        self._position: tuple[int, int] = (-1, 0)

    # -- reads --------------------------------------------------------------------------

    def get(self, table: str, rowid: int) -> Row | None:
        # ``.get`` steps the statement to its end (one row: a tuple; none: None), so the
        # reused cursor holds no statement open after it.
        row: Row | None = self.cur.execute(_GET[table], (rowid,)).get
        return row

    def scan(self, spec: IndexScan) -> list[Any]:
        sql, params = scan_sql(spec, self._rowids(spec))
        rows: list[Any] = self.cur.execute(sql, params).fetchall()
        return rows

    def iter_scan(self, spec: IndexScan) -> Iterator[Any]:
        sql, params = scan_sql(spec, self._rowids(spec))
        rows: Iterator[Any] = self.conn.execute(sql, params)
        return rows

    def aggregate(self, spec: Aggregate) -> Any:
        return aggregate.run(self.cur, spec, self._rowids(spec.scan))

    def _rowids(self, spec: IndexScan) -> tuple[int | None, int | None]:
        """The row numbers ``[first, last)`` whose creation times the scan's creation-time
        bounds keep, for a large table (see ``scan_sql``); ``(None, None)`` otherwise."""
        bounds = creation_bounds(spec)
        if not bounds:
            return (None, None)
        span = self.cur.execute(_ROWID_SPAN[spec.table]).get
        if not isinstance(span, tuple) or span[0] is None or span[1] - span[0] < SEEK_MIN_ROWS:
            return (None, None)
        low, high = int(span[0]), int(span[1])
        first = last = None
        for op, t in bounds:
            if op in ("gt", "gte"):
                first = self._first_rowid(spec.table, t, op == "gte", low, high)
            else:  # the rows before the first one past the bound
                last = self._first_rowid(spec.table, t, op == "lt", low, high)
        return (first, last)

    def _first_rowid(self, table: str, t: Any, inclusive: bool, low: int, high: int) -> int:
        """The first row number from which every row's creation time is past ``t`` (``>``, or
        ``>=`` if ``inclusive``), ``high + 1`` if none: a binary search on row numbers."""
        if not isinstance(t, int | float) or isinstance(t, bool):
            return low if t is None else high + 1  # null sorts before, the rest after numbers
        a, b = low, high + 1
        while a < b:
            mid = (a + b) // 2
            rowid, ct = self.cur.execute(_NEXT_ROW[table], (mid,)).get  # type: ignore[misc]
            if ct > t or (inclusive and ct == t):
                b = mid
            else:
                a = int(rowid) + 1
        return a

    def search(self, spec: SearchScan) -> Iterator[Any]:
        return fts.search_rows(self.conn.cursor(), spec)

    def rows_after(self, table: str, rowid: int, limit: int) -> list[Any]:
        rows: list[Any] = self.cur.execute(_ROWS_AFTER[table], (rowid, limit)).fetchall()
        return rows

    def count(self, table: str, after_rowid: int = 0) -> int:
        return int(self.cur.execute(_COUNT_AFTER[table], (after_rowid,)).get)  # type: ignore[arg-type]

    def max_creation_time(self, table: str) -> float | None:
        value: float | None = self.cur.execute(_MAX_CT[table]).get
        return value

    def tokenize(self, text: str) -> list[str]:
        return fts.tokenize(text)

    def read_file(
        self, file: int, chunk_size: int, pos: int, n: int, into: memoryview | None
    ) -> list[bytes] | None:
        return blobs.read(self.conn, file, chunk_size, pos, n, into)

    def log_position(self) -> int:
        """Read once per snapshot: the file-control ``data_version`` moves each time this
        connection starts reading a database another connection changed, so an unmoved
        one means the same snapshot as when the position was last read. Called before
        anything was read in the transaction, it names the previous snapshot, an older one:
        the position returned is then too low, never too high (a live query re-checks, it
        does not miss a commit); called after the transaction's reads it is exact."""
        if not self.shared:
            return 0
        version, seq = self._position
        if self.conn.data_version() != version:
            seq = changelog.position(self.cur)
            self._position = (self.conn.data_version(), seq)  # of the snapshot just read
        return seq

    def catalog_version(self) -> int:
        return catalog.version(self.cur)

    def read_catalog(self) -> dict[str, str] | None:
        return catalog.read(self.cur)

    def migration_state(self, name: str) -> tuple[int, int, int, bool] | None:
        return catalog.migration_state(self.cur, name)

    def integrity_problems(self) -> list[str]:
        rows = [str(r[0]) for r in self.conn.execute("PRAGMA integrity_check")]
        return [] if rows == ["ok"] else rows

    def duplicate_keys(
        self, table: str, index: str, fields: tuple[str, ...], composite: frozenset[str],
        limit: int,
    ) -> tuple[int, list[list[int]]]:
        count = 0
        groups: list[list[int]] = []
        for (joined,) in self.conn.execute(ddl.duplicate_keys(table, index, fields, composite)):
            count += 1
            if len(groups) < limit:
                groups.append(sorted(int(r) for r in str(joined).split(",")))
        return count, groups

    def creation_order_breaks(self, table: str) -> int:
        return int(self.cur.execute(_ORDER_BREAKS[table]).get)  # type: ignore[arg-type]

    def search_index_matches(self, table: str, index: SearchIndexDef) -> bool:
        return fts.matches(self.conn, table, index)

    def vector_search(self, spec: VectorScan) -> list[tuple[int, float]]:
        return vectors.search(self.cur, spec)

    def vector_index_matches(self, table: str, index: VectorIndexDef) -> bool:
        return vectors.matches(self.conn, table, index)

    # -- writes -------------------------------------------------------------------------

    # A statement that fails a constraint is undone by SQLite (ON CONFLICT ABORT), and the
    # transaction goes on: KeyTaken leaves nothing of the failed write behind.

    def insert(self, table: str, creation_time: float, doc: str, rowid: int | None = None) -> int:
        try:
            if rowid is not None:
                # AUTOINCREMENT keeps the highest row number ever used: later inserts follow it.
                self.cur.execute(_INSERT_AT[table], (rowid, creation_time, doc))
                return rowid
            self.cur.execute(_INSERT[table], (creation_time, doc))
        except apsw.ConstraintError as exc:
            raise _key_taken(table, exc) or exc from None
        return self.conn.last_insert_rowid()

    def insert_after_newest(self, table: str, creation_time: float, doc: str) -> tuple[int, float]:
        return insert_after_newest_plainly(self, table, creation_time, doc)

    def insert_many(self, table: str, rows: list[tuple[float, str]]) -> range:
        # One executemany; AUTOINCREMENT under the write lock numbers the rows consecutively.
        try:
            self.cur.executemany(_INSERT[table], rows)
        except apsw.ConstraintError as exc:
            raise _key_taken(table, exc) or exc from None
        last = self.conn.last_insert_rowid()
        return range(last - len(rows) + 1, last + 1)

    def update(self, table: str, rowid: int, doc: str) -> None:
        try:
            self.cur.execute(_UPDATE[table], (doc, rowid))
        except apsw.ConstraintError as exc:
            raise _key_taken(table, exc) or exc from None

    def delete(self, table: str, rowid: int) -> None:
        self.cur.execute(_DELETE[table], (rowid,))

    def search_sync(
        self,
        table: str,
        rowid: int,
        indexes: tuple[str, ...],
        old: tuple[SearchEntry, ...] | None,
        new: tuple[SearchEntry, ...] | None,
    ) -> None:
        fts.sync(self.cur, table, rowid, indexes, old, new)

    def vector_sync(
        self,
        table: str,
        rowid: int,
        indexes: tuple[str, ...],
        old: tuple[VectorEntry | None, ...] | None,
        new: tuple[VectorEntry | None, ...] | None,
    ) -> None:
        vectors.sync(self.cur, table, rowid, indexes, old, new)

    def savepoint(self) -> _Savepoint:
        return _Savepoint(self.cur)

    def write_chunk(self, file: int, seq: int, data: memoryview) -> None:
        blobs.write_chunk(self.conn, self.cur, file, seq, data)

    def delete_chunks(self, file: int) -> None:
        blobs.delete_chunks(self.cur, file)

    def begin_write(self) -> None:
        """Start counting this write transaction's changes (``wrote``)."""
        self.changes_at_begin = self.conn.total_changes()

    def wrote(self) -> bool:
        return bool(self.conn.total_changes() != self.changes_at_begin)

    def commit(self, origin: str | None = None, payload: bytes | None = None) -> int:
        seq = 0
        if payload is not None and self.shared:
            assert origin is not None
            seq = changelog.append(self.conn, self.cur, origin, payload)
        self.cur.execute("COMMIT")
        # This connection's own commit moved data_version: it is not another's.
        self.last_version = self.conn.data_version()
        return seq

    # -- schema -------------------------------------------------------------------------

    def ensure_internal_tables(self) -> None:
        self.cur.execute(catalog.CREATE_CATALOG)
        if self.shared:
            self.cur.execute(changelog.CREATE)
        self.cur.execute(blobs.CREATE_CHUNKS)
        self.cur.execute(blobs.CREATE_CHUNKS_INDEX)

    def create_table(self, table: str) -> None:
        # No creation-time index: creation order is rowid order (the table's own B-tree).
        self.cur.execute(ddl.create_table(table))

    def drop_table(
        self, table: str, search_indexes: tuple[str, ...], vector_indexes: tuple[str, ...] = ()
    ) -> None:
        for index in search_indexes:
            fts.drop_search_index(self.conn, table, index)
        for index in vector_indexes:
            vectors.drop_vector_index(self.conn, table, index)
        self.cur.execute(views.drop_view_sql(table))
        self.cur.execute(ddl.drop_table(table))

    def sync_view(self, table: str, number: int, fields: tuple[str, ...]) -> None:
        sql = views.create_view_sql(table, number, fields)
        # fetchall: a statement left pending would lock the schema for the DDL that follows.
        found = self.cur.execute(
            "SELECT sql FROM sqlite_master WHERE type = 'view' AND name = ?", (views.view_name(table),)
        ).fetchall()
        if found and found[0][0] == sql:
            return
        self.cur.execute(views.drop_view_sql(table))
        self.cur.execute(sql)

    def _columns(self, table: str) -> set[str]:
        return {str(r[1]) for r in self.cur.execute(f"PRAGMA table_xinfo({ddl.quote(table)})")}

    def create_index(
        self, table: str, index: str, fields: tuple[str, ...], composite: frozenset[str],
        rows: int, progress: ProgressCallback | None, unique: bool = False,
    ) -> None:
        columns = self._columns(table)
        for path in fields:
            if ddl.tag_column(path) not in columns:
                self.cur.execute(ddl.add_tag_column(table, path))
            if ddl.value_column(path, path in composite) not in columns:
                self.cur.execute(ddl.add_value_column(table, path, path in composite))
        self._build(ddl.create_index(table, index, fields, composite), f"{table}.{index}",
                    len(fields), rows, progress)
        if unique:
            try:
                self.cur.execute(ddl.create_unique_index(table, index, fields, composite))
            except apsw.ConstraintError as exc:
                raise _key_taken(table, exc) or exc from None

    def _build(
        self, sql: str, name: str, columns: int, rows: int, progress: ProgressCallback | None
    ) -> None:
        """Run the ``CREATE INDEX`` ``sql``, reporting progress for a table of ``rows``."""
        if not rows:
            self.cur.execute(sql)
            return
        # With progress, estimated from SQLite's VM step count.
        report = Progress(f"building index {name}", rows, progress)
        estimate = rows * (INDEX_STEPS_PER_ROW + INDEX_STEPS_PER_COLUMN * columns)
        steps = 0

        def tick() -> bool:
            nonlocal steps
            steps += PROGRESS_STEPS
            report.update(min(rows - 1, rows * steps // estimate))
            return False

        self.conn.set_progress_handler(tick, PROGRESS_STEPS, id=tick)
        try:
            self.cur.execute(sql)
        finally:
            self.conn.set_progress_handler(None, id=tick)
        report.finish()

    def drop_format1_indexes(self, table: str) -> None:
        prefix = f"{table}$"
        names = [
            str(r[0]) for r in self.cur.execute(
                "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = ?", (table,)
            ).fetchall()
        ]
        for name in names:
            if name.startswith(prefix):
                self.cur.execute(f"DROP INDEX {ddl.quote(name)}")
        # Format 1's generated columns are "$<path>" (format 2's end in $t, $v or $c).
        for column in sorted(self._columns(table)):
            if column.startswith("$") and column.count("$") == 1:
                self.cur.execute(ddl.drop_column(table, column))

    def drop_index(self, table: str, index: str) -> None:
        self.cur.execute(ddl.drop_unique_index(table, index))
        self.cur.execute(ddl.drop_index(table, index))

    def drop_unique(self, table: str, index: str) -> None:
        self.cur.execute(ddl.drop_unique_index(table, index))

    def create_search_index(
        self, table: str, index: SearchIndexDef, progress: ProgressCallback | None
    ) -> None:
        fts.create_search_index(self.conn, table, index, progress)

    def drop_search_index(self, table: str, index: str) -> None:
        fts.drop_search_index(self.conn, table, index)

    def rebuild_search_index(
        self, table: str, index: SearchIndexDef, progress: ProgressCallback | None
    ) -> None:
        fts.drop_search_index(self.conn, table, index.name)
        fts.create_search_index(self.conn, table, index, progress)

    def require_vectors(self) -> None:
        vectors.ensure_loaded(self.conn)

    def create_vector_index(
        self, table: str, index: VectorIndexDef, progress: ProgressCallback | None
    ) -> tuple[int, list[tuple[int, str]]]:
        return vectors.create_vector_index(self.conn, table, index, progress)

    def drop_vector_index(self, table: str, index: str) -> None:
        vectors.drop_vector_index(self.conn, table, index)

    def backfill_default(self, table: str, path: str, value_json: str) -> None:
        jpath = ddl.json_path(path)
        try:
            self.cur.execute(
                f"UPDATE {ddl.quote(table)} SET doc = json_set(doc, ?, json(?)) "
                "WHERE json_type(doc, ?) IS NULL",
                (jpath, value_json, jpath),
            )
        except apsw.ConstraintError as exc:
            raise _key_taken(table, exc) or exc from None

    def write_catalog(self, entries: Mapping[str, str], version: int) -> None:
        catalog.write(self.cur, entries, version)

    def save_migration(
        self, name: str, table: str, state: tuple[int, int, int, bool], started: float | None
    ) -> None:
        catalog.save_migration(self.cur, name, table, state, started, time.time())

    def forget_migrations(self, table: str) -> None:
        catalog.forget_migrations(self.cur, table)
