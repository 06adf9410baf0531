"""uvicorn's WebSocket protocol offering ``frames.FrameWriter`` to the app.

``uvicorn.run(app, ws=WebSocketProtocol, ws_per_message_deflate=False)`` (``UVICORN_OPTIONS``;
``fusiondb serve`` does this): each ``/api/sync`` connection then writes value messages as
frames built once for every connection (``frames.py``) instead of one ASGI ``send`` per message
per connection. Without permessage-deflate: a compressed frame depends on the connection's
compression state, so it cannot be shared; a connection that negotiates it anyway (another
server setting) is given no writer and sends through ASGI.

This leans on uvicorn's ``websockets-sansio`` protocol (its transport, close and flow-control
state); the ``serve`` extra bounds uvicorn's version for it.
"""

from __future__ import annotations

from typing import Any

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.protocol import State

from .frames import EXTENSION


class _Writer:
    """``frames.FrameWriter`` over one uvicorn connection."""

    __slots__ = ("_protocol",)

    def __init__(self, protocol: WebSocketsSansIOProtocol) -> None:
        self._protocol = protocol

    def writable(self) -> bool:
        p = self._protocol
        return (
            p.writable.is_set()
            and not p.close_sent
            and not p.disconnected
            and p.conn.state is State.OPEN
            and not p.transport.is_closing()
        )

    def write(self, frame: bytes) -> None:
        self._protocol.transport.write(frame)

    async def wait_writable(self) -> None:
        await self._protocol.writable.wait()


class WebSocketProtocol(WebSocketsSansIOProtocol):
    """uvicorn's sans-I/O WebSocket protocol, plus a ``FrameWriter`` in the scope."""

    def handle_connect(self, event: Any) -> None:
        super().handle_connect(event)
        scope = getattr(self, "scope", None)
        if scope is not None and not self.conn.extensions:
            scope["extensions"][EXTENSION] = _Writer(self)


UVICORN_OPTIONS: dict[str, Any] = {"ws": WebSocketProtocol, "ws_per_message_deflate": False}
"""What to pass to ``uvicorn.run`` / ``uvicorn.Config`` for shared frames."""
