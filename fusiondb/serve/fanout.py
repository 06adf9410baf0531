"""From a committed change to every WebSocket watching it: one subscription per distinct query.

Every connection of an event loop that watches the same served query with the same arguments
(and, for a function taking ``identity``, the same identity) shares one ``Topic``: one
``fdb.Subscription``, and each new value encoded once (``encode``: the models' serializers).
Its ``changed`` signal, sent on fusiondb's subscription thread, numbers the value, appends it
to the hub's queue and, if the queue was empty, asks the event loop once to ``flush`` it: one
thread hop per batch of values, whatever the number of watchers. ``flush`` hands the newest
value of each topic in the batch to every watcher's ``Outbox``, which writes it at once (a
frame shared by the connections, ``frames.py``) or keeps only the newest value per
subscription while its connection is behind.

Order: values of a topic are numbered under its lock in the order the subscription thread
publishes them (commit order), the queue keeps that order, and a watcher takes only numbers
above the last it was given, so a connection never gets an older value after a newer one.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import weakref
from collections import deque
from collections.abc import Callable, Hashable
from typing import Any

import orjson

from ..database import Database
from ..reactive.subscription import Subscription
from .calls import failure
from .functions import Exposed, encode
from .outbox import Outbox, Update

Opener = Callable[[], Subscription[Any]]


class Watcher:
    """One connection's subscription to a topic: where its values go, under which id."""

    __slots__ = ("id", "outbox", "seen", "topic")

    def __init__(self, sub_id: int | str, outbox: Outbox, topic: Topic) -> None:
        self.id = sub_id
        self.outbox = outbox
        self.topic = topic
        self.seen = -1  # the number of the newest update handed to the outbox

    def take(self, update: Update) -> None:
        if update.seq > self.seen:
            self.seen = update.seq
            self.outbox.put_value(self.id, update)


class Topic:
    """One served query with its arguments, shared by every watcher on one event loop."""

    def __init__(self, hub: Hub, key: Hashable, name: str) -> None:
        self.hub = hub
        self.key = key
        self.name = name
        self.watchers: dict[Watcher, None] = {}  # insertion-ordered set
        self.lock = threading.Lock()
        self.seq = 0
        self.last: Any = _NONE  # the value of ``latest`` (identity tells a repeat)
        self.latest: Update | None = None  # the newest update made, for new watchers
        self.handle: Subscription[Any] | None = None
        self.ready: asyncio.Future[None] = hub.loop.create_future()  # set once opened
        self.opening: asyncio.Future[None] | None = None  # the task opening it
        self.joining = 0  # callers waiting for it to open

    def offer(self, value: Any) -> None:
        """A value of the subscription (any thread): encoded once, queued for the loop."""
        with self.lock:
            if value is self.last:
                return
            self.last = value
            self._queue(Update(self.seq + 1, "value", encode(value)))

    def offer_current(self) -> None:
        """The subscription's current value, read under the lock so that it cannot overtake
        a newer value the subscription thread is offering meanwhile."""
        assert self.handle is not None
        with self.lock:
            value = self.handle.value
            if value is self.last:
                return
            self.last = value
            self._queue(Update(self.seq + 1, "value", encode(value)))

    def fail(self, error: BaseException) -> None:
        err = failure(error, self.name)
        with self.lock:
            self.last = _NONE  # the next value is news even if equal to the last one
            self._queue(Update(self.seq + 1, "failed", None, err.status, err.message))

    def counted(self) -> None:
        """Tell the subscription how many connections its values reach, so that a commit
        re-running several topics re-runs the most watched (per millisecond) first."""
        if self.handle is not None:
            self.handle.consumers = max(1, len(self.watchers))

    def _queue(self, update: Update) -> None:
        self.seq = update.seq
        self.latest = update
        self.hub.post(self, update)


_NONE: Any = object()


