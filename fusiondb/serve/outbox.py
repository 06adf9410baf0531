"""What one WebSocket connection has yet to send, bounded: the newest value per subscription.

Replies (``result``, ``error``, ``pong``) wait in the order they were made. A subscription's
value waits in one slot per subscription: a newer value replaces the one still waiting (the
connection is behind: the client skips to the newest, as in-process iterators do) and moves
to the back, so messages still leave in the order their values were made (commit order).
What waits is thus at most one value per subscription plus the replies; when it exceeds
``limit`` bytes (a client asking and not reading) the outbox drops it all, takes nothing
more and sets ``overflowed``: the connection closes with ``CLOSE_BACKLOG``.

A value's message is built when it is sent, once per subscription id however many
connections send it (``Update.text``, or ``Update.frame``: the whole WebSocket frame), from
the value's JSON encoded once per commit.

Given a ``FrameWriter`` (``frames.py``: the server offers one), a message goes out as a frame
written at once, on the loop thread, while nothing waits before it and the socket takes more
(below the transport's high-water mark): no task switch, no per-message coroutine. Otherwise
it waits here, and ``drain`` writes it once the socket drained. Without a writer, ``drain``
sends each message with the ASGI ``send``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import orjson

from .frames import FrameWriter, text_frame

CLOSE_BACKLOG = 4008
"""The close code of a connection whose unsent messages exceeded the app's ``max_backlog``."""

MAX_BACKLOG = 32 << 20  # bytes: unsent messages a connection may have waiting

_OVERHEAD = 64  # bytes counted per message beyond its value (type, id, framing)


class Update:
    """One new value (or failure) of a served query, shared by every connection watching it."""

    __slots__ = ("data", "frames", "kind", "message", "seq", "size", "status", "texts")

    def __init__(self, seq: int, kind: str, data: bytes | None, status: int = 0, message: str = "") -> None:
        self.seq = seq
        self.kind = kind  # "value" or "failed"
        self.data = data  # the value's JSON
        self.status = status
        self.message = message
        self.size = _OVERHEAD + (len(data) if data is not None else len(message))
        self.texts: dict[int | str, str] = {}
        self.frames: dict[int | str, bytes] = {}

    def text(self, sub_id: int | str) -> str:
        """The message for subscription ``sub_id`` (built once per id; loop thread only)."""
        text = self.texts.get(sub_id)
        if text is None:
            text = self.texts[sub_id] = self._payload(sub_id).decode()
        return text

    def frame(self, sub_id: int | str) -> bytes:
        """The message for ``sub_id`` as a WebSocket text frame (built once per id)."""
        frame = self.frames.get(sub_id)
        if frame is None:
            frame = self.frames[sub_id] = text_frame(self._payload(sub_id))
        return frame

    def _payload(self, sub_id: int | str) -> bytes:
        if self.data is None:
            return reply(self.kind, sub_id, status=self.status, message=self.message).encode()
        head = orjson.dumps({"type": self.kind, "id": sub_id})[:-1]
        return head + b',"value":' + self.data + b"}"


def reply(kind: str, request_id: Any, value_json: bytes | None = None, **fields: Any) -> str:
    """A reply's message text: ``{"type": kind, "id": request_id, ...fields, "value": ...}``."""
    head = orjson.dumps({"type": kind, "id": request_id, **fields})
    if value_json is None:
        return head.decode()
    return (head[:-1] + b',"value":' + value_json + b"}").decode()


class Outbox:
    """One connection's unsent messages (see the module docstring); loop thread only."""

    def __init__(self, limit: int = MAX_BACKLOG, writer: FrameWriter | None = None) -> None:
        self.limit = limit
        self.writer = writer
        self.backlog = 0  # bytes waiting
        self._pending: dict[tuple[str, Any], tuple[int | str, Update] | str] = {}
        self._replies = 0  # numbers the replies' slots
        self._waiter: asyncio.Future[None] | None = None  # drain waiting for a message
        self._closed = False
        self.overflowed = asyncio.Event()  # set once the backlog passed the limit

    def __len__(self) -> int:
        return len(self._pending)

    def put_value(self, sub_id: int | str, update: Update) -> None:
        if self.overflowed.is_set():
            return
        writer = self._writer_now()
        if writer is not None:
            writer.write(update.frame(sub_id))
            return
        key = ("v", sub_id)
        old = self._pending.pop(key, None)
        if old is not None:
            self.backlog -= _size(old)
        self._pending[key] = (sub_id, update)
        self._grew(update.size)

    def drop_value(self, sub_id: int | str) -> None:
        """A subscription ended: its waiting value is not sent."""
        old = self._pending.pop(("v", sub_id), None)
        if old is not None:
            self.backlog -= _size(old)

    def put_reply(self, text: str) -> None:
        if self.overflowed.is_set():
            return
        writer = self._writer_now()
        if writer is not None:
            writer.write(text_frame(text.encode()))
            return
        self._replies += 1
        self._pending[("r", self._replies)] = text
        self._grew(len(text))

    def _writer_now(self) -> FrameWriter | None:
        """The writer, if a message goes out through it at once: nothing waits before it
        and the socket takes more."""
        writer = self.writer
        return writer if writer is not None and not self._pending and writer.writable() else None

    def _grew(self, size: int) -> None:
        self.backlog += size
        if self.backlog > self.limit and len(self._pending) > 1:
            self.overflowed.set()
            self._pending.clear()  # never sent: the connection is closed for it
        self._wake()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def close(self) -> None:
        """No more messages: ``drain`` returns once it has sent what waits."""
        self._closed = True
        self._wake()

    async def drain(self, send: Callable[[dict[str, Any]], Awaitable[None]]) -> None:
        """Send what waits, oldest first, as it comes, until closed: as frames with the
        writer (once the socket takes more), else with ``send`` (an ASGI send). Returns
        also when the writer's connection is closing."""
        pending = self._pending
        writer = self.writer
        while True:
            while not pending:
                if self._closed:
                    return
                await self._wait()
            if writer is not None and not writer.writable():
                await writer.wait_writable()
                if not writer.writable():
                    return  # the connection is closing or gone
                continue
            entry = pending.pop(next(iter(pending)))
            self.backlog -= _size(entry)
            if writer is not None:
                frame = text_frame(entry.encode()) if isinstance(entry, str) else entry[1].frame(entry[0])
                writer.write(frame)
            else:
                text = entry if isinstance(entry, str) else entry[1].text(entry[0])
                await send({"type": "websocket.send", "text": text})

    async def _wait(self) -> None:
        self._waiter = asyncio.get_running_loop().create_future()
        try:
            await self._waiter
        finally:
            self._waiter = None


def _size(entry: tuple[int | str, Update] | str) -> int:
    return len(entry) if isinstance(entry, str) else entry[1].size
