"""``/api/sync``: one WebSocket connection's subscriptions, queries and mutations.

The protocol (JSON text messages; docs/serving.md describes it for writers of clients):
the client sends ``subscribe`` / ``unsubscribe`` / ``query`` / ``mutation`` / ``ping``; the
server answers with ``value`` (a subscription's current value, then one after every commit
that changes it), ``result``, ``error`` (a request that failed: nothing was subscribed),
``failed`` (a live subscription's re-run raised; it stays subscribed) and ``pong``.

A subscription is a ``Watcher`` of a shared ``Topic`` (``fanout.py``: one fusiondb
subscription per distinct query and arguments, each value encoded once); what the connection
has to send waits in its ``Outbox`` (``outbox.py``: bounded, the newest value per
subscription), which sends it at once as a shared frame where the server offers a
``FrameWriter`` (``frames.py``) and the socket takes it, else one task per connection sends
it in order. Incoming messages are handled one after another, so a reply never overtakes the
reply to an earlier message.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any, cast

from starlette.types import Send
from starlette.websockets import WebSocket, WebSocketDisconnect

from ..database import Database
from .callqueue import CallQueue
from .calls import CallError, arguments, failure, find, parse_json
from .fanout import Hub, Watcher, topic_key
from .frames import FrameWriter
from .functions import Registry
from .outbox import CLOSE_BACKLOG, Outbox, reply

log = logging.getLogger("fusiondb.serve")

CLOSE_WAIT = 10.0  # seconds a connection closed for its backlog waits to send the close frame


class Connection:
    """One WebSocket client (see the module docstring)."""

    def __init__(
        self,
        ws: WebSocket,
        send: Send,
        db: Database,
        registry: Registry,
        identity: Any,
        hub: Hub,
        max_message: int,
        max_backlog: int,
        writer: FrameWriter | None = None,
    ) -> None:
        self.ws = ws
        self.send = send  # the server's ASGI send: value messages skip Starlette's wrapper
        self.db = db
        self.registry = registry
        self.identity = identity
        self.hub = hub
        self.max_message = max_message
        self.subs: dict[int | str, Watcher | None] = {}  # None: being opened
        self.outbox = Outbox(max_backlog, writer)
        self.calls = CallQueue(db, self.outbox.put_reply)

    def post(self, text: str) -> None:
        self.outbox.put_reply(text)

    async def run(self) -> None:
        """Until the client goes, or is closed for not reading (``CLOSE_BACKLOG``)."""
        tasks = {asyncio.create_task(self._receive_all()), asyncio.create_task(self._send_all())}
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for watcher in self.subs.values():
                if watcher is not None:
                    self.hub.unwatch(watcher)
            self.subs.clear()
            self.calls.cancel()
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(BaseException):  # the socket is gone: nothing more to do
                    await task

    async def _receive_all(self) -> None:
        with contextlib.suppress(WebSocketDisconnect):
            while True:
                incoming = await self.ws.receive()
                if incoming["type"] == "websocket.disconnect":
                    return
                data = incoming.get("text")
                if data is None:
                    data = incoming.get("bytes") or b""
                await self.handle(data)

    async def _send_all(self) -> None:
        """Send what the outbox holds; on overflow, close the connection with
        ``CLOSE_BACKLOG`` (once the client reads again, or give up after ``CLOSE_WAIT``)."""
        drain = asyncio.ensure_future(self.outbox.drain(self.send))
        overflow = asyncio.ensure_future(self.outbox.overflowed.wait())
        try:
            await asyncio.wait({drain, overflow}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            overflow.cancel()
            drain.cancel()
        if drain.done() and not drain.cancelled():
            drain.exception()  # the socket failed (retrieved, so asyncio does not log it)
        if not self.outbox.overflowed.is_set():
            return  # the socket failed: the receiver ends on the disconnect
        log.warning(
            "fusiondb.serve: closing a WebSocket that does not read: over %d bytes unsent",
            self.outbox.limit,
        )
        reason = f"too slow: over {self.outbox.limit} bytes of messages unsent"
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.ws.close(code=CLOSE_BACKLOG, reason=reason), CLOSE_WAIT)

    async def handle(self, data: str | bytes) -> None:
        """One client message; any problem becomes an ``error`` message."""
        request_id: Any = None
        try:
            raw = data.encode() if isinstance(data, str) else data
            msg = parse_json(raw, self.max_message)
            if not isinstance(msg, dict):
                raise CallError(400, "a message must be a JSON object with a 'type'")
            request_id = msg.get("id")
            if request_id is not None and not isinstance(request_id, int | str):
                request_id = None
                raise CallError(400, "'id' must be a number or a string")
            kind = msg.get("type")
            if kind in ("query", "mutation"):
                exposed = find(self.registry, msg.get("name"), kind)
                self.calls.submit(request_id, exposed, arguments(exposed, msg.get("args"), self.identity))
                return
            await self.calls.settled()  # what follows is answered after the calls before it
            if kind == "subscribe":
                await self.subscribe(request_id, msg.get("name"), msg.get("args"))
            elif kind == "unsubscribe":
                self.unsubscribe(request_id)
            elif kind == "ping":
                self.post(reply("pong", request_id))
            else:
                raise CallError(400, f"unknown message type {kind!r}")
        except Exception as exc:
            err = failure(exc, "a sync message")
            await self.calls.settled()
            self.post(reply("error", request_id, None, **err.body()))

    async def subscribe(self, sub_id: Any, name: Any, raw_args: Any) -> None:
        if sub_id is None:
            raise CallError(400, "subscribe needs an 'id' (the client's name for it)")
        if sub_id in self.subs:
            raise CallError(400, f"subscription id {sub_id!r} is already in use")
        exposed = find(self.registry, name, "query")
        args = arguments(exposed, raw_args, self.identity)
        key = topic_key(exposed, raw_args, self.identity)
        self.subs[sub_id] = None
        db, fn = self.db, cast(Any, exposed.fn)  # a query (find checked the kind)
        try:
            watcher = await self.hub.watch(
                exposed, key, lambda: db.subscribe(fn, **args), sub_id, self.outbox
            )
        except BaseException:
            if sub_id in self.subs and self.subs[sub_id] is None:
                del self.subs[sub_id]
            raise
        if sub_id in self.subs and self.subs[sub_id] is None:
            self.subs[sub_id] = watcher
        else:  # unsubscribed meanwhile (cannot happen while messages are handled in turn)
            self.hub.unwatch(watcher)
            self.outbox.drop_value(sub_id)

    def unsubscribe(self, sub_id: Any) -> None:
        watcher = self.subs.pop(sub_id, None)
        if watcher is not None:
            self.hub.unwatch(watcher)
        self.outbox.drop_value(sub_id)
