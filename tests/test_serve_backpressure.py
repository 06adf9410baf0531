"""A connection's outgoing messages are bounded: a client that stops reading gets only the
newest value of each subscription when it reads again (values in commit order, never an older
after a newer), a client that keeps asking without reading is closed with code 4008, and other
clients are unaffected. Real uvicorn on 127.0.0.1 (in a thread, so the test can look at the
app's outboxes) and real sockets."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import pytest
from websockets.sync.client import connect

import fusiondb as fdb
import fusiondb.serve as serve
from fusiondb.serve.outbox import CLOSE_BACKLOG, Outbox, Update
from fusiondb.serve.uvicorn_ws import UVICORN_OPTIONS
from tests.serve_thread import RawSocket, uvicorn_thread

# uvicorn's own WebSocket protocol (every message an ASGI send), and fusiondb's (values as
# frames shared by the connections, written while the socket takes them: frames.py), on each
# event loop `fusiondb serve` may run: uvloop (what uvicorn picks where the serve extra
# installed it) and asyncio's; their transports' flow control is not the same code.
SERVERS = {
    "asgi": {},
    "frames-asyncio": {**UVICORN_OPTIONS, "loop": "asyncio"},
    "frames-uvloop": {**UVICORN_OPTIONS, "loop": "uvloop"},
}


def needs_loop(server: str) -> None:
    """Skip a server whose event loop is not installed (uvloop: not on Windows)."""
    if SERVERS[server].get("loop") == "uvloop":
        pytest.importorskip("uvloop")


class Note(fdb.Document):
    n: int
    body: str


schema = fdb.Schema(notes=fdb.table(Note).index("by_n", ["n"]))


@fdb.query
def latest(db: fdb.Reader) -> Note | None:
    return db.query("notes").with_index("by_n").order("desc").first()


@fdb.mutation
def put(db: fdb.Writer, n: int, size: int) -> str:
    return db.insert("notes", Note(n=n, body="x" * size))


@pytest.fixture
def ndb(tmp_path: Any) -> Any:
    with fdb.open(tmp_path / "notes.db", schema) as db:
        yield db


def outboxes(app: Any) -> list[Outbox]:
    return [
        w.outbox
        for hub in list(app.state.sync_hubs.values())
        for topic in list(hub.topics.values())
        for w in list(topic.watchers)
    ]


def until(cond: Any, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def update(seq: int, size: int = 10) -> Update:
    return Update(seq, "value", json.dumps({"n": seq, "body": "x" * size}).encode())


def test_outbox_keeps_the_newest_value_per_subscription_in_commit_order() -> None:
    async def scenario() -> list[str]:
        box = Outbox()
        box.put_value(1, update(1))
        box.put_value(2, update(2))
        box.put_reply('{"type":"pong","id":7}')
        box.put_value(1, update(3))  # replaces 1's waiting value and goes behind the others
        box.drop_value(2)  # unsubscribed: its value is not sent
        assert len(box) == 2
        sent: list[str] = []

        async def send(message: dict[str, Any]) -> None:
            assert message["type"] == "websocket.send"
            sent.append(message["text"])
            if len(sent) == 2:
                box.close()

        await box.drain(send)
        assert box.backlog == 0
        return sent

    import asyncio

    sent = asyncio.run(scenario())
    assert [json.loads(t).get("value", {}).get("n", json.loads(t)["type"]) for t in sent] == ["pong", 3]
    assert json.loads(sent[1])["id"] == 1


def test_outbox_over_its_limit_drops_everything_and_says_so() -> None:
    async def scenario() -> Outbox:
        box = Outbox(limit=1000)
        box.put_value(1, update(1, size=5000))  # one value over the limit is still sent
        assert not box.overflowed.is_set()
        box.put_reply("x" * 100)
        return box

    import asyncio

    box = asyncio.run(scenario())
    assert box.overflowed.is_set() and len(box) == 0
    box.put_reply("more")
    assert len(box) == 0


@pytest.mark.parametrize("server", SERVERS)
def test_a_client_that_stops_reading_gets_the_newest_value_and_bounded_memory(ndb: Any, server: str) -> None:
    needs_loop(server)
    size = 128 * 1024
    app = serve.app(ndb, [latest, put])
    with uvicorn_thread(app, **SERVERS[server]) as port:
        slow = RawSocket(port)
        slow.send({"type": "subscribe", "id": 1, "name": "latest"})
        assert slow.recv_json()["value"] is None
        seen: list[int] = []
        with connect(f"ws://127.0.0.1:{port}/api/sync", max_size=None) as fast:
            fast.send(json.dumps({"type": "subscribe", "id": "mine", "name": "latest"}))
            assert json.loads(fast.recv(timeout=10))["value"] is None

            def read_fast() -> None:
                while not seen or seen[-1] < 199:
                    value = json.loads(fast.recv(timeout=30))["value"]
                    seen.append(value["n"])

            reader = threading.Thread(target=read_fast)
            reader.start()
            biggest = 0
            for n in range(200):  # 25 MiB of values for a client that reads none of them
                ndb.run(put, n=n, size=size)
                biggest = max([biggest] + [box.backlog for box in outboxes(app)])
                assert all(len(box) <= 1 for box in outboxes(app))
            reader.join(60)
        assert seen[-1] == 199 and seen == sorted(set(seen))  # the reading client: unaffected
        assert biggest <= size + 1000  # at most one value waits per subscription
        # The slow client reads again: values only go forward, and it ends on the newest.
        got = []
        while not got or got[-1] < 199:
            got.append(slow.recv_json()["value"]["n"])
        slow.close()
    assert got == sorted(set(got))
    assert len(got) < 150, len(got)  # the rest were skipped while it did not read


@pytest.mark.parametrize("server", SERVERS)
def test_a_client_asking_without_reading_is_closed_others_are_not(ndb: Any, server: str) -> None:
    needs_loop(server)
    ndb.run(put, n=0, size=64 * 1024)
    app = serve.app(ndb, [latest, put], max_backlog=1 << 20)
    with uvicorn_thread(app, **SERVERS[server]) as port:
        greedy = RawSocket(port)
        greedy.send({"type": "subscribe", "id": 1, "name": "latest"})
        assert greedy.recv_json()["value"]["n"] == 0
        (box,) = outboxes(app)
        with connect(f"ws://127.0.0.1:{port}/api/sync", max_size=None) as other:
            other.send(json.dumps({"type": "subscribe", "id": 1, "name": "latest"}))
            assert json.loads(other.recv(timeout=10))["value"]["n"] == 0
            for i in range(400):  # 400 answers of 64 KiB: 25 MiB asked for, none read
                greedy.send({"type": "query", "id": i, "name": "latest"})
            until(box.overflowed.is_set)
            assert len(box) == 0 and box.backlog <= (1 << 20) + 70_000
            ndb.run(put, n=1, size=10)
            assert json.loads(other.recv(timeout=10))["value"]["n"] == 1  # unaffected
        # Reading again, the greedy client finds the close frame after what was under way.
        while True:
            opcode, payload = greedy.recv()
            if opcode == 8:
                break
        greedy.close()
    assert int.from_bytes(payload[:2], "big") == CLOSE_BACKLOG
    assert b"too slow" in payload[2:]


gate = threading.Event()


@fdb.query
def slow_latest(db: fdb.Reader) -> Note | None:
    gate.wait(30)  # the first run waits for the test
    return db.query("notes").with_index("by_n").order("desc").first()


def test_a_connection_going_while_its_query_opens_leaves_nothing_open(ndb: Any) -> None:
    from starlette.testclient import TestClient

    gate.clear()
    app = serve.app(ndb, [slow_latest, put])
    with TestClient(app) as client:
        with client.websocket_connect("/api/sync") as going:
            going.send_json({"type": "subscribe", "id": 1, "name": "slow_latest"})
            until(lambda: any(h.topics for h in list(app.state.sync_hubs.values())))
        (hub,) = app.state.sync_hubs.values()
        (topic,) = hub.topics.values()  # still opening, its connection gone
        gate.set()
        until(lambda: not hub.topics)  # opened, then closed: nobody watches it
        assert topic.handle is not None and topic.handle.closed
        with client.websocket_connect("/api/sync") as staying:  # and the query still serves
            staying.send_json({"type": "subscribe", "id": 1, "name": "slow_latest"})
            assert staying.receive_json() == {"type": "value", "id": 1, "value": None}
