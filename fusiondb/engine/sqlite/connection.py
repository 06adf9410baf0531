"""Opening one configured apsw connection: pragmas as data, in one place; waiting for the lock."""

from __future__ import annotations

import time
from collections.abc import Callable

import apsw

from ...core.keys import sort_bytes_of_json
from .ddl import SORT_BYTES_FUNCTION
from .errors import TRANSLATE

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


def _functions(conn: apsw.Connection) -> None:
    # Index columns over fields that may hold arrays or objects call it (ddl.value_sql):
    # deterministic, and innocuous so that it may run from the schema.
    conn.create_scalar_function(
        SORT_BYTES_FUNCTION, sort_bytes_of_json, 1, deterministic=True, flags=apsw.SQLITE_INNOCUOUS
    )


def connect(path: str | None) -> apsw.Connection:
    """Open one configured connection to ``path`` (``None``: a private in-memory database)."""
    with TRANSLATE:
        conn = apsw.Connection(
            ":memory:" if path is None else path, statementcachesize=STATEMENT_CACHE_SIZE
        )
        for setting in MEMORY_SETTINGS if path is None else FILE_SETTINGS:
            setting(conn)
        _functions(conn)
    return conn


def begin_immediate(cur: apsw.Cursor) -> None:
    """Take SQLite's write lock, waiting as long as it takes; busy is never the caller's problem."""
    delay = 0.001
    while True:
        try:
            cur.execute("BEGIN IMMEDIATE")
            return
        except apsw.BusyError:
            time.sleep(delay)
            delay = min(delay * 2, 0.05)
