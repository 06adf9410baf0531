"""``Subscription``: the handle ``db.subscribe`` returns.

``value`` is the latest result; ``changed`` is a blinker signal sent with ``value=``, ``failed``
one sent with ``error=`` when a re-run raises (``error`` then holds the exception until a
later run succeeds). Iterating (blocking or ``async for``) yields the current value, then each
newer one, and raises the query's error if a run fails. Iterators keep only the newest value
they have not yet yielded, so a slow consumer skips intermediate values but never sees an
older value after a newer one.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any, Generic, TypeVar, overload

from blinker import Signal

from ..core.errors import DatabaseClosed, InvalidArgument
from .live import STATE, Live

log = logging.getLogger("fusiondb.subscriptions")
R = TypeVar("R")  # what the subscribed query returns
V = TypeVar("V")  # what a signal is sent with: the value, or the error


class ChangedSignal(Signal, Generic[V]):
    """A blinker ``Signal`` of one subscription, sent with one keyword: ``value=`` for
    ``changed``, ``error=`` for ``failed`` (``arg``).

    Receivers are held strongly by default (a live query's callback is usually a lambda or a
    closure that nothing else holds; blinker's weak default would drop it at once;
    ``sub.close()`` disconnects everything). ``send`` is blinker's, with two differences: a
    receiver taking one positional parameter gets the value (or error) alone
    (``def cb(value)``), and a receiver that raises is logged instead of stopping the others.
    ``muted()`` works as in blinker. To a type checker it is generic in what it sends: a
    receiver is ``(value: V)`` or ``(sender, value: V)``.
    """

    def __init__(self, arg: str = "value") -> None:
        super().__init__()
        self.arg = arg
        self._value_only: dict[int, tuple[Any, bool]] = {}

    @overload  # type: ignore[override]
    def connect(
        self, receiver: Callable[[V], object], sender: Any = ..., weak: bool = ...
    ) -> Callable[[V], object]: ...
    @overload
    def connect(
        self, receiver: Callable[[Any, V], object], sender: Any = ..., weak: bool = ...
    ) -> Callable[[Any, V], object]: ...

    def connect(  # pyright: ignore[reportIncompatibleMethodOverride]
        self, receiver: Any, sender: Any = Signal.ANY, weak: bool = False
    ) -> Any:
        return super().connect(receiver, sender, weak)

    def send(
        self, sender: Any | None = None, /, *, _async_wrapper: Any = None, **kwargs: Any
    ) -> list[tuple[Callable[..., Any], Any]]:
        if self.is_muted:
            return []
        results: list[tuple[Callable[..., Any], Any]] = []
        for receiver in self.receivers_for(sender):
            style = self._value_only.get(id(receiver))
            if style is None or style[0] is not receiver:
                style = self._value_only[id(receiver)] = (
                    receiver, _takes_value_only(receiver, self.arg)
                )
            try:
                result = receiver(kwargs[self.arg]) if style[1] else receiver(sender, **kwargs)
            except BaseException:  # one bad callback must not starve the others (or the worker)
                log.exception("fusiondb subscription callback %r raised", receiver)
                result = None
            results.append((receiver, result))
        return results


class Subscription(Generic[R]):
    """A live query. Create with ``db.subscribe(query_fn, **args)``; generic in what the
    query returns (``value``, iteration and ``changed`` give an ``R``).

    Small on purpose (a process may hold 100,000): slots, and the two signals are made only
    when first used (a blinker signal is ~0.7 KB and a dozen GC-tracked containers).
    """

    __slots__ = ("_changed", "_closed", "_consumers", "_failed", "_final", "_live", "_seen")

    def __init__(self, live: Live) -> None:
        self._live = live
        self._closed = False
        self._final: Any = None
        self._seen = live.generation  # the newest value this handle has handed out
        self._changed: ChangedSignal[R] | None = None
        self._failed: ChangedSignal[BaseException] | None = None
        self._consumers = 1
        live.attach(self)

    @property
    def consumers(self) -> int:
        """How many consumers this handle's values reach: 1 unless set. A server that fans
        one subscription out to many connections sets it to their number; when one commit
        hits several live queries, they re-run in the order that has their consumers,
        together, wait least (the fewest milliseconds of re-run per consumer first)."""
        return self._consumers

    @consumers.setter
    def consumers(self, count: int) -> None:
        if type(count) is not int or count < 1:
            raise InvalidArgument(
                f"Subscription.consumers must be a positive int, got {count!r}"
            )
        self._consumers = count

    @property
    def changed(self) -> ChangedSignal[R]:
        """Sent with ``value=`` after each new value (on the subscription thread)."""
        if self._changed is None:
            self._changed = ChangedSignal("value")
        return self._changed

    @property
    def failed(self) -> ChangedSignal[BaseException]:
        """Sent with ``error=`` when a re-run raises (on the subscription thread)."""
        if self._failed is None:
            self._failed = ChangedSignal("error")
        return self._failed

    def notify_changed(self, value: Any) -> None:
        if self._changed is not None:
            self._changed.send(self, value=value)

    def notify_failed(self, error: BaseException) -> None:
        if self._failed is not None:
            self._failed.send(self, error=error)

    @property
    def value(self) -> R:
        """The latest published result."""
        if self._closed:
            return self._final  # type: ignore[no-any-return]
        live = self._live
        with STATE:
            self._seen = live.generation
            return live.value  # type: ignore[no-any-return]

    @property
    def closed(self) -> bool:
        """Whether the handle was closed, or its database."""
        return self._closed or self._live.closed

    @property
    def error(self) -> BaseException | None:
        """The exception of the last re-run if it failed (``value`` stays the last good
        one), else ``None``."""
        return self._live.error

    def _ended(self) -> bool:
        return self._closed or self._live.closed

    def close(self) -> None:
        """Stop updating; iterators end. Safe to call twice."""
        if self._closed:
            return
        self._final = self._live.value
        self._closed = True
        self._live.owner.release(self._live, self)
        self._live.wake()
        for signal in (self._changed, self._failed):
            if signal is not None:
                signal.receivers.clear()

    def __enter__(self) -> Subscription[R]:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def wait(
        self, predicate: Callable[[R], bool] | None = None, timeout: float | None = None
    ) -> R:
        """Block until ``predicate(value)`` holds, or (without one) until a newer value than
        this handle last gave out; returns that value. Raises ``TimeoutError`` after
        ``timeout`` seconds, the query's error while it fails, ``DatabaseClosed`` once the
        subscription or database is closed."""
        live = self._live

        def good() -> bool:
            if predicate is None:
                return live.generation != self._seen
            return bool(predicate(self._final if self._closed else live.value))

        cond = live.condition()
        with cond:
            if not cond.wait_for(
                lambda: live.error is not None or good() or self._ended(), timeout
            ):
                raise TimeoutError("the subscription got no value that would do in time")
            if live.error is not None:
                raise live.error
            if not good():
                raise DatabaseClosed("subscription closed")
            self._seen = live.generation
            return self._final if self._closed else live.value  # type: ignore[no-any-return]

    def __iter__(self) -> Iterator[R]:
        live = self._live
        cond = live.condition()
        seen = -1
        while True:
            with cond:
                while not self._ended() and live.error is None and live.generation == seen:
                    cond.wait()
                if self._ended():
                    return
                if live.error is not None:
                    raise live.error
                seen = self._seen = live.generation
                value = live.value
            yield value

    async def __aiter__(self) -> AsyncIterator[R]:
        live = self._live
        loop = asyncio.get_running_loop()
        event = asyncio.Event()
        entry = (loop, event)
        live.add_waiter(entry)
        seen = -1
        try:
            while True:
                with STATE:
                    if self._ended():
                        return
                    if live.error is not None:
                        raise live.error
                    if live.generation != seen:
                        seen = self._seen = live.generation
                        value = live.value
                        event.clear()
                    else:
                        value = _NOTHING
                if value is _NOTHING:
                    await event.wait()
                    continue
                yield value
        finally:
            live.remove_waiter(entry)

    async def next(self) -> R:
        """``wait()`` for a coroutine: the next value newer than this handle last gave out,
        awaited on the running loop (no thread blocks). Raises the query's error while it
        fails, ``DatabaseClosed`` once the subscription or database is closed. Cancelling
        the awaiting task leaves the subscription as it was."""
        live = self._live
        event = asyncio.Event()
        entry = (asyncio.get_running_loop(), event)
        live.add_waiter(entry)
        try:
            while True:
                with STATE:
                    if live.error is not None:
                        raise live.error
                    if live.generation != self._seen and not self._closed:
                        self._seen = live.generation
                        return live.value  # type: ignore[no-any-return]
                    if self._ended():
                        raise DatabaseClosed("subscription closed")
                    event.clear()
                await event.wait()
        finally:
            live.remove_waiter(entry)

    def __repr__(self) -> str:
        state = "closed" if self._closed else "live"
        return f"<fdb.Subscription {self._live.fn!r} {state}>"


_NOTHING: Any = object()

def _takes_value_only(receiver: Callable[..., Any], arg: str) -> bool:
    """Whether a callback takes just the new value (``def cb(value)``, ``lambda v, n=n: ...``).

    blinker calls receivers as ``receiver(sender, **kwargs)``, i.e. ``cb(sub, value=...)``
    (``arg`` names the keyword); a callback whose signature cannot take that but can take one
    positional argument gets the value alone.
    """
    try:
        signature = inspect.signature(receiver)
    except (TypeError, ValueError):
        return False
    try:
        signature.bind(_NOTHING, **{arg: _NOTHING})
        return False
    except TypeError:
        pass
    try:
        signature.bind(_NOTHING)
        return True
    except TypeError:
        return False
