"""SQLite engines: a file (``FileEngine``) or a private in-memory database (``MemoryEngine``).

A file database has one writer connection, used under a Python lock so that threads queue in
Python rather than spin in SQLite's busy handler, and a pool of reader connections, each
reading a WAL snapshot, so readers never block the writer. Other processes are kept in order
by SQLite's own write lock; ``BEGIN IMMEDIATE`` waits for it through the busy timeout and,
past that, through a retry loop, so no ``BusyError`` reaches the caller.

An in-memory database lives in one connection shared by readers and the writer under the
same lock: there is no other process to coordinate with, and it opens in microseconds, which
is what a test fixture wants. A read inside a running transaction on the same thread (a file
stream read while a mutation runs) reads in that transaction.

Transactions are entered as context managers (``with engine.read() as txn``). Each is a small
class rather than a generator (entering one costs a fraction of the ~0.7 us a
``@contextmanager`` does, and one is entered for every query and mutation), allocated once
and reused: the writer's per engine, a reader's per pooled connection.
"""

from __future__ import annotations

import contextlib
import threading
from types import TracebackType
from typing import Literal

import apsw

from ...core.errors import DatabaseClosed, FusionError
from ..base import Guard, LogReader
from .backup import backup
from .changelog import Watcher
from .connection import begin_immediate, connect
from .errors import TRANSLATE, translated
from .fts import tokenize
from .txn import SqliteTxn


def _nested_write() -> FusionError:
    return FusionError(
        "a write transaction inside a running query or mutation on the same thread: call the "
        "other function directly with the db you were given, e.g. other_fn(db, **args)"
    )


class _Engine:
    """What both engines share: the write lock, the writer's transaction object, closing."""

    path: str | None
    shared: bool

    def __init__(self, path: str | None) -> None:
        self.path = path
        self.guard: Guard | None = None
        self._closed = False
        # Reentrant: an in-memory read inside a running transaction on the same thread.
        self.lock = threading.RLock()
        self.writer = SqliteTxn(connect(path, first=True), shared=path is not None)

    @property
    def closed(self) -> bool:
        return self._closed

    def check_open(self) -> None:
        if self._closed:
            raise DatabaseClosed("the database is closed")

    def tokenize(self, text: str) -> list[str]:
        return tokenize(text)

    def _connections(self) -> list[apsw.Connection]:
        return [self.writer.conn]

    def backup(self, dest: str) -> None:
        """Copy the database to a new file ``dest`` (``backup.py``)."""
        self.check_open()
        if self.path is None:
            with self.lock:  # the one shared connection: copy between transactions
                backup(self.writer.conn, dest)
            return
        source = connect(self.path)  # its own connection: the pool's stay free for queries
        try:
            backup(source, dest)
        finally:
            source.close()

    def close(self) -> None:
        with self.lock:
            if self._closed:
                return
            self._closed = True
            for conn in self._connections():
                with contextlib.suppress(apsw.Error):
                    conn.close()


def _rollback(engine: _Engine, conn: apsw.Connection) -> None:
    """End ``conn``'s transaction if one is open: after any exception, KeyboardInterrupt
    included, a connection goes back to its pool or its lock idle, never mid-transaction."""
    # Suppressed: ``close()`` on another thread may close the connection at any point here.
    with contextlib.suppress(apsw.Error):
        if not engine.closed and conn.in_transaction:
            conn.execute("ROLLBACK")


def _end_write(engine: _Engine, exc: BaseException | None) -> None:
    """Leave a write transaction: roll back what was not committed, release the lock, and
    raise a driver error as a fusiondb one."""
    try:
        _rollback(engine, engine.writer.conn)
    finally:
        engine.lock.release()
    if isinstance(exc, apsw.Error):
        translated(exc)


class _MemoryRead:
    __slots__ = ("_engine",)

    def __init__(self, engine: MemoryEngine) -> None:
        self._engine = engine

    def __enter__(self) -> SqliteTxn:
        engine = self._engine
        engine.lock.acquire()
        try:
            engine.check_open()
            txn = engine.writer
            if engine.depth == 0:
                with TRANSLATE:
                    txn.cur.execute("BEGIN")
            engine.depth += 1
        except BaseException:
            try:
                if engine.depth == 0:
                    _rollback(engine, engine.writer.conn)
            finally:
                engine.lock.release()
            raise
        return txn

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> Literal[False]:
        engine = self._engine
        try:
            engine.depth -= 1
            if engine.depth == 0 and not engine.closed:
                try:
                    with TRANSLATE:
                        engine.writer.cur.execute("COMMIT")
                finally:
                    _rollback(engine, engine.writer.conn)  # only if COMMIT did not happen
        finally:
            engine.lock.release()
        if isinstance(exc, apsw.Error):
            translated(exc)
        return False


