"""``fdb.open`` and ``Database``: the facade that puts the layers together.

Opening builds, bottom up: the engine (``engine/``), the catalog brought up to the declared
schema (``evolution/``), the tables, the change feed and the runner (``transaction/``), the
subscription manager (``reactive/``) and the features (``storage``, ``migrate``, ``system``).
Every call then goes down to one of them; ``docs/architecture.md`` follows one write from
``db.run(mutation)`` to a subscriber's callback.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import asynccontextmanager
from typing import Any, Concatenate, ParamSpec, TypeVar
from urllib.parse import urlsplit, urlunsplit

from .check import CheckReport
from .check import check as run_check
from .core.errors import FusionError, InvalidArgument, NotADatabase, SchemaError
from .core.functions import MutationFunction, QueryFunction, describe
from .core.progress import ProgressCallback
from .core.schema import Schema, TableDef
from .core.vectors import VectorResult
from .engine import open_engine, probe_file
from .evolution.catalog import OpenResult, SchemaChange, StoredCatalog, open_catalog
from .evolution.catalog import drop_table as drop_stored_table
from .evolution.guard import CatalogGuard
from .evolution.stored import adopt_catalog
from .jsonl import ExportResult, ImportResult, Source, Target, export_tables, import_table
from .migrate import DEFAULT_BATCH, MigrateFn, MigrationResult, run_migration
from .reactive.manager import SubscriptionManager
from .reactive.subscription import Subscription
from .storage import Storage
from .storage import system_tables as storage_tables
from .system import System
from .transaction.changefeed import ChangeFeed
from .transaction.retry import retrying
from .transaction.runner import Runner
from .transaction.tables import Tables
from .transaction.vectors import VectorClause, VectorFilter
from .transaction.vectors import search as vector_search

# How long close() waits for live queries to catch up with the commits made before it.
CLOSE_TIMEOUT = 5.0
# The threads `run_async` runs functions on, per database (mutations take turns anyway).
ASYNC_WORKERS = 8
P = ParamSpec("P")  # a function's parameters after its db
R = TypeVar("R")
T = TypeVar("T")


class Database:
    """An open fusiondb database. Create with ``fdb.open(path, schema)``."""

    def __init__(
        self,
        path: str | None,
        schema: Schema,
        *,
        system_tables: dict[str, tuple[int, TableDef[Any]]] | None = None,
        schema_validation: bool = True,
        progress: ProgressCallback | None = None,
        stored_schema: bool = False,
        gc_freeze_from: int | None = None,
    ) -> None:
        if not isinstance(schema, Schema):
            raise SchemaError(f"fdb.open() needs an fdb.Schema, got {type(schema).__name__}")
        freeze_from = _freeze_from(gc_freeze_from)
        self.path = path
        self.schema = schema
        self._engine = engine = open_engine(path)
        # _storage (files) is always there; callers may add system tables.
        declared = {**storage_tables(), **(system_tables or {})}
        try:
            if stored_schema:  # fdb.open_stored: the file's own schema, nothing written
                with engine.read() as rtxn:
                    self.schema, opened = adopt_catalog(rtxn, declared)
            else:

                def bring_up() -> OpenResult:
                    with engine.write() as txn:
                        result = open_catalog(
                            txn, schema, declared, validate=schema_validation, progress=progress
                        )
                        txn.commit()
                    return result

                opened = retrying(bring_up)
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
                None if path is None else _shown(path),
            )
            engine.guard = self._guard
        self._feed = ChangeFeed(engine)
        self._runner = Runner(engine, self._tables, self._feed)
        self._subs = SubscriptionManager(
            self._feed, self._runner, engine.tokenize, freeze_from=freeze_from
        )
        self.storage = Storage(self._runner, engine)
        """Files: ``store``, ``open``, ``get_metadata``, ``delete`` (see storage.py)."""
        self._pool: ThreadPoolExecutor | None = None  # run_async's threads, made on first use

    def run(
        self,
        fn: QueryFunction[Concatenate[Any, P], R] | MutationFunction[Concatenate[Any, P], R],
        /,
        *positional: P.args,
        **args: P.kwargs,
    ) -> R:
        """Run a ``@fdb.query`` on one snapshot, or a ``@fdb.mutation`` as one transaction.

        Returns what the function returns, and type checkers check the arguments against
        the function's parameters after its ``db`` (docs/typing.md). Arguments go by keyword
        (``db.run(fn, user_id="u1")``); ``positional`` is there only to refuse positional ones
        with a message that says so.
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

    def vector_search(
        self,
        table: str | TableDef[Any],
        index: str,
        vector: Sequence[float],
        *,
        limit: int = 10,
        filter: Callable[[VectorFilter], VectorClause] | None = None,
    ) -> list[VectorResult]:
        """``db.vector_search`` of a query's ``db``, on one snapshot of its own: the ``limit``
        nearest documents as ``VectorResult(id, score)``, highest score first (see
        docs/vector-search.md). To follow it live, call it in a ``@fdb.query`` and subscribe."""
        info = self._tables.get(table)
        return self._runner.read_in(
            lambda ctx: vector_search(ctx, info, index, vector, limit, filter)
        )

    # -- schema --------------------------------------------------------------------------

    @property
    def system(self) -> System:
        """Read-only access to every table in the file, removed ones too (see system.py)."""
        self._engine.check_open()
        return System(self._engine)

    def drop_table(self, name: str) -> None:
        """Delete a table removed from the schema, with all its documents. Cannot be undone."""
        def drop() -> StoredCatalog:
            with self._engine.write() as txn:
                stored = drop_stored_table(txn, name, set(self._tables.by_name))
                txn.forget_migrations(name)
                txn.commit()
            return stored

        catalog = retrying(drop)
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

    def check(
        self, *, repair: bool = True, progress: ProgressCallback | None = None
    ) -> CheckReport:
        """Check the file (SQLite's integrity check) and that every search index matches its
        table's documents; rebuild those that do not (``repair=False``: only report). For
        after another tool wrote to the file. See check.py."""
        return run_check(self._engine, self._tables.by_name.values(), repair, progress)

    # -- data in and out ---------------------------------------------------------------------

    def export_jsonl(self, target: Target, tables: list[str] | None = None) -> ExportResult:
        """Write documents as JSON lines to a path or an open file, streamed from one snapshot:
        each line a document with its ``id`` and ``creation_time``. ``tables``: which (default:
        every table of the schema; a removed one can be named); with more than one, each line
        also says ``"$table"``. See jsonl.py."""
        self._engine.check_open()
        return export_tables(self._engine, target, tables)

    def import_jsonl(
        self,
        table: str,
        source: Source,
        *,
        batch_size: int | None = None,
        keep_ids: bool = False,
        progress: ProgressCallback | None = None,
    ) -> ImportResult:
        """Insert the documents of a JSON lines file (a path or an open file) into ``table``,
        each validated by the table's model, streamed. One transaction by default: a bad line
        raises ``InvalidImport`` with its line number and nothing is imported.
        ``batch_size``: commit every N documents (after checking every line first).
        ``keep_ids``: keep each document's ``id`` and ``creation_time`` (into an empty table
        only), so references stay valid. See jsonl.py."""
        self._engine.check_open()
        return import_table(
            self._runner, table, source, batch_size=batch_size, keep_ids=keep_ids,
            progress=progress,
        )

    def backup(self, dest: str | os.PathLike[str]) -> None:
        """Copy the whole database, as of one moment, to a new file ``dest`` while this and
        other processes keep reading and writing (SQLite's online backup API). The copy is a
        complete database: open it with ``fdb.open``. Refuses an existing ``dest``."""
        self._engine.backup(os.fspath(dest))

    # -- subscriptions -------------------------------------------------------------------

    def subscribe(
        self, fn: QueryFunction[Concatenate[Any, P], R], /, *positional: P.args, **args: P.kwargs
    ) -> Subscription[R]:
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

    # -- asyncio (docs/asyncio.md) ---------------------------------------------------------

    async def run_async(
        self,
        fn: QueryFunction[Concatenate[Any, P], R] | MutationFunction[Concatenate[Any, P], R],
        /,
        *positional: P.args,
        **args: P.kwargs,
    ) -> R:
        """``run`` for a coroutine: the function runs on one of the database's worker threads
        while the event loop goes on. Cancelling the awaiting task does not cut a transaction
        short: one not yet started never starts; one running ends (commits or rolls back) before
        the cancellation goes on, so the database is free again when the task is done."""
        if isinstance(fn, QueryFunction | MutationFunction):
            fn.check_args("db.run_async", positional, args)
        return await _to_the_end(self._executor().submit(self.run, fn, *positional, **args))

    async def subscribe_async(
        self, fn: QueryFunction[Concatenate[Any, P], R], /, *positional: P.args, **args: P.kwargs
    ) -> Subscription[R]:
        """``subscribe`` for a coroutine: the first evaluation runs on a worker thread, so a
        large query does not stall the event loop (cancelled meanwhile: nothing is left live)."""
        job = self._executor().submit(self.subscribe, fn, *positional, **args)
        return await _to_the_end(job, discard=Subscription.close)

    async def aclose(self, timeout: float = CLOSE_TIMEOUT) -> None:
        """``close`` for a coroutine, on a worker thread (it waits for notifications)."""
        await asyncio.to_thread(self.close, timeout)

    async def __aenter__(self) -> Database:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def _executor(self) -> ThreadPoolExecutor:
        self._engine.check_open()
        if self._pool is None:
            self._pool = ThreadPoolExecutor(ASYNC_WORKERS, thread_name_prefix="fusiondb-async")
        return self._pool

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

    def close(self, timeout: float = CLOSE_TIMEOUT) -> None:
        """Deliver the notifications of every commit made so far (waiting up to ``timeout``
        seconds), then close every subscription and connection. Safe to call twice."""
        if self._engine.closed:
            return
        if self._runner.running():
            raise FusionError(
                "db.close() inside a running query or mutation: close the database after "
                "the function returns"
            )
        self._subs.close(timeout)
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
        self._feed.close()
        self._engine.close()

    def __enter__(self) -> Database:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        where = _shown(self.path) if self.path else ":memory:"
        return f"<fdb.Database {where} {'closed' if self.closed else 'open'}>"


