"""``Live``: one evaluated live query, shared by every ``Subscription`` handle that asked for it.

The manager re-runs it and calls ``publish`` with each new value; the handles read ``value``
and ``generation``, wait on its condition (blocking iterators, ``wait``) or on their asyncio
events (``waiters``), and pass values on to their callbacks.

A process may hold 100,000 live queries, so each is kept small and mostly out of the cyclic
GC's sight: slots, no per-query lock (every live query's state is guarded by the one brief
``STATE`` lock), and a condition (~1.2 KB) or waiter list only once something blocks on it.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from typing import Any, Protocol

log = logging.getLogger("fusiondb.subscriptions")

# Guards value, generation, error, closed and waiters of every live query (held for a few
# attribute writes at a time), and is the lock under each live query's condition.
STATE = threading.Lock()

class Owner(Protocol):
    """What a handle needs of the manager that made it: to be let go on close."""

    def release(self, live: Live, handle: Any) -> None: ...


class Handle(Protocol):
    """What ``publish`` and ``fail`` need of a handle: to pass the news on to its callbacks;
    and how many consumers its values reach (``urgency``)."""

    @property
    def consumers(self) -> int: ...

    def notify_changed(self, value: Any) -> None: ...

    def notify_failed(self, error: BaseException) -> None: ...


def _typed(value: Any) -> Any:
    if type(value) is tuple:
        return (tuple, tuple(_typed(v) for v in value))
    if type(value) is frozenset:
        return (frozenset, frozenset(_typed(v) for v in value))
    return (type(value), value)


# Argument types whose values hash, and whose type and value say all a query may use.
_ATOMIC = frozenset({str, int, float, bool, type(None), bytes})


# id(fn) -> one int object for it, which every key of that function shares (a fresh int per
# key is 32 B more per live query). Bounded: past it, keys just hold their own int.
_IDS: dict[int, int] = {}
_IDS_KEPT = 4096


def args_key(fn: Any, args: dict[str, Any]) -> tuple[Any, ...]:
    """What identifies a live query: the function and its arguments.

    Typed: 1 == True == 1.0 in Python, but a query may find other documents for each (the
    value order tells True from 1), so they must not share one evaluation. Atomic arguments
    make one flat tuple ``(id(fn), name, type, value, ...)`` (sorted by name), from which
    ``args_of`` rebuilds the arguments, so a live query need not keep their dict too. The
    function goes in by its id (the ``Live`` holds the function itself, so the id is not
    reused while the key is in use): a tuple of atomic values and built-in types is one the
    cyclic GC stops tracking, where the function would keep it tracked.
    """
    ident = id(fn)
    shared = _IDS.setdefault(ident, ident) if len(_IDS) < _IDS_KEPT else ident
    if len(args) == 1:  # the common case: no list to sort and copy
        ((name, value),) = args.items()
        kind = type(value)
        if kind in _ATOMIC:
            return (shared, name, kind, value)
    flat: list[Any] = [shared]
    for name in sorted(args):
        value = args[name]
        kind = type(value)
        if kind not in _ATOMIC:
            break
        flat += (name, kind, value)
    else:
        return tuple(flat)
    try:
        key = (fn, None, tuple(sorted((k, _typed(v)) for k, v in args.items())))
        hash(key)
        return key
    except TypeError:
        # Unhashable arguments: such a subscription simply shares with nobody.
        return (fn, None, id(args))


def args_of(key: tuple[Any, ...]) -> dict[str, Any] | None:
    """The arguments a flat ``args_key`` was made of (``None``: not a flat key)."""
    if len(key) > 1 and key[1] is None:
        return None
    return {key[at]: key[at + 2] for at in range(1, len(key), 3)}


class Live:
    """One live query (see the module docstring)."""

    __slots__ = (
        "_args", "_handles", "closed", "cond", "cost", "entries", "error", "fn", "generation",
        "key", "owner", "pins", "value", "version", "waiters",
    )

    def __init__(
        self, fn: Any, key: tuple[Any, ...], args: dict[str, Any], value: Any, version: int,
        pins: dict[Any, Any] | None, owner: Owner,
    ) -> None:
        self.fn = fn  # the query function
        self.key = key  # args_key(fn, args)
        self._args = args if len(key) > 1 and key[1] is None else None  # else: args_of(key)
        self.value = value
        self.version = version  # the commit its value reflects; -1: owes a full re-run
        self.cost = 0.0  # seconds its last evaluation took (see ``urgency``)
        self.pins = pins  # page boundaries pinned for re-runs (None: none)
        self.owner = owner
        self.error: BaseException | None = None
        # The one handle itself (most live queries have one: no container for the GC to
        # track), or a tuple of several, or None.
        self._handles: Handle | tuple[Handle, ...] | None = None
        # Where its read set sits in the manager's range indexes: name, handle, name, ...
        self.entries: tuple[Any, ...] = ()
        self.cond: threading.Condition | None = None  # see condition()
        self.generation = 0
        self.closed = False
        self.waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Event]] | None = None

    def __hash__(self) -> int:
        return id(self)

    @property
    def args(self) -> dict[str, Any]:
        """The query's arguments."""
        args = self._args
        return args_of(self.key) if args is None else args  # type: ignore[return-value]

    @property
    def handles(self) -> tuple[Handle, ...]:
        """The open handles on this live query."""
        held = self._handles
        if held is None:
            return ()
        return held if type(held) is tuple else (held,)  # type: ignore[return-value]

    def urgency(self) -> float:
        """Which of the live queries one commit hit re-runs first: lowest first. Its last
        evaluation's time per consumer of its values: the order that has the consumers,
        together, wait least for their new values (shortest job first, weighted)."""
        held = self._handles
        if held is None:
            return self.cost
        if isinstance(held, tuple):
            return self.cost / sum(h.consumers for h in held)
        return self.cost / held.consumers

    def attach(self, handle: Handle) -> None:
        held = self._handles
        self._handles = handle if held is None else (*self.handles, handle)

    def detach(self, handle: Handle) -> None:
        """Let ``handle`` go (if attached)."""
        rest = tuple(h for h in self.handles if h is not handle)
        self._handles = None if not rest else rest[0] if len(rest) == 1 else rest

    def condition(self) -> threading.Condition:
        """The condition blocking iterators wait on (made on first use, over ``STATE``)."""
        cond = self.cond
        if cond is None:
            with STATE:
                if self.cond is None:
                    self.cond = threading.Condition(STATE)
                cond = self.cond
        return cond

    def add_waiter(self, entry: tuple[asyncio.AbstractEventLoop, asyncio.Event]) -> None:
        with STATE:
            if self.waiters is None:
                self.waiters = []
            self.waiters.append(entry)

    def remove_waiter(self, entry: tuple[asyncio.AbstractEventLoop, asyncio.Event]) -> None:
        with STATE:
            if self.waiters is not None and entry in self.waiters:
                self.waiters.remove(entry)

    def publish(self, value: Any) -> None:
        """A new value: wake every waiting iterator, then tell each handle."""
        with STATE:
            self.value = value
            self.generation += 1
            self.error = None
            waiters = self._wake_locked()
            handles = self.handles
        _wake_all(waiters)
        for handle in handles:
            handle.notify_changed(value)

    def fail(self, error: BaseException) -> None:
        """A re-run raised: the value stays; iterators wake (to raise it), handles are told."""
        with STATE:
            self.error = error
            waiters = self._wake_locked()
            handles = self.handles
        _wake_all(waiters)
        for handle in handles:
            handle.notify_failed(error)

    def recover(self) -> None:
        """A re-run succeeded with an unchanged value: the error, if any, is over."""
        if self.error is not None:
            with STATE:
                self.error = None

    def wake(self) -> None:
        """Wake every waiting iterator to look again (a handle closed)."""
        with STATE:
            waiters = self._wake_locked()
        _wake_all(waiters)

    def end(self) -> None:
        """The database closed: every iterator ends."""
        with STATE:
            self.closed = True
        self.wake()

    def _wake_locked(self) -> tuple[tuple[asyncio.AbstractEventLoop, asyncio.Event], ...]:
        if self.cond is not None:
            self.cond.notify_all()
        return () if not self.waiters else tuple(self.waiters)


def _wake_all(waiters: tuple[tuple[asyncio.AbstractEventLoop, asyncio.Event], ...]) -> None:
    for loop, event in waiters:
        try:
            loop.call_soon_threadsafe(event.set)
        except RuntimeError:  # the loop is closed: its iterator will never ask again
            pass
        except BaseException:  # one bad waiter must not keep the others asleep
            log.exception("fusiondb: waking an async iterator failed")
