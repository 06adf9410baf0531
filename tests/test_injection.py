"""SQL injection: fragments and quotes given as values, ids, search terms, filter literals,
cursors and table/index/field names are stored and compared as data, or refused as
identifiers; never executed."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import apsw
import orjson
import pytest

import fusiondb as fdb
from tests.models import get_doc, read
from tests.stress_workers import integrity

PAYLOADS = [
    "'; DROP TABLE tasks; --",
    '"; DROP TABLE tasks; --',
    "x' OR '1'='1",
    "1); DELETE FROM tasks; --",
    'tasks" WHERE 1=1; --',
    "$.text') OR 1=1 --",
    "*) OR (1",
    "\\'; SELECT * FROM sqlite_master; --",
    "by_user$fts$x",
    "NULL",
]


class Doc(fdb.Document):
    text: str
    tag: str = ""


inj_schema = fdb.Schema(
    docs=fdb.table(Doc).index("by_tag", ["tag"]).search_index("search", search_field="text")
)


@fdb.mutation
def put(db: fdb.Writer, text: str, tag: str) -> str:
    return db.insert("docs", {"text": text, "tag": tag})


def _tables(path: str) -> list[str]:
    conn = apsw.Connection(path)
    try:
        return sorted(str(r[0]) for r in conn.execute("SELECT name FROM sqlite_schema"))
    finally:
        conn.close()


@pytest.fixture
def inj_db(tmp_path: Path) -> Any:
    db = fdb.open(tmp_path / "inj.db", inj_schema)
    db.run(put, text="plain words", tag="plain")
    yield db
    db.close()


@pytest.mark.parametrize("payload", PAYLOADS)
def test_payloads_as_values_are_data(inj_db: fdb.Database, payload: str) -> None:
    db = inj_db
    before = _tables(str(db.path))
    doc_id = db.run(put, text=payload, tag=payload)
    assert db.run(get_doc, doc_id=doc_id).text == payload
    by_index = read(
        db, lambda r: r.query("docs").with_index("by_tag", lambda q: q.eq("tag", payload)).collect()
    )
    assert [d.id for d in by_index] == [doc_id]
    by_filter = read(db, lambda r: r.query("docs").filter(lambda q: q.text == payload).collect())
    assert [d.id for d in by_filter] == [doc_id]
    ranged = read(
        db, lambda r: r.query("docs").with_index("by_tag", lambda q: q.gte("tag", payload)).collect()
    )
    assert doc_id in [d.id for d in ranged]
    read(
        db,
        lambda r: r.query("docs").with_search_index("search", lambda q: q.search("text", payload)).collect(),
    )
    assert _tables(str(db.path)) == before
    assert len(read(db, lambda r: r.query("docs").collect())) == 2
    assert integrity(str(db.path)) == "ok"


@pytest.mark.parametrize("payload", PAYLOADS)
def test_payloads_as_ids_cursors_and_names_are_refused(inj_db: fdb.Database, payload: str) -> None:
    db = inj_db
    before = _tables(str(db.path))
    with pytest.raises(fdb.InvalidId):
        db.run(get_doc, doc_id=payload)
    with pytest.raises(fdb.SchemaError):
        read(db, lambda r: r.query(payload).collect())
    with pytest.raises(fdb.SchemaError):
        db.system.read(payload)
    with pytest.raises(fdb.InvalidQuery):
        read(db, lambda r: r.query("docs").with_index(payload).collect())
    with pytest.raises(fdb.InvalidQuery):
        read(
            db,
            lambda r: r.query("docs").with_search_index(payload, lambda q: q.search("text", "a")).collect(),
        )
    # Not a field of Doc: refused, whether or not it is a valid field path.
    with pytest.raises(fdb.InvalidQuery):
        read(db, lambda r: r.query("docs").filter(lambda q: q.field(payload) == 1).collect())
    for cursor in (
        payload,
        base64.urlsafe_b64encode(orjson.dumps(["docs.by_tag", [payload, 1.0, 1]])).decode(),
        base64.urlsafe_b64encode(orjson.dumps([payload, [1.0, 1]])).decode(),
    ):
        with pytest.raises(fdb.InvalidQuery):
            read(db, lambda r, c=cursor: r.query("docs").paginate(c, 5))
    # A crafted cursor of the right query but a payload key value is a key, compared as data.
    page = read(
        db,
        lambda r: (
            r.query("docs")
            .with_index("by_tag")
            .paginate(base64.urlsafe_b64encode(orjson.dumps(["docs.by_tag", [payload, 0.0, 0]])).decode(), 5)
        ),
    )
    assert all(isinstance(d, Doc) for d in page.page)
    assert _tables(str(db.path)) == before


@pytest.mark.parametrize("payload", [p for p in PAYLOADS if not p.isidentifier()])
def test_payloads_as_schema_names_are_refused(payload: str) -> None:
    with pytest.raises(fdb.SchemaError):
        fdb.Schema(**{payload: fdb.table(Doc)})
    with pytest.raises(fdb.SchemaError):
        fdb.table(Doc).index(payload, ["text"])
    with pytest.raises(fdb.SchemaError):
        fdb.table(Doc).index("ok", [payload])
    with pytest.raises(fdb.SchemaError):
        fdb.table(Doc).search_index("ok", search_field=payload)


def test_field_names_with_sql_are_data_in_free_form_fields(db: fdb.Database) -> None:
    class Free(fdb.Document):
        data: dict[str, Any]

    del db  # the shared fixture's kinds are not needed here
    with fdb.open(None, fdb.Schema(free=fdb.table(Free))) as free:
        # Names the name rules refuse ('$' first: reserved) are refused with a typed error;
        # every other payload is a key like any other, stored and read back as it was.
        refused = [p for p in PAYLOADS if p.startswith("$")]
        doc = {p: p for p in PAYLOADS if p not in refused}

        @fdb.mutation
        def put_free(w: fdb.Writer, data: dict[str, Any]) -> str:
            return w.insert("free", {"data": data})

        doc_id = free.run(put_free, data=doc)
        assert free.run(get_doc, doc_id=doc_id).data == doc
        assert refused
        for payload in refused:
            with pytest.raises(fdb.ValidationError, match="reserved"):
                free.run(put_free, data={payload: 1})


def test_sql_keywords_as_names_are_quoted_identifiers(tmp_path: Path) -> None:
    class Row(fdb.Document):
        select: str
        where: int = 0

    kw_schema = fdb.Schema(NULL=fdb.table(Row).index("select", ["select", "where"]))
    with fdb.open(tmp_path / "kw.db", kw_schema) as db:

        @fdb.mutation
        def put_row(w: fdb.Writer, value: str) -> str:
            return w.insert("NULL", {"select": value, "where": 1})

        ids = [db.run(put_row, value=p) for p in PAYLOADS]
        got = read(
            db,
            lambda r: r.query("NULL").with_index("select", lambda q: q.eq("select", PAYLOADS[0])).collect(),
        )
        assert [d.id for d in got] == [ids[0]]
    assert integrity(str(tmp_path / "kw.db")) == "ok"
