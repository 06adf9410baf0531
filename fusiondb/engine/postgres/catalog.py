# pyright: reportArgumentType=false, reportCallIssue=false
# (psycopg types a query as a LiteralString; this module's SQL is built from names validated
# by ddl.py, with every value a bound parameter, which pyright cannot see. mypy checks the rest.)
"""fusiondb's own tables in a PostgreSQL schema: the catalog, the engine's metadata, the
index registry, ``db.migrate``'s progress.

- ``_fdb_catalog``: key/value rows of JSON text (``evolution/catalog.py`` decides what).
- ``_fdb_meta``: one row: the catalog version (what the guard compares, as SQLite's
  ``user_version``) and ``ddl``, a token that changes with every change of tables or indexes
  this engine makes, so a process knows when its cached index registry is stale. Every
  transaction reads this row when it begins (one round trip with ``BEGIN``); under
  ``SERIALIZABLE`` a concurrent DDL transaction that changes it conflicts with writers that
  read it, so a writer never writes keys for an index set that changed under it.
- ``_fdb_indexes``: which index (its fields, whether unique) each table has: the key columns
  ``keys.py`` fills on every write.
- ``_fdb_migrations``: one row of progress per named migration.
- the change log's tables and its append function, ``fdb_append`` (``changelog.py``).

All are created once per schema by ``bootstrap`` (autocommit, under an advisory lock, so
processes opening a fresh schema at the same time do not race).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any, NamedTuple

import orjson
import psycopg

from .blobs import CREATE_CHUNKS
from .changelog import (
    APPEND_BODY,
    APPEND_DEFINED,
    APPEND_FUNCTION,
    CREATE_APPEND,
    CREATE_LOG,
    CREATE_READER_IDS,
    CREATE_READERS,
    CREATE_SEQ,
    CREATE_TRIM,
    INIT_TRIM,
)

CATALOG_TABLE = "_fdb_catalog"

BOOTSTRAP = (
    "CREATE TABLE IF NOT EXISTS _fdb_catalog (key text PRIMARY KEY, value text NOT NULL)",
    "CREATE TABLE IF NOT EXISTS _fdb_meta (id int PRIMARY KEY CHECK (id = 1), "
    "catalog_version bigint NOT NULL, ddl text NOT NULL)",
    "INSERT INTO _fdb_meta VALUES (1, 0, 'initial') ON CONFLICT (id) DO NOTHING",
    "CREATE TABLE IF NOT EXISTS _fdb_indexes (tbl text NOT NULL, idx text NOT NULL, "
    "fields text NOT NULL, uniq boolean NOT NULL DEFAULT false, PRIMARY KEY (tbl, idx))",
    "CREATE TABLE IF NOT EXISTS _fdb_migrations (name text PRIMARY KEY, table_name text NOT NULL, "
    "last_rowid bigint NOT NULL, processed bigint NOT NULL, changed bigint NOT NULL, "
    "done boolean NOT NULL, started double precision NOT NULL, finished double precision)",
    CREATE_LOG,
    CREATE_SEQ,
    CREATE_TRIM,
    INIT_TRIM,
    CREATE_READERS,
    CREATE_READER_IDS,
    CREATE_CHUNKS,
)


def bootstrap(conn: psycopg.Connection[tuple[Any, ...]], schema: str) -> bool:
    """Create the schema and fusiondb's tables if missing (autocommit connection); returns
    whether the schema held a fusiondb database before."""
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"fusiondb:{schema}",))
        existed = (
            conn.execute(
                "SELECT 1 FROM pg_tables WHERE schemaname = %s AND tablename = %s",
                (schema, CATALOG_TABLE),
            ).fetchone()
            is not None
        )
        conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
        for sql in BOOTSTRAP:
            conn.execute(sql)  # type: ignore[arg-type]
        # Unique indexes came later: a schema made before them gains the column (only then:
        # ALTER TABLE locks the table even when there is nothing to do).
        if (
            conn.execute(
                "SELECT 1 FROM information_schema.columns WHERE table_schema = %s "
                "AND table_name = '_fdb_indexes' AND column_name = 'uniq'",
                (schema,),
            ).fetchone()
            is None
        ):
            conn.execute("ALTER TABLE _fdb_indexes ADD COLUMN uniq boolean NOT NULL DEFAULT false")
        # The change log's append function (changelog.py): made, or replaced by this
        # version's, only when its body differs (so a database made before it gains it).
        row = conn.execute(APPEND_DEFINED, (schema, APPEND_FUNCTION)).fetchone()
        if row is None or row[0] != APPEND_BODY:
            conn.execute(CREATE_APPEND)  # type: ignore[arg-type]
    return existed


def foreign_tables(conn: psycopg.Connection[tuple[Any, ...]], schema: str) -> list[str]:
    """Tables in ``schema`` when it holds no fusiondb catalog (someone else's schema)."""
    rows = conn.execute(
        "SELECT tablename FROM pg_tables WHERE schemaname = %s ORDER BY tablename", (schema,)
    ).fetchall()
    names = [str(r[0]) for r in rows]
    return [] if CATALOG_TABLE in names else names


def read(cur: psycopg.Cursor[tuple[Any, ...]]) -> dict[str, str] | None:
    rows = {str(k): str(v) for k, v in cur.execute("SELECT key, value FROM _fdb_catalog")}
    return rows or None


def write(cur: psycopg.Cursor[tuple[Any, ...]], entries: Mapping[str, str], catalog_version: int) -> None:
    cur.executemany(
        "INSERT INTO _fdb_catalog(key, value) VALUES (%s, %s) "
        "ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
        list(entries.items()),
    )
    cur.execute("UPDATE _fdb_meta SET catalog_version = %s", (int(catalog_version),))


def bump_ddl(cur: psycopg.Cursor[tuple[Any, ...]]) -> str:
    """A new ddl token (never one used before, even by a transaction that rolled back)."""
    token = uuid.uuid4().hex
    cur.execute("UPDATE _fdb_meta SET ddl = %s", (token,))
    return token


class Registered(NamedTuple):
    """One index of a table as the registry holds it."""

    name: str
    fields: tuple[str, ...]
    unique: bool


def registered_indexes(cur: psycopg.Cursor[tuple[Any, ...]], table: str) -> list[Registered]:
    rows = cur.execute(
        "SELECT idx, fields, uniq FROM _fdb_indexes WHERE tbl = %s ORDER BY idx", (table,)
    ).fetchall()
    return [Registered(str(i), tuple(orjson.loads(str(f))), bool(u)) for i, f, u in rows]


def register_index(
    cur: psycopg.Cursor[tuple[Any, ...]], table: str, index: str, fields: tuple[str, ...]
) -> None:
    cur.execute(
        "INSERT INTO _fdb_indexes VALUES (%s, %s, %s) ON CONFLICT (tbl, idx) "
        "DO UPDATE SET fields = EXCLUDED.fields",
        (table, index, orjson.dumps(list(fields)).decode()),
    )


def set_unique(cur: psycopg.Cursor[tuple[Any, ...]], table: str, index: str, unique: bool) -> None:
    cur.execute("UPDATE _fdb_indexes SET uniq = %s WHERE tbl = %s AND idx = %s", (unique, table, index))


def unregister_index(cur: psycopg.Cursor[tuple[Any, ...]], table: str, index: str | None) -> None:
    if index is None:
        cur.execute("DELETE FROM _fdb_indexes WHERE tbl = %s", (table,))
    else:
        cur.execute("DELETE FROM _fdb_indexes WHERE tbl = %s AND idx = %s", (table, index))


def migration_state(cur: psycopg.Cursor[tuple[Any, ...]], name: str) -> tuple[int, int, int, bool] | None:
    row = cur.execute(
        "SELECT last_rowid, processed, changed, done FROM _fdb_migrations WHERE name = %s", (name,)
    ).fetchone()
    if row is None:
        return None
    last, processed, changed, done = row
    return int(last), int(processed), int(changed), bool(done)  # type: ignore[call-overload]


def save_migration(
    cur: psycopg.Cursor[tuple[Any, ...]],
    name: str,
    table: str,
    state: tuple[int, int, int, bool],
    started: float | None,
    now: float,
) -> None:
    last, processed, changed, done = state
    if started is not None:
        cur.execute(
            "INSERT INTO _fdb_migrations VALUES (%s, %s, %s, %s, %s, %s, %s, NULL)",
            (name, table, last, processed, changed, done, started),
        )
    cur.execute(
        "UPDATE _fdb_migrations SET last_rowid = %s, processed = %s, changed = %s, done = %s, "
        "finished = %s WHERE name = %s",
        (last, processed, changed, done, now if done else None, name),
    )


def forget_migrations(cur: psycopg.Cursor[tuple[Any, ...]], table: str) -> None:
    cur.execute("DELETE FROM _fdb_migrations WHERE table_name = %s", (table,))
