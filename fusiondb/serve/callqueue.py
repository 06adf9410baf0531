"""One connection's queries and mutations, run in order on a worker thread.

A client may send many calls without waiting for their answers (a writer sending mutations).
Awaiting each call on the event loop before reading the next costs a round trip through a
busy loop per call (a thread hop there and back, and the loop's turn between), which caps
one connection at a few dozen calls a second while the loop fans values out. Here the calls
of a connection queue up and one worker-thread job runs them back to back, handing each
reply to the loop as it is made; replies keep the calls' order. ``settled()`` waits for the
replies of every call submitted so far, so a message handled on the loop (a subscribe, an
error) is answered after them.
"""

from __future__ import annotations

import asyncio
import threading
from collections import deque
from collections.abc import Callable
from typing import Any

from ..database import Database
from .calls import failure, run_encoded
from .functions import Exposed
from .outbox import reply


class CallQueue:
    """Queries and mutations of one connection (see the module docstring)."""

    def __init__(self, db: Database, deliver: Callable[[str], None]) -> None:
        self._db = db
        self._deliver = deliver
        self._loop = asyncio.get_running_loop()
        self._lock = threading.Lock()
        self._items: deque[tuple[Any, Exposed, dict[str, Any]]] = deque()
        self._running = False  # a worker job is draining _items
        self._outstanding = 0  # submitted calls whose reply has not reached the loop yet
        self._settled = asyncio.Event()
        self._settled.set()

    def submit(self, request_id: Any, exposed: Exposed, args: dict[str, Any]) -> None:
        """Queue a call (loop thread); its reply is delivered after the earlier ones'."""
        self._outstanding += 1
        self._settled.clear()
        with self._lock:
            self._items.append((request_id, exposed, args))
            if self._running:
                return
            self._running = True
        self._loop.run_in_executor(None, self._work)

    async def settled(self) -> None:
        """Until every call submitted so far has had its reply delivered."""
        if self._outstanding:
            await self._settled.wait()

    def cancel(self) -> None:
        """The connection is over: calls not yet started are dropped."""
        with self._lock:
            self._items.clear()

    def _work(self) -> None:
        while True:
            with self._lock:
                if not self._items:
                    self._running = False
                    return
                request_id, exposed, args = self._items.popleft()
            try:
                text = reply("result", request_id, run_encoded(self._db, exposed, args))
            except BaseException as exc:  # every call gets an answer; the job goes on
                err = failure(exc, exposed.name)
                text = reply("error", request_id, None, **err.body())
            try:
                self._loop.call_soon_threadsafe(self._delivered, text)
            except RuntimeError:  # the loop is closed: the connection is over
                return

    def _delivered(self, text: str) -> None:
        self._outstanding -= 1
        if not self._outstanding:
            self._settled.set()
        self._deliver(text)
