"""``/api/sync``: one WebSocket connection's subscriptions, queries and mutations.

The protocol (JSON text messages; docs/serving.md describes it for writers of clients):
the client sends ``subscribe`` / ``unsubscribe`` / ``query`` / ``mutation`` / ``ping``; the
server answers with ``value`` (a subscription's current value, then one after every commit
that changes it), ``result``, ``error`` (a request that failed: nothing was subscribed),
``failed`` (a live subscription's re-run raised; it stays subscribed) and ``pong``.

Each subscription is an ``fdb.Subscription``. Its ``changed`` signal is sent on fusiondb's
worker thread; the callback encodes the value (once per value however many connections
watch it) and hands the message to this connection's event loop with
``loop.call_soon_threadsafe``, under a per-subscription lock that also covers the first
value, so a connection's messages for one subscription leave in commit order, none lost. One
task per connection sends the queued messages in order. Incoming messages are handled one
after another, so a reply never overtakes the reply to an earlier message.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from starlette.websockets import WebSocket, WebSocketDisconnect

from ..database import Database
from ..reactive.subscription import Subscription
from .calls import CallError, arguments, call, failure, find, parse_json
from .functions import Registry, encode

Send = Callable[[str], None]


class EncodedValues:
    """JSON of recent values by identity: a value shared by many subscriptions (one live
    query watched by many connections) is encoded once."""

    def __init__(self, size: int = 4096) -> None:
        self._lock = threading.Lock()
        self._items: OrderedDict[int, tuple[Any, bytes]] = OrderedDict()
        self._size = size

    def __call__(self, value: Any) -> bytes:
        key = id(value)
        with self._lock:
            hit = self._items.get(key)
            if hit is not None and hit[0] is value:
                return hit[1]
        data = encode(value)
        with self._lock:
            self._items[key] = (value, data)  # holds value, so its id is not reused meanwhile
            if len(self._items) > self._size:
                self._items.popitem(last=False)
        return data


def message(kind: str, sub_id: Any, value_json: bytes | None = None, **fields: Any) -> str:
    head: dict[str, Any] = {"type": kind, "id": sub_id, **fields}
    if value_json is None:
        return orjson.dumps(head).decode()
    return orjson.dumps(head)[:-1].decode() + ',"value":' + value_json.decode() + "}"


class _Sub:
    """One subscription of one connection."""

    __slots__ = ("active", "handle", "id", "last", "lock", "post")

    def __init__(self, sub_id: Any, post: Callable[[str], None]) -> None:
        self.id = sub_id
        self.post = post
        self.lock = threading.Lock()
        self.last: Any = _NONE
        self.active = True
        self.handle: Subscription[Any] | None = None

    def offer(self, value: Any, encoded: EncodedValues) -> None:
        """Queue ``value`` unless it is the one sent last (any thread)."""
        with self.lock:
            if not self.active or value is self.last:
                return
            self.last = value
            self.post(message("value", self.id, encoded(value)))

    def fail(self, error: BaseException, name: str) -> None:
        err = failure(error, name)
        with self.lock:
            if self.active:
                self.post(message("failed", self.id, None, status=err.status, message=err.message))

    def close(self) -> None:
        with self.lock:
            self.active = False
        if self.handle is not None:
            self.handle.close()


_NONE: Any = object()


class Connection:
    """One WebSocket client (see the module docstring)."""

    def __init__(
        self,
        ws: WebSocket,
        db: Database,
        registry: Registry,
        identity: Any,
        encoded: EncodedValues,
        max_message: int,
    ) -> None:
        self.ws = ws
        self.db = db
        self.registry = registry
        self.identity = identity
        self.encoded = encoded
        self.max_message = max_message
        self.subs: dict[Any, _Sub] = {}
        self.outbox: asyncio.Queue[str | None] = asyncio.Queue()
        self.loop = asyncio.get_running_loop()

    def post(self, text: str) -> None:
        """Queue a message from any thread (fusiondb's worker thread included)."""
        with contextlib.suppress(RuntimeError):  # the loop is gone: the connection is over
            self.loop.call_soon_threadsafe(self.outbox.put_nowait, text)

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
        except WebSocketDisconnect:
            pass
        finally:
            for sub in self.subs.values():
                sub.close()
            self.subs.clear()
            self.outbox.put_nowait(None)
            with contextlib.suppress(Exception):  # the socket is gone: nothing more to send
                await sender

    async def _send_all(self) -> None:
        while True:
            text = await self.outbox.get()
            if text is None:
                return
            try:
                await self.ws.send_text(text)
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
            if kind == "subscribe":
                await self.subscribe(request_id, msg.get("name"), msg.get("args"))
            elif kind == "unsubscribe":
                sub = self.subs.pop(request_id, None)
                if sub is not None:
                    sub.close()
            elif kind in ("query", "mutation"):
                exposed = find(self.registry, msg.get("name"), kind)
                args = arguments(exposed, msg.get("args"), self.identity)
                result = await call(self.db, exposed, args)
                self.post(message("result", request_id, result))
            elif kind == "ping":
                self.post(message("pong", request_id))
            else:
                raise CallError(400, f"unknown message type {kind!r}")
        except Exception as exc:
            err = failure(exc, "a sync message")
            self.post(message("error", request_id, None, **err.body()))

    async def subscribe(self, sub_id: Any, name: Any, raw_args: Any) -> None:
        if sub_id is None:
            raise CallError(400, "subscribe needs an 'id' (the client's name for it)")
        if sub_id in self.subs:
            raise CallError(400, f"subscription id {sub_id!r} is already in use")
        exposed = find(self.registry, name, "query")
        args = arguments(exposed, raw_args, self.identity)
        sub = _Sub(sub_id, self.post)
        self.subs[sub_id] = sub
        try:
            await asyncio.to_thread(self._open, sub, exposed.fn, args, exposed.name)
        except BaseException as exc:
            self.subs.pop(sub_id, None)
            sub.close()
            raise failure(exc, exposed.name) from None
        if not sub.active:  # unsubscribed meanwhile
            sub.close()

    def _open(self, sub: _Sub, fn: Any, args: dict[str, Any], name: str) -> None:
        handle = self.db.subscribe(fn, **args)
        sub.handle = handle
        encoded = self.encoded
        handle.changed.connect(lambda value: sub.offer(value, encoded))
        handle.failed.connect(lambda error: sub.fail(error, name))
        sub.offer(handle.value, encoded)


Authenticate = Callable[[Any], Any | Awaitable[Any]]