def _shown(path: str) -> str:
    """``path`` as shown to people: a database URL without its password."""
    if "://" not in path:
        return path
    parts = urlsplit(path)
    if parts.password is None:
        return path
    return urlunsplit(parts._replace(netloc=parts.netloc.replace(f":{parts.password}@", ":***@", 1)))


def open_stored(path: str | os.PathLike[str]) -> Database:
    """Open an existing fusiondb file with the schema it stores, without the application's
    code (tools, the ``fusiondb`` command): each table's model is rebuilt from the stored
    JSON Schema (``evolution/stored.py`` says what it checks), and nothing in the file's
    schema is changed. ``NotADatabase`` for a missing file or one fusiondb did not make."""
    where = os.fspath(path)
    kind = probe_file(where)
    if kind != "fusiondb":
        problem = {
            "missing": "no such file",
            "sqlite": "a SQLite database, but not a fusiondb one (no _fdb_catalog table)",
            "other": "not a SQLite database",
        }[kind]
        if "://" in where:  # a PostgreSQL URL: what its schema holds
            problem = {
                "missing": "its schema holds no fusiondb database",
                "other": "its schema holds tables fusiondb did not create (no _fdb_catalog)",
            }[kind]
        raise NotADatabase(f"{_shown(where)}: {problem}", path=_shown(where))
    return Database(where, Schema(), stored_schema=True)


