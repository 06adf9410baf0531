"""The subscription manager: from committed write sets to re-runs and published values.

Each distinct (query function, arguments) is one ``Live`` query, shared by every
``Subscription`` handle that asked for it. Its read set sits in one interval index per
(table, index). A single worker thread waits on the change feed, takes committed write sets
in commit order (this process's and, through the change log, other processes'), stabs the
written keys into the interval indexes, re-runs only the live queries hit through the
evaluator it was given, and publishes a value only when it changed. One thread doing this in
order is what makes values arrive in commit order and never go backwards. A round takes this
process's commits first and re-runs what they hit before it looks at the log for other
processes' (a read transaction fewer before a local write's values go out); an older commit
of another process found then re-runs only the queries whose snapshot does not hold it yet.
"""

from __future__ import annotations

import gc
import logging
import threading
import time
import weakref
from collections.abc import Callable, Hashable
from typing import Any, Protocol

from ..core.errors import FusionError
from ..transaction.changefeed import ChangeFeed, Commit
from ..transaction.readset import KeyRange, ReadSet
from ..transaction.writeset import WriteSet
from .live import Live, args_key
from .ranges import RangeIndex
from .search_match import SearchMatcher
from .subscription import Subscription
from .vector_match import VectorMatcher

log = logging.getLogger("fusiondb.subscriptions")

# Opt-in (``None``: never): from this many live queries on, the manager moves what is alive
# out of the cyclic GC's sight (``gc.freeze()``) each time new subscriptions and published
# values reach ``FREEZE_EVERY`` of the live queries, and ``gc.unfreeze()``s on close. At
# 100,000 live queries a full collection otherwise re-scans every live value (a list of
# models: 3 tracked objects each) and handle. Not the default, since ``gc.freeze()`` is the
# whole process's: it also freezes the application's objects (their unreachable cycles stay
# until the database closes), and close undoes a freeze the application made itself (a
# pre-fork server's, for copy-on-write). Opt in per database with
# ``fdb.open(..., gc_freeze_from=10_000)``; this module default applies to every database
# opened without it (docs/reactivity.md, "At scale").
FREEZE_FROM: int | None = None
FREEZE_EVERY = 0.05


class Evaluator(Protocol):
    """Runs a live query on a fresh snapshot (``transaction.runner.Runner`` is one)."""

    def evaluate(
        self, fn: Any, args: dict[str, Any], pins: dict[Any, Any]
    ) -> tuple[Any, ReadSet, int]:
        """(value, what it read, the commit its snapshot is at)."""
        ...


