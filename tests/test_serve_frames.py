"""Value messages as WebSocket frames built once and written straight to each connection's
socket (fusiondb/serve/frames.py, uvicorn_ws.py): the bytes are right, connections watching
the same query share them, replies and values keep their order, and a connection whose frames
would differ (permessage-deflate) or a server without the writer falls back to ASGI sends."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from websockets.frames import Frame, Opcode
from websockets.sync.client import ClientConnection, connect

import fusiondb as fdb
import fusiondb.serve as serve
from fusiondb.serve.frames import text_frame
from fusiondb.serve.outbox import Outbox, Update
from fusiondb.serve.uvicorn_ws import UVICORN_OPTIONS, WebSocketProtocol
from tests.serve_thread import uvicorn_thread


class Note(fdb.Document):
    n: int


schema = fdb.Schema(notes=fdb.table(Note).index("by_n", ["n"]))


@fdb.query
def latest(db: fdb.Reader) -> Note | None:
    return db.query("notes").with_index("by_n").order("desc").first()


@fdb.mutation
def put(db: fdb.Writer, n: int) -> str:
    return db.insert("notes", Note(n=n))


@pytest.fixture
def ndb(tmp_path: Any) -> Any:
    with fdb.open(tmp_path / "notes.db", schema) as db:
        yield db


@pytest.mark.parametrize("size", [0, 1, 125, 126, 65535, 65536, 70000])
def test_a_text_frame_is_what_the_websocket_library_would_send(size: int) -> None:
    payload = ("é" * size).encode()[:size]  # any bytes will do; some multi-byte
    assert text_frame(payload) == Frame(Opcode.TEXT, payload).serialize(mask=False)


def writers(app: Any) -> list[Any]:
    return [
        w.outbox.writer
        for hub in list(app.state.sync_hubs.values())
        for topic in list(hub.topics.values())
        for w in list(topic.watchers)
    ]


def recv(ws: ClientConnection) -> dict[str, Any]:
    return json.loads(ws.recv(timeout=10))  # type: ignore[no-any-return]


@pytest.mark.parametrize("loop", ["asyncio", "uvloop"])  # uvloop: what `fusiondb serve` runs
def test_connections_watching_one_query_share_its_frames(ndb: Any, loop: str) -> None:
    if loop == "uvloop":
        pytest.importorskip("uvloop")
    app = serve.app(ndb, [latest, put])
    with uvicorn_thread(app, **UVICORN_OPTIONS, loop=loop) as port:
        url = f"ws://127.0.0.1:{port}/api/sync"
        with connect(url, compression=None) as a, connect(url, compression=None) as b:
            for ws in (a, b):
                ws.send(json.dumps({"type": "subscribe", "id": 1, "name": "latest"}))
                assert recv(ws) == {"type": "value", "id": 1, "value": None}
            assert len(writers(app)) == 2 and all(w is not None for w in writers(app))
            (hub,) = app.state.sync_hubs.values()
            assert type(hub.loop).__module__.startswith("uvloop") == (loop == "uvloop")
            (topic,) = hub.topics.values()
            for n in range(1, 4):
                a.send(json.dumps({"type": "mutation", "id": f"m{n}", "name": "put", "args": {"n": n}}))
                got = [recv(a), recv(a)]  # the result and the new value, in either order
                assert {m["type"] for m in got} == {"result", "value"}
                assert [m["value"]["n"] for m in got if m["type"] == "value"] == [n]
                assert recv(b)["value"]["n"] == n
                update = topic.latest
                assert update is not None and list(update.frames) == [1]  # one frame for both


def test_a_reply_does_not_overtake_a_value_queued_before_it() -> None:
    class Writer:
        def __init__(self) -> None:
            self.open = False
            self.frames: list[bytes] = []
            self.ready = asyncio.Event()

        def writable(self) -> bool:
            return self.open

        def write(self, frame: bytes) -> None:
            assert self.open
            self.frames.append(frame)

        async def wait_writable(self) -> None:
            await self.ready.wait()

    async def scenario() -> list[bytes]:
        writer = Writer()
        box = Outbox(writer=writer)
        drain = asyncio.ensure_future(box.drain(lambda message: pytest.fail("no ASGI send")))
        box.put_value(1, Update(1, "value", b'{"n":1}'))  # the socket is full: it waits
        writer.open = True
        box.put_reply('{"type":"pong","id":7}')  # after the value waiting, not before it
        assert writer.frames == [] and len(box) == 2
        writer.ready.set()  # the socket drained
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        box.put_value(1, Update(2, "value", b'{"n":2}'))  # nothing waits: written at once
        assert len(box) == 0 and box.backlog == 0
        writer.open = False  # the connection is closing: drain ends
        box.put_reply('{"type":"pong","id":8}')
        await asyncio.wait_for(drain, 10)
        return writer.frames

    frames = asyncio.run(scenario())
    assert frames == [
        text_frame(b'{"type":"value","id":1,"value":{"n":1}}'),
        text_frame(b'{"type":"pong","id":7}'),
        text_frame(b'{"type":"value","id":1,"value":{"n":2}}'),
    ]


def test_a_connection_with_compression_sends_through_asgi(ndb: Any) -> None:
    app = serve.app(ndb, [latest, put])
    with uvicorn_thread(app, ws=WebSocketProtocol, ws_per_message_deflate=True) as port:
        url = f"ws://127.0.0.1:{port}/api/sync"
        with connect(url, compression="deflate") as ws:
            ws.send(json.dumps({"type": "subscribe", "id": "s", "name": "latest"}))
            assert recv(ws)["value"] is None
            assert writers(app) == [None]
            ndb.run(put, n=5)
            assert recv(ws) == {"type": "value", "id": "s", "value": {**recv_note(ndb), "n": 5}}


def recv_note(ndb: Any) -> dict[str, Any]:
    note = ndb.run(latest)
    return json.loads(note.model_dump_json()) if note is not None else {}


def test_uvicorns_own_protocol_gives_no_writer(ndb: Any) -> None:
    app = serve.app(ndb, [latest, put])
    with uvicorn_thread(app) as port, connect(f"ws://127.0.0.1:{port}/api/sync", compression=None) as ws:
        ws.send(json.dumps({"type": "subscribe", "id": 1, "name": "latest"}))
        assert recv(ws)["value"] is None
        assert writers(app) == [None]
        ndb.run(put, n=1)
        assert recv(ws)["value"]["n"] == 1


class Socket:
    """A ``FrameWriter`` whose socket always takes more."""

    def __init__(self) -> None:
        self.frames: list[bytes] = []

    def writable(self) -> bool:
        return True

    def write(self, frame: bytes) -> None:
        self.frames.append(frame)

    async def wait_writable(self) -> None:
        pass


def test_a_flush_writes_only_the_newest_value_of_each_topic_in_commit_order(ndb: Any) -> None:
    from fusiondb.serve.fanout import Hub, Topic, Watcher

    async def scenario() -> list[bytes]:
        hub = Hub(ndb, asyncio.get_running_loop())
        socket = Socket()
        box = Outbox(writer=socket)
        a, b = Topic(hub, "a", "a"), Topic(hub, "b", "b")
        for sub_id, topic in (("A", a), ("B", b)):
            topic.watchers[Watcher(sub_id, box, topic)] = None
        a.offer({"n": 1})
        b.offer({"n": 2})
        a.offer({"n": 3})  # queued before the loop's turn: the loop fell behind
        await asyncio.sleep(0)  # the flush
        return socket.frames

    frames = asyncio.run(scenario())
    assert frames == [
        text_frame(b'{"type":"value","id":"B","value":{"n":2}}'),
        text_frame(b'{"type":"value","id":"A","value":{"n":3}}'),
    ]
