"""``/api/sync``: one WebSocket connection's subscriptions, queries and mutations.

The protocol (JSON text messages; docs/serving.md describes it for writers of clients):
the client sends ``subscribe`` / ``unsubscribe`` / ``query`` / ``mutation`` / ``ping``; the
server answers with ``value`` (a subscription's current value, then one after every commit
that changes it), ``result``, ``error`` (a request that failed: nothing was subscribed),
``failed`` (a live subscription's re-run raised; it stays subscribed) and ``pong``.

A subscription is a ``Watcher`` of a shared ``Topic`` (``fanout.py``: one fusiondb
subscription per distinct query and arguments, each value encoded once); what the connection
has to send waits in its ``Outbox`` (``outbox.py``: bounded, the newest value per
subscription), which one task per connection sends in order. Incoming messages are handled
one after another, so a reply never overtakes the reply to an earlier message.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from starlette.websockets import WebSocket, WebSocketDisconnect

from ..database import Database
from .callqueue import CallQueue
from .calls import CallError, arguments, failure, find, parse_json
from .fanout import Hub, Watcher, topic_key
from .functions import Registry
from .outbox import CLOSE_BACKLOG, Outbox, Overflow, reply

log = logging.getLogger("fusiondb.serve")


class Connection:
    """One WebSocket client (see the module docstring)."""

    def __init__(
        self,
        ws: WebSocket,
        db: Database,
        registry: Registry,
        identity: Any,
        hub: Hub,
        max_message: int,
        max_backlog: int,
    ) -> None:
        self.ws = ws
        self.db = db
        self.registry = registry
        self.identity = identity
        self.hub = hub
        self.max_message = max_message
        self.subs: dict[int | str, Watcher | None] = {}  # None: being opened
        self.outbox = Outbox(max_backlog)
        self.calls = CallQueue(db, self.outbox.put_reply)

    def post(self, text: str) -> None:
        self.outbox.put_reply(text)

    async def run(self) -> None:
        sender = asyncio.create_task(self._send_all())
        try:
            while True:
                incoming = await self.ws.receive()
                if incoming["type"] == "websocket.disconnect":
                    break
                data = incoming.get("text")
                if data is None:
                    data = incoming.get("bytes") or b""
                await self.handle(data)
                if sender.done():  # closed for its backlog, or the socket failed
                    break
        except WebSocketDisconnect:
            pass
        finally:
            for watcher in self.subs.values():
                if watcher is not None:
                    self.hub.unwatch(watcher)
            self.subs.clear()
            self.calls.cancel()
            sender.cancel()
            with contextlib.suppress(BaseException):  # the socket is gone: nothing more to send
                await sender

    async def _send_all(self) -> None:
        send = self.ws.send
        try:
            await self.outbox.drain(lambda text: send({"type": "websocket.send", "text": text}))
        except Overflow as exc:
            log.warning("fusiondb.serve: closing a WebSocket that does not read: %s", exc)
            with contextlib.suppress(Exception):
                await self.ws.close(code=CLOSE_BACKLOG, reason="too slow: " + str(exc)[:100])
        except Exception:  # disconnected mid-way; run() ends on the next receive
            return

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
        db, fn = self.db, exposed.fn
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
