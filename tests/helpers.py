"""Helpers shared by tests: looking at what is stored, below the public API."""

from __future__ import annotations

from typing import Any

import fusiondb as fdb


def raw_sql(db: fdb.Database, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Rows of ``sql`` run on one of the database's own SQLite connections, in a read snapshot.

    For tests that check the stored bytes themselves (the FTS index, file chunks, the change
    log), not only what queries return. On PostgreSQL, ``?`` marks become ``%s``.
    """
    if is_postgres(db):
        sql = sql.replace("?", "%s")
    with db._engine.read() as txn:  # type: ignore[attr-defined]
        return [tuple(row) for row in txn.conn.execute(sql, params)]


def is_postgres(db: fdb.Database) -> bool:
    """Whether ``db`` is on PostgreSQL (for the few tests that check an engine's own storage)."""
    return db.path is not None and db.path.startswith(("postgresql://", "postgres://"))
