"""The fast paths give exactly what the plain code they replaced gave.

Each optimization on the read and write paths (see docs/performance.md) is checked here
against a straightforward reference: batch id encoding, key extraction, cached query SQL,
the alias check that decides whether to validate by name, and the change-log reader that
skips its own entries.
"""

from __future__ import annotations

import base64
import random
import zlib
from typing import Any

import orjson
import pydantic
import pytest
from hypothesis import given
from hypothesis import strategies as st

import fusiondb as fdb
from fusiondb.core.ids import MAX_ROWID, MAX_TABLE_NUMBER, decode_id, encode_id, encode_ids
from fusiondb.core.keys import KeyLayout, extract, search_value
from fusiondb.core.tableinfo import TableInfo
from fusiondb.engine import open_engine
from fusiondb.transaction import writeset
from fusiondb.transaction.writeset import WriteSet
from tests.models import Task, add_task, list_by_user


def reference_encode_id(table_number: int, rowid: int) -> str:
    """The id format, spelled with the standard library."""
    mixed = (((table_number << 48) | rowid) * 0x9E3779B97F4A7C15) & ((1 << 64) - 1)
    body = mixed.to_bytes(8, "big")
    check = (zlib.crc32(body) & 0xFFFF).to_bytes(2, "big")
    return base64.b32encode(body + check).decode("ascii").lower()


@given(st.integers(0, MAX_TABLE_NUMBER), st.integers(0, MAX_ROWID))
def test_encode_id_matches_base32_reference(table_number: int, rowid: int) -> None:
    doc_id = encode_id(table_number, rowid)
    assert doc_id == reference_encode_id(table_number, rowid)
    assert decode_id(doc_id) == (table_number, rowid)


@pytest.mark.parametrize("count", [0, 1, 7, 8, 9, 100, 128, 129, 256, 257, 1000])
def test_encode_ids_matches_one_at_a_time(count: int) -> None:
    rng = random.Random(count)
    for _ in range(5):
        table = rng.randrange(MAX_TABLE_NUMBER + 1)
        rowids = [rng.choice([0, 1, MAX_ROWID, rng.randrange(MAX_ROWID)]) for _ in range(count)]
        assert encode_ids(table, rowids) == [encode_id(table, r) for r in rowids]


def reference_decode_id(value: object) -> tuple[int, int] | None:
    if not isinstance(value, str) or len(value) != 16 or value != value.lower():
        return None
    try:
        raw = base64.b32decode(value.upper())
    except ValueError:
        return None
    if zlib.crc32(raw[:8]) & 0xFFFF != int.from_bytes(raw[8:], "big"):
        return None
    n = (int.from_bytes(raw[:8], "big") * pow(0x9E3779B97F4A7C15, -1, 1 << 64)) & ((1 << 64) - 1)
    return n >> 48, n & MAX_ROWID


def test_decode_id_matches_reference_on_damaged_ids() -> None:
    good = encode_id(16, 12345)
    rng = random.Random(1)
    for _ in range(5000):
        chars = list(good)
        for _ in range(rng.randrange(1, 3)):
            # Signs, spaces and underscores too: int(..., 32), which decodes ids, accepts them.
            chars[rng.randrange(16)] = rng.choice(
                "ABZ0189=_ -+\t\u00e9\x00abcdefghijklmnopqrstuvwxyz234567"
            )
        bad = "".join(chars)
        assert decode_id(bad) == reference_decode_id(bad), bad
    for value in (good.upper(), good[:-1], good + "a", "", None, 12, b"x" * 16):
        assert decode_id(value) is None


def reference_extract(doc: Any, path: str) -> Any:
    """The JSON value at ``path`` (what index keys hold)."""
    value: Any = doc
    for part in path.split("."):
        if type(value) is not dict:
            return None
        value = value.get(part)
    return value


def reference_search_value(doc: Any, path: str) -> Any:
    """A search filter field's value: the JSON value, arrays and objects as JSON text."""
    value = reference_extract(doc, path)
    if isinstance(value, dict | list):
        return orjson.dumps(value).decode()
    return value


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.floats(allow_nan=False)
    | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from("abc"), inner, max_size=3),
    max_leaves=8,
)


@given(json_values, st.sampled_from(["a", "b", "a.b", "a.b.c", "c.a"]))
def test_extract_matches_reference(doc: Any, path: str) -> None:
    got, want = extract(doc, path), reference_extract(doc, path)
    assert got == want and type(got) is type(want)
    got, want = search_value(doc, path), reference_search_value(doc, path)
    assert got == want and type(got) is type(want)


