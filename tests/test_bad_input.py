"""Regressions of issue 18: inputs and files that used to raise untyped errors or wrong ones.

Each case raises a typed ``fdb.FusionError`` subclass whose message says what to do, writes
nothing, and leaves the database usable.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from pathlib import Path
from typing import Any

import apsw
import orjson
import pytest

import fusiondb as fdb
from tests.models import Task, add_task, all_tasks, insert, patch, read, replace, schema, write

BIG = 2**63


def _cursor(obj: object) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(obj)).decode()


def _tasks(db: fdb.Database, build: Callable[[Any], Any]) -> Any:
    return read(db, lambda r: build(r.query("tasks")))


QUERIES: dict[str, Callable[[Any], Any]] = {
    "range int >= 2**63": lambda q: q.with_index(
        "by_user_priority", lambda r: r.eq("user_id", "u").gt("priority", BIG)
    ).collect(),
    "range int < -2**63": lambda q: q.with_index(
        "by_user_priority", lambda r: r.eq("user_id", "u").lt("priority", -BIG - 1)
    ).collect(),
    "range lone surrogate": lambda q: q.with_index("by_user", lambda r: r.eq("user_id", "\ud800")).collect(),
    "filter int >= 2**63": lambda q: q.filter(lambda t: t.priority > BIG).collect(),
    "filter lone surrogate": lambda q: q.filter(lambda t: t.text == "\udfff").collect(),
    "filter invalid field path": lambda q: q.filter(lambda t: t.field("a-b") == 1).collect(),
    "python filter misspelt field": lambda q: q.filter(lambda t: len(t.txt) > 0).collect(),
    "take 2**63": lambda q: q.take(BIG),
    "paginate 2**63": lambda q: q.paginate(None, BIG),
    "cursor int 2**63": lambda q: q.paginate(_cursor(["tasks.by_creation_time", [1.0, BIG]]), 5),
    "cursor holding a dict": lambda q: q.paginate(_cursor(["tasks.by_creation_time", [{}, []]]), 5),
    "cursor not a pair": lambda q: q.paginate(_cursor([1, 2, 3]), 5),
    "cursor name a list": lambda q: q.paginate(_cursor([[], []]), 5),
}


@pytest.mark.parametrize("name", QUERIES)
def test_bad_query_values_raise_invalid_query(db: fdb.Database, name: str) -> None:
    db.run(add_task, text="a", user_id="u")
    with pytest.raises(fdb.InvalidQuery) as info:
        _tasks(db, QUERIES[name])
    assert str(info.value)
    assert len(db.run(all_tasks)) == 1


def test_search_with_lone_surrogate_is_invalid_query(make_db: Any) -> None:
    class Doc(fdb.Document):
        text: str

    db = make_db(fdb.Schema(docs=fdb.table(Doc).search_index("s", search_field="text")))
    with pytest.raises(fdb.InvalidQuery, match="surrogate"):
        read(
            db,
            lambda r: r.query("docs").with_search_index("s", lambda q: q.search("text", "a\ud800")).collect(),
        )


@pytest.mark.parametrize(
    "call",
    [
        lambda db: db.system.read("tasks", limit=BIG),
        lambda db: db.system.read("tasks", limit=-1),
        lambda db: db.migrate("tasks", lambda d: None, batch_size=0, name="m"),
        lambda db: db.migrate("tasks", lambda d: None, name=""),
    ],
    ids=["system-limit-big", "system-limit-negative", "migrate-batch-0", "migrate-empty-name"],
)
def test_bad_arguments_raise_invalid_argument(db: fdb.Database, call: Callable[[Any], Any]) -> None:
    with pytest.raises(fdb.InvalidArgument):
        call(db)


@pytest.mark.parametrize("table", [["tasks"], {"t": 1}, None, 3])
def test_unhashable_or_non_string_table_names(db: fdb.Database, table: Any) -> None:
    with pytest.raises(fdb.SchemaError):
        db.system.read(table)
    with pytest.raises(fdb.SchemaError):
        read(db, lambda r: r.query(table).collect())
    with pytest.raises(fdb.SchemaError):
        db.run(insert, table=table, doc={})


def test_close_inside_a_mutation_is_refused(db: fdb.Database) -> None:
    with pytest.raises(fdb.FusionError, match="after the function returns"):
        write(db, lambda w: db.close())
    assert not db.closed
    db.run(add_task, text="a", user_id="u")


# -- names differing only in case ---------------------------------------------------------


def test_table_names_differing_only_in_case_are_refused() -> None:
    with pytest.raises(fdb.SchemaError, match="only in case"):
        fdb.Schema(tasks=fdb.table(Task), Tasks=fdb.table(Task))


def test_index_names_differing_only_in_case_are_refused() -> None:
    with pytest.raises(fdb.SchemaError, match="only in case"):
        fdb.table(Task).index("by_user", ["user_id"]).index("By_User", ["text"])
    with pytest.raises(fdb.SchemaError, match="only in case"):
        fdb.table(Task).index("BY_CREATION_TIME", ["user_id"])
    with pytest.raises(fdb.SchemaError, match="only in case"):
        fdb.table(Task).index("s", ["user_id"]).search_index("S", search_field="text")


def test_table_differing_in_case_from_a_stored_one_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "case.db"
    with fdb.open(path, fdb.Schema(tasks=fdb.table(Task))) as db:
        db.run(insert, table="tasks", doc={"text": "a", "user_id": "u"})
    with pytest.raises(fdb.SchemaError, match="only in case"):
        fdb.open(path, fdb.Schema(Tasks=fdb.table(Task)))
    with fdb.open(path, fdb.Schema(tasks=fdb.table(Task))) as db:
        assert len(read(db, lambda r: r.query("tasks").collect())) == 1


# -- rows and catalogs written by another program -----------------------------------------


FOREIGN_ROWS = {
    "json-array": "[1, 2]",
    "json-number": "42",
    "json-null": "null",
    "blob": b'{"text": "a", "user_id": "u"}',
}


@pytest.mark.parametrize("kind", FOREIGN_ROWS)
def test_foreign_rows_raise_validation_error(tmp_path: Path, kind: str) -> None:
    path = tmp_path / "foreign-rows.db"
    with fdb.open(path, schema) as db:
        good = db.run(add_task, text="good", user_id="u")
    conn = apsw.Connection(str(path))
    conn.execute("INSERT INTO tasks(creation_time, doc) VALUES (?, ?)", (2e12, FOREIGN_ROWS[kind]))
    conn.close()
    with fdb.open(path, schema, schema_validation=False) as db:
        calls: dict[str, Callable[[], Any]] = {
            "collect": lambda: db.run(all_tasks),
            "as_dicts": lambda: read(db, lambda r: r.query("tasks").as_dicts().collect()),
            "system.read": lambda: db.system.read("tasks"),
            "migrate": lambda: db.migrate("tasks", lambda d: None, name="m"),
        }
        for name, call in calls.items():
            with pytest.raises(fdb.ValidationError) as info:
                call()
            assert "stored" in str(info.value), name
        rowid = apsw.Connection(str(path)).execute("SELECT max(_id) FROM tasks").get
        from fusiondb.core.ids import encode_id

        bad_id = encode_id(db._tables.get("tasks").number, rowid)
        with pytest.raises(fdb.ValidationError, match="stored"):
            db.run(patch, doc_id=bad_id, fields={"text": "b"})
        with pytest.raises(fdb.ValidationError, match="stored"):
            db.run(replace, doc_id=bad_id, doc={"text": "b", "user_id": "u"})
        with pytest.raises(fdb.ValidationError, match="stored"):
            db.subscribe(all_tasks)
        db.run(patch, doc_id=good, fields={"text": "still writable"})


@pytest.mark.parametrize(
    "damage",
    [
        "DELETE FROM _fdb_catalog WHERE key = 'tables'",
        "UPDATE _fdb_catalog SET value = '{not json' WHERE key = 'tables'",
        "UPDATE _fdb_catalog SET value = '[1]' WHERE key = 'tables'",
        "UPDATE _fdb_catalog SET value = '\"x\"' WHERE key = 'version'",
        "UPDATE _fdb_catalog SET value = '{\"tasks\": {\"indexes\": {}}}' WHERE key = 'tables'",
    ],
)
def test_damaged_catalog_is_a_schema_error(tmp_path: Path, damage: str) -> None:
    path = tmp_path / "catalog.db"
    fdb.open(path, schema).close()
    conn = apsw.Connection(str(path))
    conn.execute(damage)
    conn.close()
    with pytest.raises(fdb.SchemaError, match="damaged"):
        fdb.open(path, schema)


# -- opening ------------------------------------------------------------------------------


@pytest.mark.parametrize("path", [":memory:", ""])
def test_memory_and_empty_paths_are_ephemeral(path: str) -> None:
    with fdb.open(path, schema) as db:
        db.run(add_task, text="a", user_id="u")
        assert [t.text for t in db.run(all_tasks)] == ["a"]
        assert db.path is None


def test_callback_with_defaulted_parameters_gets_the_value(db: fdb.Database) -> None:
    got: list[Any] = []
    also: list[Any] = []

    def cb(value: Any, acc: list[Any] = also) -> None:
        acc.append(value)

    sub = db.subscribe(all_tasks)
    sub.changed.connect(lambda v, acc=got: acc.append(v))
    sub.changed.connect(cb)
    db.run(add_task, text="a", user_id="u")
    assert db.wait_idle()
    assert got and all(isinstance(v, list) for v in got)
    assert also and all(isinstance(v, list) for v in also)
    sub.close()
