"""The subscription manager: from committed write sets to re-runs and published values.

Each distinct (query function, arguments) is one ``Live`` query, shared by every
``Subscription`` handle that asked for it. Its read set sits in one interval index per
(table, index). A single worker thread takes committed write sets in commit order (local
ones handed over right after commit, other processes' read from the change log), stabs the
written keys into the interval indexes, re-runs only the live queries hit, on one fresh
snapshot, and publishes a value only when it changed. One thread doing this in order is what
makes values arrive in commit order and never go backwards.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .errors import FusionError
from .intervals import IntervalIndex
from .keys import normalize_key
from .readset import ReadSet
from .search_match import SearchMatcher
from .writeset import WriteSet

if TYPE_CHECKING:
    from .subscription import Subscription

log = logging.getLogger("fusiondb.subscriptions")

# evaluate(fn, args, pins) -> (value, read set, snapshot version)
Evaluate = Callable[[Any, dict[str, Any], dict[Any, Any]], tuple[Any, ReadSet, int]]


@dataclass(eq=False)
class Live:
    """One evaluated query shared by identical subscriptions."""

    key: Hashable
    fn: Any
    args: dict[str, Any]
    value: Any
    version: int
    error: BaseException | None = None
    handles: list[Subscription] = field(default_factory=list)
    pins: dict[Any, Any] = field(default_factory=dict)
    entries: list[tuple[tuple[str, str], tuple[Any, int]]] = field(default_factory=list)

    def __hash__(self) -> int:
        return id(self)


def args_key(fn: Any, args: dict[str, Any]) -> Hashable:
    try:
        key = (fn, tuple(sorted(args.items())))
        hash(key)
        return key
    except TypeError:
        # Unhashable arguments: such a subscription simply shares with nobody.
        return (fn, id(args))


class SubscriptionManager:
    def __init__(
        self,
        evaluate: Evaluate,
        poll_foreign: Callable[[], list[tuple[int, WriteSet]] | None] | None,
        poll_interval: float,
    ) -> None:
        self._evaluate = evaluate
        self._poll_foreign = poll_foreign
        self._poll_interval = poll_interval
        self._lock = threading.RLock()
        self._wake = threading.Condition(self._lock)  # the worker waits here
        self._idle = threading.Condition(self._lock)  # wait_idle() waits here
        self._kick = False
        self._busy = False
        self._rounds = 0
        self._live: dict[Hashable, Live] = {}
        self._indexes: dict[tuple[str, str], IntervalIndex] = {}
        self._search = SearchMatcher()
        self._pending: list[tuple[int, WriteSet]] = []
        # Live queries marked to re-run whatever was written (version -1), kept as a set so a
        # round never scans every subscription (per-write cost must not grow with their number).
        self._stale: set[Live] = set()
        self._rerun_all = False
        self._processed = 0  # highest commit version matched so far
        self._closed = False
        self._thread: threading.Thread | None = None
        self.reruns = 0  # total re-evaluations (for tests and benchmarks)

    def subscribe(
        self, fn: Any, args: dict[str, Any], make_handle: Callable[[Live], Subscription]
    ) -> Subscription:
        """A new handle on the live query for (fn, args), evaluating it if nobody watches it."""
        key = args_key(fn, args)
        with self._lock:
            self._check()
            live = self._live.get(key)
            if live is not None:
                return make_handle(live)
        pins: dict[Any, Any] = {}
        value, readset, version = self._evaluate(fn, args, pins)
        with self._lock:
            self._check()
            existing = self._live.get(key)
            if existing is not None:
                return make_handle(existing)
            live = Live(key, fn, args, value, version, pins=_pin(pins))
            self._register(live, readset)
            self._live[key] = live
            if self._processed > version:
                # A commit was matched between our snapshot and registering: re-check.
                self._rerun_all_of([live])
            self._ensure_thread()
            # Attached under the lock, so a concurrent close of another handle on this
            # live query cannot drop it in between.
            return make_handle(live)

    def release(self, live: Live, handle: Subscription) -> None:
        with self._lock:
            if handle in live.handles:
                live.handles.remove(handle)
            if not live.handles and self._live.get(live.key) is live:
                del self._live[live.key]
                self._unregister(live)

    def _check(self) -> None:
        if self._closed:
            raise FusionError("the database is closed; cannot subscribe")

    def _register(self, live: Live, readset: ReadSet) -> None:
        for r in readset.ranges:
            idx = self._indexes.get((r.table, r.index))
            if idx is None:
                idx = self._indexes[(r.table, r.index)] = IntervalIndex()
            handle = idx.add(normalize_key(r.lo), normalize_key(r.hi), live)
            live.entries.append(((r.table, r.index), handle))
        self._search.register(live, readset.searches)

    def _unregister(self, live: Live) -> None:
        for name, handle in live.entries:
            self._indexes[name].remove(handle)
        live.entries.clear()
        self._search.unregister(live)

    def match(self, writes: WriteSet) -> set[Live]:
        """Live queries whose read set contains a key this write set wrote."""
        hit: set[Any] = set()
        for name, keys in writes.keys_by_index().items():
            idx = self._indexes.get(name)
            if idx is None or not len(idx):
                continue
            for k in keys:
                idx.stab(normalize_key(k), hit)
        self._search.match(writes, hit)
        return hit

    def publish(self, version: int, writes: WriteSet) -> None:
        """Hand over a committed write set (call in commit order, after the commit)."""
        with self._lock:
            if self._closed or not self._live:
                self._processed = max(self._processed, version)
                return
            self._pending.append((version, writes))
            self._wake.notify()

    def _rerun_all_of(self, lives: list[Live]) -> None:
        for live in lives:
            live.version = -1
        self._stale.update(lives)
        self._kick = True
        self._wake.notify()

    def _ensure_thread(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._run, name="fusiondb-subscriptions", daemon=True
            )
            self._thread.start()

    def _take(self) -> list[tuple[int, WriteSet]] | None:
        with self._lock:
            while not self._pending and not self._closed and not self._kick:
                if self._poll_foreign is not None and self._live:
                    self._wake.wait(self._poll_interval)
                    break
                self._wake.wait()
            if self._closed:
                return None
            self._kick = False
            self._busy = True
            pending, self._pending = self._pending, []
            return pending

    def _run(self) -> None:
        while True:
            pending = self._take()
            if pending is None:
                return
            try:
                if self._poll_foreign is not None:
                    foreign = self._poll_foreign()
                    if foreign is None:  # fell behind the trimmed log: re-run everything
                        with self._lock:
                            for live in self._live.values():
                                live.version = -1
                            self._stale.update(self._live.values())
                    else:
                        pending.extend(foreign)
                self._process(pending)
            except Exception:  # the worker must survive anything to keep the db live
                log.exception("fusiondb subscription worker error")
            finally:
                with self._lock:
                    self._busy = False
                    self._rounds += 1
                    self._idle.notify_all()

    def _process(self, pending: list[tuple[int, WriteSet]]) -> None:
        with self._lock:
            hit: set[Live] = set()
            for version, writes in sorted(pending, key=lambda p: p[0]):
                for live in self.match(writes):
                    if live.version < version:
                        hit.add(live)
                self._processed = max(self._processed, version)
            stale, self._stale = self._stale, set()
            hit.update(live for live in stale if live.version < 0)
        for live in hit:
            self._rerun(live)

    def _rerun(self, live: Live) -> None:
        with self._lock:
            if self._live.get(live.key) is not live:
                return
            pins = {("pinned", k[1]): v for k, v in live.pins.items()}
        try:
            value, readset, version = self._evaluate(live.fn, live.args, pins)
            error: BaseException | None = None
        except Exception as exc:  # a query that starts failing is reported, not fatal
            log.exception("fusiondb subscription re-run failed: %r", live.fn)
            value, readset, version, error = live.value, ReadSet(), live.version, exc
        with self._lock:
            self.reruns += 1
            if self._live.get(live.key) is not live:
                return
            if error is None:
                self._unregister(live)
                self._register(live, readset)
                live.version = version
                live.pins.update(_pin(pins))
            elif live.version < 0:
                self._stale.add(live)  # still owes a full re-run: retry next round
            changed = error is None and value != live.value
            if changed:
                live.value = value
            live.error = error
            handles = list(live.handles)
        if changed:
            for handle in handles:
                handle._deliver(value)

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Block until every commit made so far (here or, by polling, elsewhere) is processed.

        For tests and demos: afterwards every subscription shows the latest committed state.
        """
        with self._lock:
            if self._thread is None or self._closed:
                return True
            # A round already under way may have missed commits made just before this call.
            target = self._rounds + (2 if self._busy else 1)
            self._kick = True
            self._wake.notify()
            return self._idle.wait_for(
                lambda: self._closed or (self._rounds >= target and not self._pending
                                         and not self._busy and not self._kick),
                timeout,
            )

    def close(self) -> None:
        with self._lock:
            self._closed = True
            lives = list(self._live.values())
            self._live.clear()
            self._indexes.clear()
            self._wake.notify_all()
            self._idle.notify_all()
        for live in lives:
            for handle in list(live.handles):
                handle._closed_by_db()
        if self._thread is not None and self._thread is not threading.current_thread():
            with contextlib.suppress(RuntimeError):
                self._thread.join(timeout=5)


def _pin(pins: dict[Any, Any]) -> dict[Any, Any]:
    """Page boundaries seen on a run become pinned for the next runs (as Convex's endCursor)."""
    return {k: v for k, v in pins.items() if k[0] == "seen"}
