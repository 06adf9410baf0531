"""Uploads: a mutation hands out ``db.storage.generate_upload_url()``, a client POSTs a file to
it and gets the new file's id. Wrong or expired URLs, files over the limit and a query asking
for a URL are refused with a status and a message, and nothing is stored then. Through
Starlette's test client, and a real uvicorn on 127.0.0.1 for a large streamed upload."""

from __future__ import annotations

import hashlib
import tracemalloc
from collections.abc import Iterator
from typing import Any

import httpx2 as httpx
import pytest
from starlette.testclient import TestClient

import fusiondb as fdb
import fusiondb.serve as serve
from tests import serve_app
from tests.serve_app import FUNCTIONS, schema
from tests.serve_thread import uvicorn_thread


@pytest.fixture
def sdb(make_db: Any) -> fdb.Database:
    return make_db(schema=schema)  # type: ignore[no-any-return]


@fdb.query
def file_count(db: fdb.Reader) -> int:
    return len(db.query("_storage").collect())


def new_url(client: TestClient) -> str:
    r = client.post("/api/run/upload_url", json={})
    assert r.status_code == 200, r.text
    url: str = r.json()
    assert url.startswith("/api/upload?expires=")
    return url


def test_a_mutation_hands_out_a_url_a_client_uploads_to(sdb: fdb.Database) -> None:
    data = bytes(range(256)) * 9000  # 2.3 MB: spills from memory to a temporary file
    with TestClient(serve.app(sdb, FUNCTIONS)) as client:
        r = client.post(new_url(client), content=data, headers={"Content-Type": "image/png"})
        assert r.status_code == 200, r.text
        file_id = r.json()["storageId"]
        meta = sdb.storage.get_metadata(file_id)
        assert meta is not None and meta.size == len(data) and meta.content_type == "image/png"
        assert meta.sha256 == hashlib.sha256(data).hexdigest()
        url = sdb.storage.get_url(file_id)
        assert url is not None and client.get(url).content == data
        # An empty file is a file; no Content-Type is none.
        r = client.post(new_url(client), content=b"")
        meta = sdb.storage.get_metadata(r.json()["storageId"])
        assert meta is not None and meta.size == 0 and meta.content_type is None
        # db.storage outside functions hands out URLs too.
        assert sdb.storage.generate_upload_url().startswith("/api/upload?expires=")


def test_wrong_or_expired_urls_are_403_and_store_nothing(sdb: fdb.Database) -> None:
    with TestClient(serve.app(sdb, FUNCTIONS)) as client:
        url = new_url(client)
        bad = [
            "/api/upload",
            url.replace("token=", "token=0"),
            url.replace("expires=", "expires=9"),  # a later expiry than was signed
            url.split("&nonce=")[0] + "&nonce=other&token=" + url.split("token=")[1],
        ]
        for wrong in bad:
            r = client.post(wrong, content=b"x")
            assert r.status_code == 403, wrong
            assert "ask a mutation" in r.json()["error"]["message"]
    with TestClient(serve.app(sdb, FUNCTIONS, upload_ttl=-1)) as client:
        r = client.post(new_url(client), content=b"x")
        assert r.status_code == 403 and "expired" in r.json()["error"]["message"]
    assert sdb.run(file_count) == 0


def test_files_over_the_limit_are_413_and_store_nothing(sdb: fdb.Database) -> None:
    with TestClient(serve.app(sdb, FUNCTIONS, max_upload=1000)) as client:
        r = client.post(new_url(client), content=b"x" * 1001)  # Content-Length says so
        assert r.status_code == 413 and "limit 1000" in r.json()["error"]["message"]

        def chunks() -> Iterator[bytes]:  # no Content-Length: found while reading
            for _ in range(10):
                yield b"y" * 300

        r = client.post(new_url(client), content=chunks())
        assert r.status_code == 413 and "over 1000 bytes" in r.json()["error"]["message"]
        assert client.post(new_url(client), content=b"z" * 1000).status_code == 200
    assert sdb.run(file_count) == 1


def test_upload_urls_only_from_mutations_and_served_apps(sdb: fdb.Database, make_db: Any) -> None:
    with TestClient(serve.app(sdb, FUNCTIONS)) as client:
        r = client.post("/api/run/upload_url_in_a_query", json={})
        assert r.status_code == 400 and "@fdb.mutation" in r.json()["error"]["message"]
    other = make_db(schema=schema)
    with pytest.raises(fdb.FusionError, match=r"fusiondb\.serve\.app"):
        other.storage.generate_upload_url()
    with pytest.raises(fdb.FusionError, match="served app"):
        other.run(serve_app.upload_url)


def test_a_large_upload_streams_through_real_uvicorn(tmp_path: Any) -> None:
    size = 24 << 20
    piece = bytes(range(256)) * 256  # 64 KiB

    def body() -> Iterator[bytes]:
        for _ in range(size // len(piece)):
            yield piece

    with fdb.open(tmp_path / "up.db", schema) as db:
        app = serve.app(db, FUNCTIONS, base_url="http://placeholder")
        with uvicorn_thread(app) as port:
            base = f"http://127.0.0.1:{port}"
            url = httpx.post(base + "/api/run/upload_url", json={}).json()
            url = url.replace("http://placeholder", base)
            tracemalloc.start()
            try:
                r = httpx.post(url, content=body(), headers={"Content-Type": "video/mp4"}, timeout=120)
                _, peak = tracemalloc.get_traced_memory()
            finally:
                tracemalloc.stop()
            assert r.status_code == 200, r.text
            meta = db.storage.get_metadata(r.json()["storageId"])
            assert meta is not None and meta.size == size and meta.content_type == "video/mp4"
            expected = hashlib.sha256()
            for p in body():
                expected.update(p)
            assert meta.sha256 == expected.hexdigest()
            # Client and server share this process: neither held the 24 MiB file.
            assert peak < 8 << 20, peak
