"""``bytes`` fields (Convex's ``v.bytes()``): stored as ``{"$bytes": "<hex>"}``, read back as bytes,
indexed between strings and lists, accepted in ranges and filters."""

from __future__ import annotations

from typing import Any

import pytest

import fusiondb as fdb
from tests.models import read


class Blob(fdb.Document):
    name: str
    data: bytes = b""
    parts: list[bytes] = []
    extra: Any = None


bytes_schema = fdb.Schema(blobs=fdb.table(Blob).index("by_data", ["data"]).index("by_extra", ["extra"]))


@pytest.fixture
def bdb() -> Any:
    db = fdb.open(None, bytes_schema)
    yield db
    db.close()


def insert(db: fdb.Database, doc: Any) -> str:
    return db.run(fdb.mutation(lambda w: w.insert("blobs", doc)))


def test_bytes_round_trip_in_fields_lists_and_untyped_values(bdb: fdb.Database) -> None:
    doc_id = insert(bdb, Blob(name="a", data=b"\x00\xff", parts=[b"x", b""], extra={"k": [b"\x01"]}))
    got = read(bdb, lambda r: r.get(doc_id))
    assert got.data == b"\x00\xff" and got.parts == [b"x", b""] and got.extra == {"k": [b"\x01"]}
    raw = read(bdb, lambda r: r.query("blobs").as_dicts().first())
    assert raw["data"] == {"$bytes": "00ff"}  # the stored form
    bdb.run(fdb.mutation(lambda w: w.patch(doc_id, {"name": "b"})))
    got = read(bdb, lambda r: r.get(doc_id))
    assert (got.name, got.data, got.extra) == ("b", b"\x00\xff", {"k": [b"\x01"]})


def test_bytes_index_bytewise_between_strings_and_lists(bdb: fdb.Database) -> None:
    for name, data in [("ff", b"\xff"), ("empty", b""), ("zero", b"\x00"), ("ab", b"ab"), ("a", b"a")]:
        insert(bdb, {"name": name, "data": data})
    got = read(bdb, lambda r: r.query("blobs").with_index("by_data").collect())
    assert [d.name for d in got] == ["empty", "zero", "a", "ab", "ff"]
    got = read(bdb, lambda r: r.query("blobs").with_index(
        "by_data", lambda q: q.gt("data", b"a").lt("data", b"\xff")).collect())
    assert [d.name for d in got] == ["ab"]
    got = read(bdb, lambda r: r.query("blobs").with_index(
        "by_data", lambda q: q.eq("data", b"\x00")).collect())
    assert [d.name for d in got] == ["zero"]
    for i, extra in enumerate(["zz", [0], b"\x00", 5]):
        insert(bdb, {"name": f"x{i}", "extra": extra})
    got = read(bdb, lambda r: r.query("blobs").with_index(
        "by_extra", lambda q: q.gt("extra", None)).collect())
    assert [d.extra for d in got] == [5, "zz", b"\x00", [0]]


def test_bytes_in_filters(bdb: fdb.Database) -> None:
    for name, data in [("a", b"a"), ("b", b"b")]:
        insert(bdb, {"name": name, "data": data})
    def names(pred: Any) -> list[str]:
        return [d.name for d in read(bdb, lambda r: r.query("blobs").filter(pred).collect())]

    assert names(lambda q: q.data == b"b") == ["b"]
    assert names(lambda q: q.data < b"b") == ["a"]
    # A list holding bytes is compared in Python, with the same order.
    insert(bdb, {"name": "p", "parts": [b"\x01"]})
    got = read(bdb, lambda r: r.query("blobs").filter(lambda q: q.parts == [b"\x01"]).collect())
    assert [d.name for d in got] == ["p"]


def test_a_users_own_bytes_tag_is_refused(bdb: fdb.Database) -> None:
    with pytest.raises(fdb.ValidationError, match=r"'\$bytes'.*reserved"):
        insert(bdb, {"name": "x", "extra": {"$bytes": "00"}})
    with pytest.raises(fdb.ValidationError, match="data"):
        insert(bdb, {"name": "x", "data": {"$bytes": "00"}})
