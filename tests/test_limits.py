"""Limits and errors: size and depth limits, what ValidationError names, the error hierarchy."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from pathlib import Path
from typing import Any

import apsw
import pytest

import fusiondb as fdb
from fusiondb.core import errors
from fusiondb.core.documents import MAX_DEPTH, MAX_DOCUMENT_BYTES
from fusiondb.core.ids import decode_id
from fusiondb.engine.sqlite.errors import TRANSLATE
from tests.models import Task, add_task, all_tasks, get_doc, schema, write


class Blob(fdb.Document):
    data: Any = None
    items: list[Any] = []


class Tree(fdb.Document):
    name: str = ""
    child: Tree | None = None


class Point(fdb.Document):
    lat: float = 0.0


class Reading(fdb.Document):
    value: float = 0.0
    series: list[float] = []
    where: Point | None = None


deep_schema = fdb.Schema(blobs=fdb.table(Blob), trees=fdb.table(Tree), readings=fdb.table(Reading))


@pytest.fixture
def deep_db(make_db: Callable[..., fdb.Database]) -> fdb.Database:
    return make_db(deep_schema)


def count(db: fdb.Database, table: str) -> int:
    return int(db.run(fdb.query(lambda r: len(r.query(table).collect()))))


def nested_objects(levels: int) -> Any:
    value: Any = 1
    for _ in range(levels):
        value = {"a": value}
    return value


def nested_lists(levels: int) -> Any:
    value: Any = 1
    for _ in range(levels):
        value = [value]
    return value


def test_a_2_mib_document_raises_document_too_large(db: fdb.Database) -> None:
    keep = db.run(add_task, text="keep", user_id="u")

    def fn(w: fdb.Writer) -> None:
        w.insert("tasks", {"text": "before", "user_id": "u"})
        w.insert("tasks", {"text": "x" * (2 << 20), "user_id": "u"})

    with pytest.raises(fdb.DocumentTooLarge, match="1 MiB") as info:
        write(db, fn)
    err = info.value
    assert err.table == "tasks" and err.limit == MAX_DOCUMENT_BYTES and err.size > 2 << 20
    # Nothing from the failed mutation was written, and the database is still usable.
    assert [t.id for t in db.run(all_tasks)] == [keep]
    db.run(add_task, text="after", user_id="u")
    assert count(db, "tasks") == 2


def test_size_limit_applies_to_patch_and_replace(db: fdb.Database) -> None:
    doc_id = db.run(add_task, text="small", user_id="u")
    with pytest.raises(fdb.DocumentTooLarge):
        write(db, lambda w: w.patch(doc_id, {"text": "x" * MAX_DOCUMENT_BYTES}))
    with pytest.raises(fdb.DocumentTooLarge):
        write(db, lambda w: w.replace(doc_id, {"text": "x" * MAX_DOCUMENT_BYTES, "user_id": "u"}))
    assert db.run(get_doc, doc_id=doc_id).text == "small"


def test_a_document_just_under_the_limit_is_stored(db: fdb.Database) -> None:
    overhead = len(Task(text="", user_id="u").model_dump_json())
    doc_id = db.run(add_task, text="x" * (MAX_DOCUMENT_BYTES - overhead), user_id="u")
    assert len(db.run(get_doc, doc_id=doc_id).text) == MAX_DOCUMENT_BYTES - overhead
    with pytest.raises(fdb.DocumentTooLarge):
        db.run(add_task, text="x" * (MAX_DOCUMENT_BYTES - overhead + 1), user_id="u")


@pytest.mark.parametrize("make", [nested_objects, nested_lists])
def test_nesting_limit_is_64_levels(deep_db: fdb.Database, make: Callable[[int], Any]) -> None:
    # The document is level 1, so its field may hold MAX_DEPTH - 1 levels of objects/arrays.
    ok = write(deep_db, lambda w: w.insert("blobs", {"data": make(MAX_DEPTH - 1)}))
    assert deep_db.run(fdb.query(lambda r: r.get(ok))).data == make(MAX_DEPTH - 1)
    for levels in (MAX_DEPTH, MAX_DEPTH + 1, 500, 50_000):
        with pytest.raises(fdb.ValidationError, match="deeper than 64 levels") as info:
            write(deep_db, lambda w, levels=levels: w.insert("blobs", {"data": make(levels)}))
        assert info.value.table == "blobs" and info.value.field == "data"
    assert count(deep_db, "blobs") == 1


def test_nesting_limit_applies_to_nested_models_and_patch(deep_db: fdb.Database) -> None:
    def tree(levels: int) -> dict[str, Any]:
        node: dict[str, Any] = {"name": "leaf"}
        for _ in range(levels - 1):
            node = {"child": node}
        return node

    ok = write(deep_db, lambda w: w.insert("trees", tree(MAX_DEPTH)))
    for levels in (MAX_DEPTH + 1, 2000):
        with pytest.raises(fdb.ValidationError, match="deeper than 64") as info:
            write(deep_db, lambda w, levels=levels: w.insert("trees", tree(levels)))
        assert info.value.table == "trees" and info.value.field == "child"
    with pytest.raises(fdb.ValidationError, match="deeper than 64") as info:
        write(deep_db, lambda w: w.patch(ok, {"child": tree(MAX_DEPTH)}))
    assert info.value.field == "child"
    assert count(deep_db, "trees") == 1


def test_validation_error_names_table_field_and_reason(db: fdb.Database) -> None:
    with pytest.raises(fdb.ValidationError) as info:
        write(db, lambda w: w.insert("people", {"name": "x", "address": {"street": "s"}}))
    err = info.value
    assert err.table == "people" and err.field == "address.city" and err.id is None
    assert "people" in str(err) and "address.city" in str(err) and "required" in str(err).lower()
    assert err.errors and err.errors[0]["type"] == "missing"
    assert isinstance(err, ValueError)


def test_validation_error_on_update_names_the_document(db: fdb.Database) -> None:
    doc_id = db.run(add_task, text="a", user_id="u")
    with pytest.raises(fdb.ValidationError) as info:
        write(db, lambda w: w.patch(doc_id, {"completed": "not a bool"}))
    err = info.value
    assert (err.table, err.field, err.id) == ("tasks", "completed", doc_id)
    assert doc_id in str(err)


def _corrupt(path: Path, doc_id: str, body: str) -> None:
    conn = apsw.Connection(str(path))
    try:
        conn.execute("UPDATE tasks SET doc = ? WHERE _id = ?", (body, decode_id(doc_id)[1]))  # type: ignore[index]
    finally:
        conn.close()


def test_stored_data_failing_the_model_names_the_id(tmp_path: Path) -> None:
    path = tmp_path / "x.db"
    with fdb.open(path, schema) as db:
        good = db.run(add_task, text="good", user_id="u")
        bad = db.run(add_task, text="bad", user_id="u")
    _corrupt(path, bad, '{"text": 5, "user_id": "u"}')
    with fdb.open(path, schema) as db:
        assert db.run(get_doc, doc_id=good).text == "good"
        for run in (lambda: db.run(get_doc, doc_id=bad), lambda: db.run(all_tasks)):
            with pytest.raises(fdb.ValidationError) as info:
                run()
            err = info.value
            assert (err.table, err.field, err.id) == ("tasks", "text", bad)
            assert bad in str(err) and "stored" in str(err)
        # as_dicts() does not validate, so the data can still be read and repaired.
        dicts = db.run(fdb.query(lambda r: r.query("tasks").as_dicts().collect()))
        assert dicts[1]["text"] == 5
        write(db, lambda w: w.patch(bad, {"text": "fixed"}))
        assert [t.text for t in db.run(all_tasks)] == ["good", "fixed"]


def test_every_error_is_a_fusion_error() -> None:
    classes = [
        obj
        for _, obj in inspect.getmembers(errors, inspect.isclass)
        if issubclass(obj, Exception) and obj.__module__ in (errors.__name__, "fusiondb")
    ]
    assert len(classes) >= 12
    for cls in classes:
        assert issubclass(cls, fdb.FusionError), cls
    for name in fdb.__all__:
        obj = getattr(fdb, name)
        if isinstance(obj, type) and issubclass(obj, Exception):
            assert issubclass(obj, fdb.FusionError), name
    assert issubclass(fdb.SchemaMismatch, fdb.SchemaError)


def test_apsw_errors_are_translated_with_orig() -> None:
    with pytest.raises(fdb.DatabaseError) as info, TRANSLATE:
        raise apsw.IOError("disk on fire")
    assert isinstance(info.value.orig, apsw.IOError)
    with pytest.raises(fdb.DatabaseClosed), TRANSLATE:
        raise apsw.ConnectionClosedError("closed")
    with pytest.raises(fdb.ReadOnlyError), TRANSLATE:
        raise apsw.ReadOnlyError("ro")


def test_opening_a_file_that_is_not_a_database(tmp_path: Path) -> None:
    path = tmp_path / "junk.db"
    path.write_bytes(b"this is not an sqlite file" * 100)
    with pytest.raises(fdb.DatabaseError) as info:
        fdb.open(path, schema)
    assert isinstance(info.value.orig, apsw.Error)


@pytest.mark.parametrize(
    ("doc", "field"),
    [
        ({"value": float("nan")}, "value"),
        ({"value": "inf"}, "value"),
        ({"series": [1.0, float("-inf")]}, "series.1"),
        ({"where": {"lat": float("nan")}}, "where.lat"),
        ({"value": 1.0, "series": [2.0]}, None),
    ],
)
def test_nan_and_infinity_are_refused(deep_db: fdb.Database, doc: dict[str, Any], field: str | None) -> None:
    # JSON cannot hold them: stored as null they would make the document unreadable.
    if field is None:
        doc_id = write(deep_db, lambda w: w.insert("readings", doc))
        assert deep_db.run(fdb.query(lambda r: r.get(doc_id))).series == doc["series"]
        return
    with pytest.raises(fdb.ValidationError, match="NaN and infinity") as info:
        write(deep_db, lambda w: w.insert("readings", doc))
    assert info.value.field == field and info.value.table == "readings"
    with pytest.raises(fdb.ValidationError, match="NaN and infinity"):
        write(deep_db, lambda w: w.insert("blobs", {"data": {"x": float("nan")}}))
    assert count(deep_db, "readings") == 0