def _freeze_from(value: int | None) -> int | None:
    if value is None:
        return None
    if type(value) is not int or value < 1:
        raise InvalidArgument(f"fdb.open: gc_freeze_from must be a positive int or None, got {value!r}")
    return value


def open(
    path: str | os.PathLike[str] | None, schema: Schema, **options: Any
) -> Database:
    """Open (creating if needed) the database at ``path``; ``None`` gives an ephemeral one.

    ``gc_freeze_from=N`` (opt-in, off by default): from ``N`` live queries on, move what is
    alive out of the cyclic GC's sight (``gc.freeze()``) as live queries and their values
    accumulate, so a full collection does not rescan them (at 100,000 live queries: ~0 ms
    instead of a few hundred); process-wide, see docs/reactivity.md, "At scale".

    A ``postgresql://user@host:port/dbname?schema=NAME`` (or ``postgres://``) URL opens a
    database on PostgreSQL (the extra ``fusiondb[postgres]``): every fusiondb table in the
    schema ``NAME`` (created if missing; default ``public``).

    ``":memory:"`` and ``""`` (what SQLite calls a private in-memory and a temporary
    database) are ephemeral too: only this ``Database`` sees them.
    """
    where = None if path is None else os.fspath(path)
    if where in (":memory:", ""):
        where = None
    return Database(where, schema, **options)


@asynccontextmanager
async def open_async(
    path: str | os.PathLike[str] | None, schema: Schema, **options: Any
) -> AsyncIterator[Database]:
    """``async with fdb.open_async(path, schema) as db:`` opens on a worker thread (a first
    open may bring a large file's schema up to date) and closes with ``db.aclose()``."""
    pool = ThreadPoolExecutor(1, thread_name_prefix="fusiondb-open")
    job = pool.submit(open, path, schema, **options)
    pool.shutdown(wait=False)  # the thread ends with the job
    db = await _to_the_end(job, discard=Database.close)
    try:
        yield db
    finally:
        await db.aclose()


async def _to_the_end(job: Future[T], discard: Callable[[T], object] | None = None) -> T:
    """Await ``job`` of a thread pool. If the awaiting task is cancelled, the job is cancelled
    if it has not started; else it runs to its end (a transaction cannot stop half way), the
    task waits for that, and ``discard`` gets what it made, before the cancellation goes on."""
    done = asyncio.wrap_future(job)
    try:
        return await asyncio.shield(done)
    except asyncio.CancelledError:
        if not job.cancel():
            await asyncio.wait([done])
            if not done.cancelled() and done.exception() is None and discard is not None:
                discard(done.result())
        raise