class _Write:
    """``with engine.write() as txn``: the write lock, then ``BEGIN IMMEDIATE`` and what the
    engine checks at the start of a write (``_begin_write``); on leaving, what was not
    committed rolls back and the lock goes. Any exception on the way in, KeyboardInterrupt
    included, leaves the connection idle and the lock free."""

    __slots__ = ("_engine",)

    def __init__(self, engine: MemoryEngine | FileEngine) -> None:
        self._engine = engine

    def __enter__(self) -> SqliteTxn:
        engine = self._engine
        engine.lock.acquire()
        try:
            engine.check_open()
            txn = engine.writer
            if txn.conn.in_transaction:  # a query or mutation of this thread is running
                raise _nested_write()
            try:
                engine._begin_write(txn)
            except BaseException:
                engine._end_write_scope()
                _rollback(engine, txn.conn)
                raise
        except BaseException:
            engine.lock.release()
            raise
        return txn

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> Literal[False]:
        self._engine._end_write_scope()
        _end_write(self._engine, exc)
        return False


class MemoryEngine(_Engine):
    """A private in-memory database: one connection, one lock (see the module docstring)."""

    def __init__(self) -> None:
        super().__init__(None)
        self.shared = False
        self.depth = 0  # open transaction scopes on the connection (one thread, under lock)
        self._read = _MemoryRead(self)
        self._write = _Write(self)

    def read(self) -> _MemoryRead:
        return self._read

    def write(self) -> _Write:
        return self._write

    def _begin_write(self, txn: SqliteTxn) -> None:
        with TRANSLATE:
            txn.cur.execute("BEGIN IMMEDIATE")
        txn.begin_write()
        self.depth = 1  # reads inside the mutation (file streams) join its transaction

    def _end_write_scope(self) -> None:
        self.depth = 0

    def log_reader(self) -> LogReader:
        raise FusionError("an in-memory database has no change log: no other process sees it")


class _FileRead:
    """A pooled reader connection; ``with`` runs one read transaction on it."""

    __slots__ = ("_engine", "txn")

    def __init__(self, engine: FileEngine, txn: SqliteTxn) -> None:
        self._engine = engine
        self.txn = txn

    def __enter__(self) -> SqliteTxn:
        try:
            with TRANSLATE:
                self.txn.cur.execute("BEGIN")
        except BaseException:
            self._engine.checkin(self)
            raise
        return self.txn

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> Literal[False]:
        engine, txn = self._engine, self.txn
        try:
            try:
                # A failed read (a document the model rejects) is better explained by a
                # schema another process changed, when that is what happened; an interrupt
                # (KeyboardInterrupt) only ends the transaction.
                if exc is None or isinstance(exc, Exception):
                    with TRANSLATE:  # a close() on another thread: DatabaseClosed
                        engine.check_guard(txn)
            finally:
                if not engine.closed:
                    with TRANSLATE:
                        txn.cur.execute("COMMIT")
        finally:
            engine.checkin(self)
        if isinstance(exc, apsw.Error):
            translated(exc)
        return False


class FileEngine(_Engine):
    """A database file: one writer, a pool of readers (see the module docstring)."""

    def __init__(self, path: str) -> None:
        super().__init__(path)
        self.shared = True
        self._write = _Write(self)
        self._pool: list[_FileRead] = []
        self._readers: list[SqliteTxn] = []
        self._pool_lock = threading.Lock()

    def read(self) -> _FileRead:
        """A pooled connection, checked out; ``with`` it to read (it checks itself back in)."""
        self.check_open()
        with self._pool_lock:
            if self._pool:
                return self._pool.pop()
        txn = SqliteTxn(connect(self.path), shared=True)
        with self._pool_lock:
            self._readers.append(txn)
        return _FileRead(self, txn)

    def checkin(self, slot: _FileRead) -> None:
        _rollback(self, slot.txn.conn)
        with self._pool_lock:
            if self._closed:
                slot.txn.conn.close()
            else:
                self._pool.append(slot)

    def write(self) -> _Write:
        return self._write

    def _begin_write(self, txn: SqliteTxn) -> None:
        with TRANSLATE:
            begin_immediate(txn.cur)
        txn.begin_write()
        # Another connection committed since this one's last transaction: the schema may
        # have changed under us (the guard), and the clock's floor must be looked up again.
        version = txn.conn.data_version()
        txn.foreign = version != txn.last_version
        if txn.foreign:
            self.check_guard(txn)

    def _end_write_scope(self) -> None:
        pass

    def check_guard(self, txn: SqliteTxn) -> None:
        """Ask the guard whether the schema still fits, if another connection committed
        since ``txn``'s connection last looked (only then can the catalog have changed)."""
        version = txn.conn.data_version()
        if version == txn.last_version:
            return
        if self.guard is not None:
            self.guard.check(txn)
        txn.last_version = version

    def log_reader(self) -> LogReader:
        assert self.path is not None
        return Watcher(self.path)

    def _connections(self) -> list[apsw.Connection]:
        with self._pool_lock:
            readers, self._readers, self._pool = self._readers, [], []
        return [self.writer.conn, *(t.conn for t in readers)]
