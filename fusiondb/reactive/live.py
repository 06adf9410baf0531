"""``Live``: one evaluated live query, shared by every ``Subscription`` handle that asked for it.

The manager re-runs it and calls ``publish`` with each new value; the handles read ``value``
and ``generation`` and wait on ``cond`` (blocking iterators) or on their asyncio events
(``waiters``). One condition per live query, not per handle: identical subscriptions share it.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Hashable
from typing import Any, Protocol


class Owner(Protocol):
    """What a handle needs of the manager that made it: to be let go on close."""

    def release(self, live: Live, handle: Any) -> None: ...


class Handle(Protocol):
    """What ``publish`` and ``fail`` need of a handle: its signals."""

    @property
    def changed(self) -> Any: ...

    @property
    def failed(self) -> Any: ...


def _typed(value: Any) -> Any:
    if type(value) is tuple:
        return (tuple, tuple(_typed(v) for v in value))
    if type(value) is frozenset:
        return (frozenset, frozenset(_typed(v) for v in value))
    return (type(value), value)


def args_key(fn: Any, args: dict[str, Any]) -> Hashable:
    """What identifies a live query: the function and its arguments."""
    try:
        # Typed: 1 == True == 1.0 in Python, but a query may find other documents for each
        # (the value order tells True from 1), so they must not share one evaluation.
        key = (fn, tuple(sorted((k, _typed(v)) for k, v in args.items())))
        hash(key)
        return key
    except TypeError:
        # Unhashable arguments: such a subscription simply shares with nobody.
        return (fn, id(args))


class Live:
    """One live query (see the module docstring)."""

    __slots__ = (
        "args", "closed", "cond", "entries", "error", "fn", "generation", "handles", "key",
        "owner", "pins", "value", "version", "waiters",
    )

    def __init__(
        self, key: Hashable, fn: Any, args: dict[str, Any], value: Any, version: int,
        pins: dict[Any, Any], owner: Owner,
    ) -> None:
        self.key = key
        self.fn = fn
        self.args = args
        self.value = value
        self.version = version  # the commit its value reflects; -1: owes a full re-run
        self.pins = pins
        self.owner = owner
        self.error: BaseException | None = None
        self.handles: list[Handle] = []
        # Where its read set sits in the manager's interval indexes.
        self.entries: list[tuple[tuple[str, str], tuple[Any, int]]] = []
        self.cond = threading.Condition()
        self.generation = 0
        self.closed = False
        self.waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = []

    def __hash__(self) -> int:
        return id(self)

    def publish(self, value: Any) -> None:
        """A new value: wake every waiting iterator, then send each handle's signal."""
        with self.cond:
            self.value = value
            self.generation += 1
            self.error = None
            self.cond.notify_all()
            waiters = list(self.waiters)
            handles = list(self.handles)
        _wake_all(waiters)
        for handle in handles:
            handle.changed.send(handle, value=value)

    def fail(self, error: BaseException) -> None:
        """A re-run raised: the value stays; iterators wake (to raise it), ``failed`` is sent."""
        with self.cond:
            self.error = error
            self.cond.notify_all()
            waiters = list(self.waiters)
            handles = list(self.handles)
        _wake_all(waiters)
        for handle in handles:
            handle.failed.send(handle, error=error)

    def recover(self) -> None:
        """A re-run succeeded with an unchanged value: the error, if any, is over."""
        with self.cond:
            self.error = None

    def wake(self) -> None:
        """Wake every waiting iterator to look again (a handle closed)."""
        with self.cond:
            self.cond.notify_all()
            waiters = list(self.waiters)
        _wake_all(waiters)

    def end(self) -> None:
        """The database closed: every iterator ends."""
        with self.cond:
            self.closed = True
        self.wake()


def _wake_all(waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Event]]) -> None:
    for loop, event in waiters:
        with contextlib.suppress(RuntimeError):  # the loop may be closed already
            loop.call_soon_threadsafe(event.set)
