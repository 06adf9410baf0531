"""The one place psycopg errors become fusiondb errors (the original kept as ``.orig``).

Serialization failures (SQLSTATE 40001) and deadlocks (40P01) are not errors for the caller:
they become ``RetryTransaction``, which the transaction runner answers by running the whole
function again (``transaction/runner.py``). So do unique violations (23505) in general: they
come from two transactions creating the same table or catalog row at once. Those of a unique
index's own constraint (``ddl.unique_sql_name``) are the exception: ``key_taken`` makes them
``KeyTaken``, which the writer turns into ``fdb.DuplicateKey``.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import TracebackType
from typing import Literal, NoReturn

import psycopg
from psycopg import errors as pg

from ...core.errors import DatabaseClosed, DatabaseError, ReadOnlyError, SchemaError
from ..base import KeyTaken, RetryTransaction

# Serialization failure, deadlock; and the unique violations of two transactions creating
# the same table or catalog row at once (the loser sees the winner's on its next attempt).
RETRY_STATES = frozenset({"40001", "40P01", "23505", "42P07", "42710"})


def key_taken(exc: psycopg.Error, table: str, unique: Mapping[str, str]) -> KeyTaken | None:
    """``KeyTaken`` when ``exc`` is the violation of one of ``table``'s unique indexes
    (``unique``: constraint name -> index name); ``None`` for any other error."""
    if exc.sqlstate != "23505":
        return None
    index = unique.get(exc.diag.constraint_name or "")
    if index is None:
        return None
    return KeyTaken(
        f"a write to table {table!r} would duplicate a key of unique index {index!r} "
        f"({exc.diag.message_detail or exc})",
        table=table,
        index=index,
        orig=exc,
    )


def translated(exc: psycopg.Error) -> NoReturn:
    """Raise the fusiondb error (or the retry signal) for ``exc``."""
    state = exc.sqlstate or ""
    if state in RETRY_STATES:
        raise RetryTransaction(f"PostgreSQL: {exc}", orig=exc) from exc
    if isinstance(exc, pg.ReadOnlySqlTransaction | pg.InsufficientPrivilege):
        raise ReadOnlyError(
            f"PostgreSQL refused a write ({exc}): check the role's privileges on the schema",
            orig=exc,
        ) from exc
    if isinstance(exc, pg.UndefinedTable | pg.UndefinedColumn):
        raise SchemaError(
            f"PostgreSQL: {exc}; another tool may have changed fusiondb's tables: "
            "run db.check() or restore from an export",
        ) from exc
    if isinstance(exc, pg.ProgramLimitExceeded | pg.StringDataRightTruncation):
        raise DatabaseError(f"value too large for PostgreSQL: {exc}", orig=exc) from exc
    if isinstance(exc, pg.DiskFull | pg.OutOfMemory):
        raise DatabaseError(
            f"the PostgreSQL server is out of space ({exc}): the transaction was rolled back "
            "and nothing of it was written; free some space and retry",
            orig=exc,
        ) from exc
    if isinstance(exc, psycopg.OperationalError | psycopg.InterfaceError):
        if "closed" in str(exc) and "connection" in str(exc):
            raise DatabaseClosed(f"the connection is closed: {exc}", orig=exc) from exc
        raise DatabaseError(
            f"PostgreSQL connection error ({exc}): check that the server is running and "
            "reachable, then retry",
            orig=exc,
        ) from exc
    raise DatabaseError(f"PostgreSQL error: {exc}", orig=exc) from exc


class _Translate:
    __slots__ = ()

    def __enter__(self) -> None:
        return None

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> Literal[False]:
        if isinstance(exc, psycopg.Error):
            translated(exc)
        return False


TRANSLATE = _Translate()
"""``with TRANSLATE:`` maps psycopg exceptions raised inside the block to fusiondb errors."""
