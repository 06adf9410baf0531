"""``db.migrate``: rewrite a table's documents in batches, resumably, like a mutation.

For the changes a schema cannot express by itself (renaming a field, splitting one, filling a
new required field from others). Each batch is one mutation: it reads the next documents by
row number, passes each to ``fn`` as a dict, replaces those ``fn`` changed (validated against
the current model), and records how far it got (the engine keeps the progress; SQLite: in
``_fdb_migrations``) in the same transaction. So subscriptions see each batch as a commit,
and a crash loses at most the batch in flight: calling ``db.migrate`` again with the same
name carries on from the last committed batch. A finished migration is recorded as done, and
calling it again does nothing.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson

from .core.bytesvalues import untag_any
from .core.documents import stored_dict
from .core.errors import InvalidArgument, ReadOnlyError
from .core.ids import encode_id
from .core.keys import INT64_MAX
from .core.progress import Progress, ProgressCallback
from .core.schema import SYSTEM_FIELDS
from .core.tableinfo import TableInfo
from .transaction.context import TxnContext
from .transaction.runner import Runner
from .transaction.writer import Writer

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

    def as_tuple(self) -> tuple[int, int, int, bool]:
        return self.last_rowid, self.processed, self.changed, self.done


def migration_name(table: str, fn: Callable[..., Any], name: str | None) -> str:
    if name is not None:
        if not isinstance(name, str) or not name:
            raise InvalidArgument(
                f"db.migrate(name=...) takes a non-empty string naming the migration, got {name!r}"
            )
        return name
    qualname = getattr(fn, "__qualname__", None)
    if not qualname or "<lambda>" in qualname:
        raise InvalidArgument(
            "db.migrate(): give the migration a name=... (it is how a migration interrupted "
            "by a crash is resumed, and how a finished one is recognised)"
        )
    return f"{table}:{getattr(fn, '__module__', '')}.{qualname}"


def _run_batch(ctx: TxnContext, table: str, name: str, fn: MigrateFn, batch_size: int) -> _State:
    txn = ctx.write_txn()
    info = ctx.tables.get(table)
    writer = Writer(ctx)
    recorded = txn.migration_state(name)
    state = _State(*recorded) if recorded is not None else _State()
    if state.done:
        return state
    rows = txn.rows_after(table, state.last_rowid, batch_size)
    for rowid, ct, raw in rows:
        doc_id = encode_id(info.number, rowid)
        doc = untag_any(stored_dict(table, info.number, (rowid, ct, raw)))  # bytes as bytes
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
        stored = untag_any(orjson.loads(raw))  # fn may have changed doc in place
        if new != stored:
            writer.replace(doc_id, _without_leftovers(info, new, stored))
            state.changed += 1
    state.processed += len(rows)
    if rows:
        state.last_rowid = rows[-1][0]
    state.done = len(rows) < batch_size
    txn.save_migration(name, table, state.as_tuple(), time.time() if recorded is None else None)
    return state


def _without_leftovers(
    info: TableInfo, new: dict[str, Any], stored: dict[str, Any]
) -> dict[str, Any]:
    """``new`` less the fields the model no longer has that ``fn`` carried over unchanged
    from the stored document (``{**doc, ...}``): they are what is left of a removed field,
    not a typo. A field ``fn`` adds or changes is kept, so an unknown one is still refused."""
    if info.allows_extra or new.keys() <= info.input_names:
        return new
    return {
        k: v for k, v in new.items()
        if k in info.input_names or k not in stored or stored[k] != v
    }


def run_migration(
    runner: Runner,
    table: str,
    fn: MigrateFn,
    *,
    batch_size: int,
    name: str | None,
    progress: ProgressCallback | None,
) -> MigrationResult:
    """Run (or resume) the migration ``name`` of ``table`` to the end (see the module docstring)."""
    if not callable(fn):
        raise TypeError(f"db.migrate() takes a function doc -> dict | None, got {fn!r}")
    if not isinstance(batch_size, int) or isinstance(batch_size, bool) or not (
        1 <= batch_size <= INT64_MAX
    ):
        raise InvalidArgument(
            f"db.migrate(batch_size=...) must be a positive int (documents per batch), "
            f"got {batch_size!r}"
        )
    if runner.tables.get(table).system:  # an unknown table fails here, before anything runs
        raise ReadOnlyError(f"table {table!r} is maintained by fusiondb and cannot be migrated")
    key = migration_name(table, fn, name)

    def look(ctx: TxnContext) -> tuple[tuple[int, int, int, bool] | None, int]:
        recorded = ctx.txn.migration_state(key)
        return recorded, ctx.txn.count(table, recorded[0] if recorded else 0)

    recorded, remaining = runner.read_in(look)
    before = _State(*recorded) if recorded is not None else None
    if before is not None and before.done:
        return MigrationResult(key, table, before.processed, before.changed, False, True)
    report = Progress(f"migrating {table} ({key})", remaining, progress)
    first = before.processed if before else 0
    while True:
        state = runner.write_in(lambda ctx: _run_batch(ctx, table, key, fn, batch_size))
        report.update(state.processed - first)
        if state.done:
            break
    report.finish()
    return MigrationResult(
        key, table, state.processed, state.changed, before is not None, False
    )