def test_cached_query_sql_gives_the_same_rows(db: fdb.Database) -> None:
    for i in range(30):
        db.run(add_task, text=f"t{i}", user_id=f"u{i % 3}", priority=i % 4)

    @fdb.query
    def shapes(r: fdb.Reader, user: str) -> list[list[str]]:
        q = r.query("tasks")
        return [
            [t.text for t in q.with_index("by_user", lambda x: x.eq("user_id", user)).collect()],
            [t.text for t in q.with_index("by_user_priority", lambda x: x.eq("user_id", user)
                                          .gt("priority", 1)).order("desc").take(3)],
            [t.text for t in q.with_index("by_user_priority", lambda x: x.eq("user_id", user)
                                          .gte("priority", 1).lt("priority", 3)).collect()],
            [t.text for t in q.order("desc").take(2)],
        ]

    # Run each shape for several users: the second run of a shape uses the cached SQL.
    for user in ("u0", "u1", "u2", "u0"):
        got = db.run(shapes, user=user)
        tasks = [(t.text, t.user_id, t.priority) for t in db.run(list_by_user, user_id=user)][::-1]
        mine = [t for t in tasks if t[1] == user]
        assert got[0] == [t[0] for t in mine]
        assert got[1] == [t[0] for t in sorted((t for t in mine if t[2] > 1),
                                               key=lambda t: (t[2], int(t[0][1:])), reverse=True)][:3]
        assert got[2] == [t[0] for t in sorted((t for t in mine if 1 <= t[2] < 3),
                                               key=lambda t: (t[2], int(t[0][1:])))]
        assert got[3] == ["t29", "t28"]


class Inner(pydantic.BaseModel):
    x: int = pydantic.Field(alias="X")


class WithNestedAlias(fdb.Document):
    inner: Inner | None = None


class WithAlias(fdb.Document):
    b: int = pydantic.Field(validation_alias="bb")


def test_validate_by_name_only_when_some_field_has_an_alias() -> None:
    def info(model: type[fdb.Document]) -> TableInfo:
        return TableInfo(name="t", number=16, model=model, indexes={}, search_indexes={})

    assert info(Task).validate_by_name is None
    assert info(WithAlias).validate_by_name is True
    assert info(WithNestedAlias).validate_by_name is True


def test_read_since_skips_own_entries_without_decoding(file_db: fdb.Database) -> None:
    assert file_db.path is not None
    engine = open_engine(file_db.path)
    try:
        write = ("tasks", 1, 5.0, None, ("u1",), None, None)
        layouts = {"tasks": KeyLayout.build([("by_user", ("user_id",))], ())}
        payload = writeset.encode(WriteSet([write], layouts))
        for origin in ("me", "other"):
            with engine.write() as txn:
                txn.commit(origin, payload)
        log = engine.log_reader()
        entries, complete = log.read_since(0, "me")
        assert complete
        assert [(e.origin, e.payload) for e in entries] == [("me", None), ("other", payload)]
        decoded = writeset.decode(payload)
        assert decoded is not None and decoded.writes[0] == write
        assert decoded.keys_by_index() == {
            ("tasks", "by_id"): [(1,)],
            ("tasks", "by_creation_time"): [(5.0, 1)],
            ("tasks", "by_user"): [("u1", 5.0, 1)],
        }
        assert [e.payload for e in log.read_since(0, "nobody")[0]] == [payload, payload]
        log.close()
    finally:
        engine.close()


class Stamped(fdb.Document):
    text: str

    def model_dump(self, **kwargs: Any) -> dict[str, Any]:
        return {**super().model_dump(**kwargs), "text": self.text.upper()}


def test_model_input_is_stored_as_its_model_dump() -> None:
    from fusiondb.core.documents import to_input

    def info(model: type[fdb.Document]) -> TableInfo:
        return TableInfo(name="t", number=16, model=model, indexes={}, search_indexes={})

    task = Task(text="milk", user_id="u1", priority=2)
    assert to_input(info(Task), task) == task.model_dump()
    # A model that overrides model_dump keeps its own.
    assert to_input(info(Stamped), Stamped(text="milk")) == {"text": "MILK"}


def test_pages_over_an_eq_prefix_cover_the_range_once(db: fdb.Database) -> None:
    # Scans leave the eq-prefix columns out of the SELECT and rebuild the last key from the
    # eq values; cursors and read sets built from it must still continue exactly.
    for i in range(23):
        db.run(add_task, text=f"t{i}", user_id="u" if i % 2 else "v", priority=i % 3)

    @fdb.query
    def pages(r: fdb.Reader, size: int, full_prefix: bool) -> tuple[list[str], list[str]]:
        def q() -> Any:
            return r.query("tasks").with_index(
                "by_user_priority",
                (lambda x: x.eq("user_id", "u").eq("priority", 1)) if full_prefix
                else (lambda x: x.eq("user_id", "u")),
            ).order("desc")

        seen: list[str] = []
        cursor = None
        while True:
            page = q().paginate(cursor, num_items=size)
            seen += [t.text for t in page.page]
            cursor = page.continue_cursor
            if page.is_done:
                break
        return seen, [t.text for t in q().collect()]

    for size in (1, 2, 5):
        for full_prefix in (False, True):
            seen, everything = db.run(pages, size=size, full_prefix=full_prefix)
            assert seen == everything and everything
