"""Opening one configured apsw connection: pragmas as data, in one place; waiting for the lock."""

from __future__ import annotations

import time
from collections.abc import Callable

import apsw

from ...core.errors import DatabaseError, ReadOnlyError, SchemaError
from ...core.keys import sort_bytes_of_json
from .catalog import CATALOG_TABLE
from .ddl import SORT_BYTES_FUNCTION
from .errors import TRANSLATE, translated

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


def connect(path: str | None, *, first: bool = False) -> apsw.Connection:
    """Open one configured connection to ``path`` (``None``: a private in-memory database).

    ``first``: the engine's first connection to the file, which checks that the file is a
    fusiondb database (or empty) before any setting changes it.
    """
    if path is None:
        with TRANSLATE:
            conn = apsw.Connection(":memory:", statementcachesize=STATEMENT_CACHE_SIZE)
            for setting in MEMORY_SETTINGS:
                setting(conn)
            _functions(conn)
        return conn
    try:
        conn = apsw.Connection(path, statementcachesize=STATEMENT_CACHE_SIZE)
        try:
            if first:
                _busy_timeout(conn)
                _check_ours(conn, path)
            for setting in FILE_SETTINGS:
                setting(conn)
            _functions(conn)
            if first and conn.readonly("main"):
                raise apsw.ReadOnlyError("opened read-only")
        except BaseException:
            conn.close()
            raise
    except apsw.CantOpenError as exc:
        raise DatabaseError(
            f"cannot open the database file {path!r}: check that its directory exists and that "
            "this process may read and write both (SQLite creates -wal and -shm files beside "
            "it)",
            orig=exc,
        ) from exc
    except apsw.ReadOnlyError as exc:
        raise ReadOnlyError(_read_only(path), orig=exc) from exc
    except (apsw.NotADBError, apsw.CorruptError) as exc:
        raise DatabaseError(
            f"{path!r} is not a SQLite database, or it is corrupt ({exc}); nothing was changed: "
            "check the path, or restore the file from a backup",
            orig=exc,
        ) from exc
    except apsw.Error as exc:
        translated(exc)
    return conn


def _read_only(path: str) -> str:
    return (
        f"the database file {path!r} (or its directory) is read-only for this process: "
        "fusiondb writes to the file, and to its -wal and -shm files, even to read it; "
        "make both writable, or copy the file somewhere writable"
    )


def _check_ours(conn: apsw.Connection, path: str) -> None:
    """Refuse a SQLite file that another program made (tables, but no fusiondb catalog)."""
    tables = [
        str(r[0]) for r in conn.execute("SELECT name FROM sqlite_schema WHERE type = 'table'")
    ]
    if tables and CATALOG_TABLE not in tables:
        shown = ", ".join(sorted(tables)[:5]) + (", ..." if len(tables) > 5 else "")
        raise SchemaError(
            f"{path!r} is a SQLite database that fusiondb did not create (it has the tables "
            f"{shown} and no {CATALOG_TABLE}); nothing was changed: open a new file instead"
        )


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
