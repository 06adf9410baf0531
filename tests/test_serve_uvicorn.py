"""fusiondb.serve for real: `fusiondb serve` (uvicorn) on 127.0.0.1, a WebSocket client, and
writes from this process straight into the file the server has open."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx2 as httpx
import pytest
from websockets.sync.client import ClientConnection, connect

import fusiondb as fdb
from tests.serve_app import add, schema
from tests.serve_helpers import running_server


def recv(ws: ClientConnection) -> dict[str, Any]:
    return json.loads(ws.recv(timeout=10))  # type: ignore[no-any-return]


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    path = tmp_path / "served.db"
    fdb.open(path, schema).close()
    return path


def test_http_sync_and_another_process_writing(db_path: Path) -> None:
    with running_server(db_path, "tests.serve_app") as base:
        r = httpx.post(base + "/api/run/add", json={"text": "milk", "user_id": "u1"})
        assert r.status_code == 200
        assert httpx.post(base + "/api/run/add", json={"user_id": "u1"}).status_code == 422
        with connect(base.replace("http", "ws") + "/api/sync") as ws:
            ws.send(json.dumps({"type": "subscribe", "id": 1, "name": "list_by_user",
                                "args": {"user_id": "u1"}}))
            assert [t["text"] for t in recv(ws)["value"]] == ["milk"]
            ws.send("garbage")
            assert recv(ws)["status"] == 400
            # This process writes to the file directly: the server sees the commit.
            with fdb.open(db_path, schema) as db:
                db.run(add, text="bread", user_id="u1")
            assert [t["text"] for t in recv(ws)["value"]] == ["milk", "bread"]
            ws.send(json.dumps({"type": "mutation", "id": "m", "name": "add",
                                "args": {"text": "tea", "user_id": "u1"}}))
            got = [recv(ws), recv(ws)]
            assert {m["type"] for m in got} == {"result", "value"}


def test_files_over_http(db_path: Path) -> None:
    with fdb.open(db_path, schema) as db:
        data = b"\x89PNG" + bytes(3_000_000)
        file_id = db.storage.store(data, "image/png")
    with running_server(db_path, "tests.serve_app") as base:
        url = httpx.post(base + "/api/run/file_url", json={"file_id": file_id}).json()
        with httpx.stream("GET", base + url) as r:
            assert r.status_code == 200 and r.headers["content-type"] == "image/png"
            got = b"".join(r.iter_bytes())
        assert got == data
        r = httpx.get(base + url, headers={"Range": "bytes=0-3"})
        assert r.status_code == 206 and r.content == b"\x89PNG"


def test_the_server_binds_localhost_by_default(db_path: Path) -> None:
    with running_server(db_path, "tests.serve_app") as base:
        assert base.startswith("http://127.0.0.1:")
        r = httpx.post(base + "/api/run/broken")
        assert r.status_code == 500 and "secret" not in r.text
        assert httpx.post(base + "/api/run/count_all").json() == 0


def test_serve_says_what_is_wrong(db_path: Path) -> None:
    import subprocess
    import sys

    proc = subprocess.run(
        [sys.executable, "-m", "fusiondb", "serve", str(db_path), "--functions", "no.such.module"],
        capture_output=True, text=True, timeout=60, check=False,
    )
    assert proc.returncode == 1 and "cannot import" in proc.stderr and "Traceback" not in proc.stderr
