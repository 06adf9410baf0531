"""fusiondb.serve through Starlette's TestClient: HTTP calls, the sync protocol, files, auth,
and bad input answered with a status and a message, never a traceback."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from starlette.testclient import TestClient, WebSocketDenialResponse

import fusiondb as fdb
import fusiondb.serve as serve
from tests import serve_app
from tests.serve_app import FUNCTIONS, add, schema


@pytest.fixture
def sdb(make_db: Any) -> fdb.Database:
    return make_db(schema=schema)  # type: ignore[no-any-return]


@pytest.fixture
def client(sdb: fdb.Database) -> Iterator[TestClient]:
    with TestClient(serve.app(sdb, FUNCTIONS)) as c:
        yield c


def test_run_a_mutation_then_a_query(client: TestClient) -> None:
    r = client.post("/api/run/add", json={"text": "milk", "user_id": "u1"})
    assert r.status_code == 200, r.text
    task_id = r.json()
    r = client.post("/api/run/list_by_user", json={"user_id": "u1"})
    assert r.status_code == 200
    [task] = r.json()
    assert task["id"] == task_id and task["text"] == "milk" and task["completed"] is False
    assert isinstance(task["creation_time"], float)


def test_a_module_exposes_every_function_it_defines(sdb: fdb.Database) -> None:
    with TestClient(serve.app(sdb, serve_app)) as c:
        assert c.post("/api/run/count_all").json() == 0
        assert c.post("/api/run/not_exposed").status_code == 404


def test_only_listed_functions_are_exposed(sdb: fdb.Database) -> None:
    with TestClient(serve.app(sdb, [add])) as c:
        r = c.post("/api/run/list_by_user", json={"user_id": "u1"})
        assert r.status_code == 404
        assert "list_by_user" in r.json()["error"]["message"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"text": "x"}, "user_id"),
        ({"text": 5, "user_id": "u1"}, "text"),
        ({"text": "x", "user_id": "u1", "extra": 1}, "extra"),
    ],
)
def test_bad_arguments_are_422_naming_the_field(client: TestClient, body: Any, field: str) -> None:
    r = client.post("/api/run/add", json=body)
    assert r.status_code == 422
    err = r.json()["error"]
    assert field in err["fields"] and field in err["message"]


def test_malformed_and_oversized_bodies(sdb: fdb.Database) -> None:
    with TestClient(serve.app(sdb, FUNCTIONS, max_message=1000)) as c:
        r = c.post("/api/run/add", content=b"{not json")
        assert r.status_code == 400 and "malformed JSON" in r.json()["error"]["message"]
        r = c.post("/api/run/add", content=b"[1, 2]")
        assert r.status_code == 422
        r = c.post("/api/run/add", json={"text": "x" * 2000, "user_id": "u1"})
        assert r.status_code == 413
        assert c.post("/api/run/count_all").json() == 0  # still serving


def test_fusion_error_is_400_other_errors_500_without_details(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    r = client.post("/api/run/toggle", json={"task_id": "nope"})
    assert r.status_code == 400 and "nope" in r.json()["error"]["message"]
    with caplog.at_level(logging.ERROR, logger="fusiondb.serve"):
        r = client.post("/api/run/broken")
    assert r.status_code == 500
    assert "secret" not in r.text and "Traceback" not in r.text
    assert "secret internal detail" in caplog.text  # logged server-side
    assert client.post("/api/run/count_all").status_code == 200


def test_unknown_routes_and_methods(client: TestClient) -> None:
    assert client.get("/api/run/count_all").status_code == 405
    assert client.get("/nothing").status_code == 404


def sync_messages(ws: Any, n: int) -> list[dict[str, Any]]:
    return [ws.receive_json() for _ in range(n)]


def test_sync_subscribe_gets_values_after_each_commit(client: TestClient) -> None:
    with client.websocket_connect("/api/sync") as ws:
        ws.send_json({"type": "subscribe", "id": 1, "name": "list_by_user", "args": {"user_id": "u1"}})
        ws.send_json({"type": "subscribe", "id": 2, "name": "list_by_user", "args": {"user_id": "u2"}})
        assert ws.receive_json() == {"type": "value", "id": 1, "value": []}
        assert ws.receive_json() == {"type": "value", "id": 2, "value": []}
        ws.send_json({"type": "mutation", "id": "m1", "name": "add", "args": {"text": "a", "user_id": "u1"}})
        got = sync_messages(ws, 2)
        result = next(m for m in got if m["type"] == "result")
        value = next(m for m in got if m["type"] == "value")
        assert value["id"] == 1 and [t["id"] for t in value["value"]] == [result["value"]]
        # A write for u1 only never re-sends u2's subscription; u2's write does.
        client.post("/api/run/add", json={"text": "b", "user_id": "u2"})
        m = ws.receive_json()
        assert m["id"] == 2 and [t["text"] for t in m["value"]] == ["b"]
        ws.send_json({"type": "unsubscribe", "id": 1})
        ws.send_json({"type": "ping", "id": "p"})
        assert ws.receive_json() == {"type": "pong", "id": "p"}
        client.post("/api/run/add", json={"text": "c", "user_id": "u1"})
        client.post("/api/run/add", json={"text": "d", "user_id": "u2"})
        m = ws.receive_json()
        assert m["id"] == 2 and [t["text"] for t in m["value"]] == ["b", "d"]


def test_values_arrive_in_commit_order(client: TestClient, sdb: fdb.Database) -> None:
    with client.websocket_connect("/api/sync") as ws:
        ws.send_json({"type": "subscribe", "id": 1, "name": "count_all"})
        assert ws.receive_json()["value"] == 0
        for i in range(30):
            sdb.run(add, text=str(i), user_id="u1")
        # Commits that land before a re-run are seen together (as in-process): values only grow.
        seen = [ws.receive_json()["value"]]
        while seen[-1] != 30:
            seen.append(ws.receive_json()["value"])
        assert seen == sorted(set(seen))


@pytest.mark.parametrize(
    ("msg", "status"),
    [
        ("not json", 400),
        ("[1]", 400),
        ('{"type": "dance"}', 400),
        ('{"type": "subscribe", "id": 1, "name": "nope"}', 404),
        ('{"type": "subscribe", "id": 1, "name": "list_by_user", "args": {}}', 422),
        ('{"type": "subscribe", "id": 1, "name": "add", "args": {}}', 400),
        ('{"type": "mutation", "id": 1, "name": "broken"}', 500),
        ('{"type": "mutation", "id": 1, "name": "toggle", "args": {"task_id": "x"}}', 400),
        ('{"type": "subscribe", "name": "count_all"}', 400),
        ('{"type": "ping", "id": [1]}', 400),
    ],
)
def test_bad_sync_messages_get_an_error_and_the_connection_stays(
    client: TestClient, msg: str, status: int
) -> None:
    with client.websocket_connect("/api/sync") as ws:
        ws.send_text(msg)
        err = ws.receive_json()
        assert err["type"] == "error" and err["status"] == status, err
        assert "Traceback" not in err["message"] and "secret" not in err["message"]
        ws.send_json({"type": "query", "id": "q", "name": "count_all"})
        assert ws.receive_json() == {"type": "result", "id": "q", "value": 0}


def test_oversized_sync_message(sdb: fdb.Database) -> None:
    with TestClient(serve.app(sdb, FUNCTIONS, max_message=500)) as c, c.websocket_connect("/api/sync") as ws:
        ws.send_text('{"type": "ping", "pad": "' + "x" * 1000 + '"}')
        assert ws.receive_json()["status"] == 413
        ws.send_json({"type": "ping", "id": 1})
        assert ws.receive_json() == {"type": "pong", "id": 1}


def test_a_failing_rerun_sends_failed_and_stays_subscribed(client: TestClient, sdb: fdb.Database) -> None:
    with client.websocket_connect("/api/sync") as ws:
        ws.send_json({"type": "subscribe", "id": 1, "name": "flaky", "args": {"user_id": "u1"}})
        assert ws.receive_json()["value"] == 0
        boom = sdb.run(add, text="boom", user_id="u1")
        m = ws.receive_json()
        assert m["type"] == "failed" and m["status"] == 400 and "boom task" in m["message"]
        sdb.run(serve_app.toggle, task_id=boom)  # still failing: boom is there
        sdb.run(fdb.mutation(lambda w: w.delete(boom)))
        sdb.run(add, text="fine", user_id="u1")  # a changed value ends the failure
        while (m := ws.receive_json())["type"] == "failed":
            pass
        assert m == {"type": "value", "id": 1, "value": 1}


def test_a_reconnecting_client_ends_on_the_current_value(client: TestClient, sdb: fdb.Database) -> None:
    sub = {"type": "subscribe", "id": 1, "name": "count_all"}
    with client.websocket_connect("/api/sync") as ws:
        ws.send_json(sub)
        assert ws.receive_json()["value"] == 0
    sdb.run(add, text="while away", user_id="u1")
    with client.websocket_connect("/api/sync") as ws:
        ws.send_json(sub)
        assert ws.receive_json()["value"] == 1


def test_file_urls_stream_with_etag_and_ranges(client: TestClient, sdb: fdb.Database) -> None:
    data = bytes(range(256)) * 5000  # 1.28 MB: more than one chunk
    file_id = sdb.storage.store(data, "image/png")
    url = sdb.storage.get_url(file_id)
    assert url is not None and url.startswith(f"/files/{file_id}?token=")
    assert client.post("/api/run/file_url", json={"file_id": file_id}).json() == url
    r = client.get(url)
    assert r.status_code == 200 and r.content == data
    assert r.headers["content-type"] == "image/png"
    assert r.headers["etag"] == f'"{hashlib.sha256(data).hexdigest()}"'
    assert client.get(url, headers={"If-None-Match": r.headers["etag"]}).status_code == 304
    r = client.get(url, headers={"Range": "bytes=10-19"})
    assert r.status_code == 206 and r.content == data[10:20]
    assert r.headers["content-range"] == f"bytes 10-19/{len(data)}"
    r = client.get(url, headers={"Range": "bytes=-5"})
    assert r.content == data[-5:]
    assert client.get(url, headers={"Range": f"bytes={len(data)}-"}).status_code == 416
    assert client.head(url).headers["content-length"] == str(len(data))


def test_file_urls_need_their_token(client: TestClient, sdb: fdb.Database) -> None:
    file_id = sdb.storage.store(b"private", "text/plain")
    assert client.get(f"/files/{file_id}").status_code == 404
    assert client.get(f"/files/{file_id}?token={'0' * 64}").status_code == 404
    assert client.get("/files/not-an-id?token=x").status_code == 404
    assert client.post("/api/run/file_url", json={"file_id": "kh7" + "0" * 13}).status_code in (200, 400)
    sdb.storage.delete(file_id)
    assert sdb.storage.get_url(file_id) is None


def test_public_files_and_base_url(make_db: Any) -> None:
    db = make_db(schema=schema)
    serve.app(db, FUNCTIONS, public_files=True, base_url="https://example.com/app/")
    file_id = db.storage.store(b"x")
    assert db.storage.get_url(file_id) == f"https://example.com/app/files/{file_id}"


def test_get_url_outside_a_served_app_says_so(make_db: Any) -> None:
    db = make_db(schema=schema)
    file_id = db.storage.store(b"x")
    with pytest.raises(fdb.FusionError, match=r"fusiondb\.serve\.app"):
        db.storage.get_url(file_id)
    with pytest.raises(fdb.FusionError, match="served app"):
        db.run(serve_app.file_url, file_id=file_id)


def test_authenticate_gives_identity_or_401(sdb: fdb.Database) -> None:
    def authenticate(request: Any) -> Any:
        token = request.headers.get("authorization") or request.query_params.get("token")
        return {"user": token.removeprefix("Bearer ")} if token else None

    with TestClient(serve.app(sdb, FUNCTIONS, authenticate=authenticate)) as c:
        r = c.post("/api/run/whoami")
        assert r.status_code == 401
        r = c.post("/api/run/whoami", headers={"Authorization": "Bearer ada"})
        assert r.json() == {"user": "ada"}
        r = c.post("/api/run/whoami", json={"identity": "forged"}, headers={"Authorization": "x"})
        assert r.status_code == 422  # identity is not an argument
        with pytest.raises(WebSocketDenialResponse) as denied:  # noqa: SIM117
            with c.websocket_connect("/api/sync"):
                pass
        assert denied.value.status_code == 401
        with c.websocket_connect("/api/sync?token=bob") as ws:
            ws.send_json({"type": "subscribe", "id": 1, "name": "whoami"})
            assert ws.receive_json()["value"] == {"user": "bob"}


async def _async_auth(request: Any) -> Any:
    return "async-user"


def test_async_authenticate(sdb: fdb.Database) -> None:
    with TestClient(serve.app(sdb, FUNCTIONS, authenticate=_async_auth)) as c:
        assert c.post("/api/run/whoami").json() == "async-user"


def test_app_refuses_what_it_cannot_serve(sdb: fdb.Database) -> None:
    with pytest.raises(TypeError, match=r"@fdb\.query"):
        serve.app(sdb, [lambda: None])  # type: ignore[list-item]
    with pytest.raises(TypeError, match=r"fdb\.Database"):
        serve.app(object(), FUNCTIONS)  # type: ignore[arg-type]


def test_live_queries_are_shared_and_go_with_their_last_watcher(sdb: fdb.Database) -> None:
    asgi = serve.app(sdb, FUNCTIONS)
    sub = {"type": "subscribe", "id": 1, "name": "count_all"}
    with (
        TestClient(asgi) as c,
        c.websocket_connect("/api/sync") as one,
        c.websocket_connect("/api/sync") as two,
    ):
        one.send_json(sub)
        two.send_json({**sub, "id": "mine"})
        assert one.receive_json()["value"] == two.receive_json()["value"] == 0
        (hub,) = asgi.state.sync_hubs.values()
        (topic,) = hub.topics.values()  # one subscription for both connections
        assert len(topic.watchers) == 2
        assert topic.handle.consumers == 2  # its re-runs are ordered as reaching both
        runs = sdb.subscription_reruns
        sdb.run(add, text="x", user_id="u1")
        assert one.receive_json() == {"type": "value", "id": 1, "value": 1}
        assert two.receive_json() == {"type": "value", "id": "mine", "value": 1}
        assert sdb.subscription_reruns == runs + 1  # one re-run for both connections
        for ws, sub_id in ((one, 1), (two, "mine")):
            ws.send_json({"type": "unsubscribe", "id": sub_id})
            ws.send_json({"type": "ping", "id": 5})
            assert ws.receive_json()["type"] == "pong"  # handled in turn: unsubscribed
            assert topic.handle.consumers == 1  # one watcher left, then none (at least 1)
        assert hub.topics == {}  # the subscription went with its last watcher
