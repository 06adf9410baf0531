"""WebSocket text frames built once, written straight to a connection's socket.

A frame a server sends is not masked (RFC 6455 §5.1), so the bytes of a message are the same
for every connection sending it: a served query's value, watched by many connections under
the same subscription id, is framed once per commit (``Update.frame``) and each connection
only writes those bytes. Through ASGI each message would instead go through the server's
``send`` coroutine and its WebSocket library (a frame built and a buffer joined per message
per connection), which was most of the serving CPU (docs/performance.md, "Serving").

A server offers this through the scope's ``extensions`` under ``EXTENSION``: a
``FrameWriter``. ``uvicorn_ws.WebSocketProtocol`` (what ``fusiondb serve`` runs) does; with
any other server, or when the connection negotiated an extension (permessage-deflate) that
changes the frames on the wire, the connection sends through ASGI as before.
"""

from __future__ import annotations

import struct
from typing import Protocol

EXTENSION = "fusiondb.frames"
"""The key of the ``FrameWriter`` in an ASGI WebSocket scope's ``extensions``."""

_FIN_TEXT = 0x81  # FIN bit, opcode 1 (text)


def text_frame(payload: bytes) -> bytes:
    """One unfragmented, unmasked text frame carrying ``payload`` (UTF-8)."""
    n = len(payload)
    if n < 126:
        head = bytes((_FIN_TEXT, n))
    elif n < 1 << 16:
        head = struct.pack("!BBH", _FIN_TEXT, 126, n)
    else:
        head = struct.pack("!BBQ", _FIN_TEXT, 127, n)
    return head + payload


class FrameWriter(Protocol):
    """Writes whole frames to one accepted WebSocket connection, on the event loop thread."""

    def writable(self) -> bool:
        """Whether a frame written now goes out: the connection is open, has sent no close
        frame, and its socket buffer is below the transport's high-water mark."""
        ...

    def write(self, frame: bytes) -> None:
        """Write a frame (only when ``writable()``; whole, so frames never interleave)."""
        ...

    async def wait_writable(self) -> None:
        """Until the socket buffer drained below the low-water mark, or the connection went."""
        ...
