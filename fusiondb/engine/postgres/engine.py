# pyright: reportArgumentType=false, reportCallIssue=false
# (psycopg types a query as a LiteralString; this module's SQL is built from names validated
# by ddl.py, with every value a bound parameter, which pyright cannot see. mypy checks the rest.)
"""``PgEngine``: one fusiondb database in one PostgreSQL schema, over a connection pool.

Every transaction takes a connection from the pool (``psycopg_pool``), so threads of one
process, and any number of processes, read and write at the same time: PostgreSQL keeps
them apart. A write is ``SERIALIZABLE``; when PostgreSQL aborts it for a conflict
(serialization failure, deadlock) it leaves as ``RetryTransaction`` and the runner runs the
function again. A read is one ``REPEATABLE READ READ ONLY`` snapshot. After another process
changed the stored schema (the catalog version read when a transaction begins moved), the
guard checks that ours still fits, as on SQLite.

Round trips: a transaction's ``BEGIN`` goes with its first statement (``txn.py``), a logged
commit is one string, and a read's ``COMMIT`` is sent without waiting for the answer: the
connection stays out of the pool (at most ``ENDING_MAX`` of them) until the next transaction
takes it and reads that answer first. So a ``db.run`` of a query with one statement is one
round trip, as the same statement run alone. A committed write's connection waits there
too, so the next transaction takes the most recently used connection.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections import deque
from types import TracebackType
from typing import Any, Literal

import psycopg
from psycopg.types.string import TextLoader
from psycopg_pool import ConnectionPool, PoolTimeout

from ...core.errors import DatabaseClosed, DatabaseError, NotSupported, SchemaError
from ..base import Guard, LogReader
from ..sqlite.fts import tokenize
from . import catalog, changelog
from .errors import TRANSLATE, translated
from .txn import PgTxn
from .url import redacted, split_url

POOL_MAX = 16
CONNECT_TIMEOUT = 10
ENDING_MAX = 4  # connections kept out of the pool for the next transaction (PgEngine.release)
WAIT_STEP = 0.05  # seconds: with the pool exhausted, how often an ending read is looked for


def _configure(schema: str) -> Any:
    def configure(conn: psycopg.Connection[tuple[Any, ...]]) -> None:
        conn.execute(f'SET search_path TO "{schema}"')
        # Documents stay JSON text: the layers above parse them once, with orjson.
        conn.adapters.register_loader("json", TextLoader)
        conn.adapters.register_loader("jsonb", TextLoader)

    return configure


class PgEngine:
    """One open database on PostgreSQL (see the module docstring)."""

    shared = True

    def __init__(self, url: str) -> None:
        self.path: str | None = url
        self.guard: Guard | None = None
        self._closed = False
        self.conninfo, self.schema = split_url(url)
        self.channel = changelog.channel(self.schema)
        self._configure = _configure(self.schema)
        # The index registry per table, under the ddl token it was read with (txn.py).
        self.layouts: dict[str, Any] = {}
        self.cursor_seq = 0
        self._txns: dict[int, PgTxn] = {}
        self._ending: deque[PgTxn] = deque()
        self._lock = threading.Lock()
        conn = self.connect()
        try:
            with TRANSLATE:
                theirs = catalog.foreign_tables(conn, self.schema)
                if theirs:
                    shown = ", ".join(theirs[:5]) + (", ..." if len(theirs) > 5 else "")
                    raise SchemaError(
                        f"the PostgreSQL schema {self.schema!r} of {redacted(url)} holds tables "
                        f"fusiondb did not create ({shown}) and no {catalog.CATALOG_TABLE}; "
                        "nothing was changed: name another schema with ?schema=NAME"
                    )
                catalog.bootstrap(conn, self.schema)
        finally:
            conn.close()
        self.pool: ConnectionPool[psycopg.Connection[tuple[Any, ...]]] = ConnectionPool(
            self.conninfo,
            min_size=1,
            max_size=POOL_MAX,
            kwargs={"autocommit": True, "connect_timeout": CONNECT_TIMEOUT},
            configure=self._configure,
            open=True,
            name=f"fusiondb-{self.schema}",
        )

    def connect(self, application_name: str = "fusiondb") -> psycopg.Connection[tuple[Any, ...]]:
        """A connection of its own (not pooled), autocommit, on the schema."""
        try:
            conn = psycopg.connect(
                self.conninfo,
                autocommit=True,
                connect_timeout=CONNECT_TIMEOUT,
                application_name=application_name,
            )
        except psycopg.Error as exc:
            raise DatabaseError(
                f"cannot connect to {redacted(self.conninfo)} ({exc}): check the URL, that "
                "the server is running and that it accepts this user",
                orig=exc,
            ) from exc
        with TRANSLATE:
            self._configure(conn)
        return conn

    @property
    def closed(self) -> bool:
        return self._closed

    def check_open(self) -> None:
        if self._closed:
            raise DatabaseClosed("the database is closed")

    def txn_for(self, conn: psycopg.Connection[tuple[Any, ...]]) -> PgTxn:
        txn = self._txns.get(id(conn))
        if txn is None or txn.conn is not conn:
            with self._lock:
                txn = self._txns[id(conn)] = PgTxn(self, conn)
        return txn

    def read(self) -> _Read:
        return _Read(self)

    def write(self) -> _Write:
        return _Write(self)

    def check_guard(self, txn: PgTxn) -> None:
        """The schema guard, once ``txn`` began (a transaction that ran no statement read
        nothing to guard)."""
        if (
            self.guard is not None
            and txn.begun
            and txn.begun_version != getattr(self.guard, "version", None)
        ):
            self.guard.check(txn)

    def checkout(self) -> PgTxn:
        """A connection for a new transaction: the last read's whose ``COMMIT`` is on its way
        (its answer read first), else one from the pool."""
        deadline = time.monotonic() + self.pool.timeout
        while True:
            txn = self._ended()
            if txn is not None:
                return txn
            try:
                return self.txn_for(self.pool.getconn(timeout=WAIT_STEP))
            except PoolTimeout:
                if time.monotonic() >= deadline:
                    raise

    def release(self, txn: PgTxn) -> None:
        """End ``txn``'s transaction if still open and give its connection back. An open
        read's ``COMMIT`` is sent without waiting: its connection waits in ``_ending`` for the
        next ``checkout``, which reads the answer (by then normally there). A committed
        write's connection waits there too: ``checkout`` takes the most recently used one
        first, where the pool hands its connections out in turn, so a thread's transactions
        stay on one warm backend (a single mutation ~10 % faster, bench_postgres_mutation).
        A connection older than half the pool's ``max_lifetime`` goes back to the pool, which
        replaces it when it expires."""
        conn = txn.conn
        if (
            not self._closed
            and not conn.closed
            and len(self._ending) < ENDING_MAX
            and time.monotonic() - txn.born < self.pool.max_lifetime / 2
        ):
            try:
                ending = txn.end_later()
            except psycopg.Error:
                ending = False
            if ending:
                self._ending.append(txn)
                if self._closed:  # close() may have emptied it before the append
                    self._drain()
                return
        try:
            if not conn.closed:
                with contextlib.suppress(psycopg.Error):
                    txn.end()
        finally:
            if self._closed:
                with contextlib.suppress(psycopg.Error):
                    conn.close()
            with contextlib.suppress(Exception):
                self.pool.putconn(conn)

    def log_reader(self) -> LogReader:
        self.check_open()
        return changelog.PgLogReader(self.connect, self.schema)

    def tokenize(self, text: str) -> list[str]:
        return tokenize(text)

    def backup(self, dest: str) -> None:
        self.check_open()
        raise NotSupported(
            "db.backup copies a SQLite file; this database is on PostgreSQL: back it up with "
            f"pg_dump (pg_dump --schema={self.schema} ...) or export it with db.export_jsonl",
            feature="backup",
            engine="postgres",
        )

    def _discard(self, txn: PgTxn) -> None:
        with contextlib.suppress(psycopg.Error):
            txn.conn.close()
        with contextlib.suppress(Exception):
            self.pool.putconn(txn.conn)

    def _ended(self) -> PgTxn | None:
        """An ending read taken from ``_ending``, its ``COMMIT``'s answer read (one whose
        answer failed is discarded); ``None`` when none is left (another thread may have
        taken the last)."""
        if not self._ending:  # the usual case for writes: no exception raised and caught
            return None
        while True:
            try:
                txn = self._ending.pop()
            except IndexError:
                return None
            try:
                txn.ended()
            except psycopg.Error:
                self._discard(txn)
                continue
            return txn

    def _drain(self) -> None:
        """Give back the connections of ending reads (the database closes)."""
        while (txn := self._ended()) is not None:
            with contextlib.suppress(Exception):
                self.pool.putconn(txn.conn)

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
        self._drain()
        with contextlib.suppress(Exception):
            self.pool.close(timeout=5)


def _begin(engine: PgEngine, write: bool) -> PgTxn:
    """A pooled connection in a new transaction, whose ``BEGIN`` goes with its first
    statement (a write's schema guard runs then: ``PgTxn.run``)."""
    engine.check_open()
    with TRANSLATE:
        txn = engine.checkout()
    txn.begin(write)
    return txn


class _Read:
    __slots__ = ("_engine", "_txn")

    def __init__(self, engine: PgEngine) -> None:
        self._engine = engine

    def __enter__(self) -> PgTxn:
        self._txn = _begin(self._engine, write=False)
        return self._txn

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> Literal[False]:
        engine, txn = self._engine, self._txn
        try:
            if exc is None or (isinstance(exc, Exception) and not isinstance(exc, psycopg.Error)):
                with TRANSLATE:
                    engine.check_guard(txn)
        finally:
            engine.release(txn)
        if isinstance(exc, psycopg.Error):
            translated(exc)
        return False


class _Write:
    __slots__ = ("_engine", "_txn")

    def __init__(self, engine: PgEngine) -> None:
        self._engine = engine

    def __enter__(self) -> PgTxn:
        self._txn = _begin(self._engine, write=True)
        return self._txn

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> Literal[False]:
        self._engine.release(self._txn)
        if isinstance(exc, psycopg.Error):
            translated(exc)
        return False


def probe(url: str) -> str:
    """``"fusiondb"`` when the URL's schema holds a fusiondb database, else ``"missing"``
    (an empty or absent schema) or ``"other"`` (someone else's tables); nothing is created."""
    conninfo, schema = split_url(url)
    try:
        conn = psycopg.connect(conninfo, autocommit=True, connect_timeout=CONNECT_TIMEOUT)
    except psycopg.Error as exc:
        raise DatabaseError(f"cannot connect to {redacted(conninfo)} ({exc})", orig=exc) from exc
    try:
        rows = conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = %s", (schema,)).fetchall()
    finally:
        conn.close()
    names = {str(r[0]) for r in rows}
    if catalog.CATALOG_TABLE in names:
        return "fusiondb"
    return "other" if names else "missing"
