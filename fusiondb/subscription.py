"""``Subscription``: the handle ``db.subscribe`` returns.

``value`` is the latest result; ``changed`` is a blinker signal sent with ``value=``; iterating
(blocking or ``async for``) yields the current value, then each newer one. Iterators keep only
the newest value they have not yet yielded, so a slow consumer skips intermediate values but
never sees an older value after a newer one.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from typing import TYPE_CHECKING, Any

from blinker import Signal

from .errors import DatabaseClosed

if TYPE_CHECKING:
    from .subscriptions import Live, SubscriptionManager

log = logging.getLogger("fusiondb.subscriptions")


class ChangedSignal(Signal):
    """A blinker ``Signal`` whose receivers are held strongly by default.

    A live query's callback is usually a lambda or a closure that nothing else holds; blinker's
    weak default would drop it at once. ``sub.close()`` disconnects everything.
    """

    def connect(self, receiver: Any, sender: Any = Signal.ANY, weak: bool = False) -> Any:
        return super().connect(receiver, sender, weak)


class Subscription:
    """A live query. Create with ``db.subscribe(query_fn, **args)``."""

    def __init__(self, manager: SubscriptionManager, live: Live) -> None:
        self._manager = manager
        self._live = live
        self._cond = threading.Condition()
        self._generation = 0
        self._value = live.value
        self._closed = False
        self._waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = []
        self.changed = ChangedSignal()
        self._styles: dict[int, tuple[Any, bool]] = {}  # receiver id -> (receiver, value-only)
        live.handles.append(self)

    @property
    def value(self) -> Any:
        """The latest published result."""
        return self._value

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def error(self) -> BaseException | None:
        """The exception of the last re-run, if it failed (the value stays the last good one)."""
        return self._live.error

    def _deliver(self, value: Any) -> None:
        with self._cond:
            if self._closed:
                return
            self._value = value
            self._generation += 1
            self._cond.notify_all()
            waiters = list(self._waiters)
        for loop, event in waiters:
            loop.call_soon_threadsafe(event.set)
        for receiver in list(self.changed.receivers_for(self)):
            try:
                style = self._styles.get(id(receiver))
                if style is None or style[0] is not receiver:
                    style = self._styles[id(receiver)] = (receiver, _takes_value_only(receiver))
                if style[1]:
                    receiver(value)
                else:
                    receiver(self, value=value)
            except Exception:  # one bad callback must not starve the others
                log.exception("fusiondb subscription callback %r raised", receiver)

    def _closed_by_db(self) -> None:
        self._close_handle()

    def _close_handle(self) -> None:
        with self._cond:
            if self._closed:
                return
            self._closed = True
            self._cond.notify_all()
            waiters = list(self._waiters)
        for loop, event in waiters:
            with contextlib.suppress(RuntimeError):  # the loop may already be closed
                loop.call_soon_threadsafe(event.set)
        self.changed.receivers.clear()

    def close(self) -> None:
        """Stop updating; iterators end. Safe to call twice."""
        if self._closed:
            return
        self._manager.release(self._live, self)
        self._close_handle()

    def __enter__(self) -> Subscription:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def wait(self, predicate: Callable[[Any], bool], timeout: float | None = None) -> Any:
        """Block until ``predicate(value)`` holds; returns that value (for scripts and tests)."""
        with self._cond:
            ok = self._cond.wait_for(lambda: self._closed or predicate(self._value), timeout)
            if not ok:
                raise TimeoutError("subscription value did not satisfy the predicate in time")
            if self._closed and not predicate(self._value):
                raise DatabaseClosed("subscription closed")
            return self._value

    def __iter__(self) -> Iterator[Any]:
        seen = -1
        while True:
            with self._cond:
                while not self._closed and self._generation == seen:
                    self._cond.wait()
                if self._closed:
                    return
                seen = self._generation
                value = self._value
            yield value

    async def __aiter__(self) -> AsyncIterator[Any]:
        loop = asyncio.get_running_loop()
        event = asyncio.Event()
        entry = (loop, event)
        with self._cond:
            self._waiters.append(entry)
        seen = -1
        try:
            while True:
                with self._cond:
                    if self._closed:
                        return
                    if self._generation != seen:
                        seen = self._generation
                        value = self._value
                        event.clear()
                    else:
                        value = _NOTHING
                if value is _NOTHING:
                    await event.wait()
                    continue
                yield value
        finally:
            with self._cond:
                if entry in self._waiters:
                    self._waiters.remove(entry)

    def __repr__(self) -> str:
        state = "closed" if self._closed else "live"
        return f"<fdb.Subscription {self._live.fn!r} {state}>"


_NOTHING: Any = object()

_POSITIONAL = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)


def _takes_value_only(receiver: Callable[..., Any]) -> bool:
    """Whether a callback takes just the new value (``def cb(value)``).

    blinker calls receivers as ``receiver(sender, **kwargs)``, i.e. ``cb(sub, value=...)``;
    a callback with exactly one positional parameter and no ``**kwargs`` could not take
    that, so it gets the value alone.
    """
    try:
        params = list(inspect.signature(receiver).parameters.values())
    except (TypeError, ValueError):
        return False
    if any(p.kind in (p.VAR_KEYWORD, p.VAR_POSITIONAL) for p in params):
        return False
    required = [p for p in params if p.kind in _POSITIONAL]
    return len(required) == 1
