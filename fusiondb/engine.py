"""SQLite connections: opening, pragmas (as data, in one place), the writer and the readers.

A file database has one writer connection, used under a Python lock so that threads queue in
Python rather than spin in SQLite's busy handler, and a pool of reader connections, each
reading a WAL snapshot, so readers never block the writer. Other processes are kept in order
by SQLite's own write lock; ``BEGIN IMMEDIATE`` waits for it through the busy timeout and,
past that, through a retry loop here, so no ``BusyError`` reaches the caller.

An ephemeral database lives in one in-memory connection shared by readers and the writer
under the same lock: there is no other process to coordinate with, and it opens in
microseconds, which is what a test fixture wants.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any, Protocol

import apsw

from .errors import DatabaseClosed, DatabaseError, translate

BUSY_TIMEOUT_MS = 5_000
STATEMENT_CACHE_SIZE = 256


def _pragma(name: str, value: object) -> Callable[[apsw.Connection], None]:
    def apply(conn: apsw.Connection) -> None:
        conn.pragma(name, value)

    apply.__name__ = f"pragma_{name}"
    return apply


def _busy_timeout(conn: apsw.Connection) -> None:
    conn.set_busy_timeout(BUSY_TIMEOUT_MS)


# Each setting is a small function; a connection gets the tuple for its kind, in order.
FILE_SETTINGS: tuple[Callable[[apsw.Connection], None], ...] = (
    _busy_timeout,
    _pragma("journal_mode", "wal"),
    # In WAL mode NORMAL loses no committed data on an application crash and keeps the
    # database consistent on power loss; FULL would cost an fsync per commit.
    _pragma("synchronous", "normal"),
    _pragma("foreign_keys", False),
    _pragma("temp_store", "memory"),
    _pragma("cache_size", -32_000),
)
MEMORY_SETTINGS: tuple[Callable[[apsw.Connection], None], ...] = (
    _pragma("foreign_keys", False),
    _pragma("temp_store", "memory"),
)


def connect(path: str | None) -> apsw.Connection:
    """Open one configured connection to ``path`` (``None``: a private in-memory database)."""
    with translate():
        conn = apsw.Connection(
            ":memory:" if path is None else path, statementcachesize=STATEMENT_CACHE_SIZE
        )
        for setting in MEMORY_SETTINGS if path is None else FILE_SETTINGS:
            setting(conn)
    return conn


def begin_immediate(conn: apsw.Connection | apsw.Cursor) -> None:
    """Take SQLite's write lock, waiting as long as it takes; busy is never the caller's problem.

    ``conn`` may be a cursor of the connection (reusing one saves a new cursor per call).
    """
    delay = 0.001
    while True:
        try:
            conn.execute("BEGIN IMMEDIATE")
            return
        except apsw.BusyError:
            time.sleep(delay)
            delay = min(delay * 2, 0.05)


class Guard(Protocol):
    def check(self, conn: apsw.Connection) -> None: ...

    def committed(self, conn: apsw.Connection) -> None: ...


class Engine:
    """Owns every connection of one open database."""

    def __init__(self, path: str | None) -> None:
        self.path = path
        self.ephemeral = path is None
        self.write_lock = threading.RLock()
        self._closed = False
        self.writer = connect(path)
        # One reusable cursor per connection (writer and pooled readers), for statements
        # whose rows are taken at once (per-document gets and writes): ``Connection.execute``
        # makes a new cursor every call, which costs about half a microsecond each time.
        self.cursors: dict[apsw.Connection, apsw.Cursor] = {self.writer: self.writer.cursor()}
        # Set by the database once its catalog is open: checks each transaction for a
        # schema changed by another process (catalog.CatalogGuard).
        self.guard: Guard | None = None
        self._pool: list[apsw.Connection] = []
        self._all: list[apsw.Connection] = [self.writer]
        self._pool_lock = threading.Lock()

    @property
    def closed(self) -> bool:
        return self._closed

    def check_open(self) -> None:
        if self._closed:
            raise DatabaseClosed("the database is closed")

    @contextlib.contextmanager
    def write(self) -> Iterator[apsw.Connection]:
        """The writer connection, inside ``BEGIN IMMEDIATE``; the caller commits or rolls back."""
        with self.write_lock:
            yield self.begin_write()
            self.committed()

    def begin_write(self) -> apsw.Connection:
        """``BEGIN IMMEDIATE`` on the writer, checked by the guard; hold ``write_lock`` around
        it and the transaction, and call ``committed()`` after a commit. (What ``write()``
        does, without a generator: ``db.run`` of a mutation calls these directly.)"""
        if self._closed:
            raise DatabaseClosed("the database is closed")
        writer = self.writer
        with translate():
            begin_immediate(self.cursor(writer))
        guard = self.guard
        if guard is not None:
            try:
                guard.check(writer)
            except BaseException:
                with translate():
                    writer.execute("ROLLBACK")
                raise
        return writer

    def cursor(self, conn: apsw.Connection) -> apsw.Cursor:
        """The reusable cursor of one of this engine's connections."""
        cur = self.cursors.get(conn)
        if cur is None:  # not one of the engine's (or closed under us: a translated error)
            with translate():
                cur = conn.cursor()
        return cur

    def committed(self) -> None:
        if self.guard is not None:
            self.guard.committed(self.writer)

    @contextlib.contextmanager
    def read(self) -> Iterator[apsw.Connection]:
        """A connection inside a read transaction: one consistent snapshot until the block ends."""
        if self.ephemeral:
            with self.write_lock:
                self.check_open()
                with translate():
                    self.writer.execute("BEGIN")
                try:
                    yield self.writer
                finally:
                    with translate():
                        self.writer.execute("COMMIT")
            return
        self.check_open()
        conn = self._checkout()
        try:
            with translate():
                conn.execute("BEGIN")
            try:
                yield conn
            except Exception:
                # A failed read (a document the model rejects) is better explained by a
                # schema another process changed, when that is what happened.
                self._check_guard(conn)
                raise
            else:
                self._check_guard(conn)
            finally:
                with translate():
                    conn.execute("COMMIT")
        finally:
            self._checkin(conn)

    def begin_read(self) -> tuple[apsw.Connection, apsw.Cursor]:
        """A pooled connection inside ``BEGIN`` (file databases); end with ``end_read``.

        What ``read()`` does, without a generator: ``db.run`` of a query calls these directly.
        """
        self.check_open()
        conn = self._checkout()
        try:
            cur = self.cursor(conn)
            with translate():
                cur.execute("BEGIN")
        except BaseException:
            self._checkin(conn)
            raise
        return conn, cur

    def end_read(self, conn: apsw.Connection, cur: apsw.Cursor, check: bool = True) -> None:
        """End ``begin_read``'s transaction; ``check``: ask the guard first (as ``read()``
        does after the block, or after it raised an ``Exception``)."""
        try:
            try:
                if check:
                    self._check_guard(conn)
            finally:
                with translate():
                    cur.execute("COMMIT")
        finally:
            self._checkin(conn)

    def _check_guard(self, conn: apsw.Connection) -> None:
        # At the end of a read: only then does data_version reflect the snapshot read.
        if self.guard is not None:
            self.guard.check(conn)

    def _checkout(self) -> apsw.Connection:
        with self._pool_lock:
            if self._pool:
                return self._pool.pop()
        conn = connect(self.path)
        with self._pool_lock:
            self._all.append(conn)
            self.cursors[conn] = conn.cursor()
        return conn

    def _checkin(self, conn: apsw.Connection) -> None:
        with self._pool_lock:
            if self._closed:
                conn.close()
            else:
                self._pool.append(conn)

    def new_connection(self) -> apsw.Connection:
        """A separate connection (for watchers); the caller closes it."""
        if self.ephemeral:
            raise DatabaseError("an ephemeral database has no second connection")
        return connect(self.path)

    def close(self) -> None:
        with self.write_lock:
            if self._closed:
                return
            self._closed = True
            with self._pool_lock:
                conns, self._all, self._pool = self._all, [], []
                self.cursors.clear()
            for conn in conns:
                with contextlib.suppress(apsw.Error):
                    conn.close()


def fetch_value(conn: apsw.Connection, sql: str, params: tuple[Any, ...] = ()) -> Any:
    row = conn.execute(sql, params).fetchone()
    return None if row is None else row[0]
