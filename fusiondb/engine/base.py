"""The engine seam: everything the layers above need from a database engine, and nothing more.

An ``Engine`` owns the connections of one open database. It hands out transactions as
context managers: ``with engine.read() as txn`` reads one consistent snapshot, ``with
engine.write() as txn`` holds the single writer (serializable); leaving the block ends the
transaction (a write that was not committed rolls back), and driver errors leave it as
``fusiondb`` errors. Inside, the transaction object (``ReadTxn`` / ``WriteTxn``) is the only
way to data: documents by row number, index-range scans described by ``IndexScan``, aggregates
over such a range (``Aggregate``), full-text searches described by ``SearchScan``, file
chunks, the change log, the catalog, and the DDL that schema evolution applies.

Unique indexes (``create_index(..., unique=True)``) are enforced by the engine, so they hold
against every writer, other processes included: a write that would give a second document
the key of a unique index raises ``KeyTaken`` (see there for the whole contract).

Documents cross the seam as JSON text with their row number and creation time (``Row``);
index keys as tuples of plain values (``core.keys``); filters as ``core.expr`` trees. The
engine decides how to store and scan them (SQLite: virtual generated columns, ``INDEXED BY``,
FTS5), so nothing above it builds SQL.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from typing import Any, NamedTuple, Protocol

from ..core.aggregates import Function
from ..core.documents import Row
from ..core.errors import DatabaseError, FusionError
from ..core.expr import Expr
from ..core.keys import Key, SearchEntry
from ..core.progress import ProgressCallback
from ..core.schema import SearchIndexDef
from ..core.vectordef import VectorIndexDef
from ..core.vectors import VectorEntry


class KeyTaken(DatabaseError):
    """Raised by ``WriteTxn.insert``, ``insert_many``, ``update`` (and ``backfill_default``) when
    the write would give a document the key of a unique index that another document holds.

    The contract every engine implements:

    - A document's key in an index is the tuple of its values of the index's fields, compared
      in the value order of ``core/keys.py``: ``1`` and ``1.0`` are the same key, strings
      compare exactly (code point by code point), arrays and objects by their elements.
    - A key holding null (or a missing field) in any position is exempt: any number of
      documents may hold it (SQL's ``UNIQUE``, PostgreSQL's default ``NULLS DISTINCT``).
    - The check holds against every connection and process writing to the database (SQLite: a
      ``UNIQUE`` index; PostgreSQL: a unique constraint or index), not only this one.
    - The failing statement has no effect, and the transaction stays usable: what it wrote
      before is kept (the caller decides whether to roll back).
    - ``table`` names the table; ``index`` the unique index when the engine knows it (else
      ``None``). The layer above finds the index and the document holding the key by
      scanning each unique index of the table with an ``eq`` on every field
      (``ReadTxn.scan``), so an engine need not say more.

    Not a user-facing error: the writer turns it into ``fdb.DuplicateKey``.
    """

    def __init__(self, message: str, *, table: str, index: str | None = None,
                 orig: BaseException | None = None) -> None:
        super().__init__(message, orig=orig)
        self.table = table
        self.index = index


class RetryTransaction(FusionError):
    """Raised by an engine whose transactions can fail for concurrency alone (PostgreSQL's
    serialization failures and deadlocks): nothing of the transaction was written, and the
    transaction runner runs the whole function again (``transaction/runner.py``). Internal:
    the runner never lets it reach the caller."""


class IndexScan(NamedTuple):
    """One range scan over an index, in index order.

    ``fields`` are the index's field paths (empty for ``by_creation_time`` and ``by_id``); the
    key of a document is ``(*field values, creation_time, rowid)``, for ``by_id`` ``(rowid,)``.
    ``eqs`` fix a prefix of that key, ``lower``/``upper`` bound the next position
    (``("gt" | "gte" | "lt" | "lte", value)``; a ``None`` value is below every other value, so
    ``gt(None)`` means "not null" and ``lt(None)`` nothing),
    ``after`` and ``until`` are full keys (pagination: strictly after, up to and including),
    ``filters`` conditions every returned document meets, ``limit`` caps the rows.

    Values are as ``core.keys`` defines them (JSON values in Convex's order); ``composite``
    names the fields whose type may hold arrays or objects (their index columns encode them).
    Rows come back as ``(rowid, creation_time, doc)``.
    """

    table: str
    index_name: str
    fields: tuple[str, ...]
    eqs: tuple[Any, ...]
    lower: tuple[str, Any] | None
    upper: tuple[str, Any] | None
    desc: bool
    filters: tuple[Expr, ...]
    after: Key | None
    until: Key | None
    limit: int | None
    composite: frozenset[str] = frozenset()


class Aggregate(NamedTuple):
    """``count``, ``sum``, ``min`` or ``max`` over the documents ``scan`` keeps (its range and
    filters; its ``desc``, ``after``, ``until`` and ``limit`` are ``False``/``None``), of
    document ``field`` (a dotted path; ``None`` for ``count``).

    The meaning is ``core.aggregates.aggregate``'s, over the same documents: ``count`` an
    int; ``sum`` the numbers' sum (booleans are not numbers), ints exact at any size, ``0``
    for none; ``min``/``max`` the least/greatest present, non-null value in the value order,
    as stored (JSON, bytes as ``{"$bytes": hex}``), ``None`` for none. An engine computes
    them without sending documents up: from the index alone when the range and ``field``
    are in it and no filter reads the document.
    """

    scan: IndexScan
    function: Function
    field: str | None


class SearchScan(NamedTuple):
    """One full-text search: documents whose search field holds any of ``terms`` (or a token
    starting with ``prefix``) and whose filter fields equal ``filters`` (``(position in the
    index's filter_fields, value)``), in relevance order, then ``filters`` conditions.

    Rows come back as ``(rowid, creation_time, doc, rank)``; ``(rank, rowid)`` is the key that
    ``after`` and ``until`` (pagination) compare with.
    """

    table: str
    index_name: str
    terms: tuple[str, ...]
    prefix: str | None
    filters: tuple[tuple[int, Any], ...]
    conditions: tuple[Expr, ...]
    after: Key | None
    until: Key | None
    limit: int | None


class VectorScan(NamedTuple):
    """One vector search: the ``limit`` documents of vector index ``index_name`` nearest to
    ``vector`` by cosine similarity, among those whose filter fields hold one of ``filters``'
    values (``(position in the index's filter_fields, values)``; a document matches if any
    listed field holds any of its values, as Convex's ``or``); every indexed document when
    ``filters`` is empty.

    Rows come back as ``(rowid, score)``, the score being the cosine similarity (-1 to 1),
    highest first, ties by rowid. The result must be exact (not an approximate
    nearest-neighbour index that may miss a document), as ``tests/test_vector_search.py``
    checks against brute force; an engine without vectors raises ``NotSupported``.
    """

    table: str
    index_name: str
    vector: tuple[float, ...]
    filters: tuple[tuple[int, tuple[Any, ...]], ...]
    limit: int


class LogEntry(NamedTuple):
    """One commit in the change log: its sequence number, the process that made it, and its
    payload (``None`` for the reader's own commits, which it already knows)."""

    seq: int
    origin: str
    payload: bytes | None


class ReadTxn(Protocol):
    """A read transaction: one consistent snapshot."""

    def get(self, table: str, rowid: int) -> Row | None:
        """One document, or ``None``."""
        ...

    def scan(self, spec: IndexScan) -> list[Any]:
        """Every row of an index range scan (see ``IndexScan`` for the row shape)."""
        ...

    def iter_scan(self, spec: IndexScan) -> Iterator[Any]:
        """The rows of an index range scan, one at a time (the caller may stop early)."""
        ...

    def aggregate(self, spec: Aggregate) -> Any:
        """An aggregate over an index range (see ``Aggregate``)."""
        ...

    def search(self, spec: SearchScan) -> Iterator[Any]:
        """The rows of a full-text search, in relevance order."""
        ...

    def rows_after(self, table: str, rowid: int, limit: int) -> list[Row]:
        """Up to ``limit`` documents with row numbers above ``rowid``, in row order."""
        ...

    def count(self, table: str, after_rowid: int = 0) -> int:
        """How many documents ``table`` holds (with row numbers above ``after_rowid``)."""
        ...

    def max_creation_time(self, table: str) -> float | None:
        """The creation time of the newest row of ``table`` (the highest rowid)."""
        ...

    def tokenize(self, text: str) -> list[str]:
        """The tokens the engine's search indexes hold for ``text``."""
        ...

    def read_file(
        self, file: int, chunk_size: int, pos: int, n: int, into: memoryview | None
    ) -> list[bytes] | None:
        """``n`` bytes of stored file ``file`` from ``pos``: into ``into`` (then ``[]``) or as
        pieces; ``None`` if the file's chunks are gone (deleted)."""
        ...

    def log_position(self) -> int:
        """The sequence number of the last commit in the change log this snapshot sees."""
        ...

    def catalog_version(self) -> int:
        """The stored catalog's version (cheap: checked after other processes' commits)."""
        ...

    def read_catalog(self) -> dict[str, str] | None:
        """The stored catalog's entries (JSON text per key), or ``None`` for a new file."""
        ...

    def migration_state(self, name: str) -> tuple[int, int, int, bool] | None:
        """``(last rowid, processed, changed, done)`` of a ``db.migrate`` run, if recorded."""
        ...

    def integrity_problems(self) -> list[str]:
        """What the engine's own consistency check finds wrong with the stored data (empty:
        nothing). Reads everything: slow on a large database."""
        ...

    def duplicate_keys(
        self, table: str, index: str, fields: tuple[str, ...], composite: frozenset[str],
        limit: int,
    ) -> tuple[int, list[list[int]]]:
        """Documents of ``table`` that share a key of index ``index`` over ``fields`` (as
        unique indexes compare keys: the value order, keys holding null exempt, see
        ``KeyTaken``): how many keys are shared, and the row numbers of the first ``limit``
        groups, each in row order. Reads the whole index: schema evolution calls it before
        making an index unique."""
        ...

    def creation_order_breaks(self, table: str) -> int:
        """How many rows of ``table`` have a creation time below the row before them (row
        order is creation order; only another tool's insert can break it)."""
        ...

    def search_index_matches(self, table: str, index: SearchIndexDef) -> bool:
        """Whether search index ``index`` of ``table`` holds exactly the entries of the
        table's documents (it may not, after another tool wrote to the database)."""
        ...

    def vector_search(self, spec: VectorScan) -> list[tuple[int, float]]:
        """The rows of a vector search (see ``VectorScan``)."""
        ...

    def vector_index_matches(self, table: str, index: VectorIndexDef) -> bool:
        """Whether vector index ``index`` of ``table`` holds exactly the entries of the
        table's documents (``core.vectors.vector_entry``)."""
        ...


class WriteTxn(ReadTxn, Protocol):
    """The write transaction (one at a time per database, serializable)."""

    foreign: bool
    """Whether another connection committed since this one's last transaction."""

    def insert(self, table: str, creation_time: float, doc: str, rowid: int | None = None) -> int:
        """Store a new document; returns its row number (never reused). ``rowid``: store it
        under that row number (restoring an export; the caller checks it is free), and later
        inserts are numbered after it. ``KeyTaken`` (nothing stored) if its key of a unique
        index is taken."""
        ...

    def insert_after_newest(self, table: str, creation_time: float, doc: str) -> tuple[int, float]:
        """``insert`` created after the table's newest document, stored by any connection:
        at ``creation_time``, or 0.001 ms after the newest creation time when that is later;
        returns the row number and the creation time used. (Another connection may have
        inserted with a clock a hair ahead of this one's; and on PostgreSQL, the newest row's
        read makes concurrent inserts into one table conflict, so creation order stays row
        order.) ``KeyTaken`` as for ``insert``."""
        ...

    def insert_many(self, table: str, rows: list[tuple[float, str]]) -> Sequence[int]:
        """Store new documents ``(creation_time, doc)``, in one statement where the engine can;
        returns their row numbers, in order (increasing). ``KeyTaken`` if one's key of a
        unique index is taken (by a stored document or one before it): those before it may
        be stored (the caller wraps the call in a ``savepoint`` to undo them)."""
        ...

    def update(self, table: str, rowid: int, doc: str) -> None:
        """Replace a document's JSON; ``KeyTaken`` (nothing changed) if its new key of a unique
        index is another document's."""
        ...

    def delete(self, table: str, rowid: int) -> None: ...

    def search_sync(
        self,
        table: str,
        rowid: int,
        indexes: tuple[str, ...],
        old: tuple[SearchEntry, ...] | None,
        new: tuple[SearchEntry, ...] | None,
    ) -> None:
        """Bring the search indexes of one written document up to date."""
        ...

    def vector_sync(
        self,
        table: str,
        rowid: int,
        indexes: tuple[str, ...],
        old: tuple[VectorEntry | None, ...] | None,
        new: tuple[VectorEntry | None, ...] | None,
    ) -> None:
        """Bring the vector indexes ``indexes`` of one written document up to date: ``old``
        and ``new`` hold its entry in each before and after (``None``: not indexed)."""
        ...

    def savepoint(self) -> AbstractContextManager[None]:
        """A nested transaction: rolled back if the block raises, kept otherwise."""
        ...

    def write_chunk(self, file: int, seq: int, data: memoryview) -> None: ...

    def delete_chunks(self, file: int) -> None: ...

    def wrote(self) -> bool:
        """Whether this transaction has changed any row so far."""
        ...

    def commit(self, origin: str | None = None, payload: bytes | None = None) -> int:
        """Commit; with a ``payload``, append it to the change log first (same transaction).
        Returns the commit's sequence number in the log (0 without a payload)."""
        ...

    # Schema work (evolution): runs inside the write transaction like everything else.

    def ensure_internal_tables(self) -> None: ...

    def create_table(self, table: str) -> None: ...

    def drop_table(
        self, table: str, search_indexes: tuple[str, ...], vector_indexes: tuple[str, ...] = ()
    ) -> None:
        """Drop the table with its indexes, search and vector indexes and view."""
        ...

    def sync_view(self, table: str, number: int, fields: tuple[str, ...]) -> None:
        """Create or update the table's read-only view for other tools: the public id, the
        creation time and the top-level ``fields``. A no-op when it is already so."""
        ...

    def create_index(
        self, table: str, index: str, fields: tuple[str, ...], composite: frozenset[str],
        rows: int, progress: ProgressCallback | None, unique: bool = False,
    ) -> None:
        """Create an index over ``fields`` (then creation order), in the value order of
        ``core/keys.py``; ``composite``: the fields whose type may hold arrays or objects;
        ``rows`` sizes the progress. ``unique``: from now on enforce that no two documents
        share a key (``KeyTaken``); the caller has checked that none do
        (``duplicate_keys``). Creating an existing index again makes it unique (cheaply:
        the range index stays) and does nothing else."""
        ...

    def drop_unique(self, table: str, index: str) -> None:
        """Stop enforcing uniqueness of index ``index``; the index itself stays."""
        ...

    def drop_format1_indexes(self, table: str) -> None:
        """Drop a file-format-1 table's indexes and their generated columns (the upgrade to
        format 2 then builds the indexes again)."""
        ...

    def drop_index(self, table: str, index: str) -> None:
        """Drop the index (and its uniqueness)."""
        ...

    def create_search_index(
        self, table: str, index: SearchIndexDef, progress: ProgressCallback | None
    ) -> None:
        """Create a search index and fill it from the table's documents."""
        ...

    def drop_search_index(self, table: str, index: str) -> None: ...

    def rebuild_search_index(
        self, table: str, index: SearchIndexDef, progress: ProgressCallback | None
    ) -> None:
        """Build a search index afresh from the table's documents."""
        ...

    def require_vectors(self) -> None:
        """Raise ``NotSupported`` unless this engine can hold vector indexes (called on open
        when the schema or the file has one; SQLite: sqlite-vec, the ``vector`` extra)."""
        ...

    def create_vector_index(
        self, table: str, index: VectorIndexDef, progress: ProgressCallback | None
    ) -> tuple[int, list[tuple[int, str]]]:
        """Create a vector index and fill it from the table's documents. Returns how many
        documents hold a vector it cannot take (``core.vectors.vector_problem``) and
        ``(rowid, reason)`` for the first few; the caller then refuses the change."""
        ...

    def drop_vector_index(self, table: str, index: str) -> None: ...

    def backfill_default(self, table: str, path: str, value_json: str) -> None:
        """Write ``value_json`` at top-level ``path`` of every document that lacks it."""
        ...

    def write_catalog(self, entries: Mapping[str, str], version: int) -> None: ...

    def save_migration(
        self, name: str, table: str, state: tuple[int, int, int, bool], started: float | None
    ) -> None:
        """Record a ``db.migrate`` run's progress (``started``: a new run, insert it)."""
        ...

    def forget_migrations(self, table: str) -> None: ...


def insert_after_newest_plainly(
    txn: WriteTxn, table: str, creation_time: float, doc: str
) -> tuple[int, float]:
    """``WriteTxn.insert_after_newest`` in two statements: the newest creation time, then the
    insert (an engine's own way where it has no faster one)."""
    newest = txn.max_creation_time(table)
    if newest is not None:
        creation_time = max(creation_time, newest + 0.001)
    return txn.insert(table, creation_time, doc), creation_time


class Guard(Protocol):
    """Checks, after another connection committed, that the stored schema still fits ours."""

    def check(self, txn: ReadTxn) -> None: ...


class LogReader(Protocol):
    """Follows the change log for commits of other processes."""

    def moved(self) -> bool:
        """Whether anyone committed since the last call (cheap; may say so spuriously)."""
        ...

    def position(self) -> int:
        """The sequence number of the last commit in the log."""
        ...

    def read_since(self, seq: int, skip_origin: str) -> tuple[list[LogEntry], bool]:
        """Entries after ``seq``, and whether they are every commit since the last read:
        ``False`` when the log no longer reaches back to ``seq``, or when a commit left no
        entry (another tool wrote to the database)."""
        ...

    def follow(self, on_change: Callable[[], None]) -> bool:
        """Call ``on_change`` (from any thread) whenever another connection may have
        committed, until ``close``; ``False`` if this engine cannot notify (then poll)."""
        ...

    def close(self) -> None: ...


class Engine(Protocol):
    """One open database's connections (see the module docstring)."""

    path: str | None
    shared: bool
    """Whether other processes can open the same database (then commits go to the log)."""
    guard: Guard | None

    @property
    def closed(self) -> bool: ...

    def check_open(self) -> None: ...

    def read(self) -> AbstractContextManager[ReadTxn]: ...

    def write(self) -> AbstractContextManager[WriteTxn]: ...

    def log_reader(self) -> LogReader: ...

    def tokenize(self, text: str) -> list[str]: ...

    def backup(self, dest: str) -> None:
        """Copy the whole database, as of one consistent moment, to a new file at ``dest``
        while others keep reading and writing (SQLite: the online backup API)."""
        ...

    def close(self) -> None: ...
