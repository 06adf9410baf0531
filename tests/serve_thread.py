"""A real uvicorn on 127.0.0.1 in a thread of the test process, so a test can look inside the
app (its outboxes) while real sockets talk to it; and a bare WebSocket client that can stop
reading (its receive buffer small), which the websockets library cannot do."""

from __future__ import annotations

import base64
import json
import os
import socket
import struct
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn

from tests.serve_helpers import free_port


@contextmanager
def uvicorn_thread(asgi: Any, **options: Any) -> Iterator[int]:
    """Serve ``asgi`` with uvicorn on a free port until the block ends; yields the port.
    ``options``: more of ``uvicorn.Config`` (``UVICORN_OPTIONS``: shared frames)."""
    port = free_port()
    config = uvicorn.Config(asgi, host="127.0.0.1", port=port, log_level="warning", **options)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    try:
        yield port
    finally:
        server.should_exit = True
        thread.join(30)


class RawSocket:
    """A WebSocket client on a plain socket with a small receive buffer: it reads only when
    asked, so a server writing to it fills the buffers and sees a client that does not read."""

    def __init__(self, port: int, rcvbuf: int = 4096) -> None:
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.connect(("127.0.0.1", port))
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall(
            (
                f"GET /api/sync HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
                f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
            ).encode()
        )
        self.buf = b""
        while b"\r\n\r\n" not in self.buf:
            self.buf += self._read()
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        assert head.startswith(b"HTTP/1.1 101"), head

    def _read(self) -> bytes:
        data = self.sock.recv(65536)
        if not data:
            raise ConnectionError("closed by the server")
        return data

    def send(self, msg: dict[str, Any]) -> None:
        payload = json.dumps(msg).encode()
        mask = os.urandom(4)
        n = len(payload)
        head = b"\x81" + (bytes([0x80 | n]) if n < 126 else b"\xfe" + struct.pack(">H", n))
        self.sock.sendall(head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload)))

    def recv(self) -> tuple[int, bytes]:
        """The next frame: (opcode, payload); 8 is a close frame."""
        while True:
            if len(self.buf) >= 2:
                n = self.buf[1] & 0x7F
                at = 2
                if n == 126:
                    n, at = struct.unpack(">H", self.buf[2:4])[0], 4
                elif n == 127:
                    n, at = struct.unpack(">Q", self.buf[2:10])[0], 10
                if len(self.buf) >= at + n:
                    opcode, payload = self.buf[0] & 0x0F, self.buf[at : at + n]
                    self.buf = self.buf[at + n :]
                    return opcode, payload
            self.buf += self._read()

    def recv_json(self) -> dict[str, Any]:
        opcode, payload = self.recv()
        assert opcode == 1, (opcode, payload[:200])
        return json.loads(payload)  # type: ignore[no-any-return]

    def close(self) -> None:
        self.sock.close()
