"""``Runner``: the one lifecycle that runs a function in a transaction.

A query runs in ``engine.read()``: one snapshot; a mutation in ``engine.write()``: the single
writer, serializable (on PostgreSQL one of many: a mutation the engine aborts for a conflict
is run again, function included, by ``retry.retrying``). Either way the function gets a
fresh ``TxnContext`` (behind its ``Reader``/``Writer``), which is marked inactive when the
function returns, so a ``db`` smuggled out of it fails loudly. A mutation's write set goes to
the change feed as it commits (``ChangeFeed.commit``), still under the write lock, so commits
reach subscribers in order.
One run at a time per thread: a nested ``db.run`` would deadlock on the writer or read a
different snapshot, so it is refused with a message saying what to do instead.

The same two methods serve ``db.run`` (the function gets the public ``Reader``/``Writer``)
and fusiondb's own features (``*_in``: the function gets the ``TxnContext``).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, TypeVar

from ..core.functions import MutationFunction, QueryFunction, nested_run_error
from ..engine.base import Engine
from .changefeed import ChangeFeed
from .context import Clock, Pins, TxnContext
from .reader import Reader
from .readset import ReadSet
from .retry import retrying
from .tables import Tables
from .writer import Writer

R = TypeVar("R")


class Runner:
    """Runs functions in transactions of one open database (see the module docstring)."""

    def __init__(self, engine: Engine, tables: Tables, feed: ChangeFeed) -> None:
        self.engine = engine
        self.tables = tables
        self.feed = feed
        self.clock = Clock()
        self._local = threading.local()

    def running(self) -> bool:
        """Whether this thread is inside a running function."""
        return getattr(self._local, "busy", False)

    def query(self, fn: QueryFunction[..., R], args: dict[str, Any]) -> R:
        """``db.run`` of a query: ``fn`` on one snapshot."""
        value, _ = self._read(fn.fn, args, None, None, True)
        return value  # type: ignore[no-any-return]

    def evaluate(
        self, fn: QueryFunction[..., Any], args: dict[str, Any], pins: Pins
    ) -> tuple[Any, ReadSet, int]:
        """A live query's run: its value, what it read, and the commit its snapshot is at."""
        readset = ReadSet()
        value, version = self._read(fn.fn, args, readset, pins, True)
        return value, readset, version

    def read_in(self, fn: Callable[[TxnContext], R]) -> R:
        """``fn(ctx)`` on one snapshot (for fusiondb's features)."""
        value, _ = self._read(fn, None, None, None, False)
        return value  # type: ignore[no-any-return]

    def mutate(self, fn: MutationFunction[..., R], args: dict[str, Any]) -> R:
        """``db.run`` of a mutation: ``fn`` as one serializable transaction."""
        return self._write(fn.fn, args, True)  # type: ignore[no-any-return]

    def write_in(self, fn: Callable[[TxnContext], R]) -> R:
        """``fn(ctx)`` as one mutation (for fusiondb's features)."""
        return self._write(fn, None, False)  # type: ignore[no-any-return]

    def _read(
        self,
        fn: Callable[..., Any],
        args: dict[str, Any] | None,
        readset: ReadSet | None,
        pins: Pins | None,
        public: bool,
    ) -> tuple[Any, int]:
        local = self._local
        if getattr(local, "busy", False):
            raise nested_run_error(fn if public else None)
        try:
            local.busy = True
            with self.engine.read() as txn:
                ctx = TxnContext(txn, self.tables, readset, pins)
                try:
                    value = fn(Reader(ctx), **args) if public else fn(ctx)  # type: ignore[arg-type]
                    # After the function's reads: the snapshot is open, so an engine can tell
                    # whether it is one whose position it read already (SqliteTxn).
                    version = self.feed.position(txn) if readset is not None else 0
                finally:
                    ctx.active = False
            return value, version
        finally:
            local.busy = False

    def _write(self, fn: Callable[..., Any], args: dict[str, Any] | None, public: bool) -> Any:
        local = self._local
        if getattr(local, "busy", False):
            raise nested_run_error(fn if public else None)
        try:
            local.busy = True
            return retrying(lambda: self._attempt(fn, args, public))
        finally:
            local.busy = False

    def _attempt(self, fn: Callable[..., Any], args: dict[str, Any] | None, public: bool) -> Any:
        """One run of a mutation in one write transaction (``retrying`` may run it again)."""
        with self.engine.write() as txn:
            if txn.foreign:
                self.clock.forget()
            ctx = TxnContext.writing(txn, self.tables, self.clock)
            try:
                result = fn(Writer(ctx), **args) if public else fn(ctx)  # type: ignore[arg-type]
            finally:
                ctx.active = False
            self.feed.commit(txn, ctx.writes)
        return result
