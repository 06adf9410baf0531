"""Where the catalog and ``db.migrate``'s progress live in a SQLite file.

The catalog (``evolution/catalog.py`` decides what it says) is key/value rows of JSON text in
``_fdb_catalog``; its version is mirrored in the file header's ``user_version``, which costs
no page read beyond the header SQLite loads anyway, so a process can check it after every
commit of another. ``_fdb_migrations`` holds one row of progress per named migration.
"""

from __future__ import annotations

from collections.abc import Mapping

import apsw

CATALOG_TABLE = "_fdb_catalog"

CREATE_CATALOG = (
    "CREATE TABLE IF NOT EXISTS _fdb_catalog (key TEXT PRIMARY KEY, value TEXT NOT NULL)"
)
CREATE_MIGRATIONS = (
    "CREATE TABLE IF NOT EXISTS _fdb_migrations ("
    "name TEXT PRIMARY KEY, table_name TEXT NOT NULL, last_rowid INTEGER NOT NULL, "
    "processed INTEGER NOT NULL, changed INTEGER NOT NULL, done INTEGER NOT NULL, "
    "started REAL NOT NULL, finished REAL)"
)


def _exists(cur: apsw.Cursor, name: str) -> bool:
    return cur.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (name,)
    ).get is not None


def read(cur: apsw.Cursor) -> dict[str, str] | None:
    """The stored entries, or ``None`` when the file has no catalog yet."""
    if not _exists(cur, "_fdb_catalog"):
        return None
    rows = {str(k): str(v) for k, v in cur.execute("SELECT key, value FROM _fdb_catalog")}
    return rows or None


def version(cur: apsw.Cursor) -> int:
    value = cur.execute("PRAGMA user_version").get
    return 0 if value is None else int(value)  # type: ignore[arg-type]


def write(cur: apsw.Cursor, entries: Mapping[str, str], catalog_version: int) -> None:
    cur.executemany(
        "INSERT OR REPLACE INTO _fdb_catalog(key, value) VALUES (?, ?)", list(entries.items())
    )
    cur.execute(f"PRAGMA user_version = {int(catalog_version)}")


def migration_state(cur: apsw.Cursor, name: str) -> tuple[int, int, int, bool] | None:
    if not _exists(cur, "_fdb_migrations"):
        return None
    row = cur.execute(
        "SELECT last_rowid, processed, changed, done FROM _fdb_migrations WHERE name = ?", (name,)
    ).fetchone()
    if row is None:
        return None
    last, processed, changed, done = row
    return int(last), int(processed), int(changed), bool(done)  # type: ignore[arg-type]


def save_migration(
    cur: apsw.Cursor,
    name: str,
    table: str,
    state: tuple[int, int, int, bool],
    started: float | None,
    now: float,
) -> None:
    last, processed, changed, done = state
    if started is not None:
        cur.execute(CREATE_MIGRATIONS)
        cur.execute(
            "INSERT INTO _fdb_migrations VALUES (?, ?, ?, ?, ?, ?, ?, NULL)",
            (name, table, last, processed, changed, int(done), started),
        )
    cur.execute(
        "UPDATE _fdb_migrations SET last_rowid = ?, processed = ?, changed = ?, done = ?, "
        "finished = ? WHERE name = ?",
        (last, processed, changed, int(done), now if done else None, name),
    )


def forget_migrations(cur: apsw.Cursor, table: str) -> None:
    if _exists(cur, "_fdb_migrations"):
        cur.execute("DELETE FROM _fdb_migrations WHERE table_name = ?", (table,))