class SubscriptionManager:
    """Live queries of one open database (see the module docstring)."""

    def __init__(
        self,
        feed: ChangeFeed,
        evaluator: Evaluator,
        tokenize: Callable[[str], list[str]],
        freeze_from: int | None = None,
    ) -> None:
        self._feed = feed
        self._freeze_from = freeze_from  # None: the module's FREEZE_FROM
        self._evaluator = evaluator
        self._lock = threading.RLock()
        self._idle = threading.Condition(self._lock)  # wait_idle() waits here
        self._busy = False
        self._rounds = 0
        self._live: dict[Hashable, Live] = {}
        self._indexes: dict[tuple[str, str], RangeIndex] = {}
        self._search = SearchMatcher(tokenize)
        self._vectors = VectorMatcher()
        # Live queries that must re-run whatever was written (version -1), kept as a set so
        # a round never scans every subscription (per-write cost must not grow with them).
        self._stale: set[Live] = set()
        # Of those, the ones whose re-run raised: tried again after the next commit (not
        # every round: a query that fails until something changes would spin).
        self._failing: set[Live] = set()
        self._processed = 0  # highest commit matched so far
        self._closed = False
        self._thread: threading.Thread | None = None
        self.reruns = 0  # total re-evaluations (for tests and benchmarks)
        self._fresh = 0  # live queries made and values published since the last freeze
        self._froze = False
        self._app_froze = False  # something was frozen before this manager's first freeze

    def subscribe(self, fn: Any, args: dict[str, Any]) -> Subscription[Any]:
        """A new handle on the live query for (fn, args), evaluating it if nobody watches it."""
        key = args_key(fn, args)
        if key in self._live or self._closed:  # a peek: sharing and refusing go under the lock
            with self._lock:
                self._check()
                live = self._live.get(key)
                if live is not None:
                    return Subscription(live)
        # Before the first snapshot, so no other process's commit after it is missed.
        self._feed.watch()
        pins: dict[Any, Any] = {}
        start = time.perf_counter()
        value, readset, version = self._evaluator.evaluate(fn, args, pins)
        cost = time.perf_counter() - start
        with self._lock:
            self._check()
            existing = self._live.get(key)
            if existing is not None:
                return Subscription(existing)
            live = Live(fn, key, args, value, version, _pin(pins) if pins else None, self)
            live.cost = cost
            self._register(live, readset)
            self._live[key] = live
            latest = self._feed.listen(True)
            if max(self._processed, latest) > version:
                # A commit came between our snapshot and registering: re-check.
                self._mark_stale(live)
            if self._thread is None:
                self._start_thread()
            # Attached under the lock, so a concurrent close of another handle on this
            # live query cannot drop it in between.
            sub: Subscription[Any] = Subscription(live)
        self._fresh += 1
        self._maybe_freeze()
        return sub

    def release(self, live: Live, handle: Any) -> None:
        """A handle closed; the live query goes when its last handle does."""
        with self._lock:
            live.detach(handle)
            if not live.handles and self._live.get(live.key) is live:
                del self._live[live.key]
                self._unregister(live)
                if not self._live:
                    self._feed.listen(False)

    def _check(self) -> None:
        if self._closed:
            raise FusionError("the database is closed; cannot subscribe")

    def _register(self, live: Live, readset: ReadSet) -> None:
        # Flat: (table, index), handle, (table, index), handle, ... of atomic values, so the
        # GC stops tracking it. Most live queries read one range: no list to build and copy.
        ranges = readset.ranges
        if len(ranges) == 1:
            live.entries = self._add(ranges[0], live)
        else:
            entries: list[Any] = []
            for r in ranges:
                entries += self._add(r, live)
            live.entries = tuple(entries)
        if readset.searches:
            self._search.register(live, readset.searches)
        if readset.vectors:
            self._vectors.register(live, readset.vectors)

    def _add(self, r: KeyRange, live: Live) -> tuple[tuple[str, str], Any]:
        """Put one read range of ``live`` in its (table, index)'s range index: (name, handle)."""
        name = (r.table, r.index)
        idx = self._indexes.get(name)
        if idx is None:
            idx = self._indexes[name] = RangeIndex(name)
        return (idx.name, idx.add(r.lo, r.hi, live))  # one name tuple, shared

    def _unregister(self, live: Live) -> None:
        entries, indexes = live.entries, self._indexes
        for at in range(0, len(entries), 2):
            indexes[entries[at]].remove(entries[at + 1], live)
        live.entries = ()
        self._search.unregister(live)
        self._vectors.unregister(live)

    def match(self, writes: WriteSet) -> set[Live]:
        """Live queries whose read set contains a key this write set wrote."""
        hit: set[Any] = set()
        for name, keys in writes.keys_by_index().items():
            idx = self._indexes.get(name)
            if idx is None or not len(idx):
                continue
            for k in keys:
                idx.stab(k, hit)
        for name, ranges in writes.ranges.items():  # a huge commit's summary
            idx = self._indexes.get(name)
            if idx is not None:
                for lo, hi in ranges:
                    idx.overlap(lo, hi, hit)
        self._search.match(writes, hit)
        self._vectors.match(writes, hit)
        return hit

    def _mark_stale(self, live: Live) -> None:
        live.version = -1
        self._stale.add(live)
        self._feed.wake()

    def _start_thread(self) -> None:
        # The thread holds the manager only weakly between rounds, so a database dropped
        # without close() (and its subscriptions) is still collected; the finalizer wakes
        # the thread to notice, and stops the feed's log reader.
        weakref.finalize(self, self._feed.close)
        self._thread = threading.Thread(
            target=_work, args=(weakref.ref(self), self._feed),
            name="fusiondb-subscriptions", daemon=True,
        )
        self._thread.start()

    def _round(self) -> bool:
        """One round of the worker: take the commits and process them. ``False``: closed."""
        with self._lock:
            if self._closed:
                return False
            self._busy = True
        try:
            own = self._feed.take_own()
            if own:  # first, so that their values go out before the look at the log
                self._process(own, True)
            others, complete = self._feed.take_others()
            if others or not complete or not own:
                self._process(others, complete)
        except BaseException:  # the worker must survive anything to keep the db live
            log.exception("fusiondb subscription worker error")
        finally:
            with self._lock:
                self._busy = False
                self._rounds += 1
                self._idle.notify_all()
        return True

    def _polling(self) -> bool:
        """Whether to look for other processes' commits: while anything is live."""
        return self._feed.watching and bool(self._live)

    def _process(self, commits: list[Commit], complete: bool) -> None:
        with self._lock:
            if not complete:  # some commits could not be read: re-run everything
                for live in self._live.values():
                    live.version = -1
                self._stale.update(self._live.values())
            hit: set[Live] = set()
            for version, writes in commits:
                for live in self.match(writes):
                    if live.version < version:
                        hit.add(live)
                self._processed = max(self._processed, version)
            stale, self._stale = self._stale, set()
            if commits or not complete:
                stale |= self._failing
                self._failing = set()
            hit.update(live for live in stale if live.version < 0)
        # Several hit: the ones whose consumers get their values soonest for the least
        # re-running first (``Live.urgency``); the order of a set is that of addresses.
        for live in sorted(hit, key=Live.urgency) if len(hit) > 1 else hit:
            try:
                self._rerun(live)
            except BaseException:  # one bad delivery must not cost the others theirs
                log.exception("fusiondb subscription delivery failed: %r", live.fn)

    def _rerun(self, live: Live) -> None:
        with self._lock:
            if self._live.get(live.key) is not live:
                return
            pins = {("pinned", k[1]): v for k, v in (live.pins or {}).items()}
        start = time.perf_counter()
        try:
            value, readset, version = self._evaluator.evaluate(live.fn, live.args, pins)
            error: BaseException | None = None
        except Exception as exc:  # a query that starts failing is reported, not fatal
            log.exception("fusiondb subscription re-run failed: %r", live.fn)
            value, readset, version, error = live.value, ReadSet(), live.version, exc
        with self._lock:
            self.reruns += 1
            live.cost = time.perf_counter() - start
            if self._live.get(live.key) is not live:
                return
            if error is None:
                self._unregister(live)
                self._register(live, readset)
                live.version = version
                seen = _pin(pins)
                if seen is not None:
                    live.pins = seen if live.pins is None else {**live.pins, **seen}
            elif live.version < 0:
                self._failing.add(live)  # still owes a full re-run: retry after a commit
            changed = error is None and value != live.value
        if error is not None:
            live.fail(error)
        elif changed:
            live.publish(value)
            self._fresh += 1
            self._maybe_freeze()
        else:
            live.recover()

    def _freezing(self) -> int | None:
        """From how many live queries on to freeze (``None``: never; see ``FREEZE_FROM``)."""
        return FREEZE_FROM if self._freeze_from is None else self._freeze_from

    def _maybe_freeze(self) -> None:
        """``gc.freeze()`` what is alive, at scale (see ``FREEZE_FROM``)."""
        n, start = len(self._live), self._freezing()
        if start is None or n < start or self._fresh < FREEZE_EVERY * n:
            return
        self._fresh = 0
        if not self._froze:
            self._app_froze = gc.get_freeze_count() > 0
        self._froze = True
        gc.collect(1)  # young garbage first, so that none of it is frozen
        gc.freeze()

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Block until every commit made so far (here or, by polling, elsewhere) is processed.

        For tests and demos: afterwards every subscription shows the latest committed state.
        """
        with self._lock:
            if self._thread is None or self._closed:
                return True
            if self._thread is threading.current_thread():
                raise FusionError(
                    "db.wait_idle() inside a subscription callback would wait for itself; "
                    "call it outside the callback"
                )
            # A round already under way may have missed commits made just before this call.
            target = self._rounds + (2 if self._busy else 1)
            self._feed.wake()
            return self._idle.wait_for(lambda: self._closed or self._rounds >= target, timeout)

    def close(self, timeout: float = 0.0) -> None:
        """End every live query, after processing the commits made so far (for up to
        ``timeout`` seconds; not when called from a callback, which runs on the worker)."""
        if timeout > 0 and self._thread is not threading.current_thread():
            self.wait_idle(timeout)
        with self._lock:
            self._closed = True
            lives = list(self._live.values())
            self._live.clear()
            self._indexes.clear()
            self._idle.notify_all()
        self._feed.listen(False)
        self._feed.wake()
        for live in lives:
            live.end()
        if self._froze and not self._app_froze:
            # What was frozen is the collector's again; not when the application had frozen
            # objects of its own first (a pre-fork server's): unfreezing would undo that too.
            gc.unfreeze()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)


def _work(ref: weakref.ref[SubscriptionManager], feed: ChangeFeed) -> None:
    """The worker thread: rounds until the manager closes or is collected."""
    while True:
        manager = ref()
        polling = manager is not None and manager._polling()
        del manager  # not held while waiting
        try:
            feed.wait(polling)
        except BaseException:  # pragma: no cover - the worker outlives anything
            log.exception("fusiondb subscription worker error")
        manager = ref()
        if manager is None or not manager._round():
            return
        del manager


def _pin(pins: dict[Any, Any]) -> dict[Any, Any] | None:
    """Page boundaries seen on a run become pinned for the next runs (as Convex's endCursor);
    ``None`` when there are none (most live queries: no dict each)."""
    if not pins:
        return None
    seen = {k: v for k, v in pins.items() if k[0] == "seen"}
    return seen or None
