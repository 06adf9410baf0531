"""``fdb.open`` and ``Database``: the facade that puts the layers together.

Opening builds, bottom up: the engine (``engine/``), the catalog brought up to the declared
schema (``evolution/``), the tables, the change feed and the runner (``transaction/``), the
subscription manager (``reactive/``) and the features (``storage``, ``migrate``, ``system``).
Every call then goes down to one of them; ``docs/architecture.md`` follows one write from
``db.run(mutation)`` to a subscriber's callback.
"""

from __future__ import annotations

import os
from typing import Any

from .core.errors import FusionError, SchemaError
from .core.functions import MutationFunction, QueryFunction, describe
from .core.progress import ProgressCallback
from .core.schema import Schema, TableDef
from .engine import open_engine
from .evolution.catalog import SchemaChange, open_catalog
from .evolution.catalog import drop_table as drop_stored_table
from .evolution.guard import CatalogGuard
from .migrate import DEFAULT_BATCH, MigrateFn, MigrationResult, run_migration
from .reactive.manager import SubscriptionManager
from .reactive.subscription import Subscription
from .storage import Storage
from .storage import system_tables as storage_tables
from .system import System
from .transaction.changefeed import ChangeFeed
from .transaction.runner import Runner
from .transaction.tables import Tables


class Database:
    """An open fusiondb database. Create with ``fdb.open(path, schema)``."""

    def __init__(
        self,
        path: str | None,
        schema: Schema,
        *,
        system_tables: dict[str, tuple[int, TableDef]] | None = None,
        schema_validation: bool = True,
        progress: ProgressCallback | None = None,
    ) -> None:
        if not isinstance(schema, Schema):
            raise SchemaError(f"fdb.open() needs an fdb.Schema, got {type(schema).__name__}")
        self.path = path
        self.schema = schema
        self._engine = engine = open_engine(path)
        try:
            with engine.write() as txn:
                # _storage (files) is always there; callers may add system tables.
                declared = {**storage_tables(), **(system_tables or {})}
                opened = open_catalog(
                    txn, schema, declared, validate=schema_validation, progress=progress
                )
                txn.commit()
        except BaseException:
            engine.close()
            raise
        catalog = opened.catalog
        self._tables = Tables(
            opened.infos, frozenset(n for n, t in catalog.tables.items() if t.removed)
        )
        self.schema_changes: list[SchemaChange] = opened.changes
        """What this open changed in the file's schema (empty when nothing)."""
        self._guard: CatalogGuard | None = None
        if engine.shared:
            self._guard = CatalogGuard(
                catalog.version,
                {name: catalog.tables[name].shape() for name in opened.infos},
                path,
            )
            engine.guard = self._guard
        self._feed = ChangeFeed(engine)
        self._runner = Runner(engine, self._tables, self._feed)
        self._subs = SubscriptionManager(self._feed, self._runner, engine.tokenize)
        self.storage = Storage(self._runner, engine)
        """Files: ``store``, ``open``, ``get_metadata``, ``delete`` (see storage.py)."""

    def run(self, fn: Any, /, *positional: Any, **args: Any) -> Any:
        """Run a ``@fdb.query`` on one snapshot, or a ``@fdb.mutation`` as one transaction.

        Arguments go by keyword (``db.run(fn, user_id="u1")``); ``positional`` is there only
        to refuse positional ones with a message that says so.
        """
        if isinstance(fn, MutationFunction):
            fn.check_args("db.run", positional, args)
            return self._runner.mutate(fn, args)
        if isinstance(fn, QueryFunction):
            fn.check_args("db.run", positional, args)
            return self._runner.query(fn, args)
        raise TypeError(
            f"db.run() takes a function decorated with @fdb.query or @fdb.mutation, "
            f"got {describe(fn)}"
        )

    # -- schema --------------------------------------------------------------------------

    @property
    def system(self) -> System:
        """Read-only access to every table in the file, removed ones too (see system.py)."""
        self._engine.check_open()
        return System(self._engine)

    def drop_table(self, name: str) -> None:
        """Delete a table removed from the schema, with all its documents. Cannot be undone."""
        with self._engine.write() as txn:
            catalog = drop_stored_table(txn, name, set(self._tables.by_name))
            txn.forget_migrations(name)
            txn.commit()
        if self._guard is not None:
            self._guard.accept(catalog.version)
        self._tables.forget_removed(name)

    def migrate(
        self,
        table: str,
        fn: MigrateFn,
        *,
        batch_size: int = DEFAULT_BATCH,
        name: str | None = None,
        progress: ProgressCallback | None = None,
    ) -> MigrationResult:
        """Rewrite ``table``'s documents with ``fn(doc: dict) -> dict | None``, in batches.

        Each batch is one mutation (subscriptions see it as a commit); a ``None`` or unchanged
        result leaves the document alone, a changed one replaces it (validated against the
        current model). Progress is saved with each batch under ``name`` (by default the
        table and the function's qualified name), so after a crash the same call carries on
        where it stopped, and once finished it does nothing. See migrate.py.
        """
        self._engine.check_open()
        return run_migration(
            self._runner, table, fn, batch_size=batch_size, name=name, progress=progress
        )

    # -- subscriptions -------------------------------------------------------------------

    def subscribe(
        self, fn: QueryFunction[..., Any], /, *positional: Any, **args: Any
    ) -> Subscription:
        """A live query: re-runs when a committed write touches what it read."""
        if not isinstance(fn, QueryFunction):
            raise TypeError(
                f"db.subscribe() takes a @fdb.query function, got {describe(fn)}"
            )
        fn.check_args("db.subscribe", positional, args)
        self._engine.check_open()
        if self._runner.running():
            raise FusionError(
                "db.subscribe() inside a running query or mutation: subscribe outside, "
                "or call the query function directly with the db you were given"
            )
        return self._subs.subscribe(fn, args)

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Block until every subscription reflects every commit made so far."""
        return self._subs.wait_idle(timeout)

    @property
    def subscription_reruns(self) -> int:
        """How many times live queries have been re-run (a measure of reactivity cost)."""
        return self._subs.reruns

    # -- lifecycle -----------------------------------------------------------------------

    @property
    def closed(self) -> bool:
        return self._engine.closed

    def close(self) -> None:
        """Close every subscription and connection. Safe to call twice."""
        if self._engine.closed:
            return
        if self._runner.running():
            raise FusionError(
                "db.close() inside a running query or mutation: close the database after "
                "the function returns"
            )
        self._subs.close()
        self._feed.close()
        self._engine.close()

    def __enter__(self) -> Database:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        where = self.path or ":memory:"
        return f"<fdb.Database {where} {'closed' if self.closed else 'open'}>"


def open(
    path: str | os.PathLike[str] | None, schema: Schema, **options: Any
) -> Database:
    """Open (creating if needed) the database at ``path``; ``None`` gives an ephemeral one.

    ``":memory:"`` and ``""`` (what SQLite calls a private in-memory and a temporary
    database) are ephemeral too: only this ``Database`` sees them.
    """
    where = None if path is None else os.fspath(path)
    if where in (":memory:", ""):
        where = None
    return Database(where, schema, **options)