class Hub:
    """The topics of one event loop, and the queue from the subscription thread to it."""

    def __init__(self, db: Database, loop: asyncio.AbstractEventLoop) -> None:
        self.db = db
        # Weakly: the app keeps its hubs by loop in a WeakKeyDictionary, whose entries go
        # only if nothing they hold refers back to the loop.
        self._loop = weakref.ref(loop)
        self.topics: dict[Hashable, Topic] = {}
        self._queue: deque[tuple[Topic, Update]] = deque()
        self._lock = threading.Lock()
        self._scheduled = False

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        loop = self._loop()
        if loop is None:
            raise RuntimeError("the event loop of this hub is gone")
        return loop

    def post(self, topic: Topic, update: Update) -> None:
        """Queue an update for the loop (any thread); one wake-up per batch."""
        with self._lock:
            self._queue.append((topic, update))
            if self._scheduled:
                return
            self._scheduled = True
        with contextlib.suppress(RuntimeError):  # the loop is closed or gone: nobody to tell
            self.loop.call_soon_threadsafe(self.flush)

    def flush(self) -> None:
        """On the loop: hand the newest queued update of each topic to its watchers.

        An older one would be replaced in every outbox it waits in, or, written at once as a
        frame, cost each connection a send for a value already out of date (the loop fell
        behind the subscription thread). A topic's update moves behind the updates queued
        before it, as in ``Outbox.put_value``, so values still go out in commit order."""
        with self._lock:
            items = list(self._queue)
            self._queue.clear()
            self._scheduled = False
        newest: dict[Topic, Update] = {}
        for topic, update in items:
            newest.pop(topic, None)
            newest[topic] = update
        for topic, update in newest.items():
            for watcher in topic.watchers:
                watcher.take(update)

    async def watch(
        self,
        exposed: Exposed,
        key: Hashable,
        open_subscription: Opener,
        sub_id: int | str,
        outbox: Outbox,
    ) -> Watcher:
        """A new watcher of the topic ``key``: opened on a worker thread if nobody watches it
        yet; its current value is handed to ``outbox`` at once.

        The opening is a task of its own, not the caller's: a connection that goes while a
        topic opens (a page reloaded) neither takes the others waiting for it down with it
        nor leaves it open with nobody watching (``joining`` counts who waits)."""
        while True:
            topic = self.topics.get(key)
            if topic is None:
                topic = self.topics[key] = Topic(self, key, exposed.name)
                topic.opening = asyncio.ensure_future(self._open_topic(topic, open_subscription))
            topic.joining += 1
            try:
                await asyncio.shield(topic.ready)
            except BaseException:  # it failed to open, or the caller is going (cancelled)
                topic.joining -= 1
                ready = topic.ready
                if ready.done() and not ready.cancelled() and ready.exception() is None:
                    self._drop_if_unwatched(topic)
                raise
            topic.joining -= 1
            if self.topics.get(key) is topic:  # not closed by its last watcher meanwhile
                break
        watcher = Watcher(sub_id, outbox, topic)
        topic.watchers[watcher] = None
        topic.counted()
        if topic.latest is not None:
            watcher.take(topic.latest)
        return watcher

    async def _open_topic(self, topic: Topic, open_subscription: Opener) -> None:
        try:
            await asyncio.to_thread(self._open, topic, open_subscription)
        except BaseException as exc:
            if self.topics.get(topic.key) is topic:
                del self.topics[topic.key]
            topic.ready.set_exception(failure(exc, topic.name))
            topic.ready.exception()  # retrieved: the ones waiting get it raised
            return
        topic.ready.set_result(None)
        self._drop_if_unwatched(topic)  # everyone waiting for it went meanwhile

    def _drop_if_unwatched(self, topic: Topic) -> None:
        if topic.watchers or topic.joining:
            return
        if self.topics.get(topic.key) is topic:
            del self.topics[topic.key]
        if topic.handle is not None:
            topic.handle.close()

    def _open(self, topic: Topic, open_subscription: Opener) -> None:
        handle = open_subscription()
        topic.handle = handle
        handle.changed.connect(topic.offer)
        handle.failed.connect(topic.fail)
        topic.offer_current()

    def unwatch(self, watcher: Watcher) -> None:
        """Stop a watcher; the topic's subscription closes with its last watcher."""
        topic = watcher.topic
        topic.watchers.pop(watcher, None)
        topic.counted()
        if not topic.watchers and self.topics.get(topic.key) is topic:
            del self.topics[topic.key]
            if topic.handle is not None:
                topic.handle.close()


def topic_key(exposed: Exposed, raw_args: Any, identity: Any) -> Hashable:
    """What identifies a topic: the function, its arguments as sent (canonical JSON), and the
    identity where the function takes one (an identity that is not hashable shares with
    nobody)."""
    args = orjson.dumps(raw_args if raw_args is not None else {}, option=orjson.OPT_SORT_KEYS)
    if not exposed.takes_identity:
        return (exposed.name, args)
    try:
        hash(identity)
    except TypeError:
        return (exposed.name, args, object())
    return (exposed.name, args, identity)
