"""``fdb.open`` and ``Database``: run queries and mutations, subscribe, close.

The write path, end to end: ``run(mutation)`` takes the writer (engine), runs the function
on a ``Writer`` (transaction), which records a write set; the write set is appended to the
change log in the same transaction (changelog); after COMMIT succeeds it is handed to the
subscription manager (subscriptions), which re-runs the live queries it touches.
"""

from __future__ import annotations

import contextlib
import os
import threading
import uuid
from typing import Any

import apsw

from . import changelog, storage
from .catalog import CatalogGuard, SchemaChange, open_catalog
from .catalog import drop_table as drop_stored_table
from .engine import Engine
from .errors import _TRANSLATE, FusionError, SchemaError, translate
from .functions import MutationFunction, QueryFunction, describe
from .migrate import DEFAULT_BATCH, MigrateFn, MigrationResult, forget_table, run_migration
from .progress import ProgressCallback
from .readset import ReadSet
from .schema import Schema, TableDef
from .subscription import Subscription
from .subscriptions import SubscriptionManager
from .system import System
from .transaction import Clock, Reader, Tables, Writer
from .writeset import WriteSet

POLL_INTERVAL = 0.002  # seconds between checks for other processes' commits


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
        self._engine = Engine(path)
        self._origin = uuid.uuid4().hex
        self._clock = Clock()
        self._local = threading.local()
        self._version = 0  # ephemeral databases count commits here
        try:
            with self._engine.write() as conn:
                try:
                    with translate():
                        if not self._engine.ephemeral:
                            changelog.ensure(conn)
                        # _storage (files) is always there; callers may add system tables.
                        system = {**storage.system_tables(), **(system_tables or {})}
                        opened = open_catalog(
                            conn, schema, system, validate=schema_validation, progress=progress
                        )
                        storage.ensure(conn)
                        conn.execute("COMMIT")
                except BaseException:
                    _rollback(conn)
                    raise
        except BaseException:
            self._engine.close()
            raise
        catalog = opened.catalog
        self._tables = Tables(
            opened.infos, frozenset(n for n, t in catalog.tables.items() if t.removed)
        )
        self.schema_changes: list[SchemaChange] = opened.changes
        """What this open changed in the file's schema (empty when nothing)."""
        self._guard: CatalogGuard | None = None
        if not self._engine.ephemeral:
            self._guard = CatalogGuard(
                catalog.version,
                {name: catalog.tables[name].shape() for name in opened.infos},
                path,
            )
            self._guard.committed(self._engine.writer)
            self._engine.guard = self._guard
        self.storage = storage.Storage(self)
        """Files: ``store``, ``open``, ``get_metadata``, ``delete`` (see storage.py)."""
        self._watcher: apsw.Connection | None = None
        self._watcher_version = 0
        self._watch_lock = threading.Lock()
        self._seen_seq = 0
        self._subs = SubscriptionManager(
            self._evaluate,
            None if self._engine.ephemeral else self._poll_foreign,
            POLL_INTERVAL,
        )

    # -- running functions -------------------------------------------------------------

    def _enter(self) -> None:
        if getattr(self._local, "busy", False):
            raise FusionError(
                "db.run() inside a running query or mutation: call the other function "
                "directly with the db you were given, e.g. other_fn(db, **args)"
            )
        self._local.busy = True

    def _leave(self) -> None:
        self._local.busy = False

    def run(self, fn: Any, /, **args: Any) -> Any:
        """Run a ``@fdb.query`` on one snapshot, or a ``@fdb.mutation`` as one transaction."""
        if isinstance(fn, MutationFunction):
            return self._run_mutation(fn, args)
        if isinstance(fn, QueryFunction):
            engine = self._engine
            engine.check_open()
            self._enter()
            try:
                if engine.ephemeral:
                    with engine.read() as conn:
                        reader = Reader(conn, self._tables, cursor=engine.cursor(conn))
                        try:
                            with _TRANSLATE:
                                return fn.fn(reader, **args)
                        finally:
                            reader._active = False
                # A file database: Engine.read(), without the generator (on every query).
                conn, cur = engine.begin_read()
                reader = Reader(conn, self._tables, None, None, cur)
                try:
                    with _TRANSLATE:
                        result = fn.fn(reader, **args)
                except Exception:
                    reader._active = False
                    # A schema another process changed explains a failed read best.
                    engine.end_read(conn, cur)
                    raise
                except BaseException:
                    reader._active = False
                    engine.end_read(conn, cur, check=False)
                    raise
                reader._active = False
                engine.end_read(conn, cur)
                return result
            finally:
                self._leave()
        raise TypeError(
            f"db.run() takes a function decorated with @fdb.query or @fdb.mutation, "
            f"got {describe(fn)}"
        )

    def _run_mutation(self, fn: MutationFunction[..., Any], args: dict[str, Any]) -> Any:
        # On every write: what _enter/_leave and Engine.write do, inlined (no generator).
        engine = self._engine
        engine.check_open()
        local = self._local
        if getattr(local, "busy", False):
            self._enter()  # raises the explanation
        local.busy = True
        try:
            with engine.write_lock:
                conn = engine.begin_write()
                clock = self._clock
                clock.sync(conn.data_version())
                cursor = engine.cursor(conn)
                writer = Writer(conn, self._tables, clock, cursor)
                try:
                    with _TRANSLATE:
                        result = fn.fn(writer, **args)
                        writes = writer.writes
                        version = self._commit(conn, writes, cursor)
                except BaseException:
                    _rollback(conn)
                    raise
                finally:
                    writer._active = False
                engine.committed()
                clock.committed(conn.data_version())
                if writes:
                    # Still under the write lock: hand-overs happen in commit order.
                    self._subs.publish(version, writes)
                return result
        finally:
            local.busy = False

    def _commit(
        self, conn: apsw.Connection, writes: WriteSet, cursor: apsw.Cursor | None = None
    ) -> int:
        run = conn if cursor is None else cursor
        if not writes:
            run.execute("COMMIT")
            return 0
        if self._engine.ephemeral:
            run.execute("COMMIT")
            self._version += 1
            return self._version
        seq = changelog.append(conn, self._origin, writes, cursor)
        run.execute("COMMIT")
        return seq

    # -- schema --------------------------------------------------------------------------

    @property
    def system(self) -> System:
        """Read-only access to every table in the file, removed ones too (see system.py)."""
        self._engine.check_open()
        return System(self._engine)

    def drop_table(self, name: str) -> None:
        """Delete a table removed from the schema, with all its documents. Cannot be undone."""
        self._engine.check_open()
        with self._engine.write() as conn:
            try:
                with translate():
                    catalog = drop_stored_table(conn, name, set(self._tables.by_name))
                    forget_table(conn, name)
                    conn.execute("COMMIT")
            except BaseException:
                _rollback(conn)
                raise
            if self._guard is not None:
                self._guard.accept(catalog.version)
        self._tables.removed = self._tables.removed - {name}

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
            self, table, fn, batch_size=batch_size, name=name, progress=progress
        )

    # -- subscriptions -------------------------------------------------------------------

    def subscribe(self, fn: QueryFunction[..., Any], /, **args: Any) -> Subscription:
        """A live query: re-runs when a committed write touches what it read."""
        if not isinstance(fn, QueryFunction):
            raise TypeError(
                f"db.subscribe() takes a @fdb.query function, got {describe(fn)}"
            )
        self._engine.check_open()
        if getattr(self._local, "busy", False):
            raise FusionError(
                "db.subscribe() inside a running query or mutation: subscribe outside, "
                "or call the query function directly with the db you were given"
            )
        if not self._engine.ephemeral:
            with self._watch_lock:
                self._ensure_watcher()
        return self._subs.subscribe(fn, args, lambda live: Subscription(self._subs, live))

    def _evaluate(
        self, fn: QueryFunction[..., Any], args: dict[str, Any], pins: dict[Any, Any]
    ) -> tuple[Any, ReadSet, int]:
        readset = ReadSet()
        with self._engine.read() as conn:
            version = self._version if self._engine.ephemeral else changelog.current(conn)
            reader = Reader(conn, self._tables, readset, pins, self._engine.cursor(conn))
            try:
                with translate():
                    value = fn.fn(reader, **args)
            finally:
                reader._active = False
        return value, readset, version

    def _poll_foreign(self) -> list[tuple[int, WriteSet]] | None:
        """Other processes' commits since the last poll; ``None`` if some were trimmed away."""
        with self._watch_lock:
            if self._engine.closed:
                return []
            watcher = self._ensure_watcher()
            current = watcher.pragma("data_version")
            if current == self._watcher_version:
                return []
            self._watcher_version = current
            with translate():
                entries, complete = changelog.read_since(
                    watcher, self._seen_seq, skip_origin=self._origin
                )
            if entries:
                self._seen_seq = entries[-1].seq
        if not complete:
            return None
        return [(e.seq, e.writes) for e in entries if e.origin != self._origin]

    def _ensure_watcher(self) -> apsw.Connection:
        """The connection that watches for other processes' commits, from before a first run."""
        if self._watcher is None:
            watcher = self._engine.new_connection()
            # The file-control data_version only moves when this connection reads; the pragma
            # checks the shared WAL index, so it sees other connections' commits at once.
            self._watcher_version = watcher.pragma("data_version")
            with translate():
                self._seen_seq = changelog.current(watcher)
            self._watcher = watcher
        return self._watcher

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
        self._subs.close()
        with self._watch_lock:
            if self._watcher is not None:
                self._watcher.close()
                self._watcher = None
            self._engine.close()

    def __enter__(self) -> Database:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        where = self.path or ":memory:"
        return f"<fdb.Database {where} {'closed' if self.closed else 'open'}>"


def _rollback(conn: apsw.Connection) -> None:
    if not conn.in_transaction:
        return
    with contextlib.suppress(apsw.Error):
        conn.execute("ROLLBACK")


def open(
    path: str | os.PathLike[str] | None, schema: Schema, **options: Any
) -> Database:
    """Open (creating if needed) the database at ``path``; ``None`` gives an ephemeral one."""
    return Database(None if path is None else os.fspath(path), schema, **options)
