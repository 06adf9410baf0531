"""``db.migrate``: rewrite a table's documents in batches, resumably, like a mutation.

For the changes a schema cannot express by itself (renaming a field, splitting one, filling a
new required field from others). Each batch is one mutation: it reads the next documents by
row number, passes each to ``fn`` as a dict, replaces those ``fn`` changed (validated against
the current model), and records how far it got in ``_fdb_migrations`` in the same
transaction. So subscriptions see each batch as a commit, and a crash loses at most the batch
in flight: calling ``db.migrate`` again with the same name carries on from the last committed
batch. A finished migration is recorded as done, and calling it again does nothing.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import apsw
import orjson

from . import ddl
from .functions import MutationFunction
from .ids import encode_id
from .progress import Progress, ProgressCallback
from .schema import SYSTEM_FIELDS

if TYPE_CHECKING:
    from .database import Database
    from .transaction import Writer

CREATE = (
    "CREATE TABLE IF NOT EXISTS _fdb_migrations ("
    "name TEXT PRIMARY KEY, table_name TEXT NOT NULL, last_rowid INTEGER NOT NULL, "
    "processed INTEGER NOT NULL, changed INTEGER NOT NULL, done INTEGER NOT NULL, "
    "started REAL NOT NULL, finished REAL)"
)
DEFAULT_BATCH = 500

MigrateFn = Callable[[dict[str, Any]], "dict[str, Any] | None"]


@dataclass(frozen=True)
class MigrationResult:
    """What ``db.migrate`` did. Counts cover every run of this migration, not only this call."""

    name: str
    table: str
    processed: int  # documents passed to fn
    changed: int  # documents fn changed, hence rewritten
    resumed: bool  # this call carried on from a run that had stopped part way
    already_done: bool  # the migration had finished before; nothing ran


@dataclass
class _State:
    last_rowid: int = 0
    processed: int = 0
    changed: int = 0
    done: bool = False


def migration_name(table: str, fn: Callable[..., Any], name: str | None) -> str:
    if name is not None:
        if not isinstance(name, str) or not name:
            raise ValueError("db.migrate(name=...) takes a non-empty string")
        return name
    qualname = getattr(fn, "__qualname__", None)
    if not qualname or "<lambda>" in qualname:
        raise ValueError(
            "db.migrate(): give the migration a name=... (it is how a migration interrupted "
            "by a crash is resumed, and how a finished one is recognised)"
        )
    return f"{table}:{getattr(fn, '__module__', '')}.{qualname}"


def _exists(conn: apsw.Connection) -> bool:
    return conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = '_fdb_migrations'"
    ).fetchone() is not None


def _state(conn: apsw.Connection, name: str) -> _State | None:
    if not _exists(conn):
        return None
    row = conn.execute(
        "SELECT last_rowid, processed, changed, done FROM _fdb_migrations WHERE name = ?", (name,)
    ).fetchone()
    return None if row is None else _State(row[0], row[1], row[2], bool(row[3]))


def _run_batch(
    db: Writer, *, table: str, name: str, fn: MigrateFn, batch_size: int
) -> _State:
    conn = db._conn
    info = db._tables.get(table)
    db._writable(info)
    state = _state(conn, name)
    if state is None:
        conn.execute(CREATE)
        conn.execute(
            "INSERT INTO _fdb_migrations VALUES (?, ?, 0, 0, 0, 0, ?, NULL)",
            (name, table, time.time()),
        )
        state = _State()
    if state.done:
        return state
    rows: list[Any] = conn.execute(
        f"SELECT _id, creation_time, doc FROM {ddl.quote(table)} WHERE _id > ? ORDER BY _id LIMIT ?",
        (state.last_rowid, batch_size),
    ).fetchall()
    for rowid, ct, raw in rows:
        doc_id = encode_id(info.number, rowid)
        doc = orjson.loads(raw)
        doc["id"] = doc_id
        doc["creation_time"] = ct
        out = fn(doc)
        if out is None:
            continue
        if not isinstance(out, dict):
            raise TypeError(
                f"db.migrate(): the function must return a dict (or None to leave the "
                f"document as it is), got {type(out).__name__}"
            )
        new = {k: v for k, v in out.items() if k not in SYSTEM_FIELDS}
        if new != orjson.loads(raw):
            db.replace(doc_id, new)
            state.changed += 1
    state.processed += len(rows)
    if rows:
        state.last_rowid = rows[-1][0]
    state.done = len(rows) < batch_size
    conn.execute(
        "UPDATE _fdb_migrations SET last_rowid = ?, processed = ?, changed = ?, done = ?, "
        "finished = ? WHERE name = ?",
        (
            state.last_rowid, state.processed, state.changed, int(state.done),
            time.time() if state.done else None, name,
        ),
    )
    return state


def run_migration(
    database: Database,
    table: str,
    fn: MigrateFn,
    *,
    batch_size: int,
    name: str | None,
    progress: ProgressCallback | None,
) -> MigrationResult:
    if not callable(fn):
        raise TypeError(f"db.migrate() takes a function doc -> dict | None, got {fn!r}")
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"db.migrate(batch_size=...) must be a positive int, got {batch_size!r}")
    database._tables.get(table)  # an unknown table fails here, before anything runs
    key = migration_name(table, fn, name)
    with database._engine.read() as conn:
        before = _state(conn, key)
        start = before.last_rowid if before else 0
        row: Any = conn.execute(
            f"SELECT count(*) FROM {ddl.quote(table)} WHERE _id > ?", (start,)
        ).fetchone()
        remaining = int(row[0])
    if before is not None and before.done:
        return MigrationResult(key, table, before.processed, before.changed, False, True)
    batch = MutationFunction(_run_batch)
    report = Progress(f"migrating {table} ({key})", remaining, progress)
    args = {"table": table, "name": key, "fn": fn, "batch_size": batch_size}
    first = before.processed if before else 0
    while True:
        state: _State = database.run(batch, **args)
        report.update(state.processed - first)
        if state.done:
            break
    report.finish()
    return MigrationResult(
        key, table, state.processed, state.changed, before is not None, False
    )


def forget_table(conn: apsw.Connection, table: str) -> None:
    """Drop the progress records of a table's migrations (``db.drop_table``)."""
    if _exists(conn):
        conn.execute("DELETE FROM _fdb_migrations WHERE table_name = ?", (table,))
