"""Mutations: insert, patch, replace, delete; all-or-nothing transactions; misuse errors."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import apsw
import pydantic
import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, invariant, rule

import fusiondb as fdb
from tests.helpers import raw_sql
from tests.models import (
    Address,
    Note,
    Person,
    Task,
    add_task,
    all_tasks,
    get_doc,
    read,
    schema,
    write,
)


@fdb.query
def counts(db: fdb.Reader) -> dict[str, int]:
    return {t: len(db.query(t).collect()) for t in ("tasks", "notes", "people")}


def stored_json(db: fdb.Database, table: str, doc_id: str) -> str:
    """The stored document body, straight from SQLite."""
    from fusiondb.core.ids import decode_id

    rowid = decode_id(doc_id)[1]  # type: ignore[index]

    return str(raw_sql(db, f'SELECT doc FROM "{table}" WHERE _id = ?', (rowid,))[0][0])


def test_insert_dict_or_model(db: fdb.Database) -> None:
    a = write(db, lambda w: w.insert("tasks", {"text": "a", "user_id": "u"}))
    b = write(db, lambda w: w.insert("tasks", Task(text="b", user_id="u", priority=2)))
    got_a, got_b = read(db, lambda r: (r.get(a), r.get(b)))
    assert (got_a.text, got_a.completed, got_a.priority) == ("a", False, 0)
    assert (got_b.text, got_b.priority) == ("b", 2)
    assert got_a.creation_time < got_b.creation_time


def test_insert_validates_and_coerces(db: fdb.Database) -> None:
    with pytest.raises(fdb.ValidationError) as info:
        write(db, lambda w: w.insert("tasks", {"text": "a"}))
    assert info.value.table == "tasks" and info.value.field == "user_id"
    with pytest.raises(fdb.ValidationError) as info:
        write(db, lambda w: w.insert("tasks", {"text": "a", "user_id": "u", "priority": "high"}))
    assert info.value.field == "priority"
    # Unknown keys are refused (most often a typo), nothing stored.
    with pytest.raises(fdb.ValidationError) as info:
        write(db, lambda w: w.insert("tasks", {"text": "a", "user_id": "u", "junk": 1}))
    assert info.value.field == "junk"
    doc_id = write(db, lambda w: w.insert("tasks", {"text": "a", "user_id": "u", "priority": "3"}))
    assert '"priority":3' in stored_json(db, "tasks", doc_id)
    assert db.run(counts)["tasks"] == 1


@pytest.mark.parametrize("bad", [{"id": "x"}, {"creation_time": 1.0}])
def test_insert_refuses_system_fields(db: fdb.Database, bad: dict[str, Any]) -> None:
    with pytest.raises(fdb.ValidationError) as info:
        write(db, lambda w: w.insert("tasks", {"text": "a", "user_id": "u", **bad}))
    assert info.value.field == next(iter(bad))


def test_insert_refuses_model_of_another_table_and_non_documents(db: fdb.Database) -> None:
    with pytest.raises(fdb.ValidationError, match="stores Task documents"):
        write(db, lambda w: w.insert("tasks", Note(title="x")))
    for bad in (["text"], "text", 3, None):
        with pytest.raises(fdb.ValidationError):
            write(db, lambda w, bad=bad: w.insert("tasks", bad))
    assert db.run(counts)["tasks"] == 0


def test_insert_ignores_id_and_creation_time_of_a_model(db: fdb.Database) -> None:
    first = db.run(add_task, text="a", user_id="u")
    task = db.run(get_doc, doc_id=first)
    copy = write(db, lambda w: w.insert("tasks", task))
    assert copy != first
    got = db.run(get_doc, doc_id=copy)
    assert got.text == "a" and got.creation_time > task.creation_time


def test_patch_is_a_shallow_merge(db: fdb.Database) -> None:
    doc_id = write(
        db,
        lambda w: w.insert("people", Person(name="ann", age=3, address=Address(city="Oslo", street="s"))),
    )
    write(db, lambda w: w.patch(doc_id, {"age": 4, "address": {"city": "Rome"}}))
    got = db.run(get_doc, doc_id=doc_id)
    assert got.name == "ann" and got.age == 4
    # Shallow: the nested object is replaced whole, so street falls back to its default.
    assert got.address == Address(city="Rome", street="")


def test_patch_none_removes_an_optional_field(db: fdb.Database) -> None:
    doc_id = write(db, lambda w: w.insert("people", {"name": "ann", "age": 3, "address": {"city": "Oslo"}}))
    write(db, lambda w: w.patch(doc_id, {"age": None, "address": None}))
    got = db.run(get_doc, doc_id=doc_id)
    assert got.age is None and got.address is None and got.name == "ann"
    # The field is gone from the index too: the document is found under age == None.
    found = read(db, lambda r: r.query("people").with_index("by_age", lambda q: q.eq("age", None)).collect())
    assert [p.id for p in found] == [doc_id]
    assert (
        read(db, lambda r: r.query("people").with_index("by_age", lambda q: q.eq("age", 3)).collect()) == []
    )


def test_patch_none_on_a_required_field_fails(db: fdb.Database) -> None:
    doc_id = db.run(add_task, text="a", user_id="u")
    with pytest.raises(fdb.ValidationError) as info:
        write(db, lambda w: w.patch(doc_id, {"text": None}))
    err = info.value
    assert (err.table, err.field, err.id) == ("tasks", "text", doc_id)
    assert db.run(get_doc, doc_id=doc_id).text == "a"


def test_patch_refuses_system_fields_and_non_dicts(db: fdb.Database) -> None:
    doc_id = db.run(add_task, text="a", user_id="u")
    for bad in ({"id": "x"}, {"creation_time": 5.0}):
        with pytest.raises(fdb.ValidationError):
            write(db, lambda w, bad=bad: w.patch(doc_id, bad))
    with pytest.raises(fdb.ValidationError, match="dict"):
        write(db, lambda w: w.patch(doc_id, [("text", "b")]))  # type: ignore[arg-type]
    got = db.run(get_doc, doc_id=doc_id)
    assert got.text == "a" and got.id == doc_id


def test_patch_validates_types(db: fdb.Database) -> None:
    doc_id = db.run(add_task, text="a", user_id="u")
    with pytest.raises(fdb.ValidationError) as info:
        write(db, lambda w: w.patch(doc_id, {"priority": "high"}))
    assert info.value.field == "priority" and info.value.id == doc_id


def test_replace_keeps_id_and_creation_time(db: fdb.Database) -> None:
    doc_id = db.run(add_task, text="a", user_id="u")
    write(db, lambda w: w.patch(doc_id, {"priority": 5, "completed": True}))
    before = db.run(get_doc, doc_id=doc_id)
    write(db, lambda w: w.replace(doc_id, {"text": "b", "user_id": "v"}))
    after = db.run(get_doc, doc_id=doc_id)
    assert (after.id, after.creation_time) == (before.id, before.creation_time)
    # Replace is whole: fields not given take their defaults.
    assert (after.text, after.user_id, after.priority, after.completed) == ("b", "v", 0, False)
    write(db, lambda w: w.replace(doc_id, Task(text="c", user_id="w")))
    assert db.run(get_doc, doc_id=doc_id).text == "c"
    # The index follows the replacement.
    by_user = read(
        db, lambda r: r.query("tasks").with_index("by_user", lambda q: q.eq("user_id", "w")).collect()
    )
    assert [t.id for t in by_user] == [doc_id]
    with pytest.raises(fdb.ValidationError):
        write(db, lambda w: w.replace(doc_id, {"text": "only text"}))
    with pytest.raises(fdb.ValidationError):
        write(db, lambda w: w.replace(doc_id, Person(name="x")))
    assert db.run(get_doc, doc_id=doc_id).text == "c"


def test_delete(db: fdb.Database) -> None:
    a = db.run(add_task, text="a", user_id="u")
    b = db.run(add_task, text="b", user_id="u")
    write(db, lambda w: w.delete(a))
    assert db.run(get_doc, doc_id=a) is None
    assert [t.id for t in db.run(all_tasks)] == [b]
    assert (
        read(db, lambda r: r.query("tasks").with_index("by_user", lambda q: q.eq("user_id", "u")).collect())[
            0
        ].id
        == b
    )


@pytest.mark.parametrize("op", ["patch", "replace", "delete"])
def test_writes_to_a_deleted_document_raise_document_not_found(db: fdb.Database, op: str) -> None:
    doc_id = db.run(add_task, text="a", user_id="u")
    write(db, lambda w: w.delete(doc_id))
    call = {
        "patch": lambda w: w.patch(doc_id, {"text": "x"}),
        "replace": lambda w: w.replace(doc_id, {"text": "x", "user_id": "u"}),
        "delete": lambda w: w.delete(doc_id),
    }[op]
    with pytest.raises(fdb.DocumentNotFound) as info:
        write(db, call)
    assert info.value.id == doc_id and info.value.table == "tasks"
    assert isinstance(info.value, LookupError)


def test_writes_see_earlier_writes_of_the_same_transaction(db: fdb.Database) -> None:
    def fn(w: fdb.Writer) -> tuple[Any, ...]:
        doc_id = w.insert("tasks", {"text": "a", "user_id": "u"})
        w.patch(doc_id, {"text": "b"})
        seen = w.get(doc_id).text
        listed = [t.text for t in w.query("tasks").collect()]
        w.delete(doc_id)
        return seen, listed, w.get(doc_id)

    assert write(db, fn) == ("b", ["b"], None)
    assert db.run(counts)["tasks"] == 0


def test_a_mutation_that_raises_writes_nothing(db: fdb.Database) -> None:
    keep = db.run(add_task, text="keep", user_id="u")

    class Boom(Exception):
        pass

    def fn(w: fdb.Writer) -> None:
        w.insert("tasks", {"text": "a", "user_id": "u"})
        w.insert("notes", {"title": "n"})
        w.patch(keep, {"text": "changed"})
        w.insert("people", {"name": "p"})
        raise Boom

    before = db.run(counts)
    with pytest.raises(Boom):
        write(db, fn)
    assert db.run(counts) == before == {"tasks": 1, "notes": 0, "people": 0}
    assert db.run(get_doc, doc_id=keep).text == "keep"
    # The database is still usable after the rollback.
    db.run(add_task, text="b", user_id="u")
    assert db.run(counts)["tasks"] == 2


def test_a_failed_write_inside_a_mutation_rolls_back_the_earlier_ones(db: fdb.Database) -> None:
    def fn(w: fdb.Writer) -> None:
        w.insert("tasks", {"text": "a", "user_id": "u"})
        w.insert("tasks", {"text": "b"})  # invalid: no user_id

    with pytest.raises(fdb.ValidationError):
        write(db, fn)
    assert db.run(counts)["tasks"] == 0


def test_a_mutation_may_catch_a_failed_write_and_go_on(db: fdb.Database) -> None:
    def fn(w: fdb.Writer) -> str:
        with contextlib.suppress(fdb.ValidationError):
            w.insert("tasks", {"text": "bad"})
        return w.insert("tasks", {"text": "good", "user_id": "u"})

    good = write(db, fn)
    assert [t.id for t in db.run(all_tasks)] == [good]


def test_mutation_returns_its_value(db: fdb.Database) -> None:
    assert write(db, lambda w: {"answer": 42}) == {"answer": 42}


@pytest.mark.parametrize("op", ["insert", "patch", "replace", "delete"])
def test_writing_inside_a_query_raises_read_only_error(db: fdb.Database, op: str) -> None:
    doc_id = db.run(add_task, text="a", user_id="u")
    call = {
        "insert": lambda r: r.insert("tasks", {"text": "x", "user_id": "u"}),
        "patch": lambda r: r.patch(doc_id, {"text": "x"}),
        "replace": lambda r: r.replace(doc_id, {"text": "x", "user_id": "u"}),
        "delete": lambda r: r.delete(doc_id),
    }[op]
    with pytest.raises(fdb.ReadOnlyError, match="read-only"):
        read(db, call)
    assert [(t.id, t.text) for t in db.run(all_tasks)] == [(doc_id, "a")]


class Sys(fdb.Document):
    value: str


def test_writing_to_a_system_table_raises_read_only_error(make_db: Callable[..., fdb.Database]) -> None:
    # System tables (names starting with "_") are maintained by fusiondb, e.g. _storage.
    db = make_db(schema, system_tables={"_sys": (1, fdb.table(Sys))})
    with pytest.raises(fdb.ReadOnlyError):
        write(db, lambda w: w.insert("_sys", {"value": "x"}))
    assert read(db, lambda r: r.query("_sys").collect()) == []


@pytest.mark.parametrize("op", ["insert", "patch", "replace", "delete"])
def test_writing_to_storage_table_directly_raises_read_only_error(db: fdb.Database, op: str) -> None:
    file_id = write(db, lambda w: w.storage.store(b"hello"))
    call = {
        "insert": lambda w: w.insert("_storage", {"size": 1}),
        "patch": lambda w: w.patch(file_id, {"size": 1}),
        "replace": lambda w: w.replace(file_id, {"size": 1}),
        "delete": lambda w: w.delete(file_id),
    }[op]
    with pytest.raises(fdb.ReadOnlyError, match=r"db\.storage"):
        write(db, call)
    assert read(db, lambda r: r.get(file_id)).size == 5


def test_run_needs_a_decorated_function(db: fdb.Database) -> None:
    def plain(w: Any) -> None:
        w.insert("tasks", {"text": "a", "user_id": "u"})

    with pytest.raises(TypeError, match=r"@fdb\.query or @fdb\.mutation"):
        db.run(plain)
    with pytest.raises(TypeError):
        db.run(lambda w: None)
    with pytest.raises(TypeError):
        db.subscribe(add_task)  # type: ignore[arg-type]
    assert db.run(counts)["tasks"] == 0


def test_decorated_functions_are_still_callable_with_a_db(db: fdb.Database) -> None:
    @fdb.mutation
    def add_two(w: fdb.Writer) -> list[str]:
        # A mutation may call another mutation (or a query) directly, in the same transaction.
        return [add_task(w, text="a", user_id="u"), add_task(w, text="b", user_id="u")]

    ids = db.run(add_two)
    assert [t.id for t in db.run(all_tasks)] == ids


def test_nested_run_raises_fusion_error(db: fdb.Database) -> None:
    @fdb.mutation
    def outer(w: fdb.Writer) -> None:
        w.insert("tasks", {"text": "a", "user_id": "u"})
        db.run(add_task, text="b", user_id="u")

    @fdb.query
    def outer_query(r: fdb.Reader) -> Any:
        return db.run(all_tasks)

    with pytest.raises(fdb.FusionError, match="inside a running query or mutation"):
        db.run(outer)
    with pytest.raises(fdb.FusionError, match="inside a running query or mutation"):
        db.run(outer_query)
    assert db.run(counts)["tasks"] == 0
    # The guard is released: the database works normally afterwards.
    db.run(add_task, text="c", user_id="u")
    assert db.run(counts)["tasks"] == 1


def test_context_used_after_its_transaction_raises_database_closed(db: fdb.Database) -> None:
    doc_id = db.run(add_task, text="a", user_id="u")
    writer = write(db, lambda w: w)
    reader = read(db, lambda r: r)
    for call in (
        lambda: writer.insert("tasks", {"text": "x", "user_id": "u"}),
        lambda: writer.patch(doc_id, {"text": "x"}),
        lambda: writer.replace(doc_id, {"text": "x", "user_id": "u"}),
        lambda: writer.delete(doc_id),
        lambda: writer.get(doc_id),
        lambda: reader.get(doc_id),
        lambda: reader.query("tasks"),
    ):
        with pytest.raises(fdb.DatabaseClosed):
            call()
    assert db.run(get_doc, doc_id=doc_id).text == "a"


def test_closed_database_raises_database_closed(db: fdb.Database) -> None:
    db.run(add_task, text="a", user_id="u")
    db.close()
    assert db.closed
    with pytest.raises(fdb.DatabaseClosed):
        db.run(add_task, text="b", user_id="u")
    with pytest.raises(fdb.DatabaseClosed):
        db.run(all_tasks)
    with pytest.raises(fdb.DatabaseClosed):
        db.subscribe(all_tasks)
    db.close()  # closing twice is fine


def test_closed_file_database_is_intact(tmp_path: Path) -> None:
    path = tmp_path / "x.db"
    db = fdb.open(path, schema)
    ids = [db.run(add_task, text=str(i), user_id="u") for i in range(5)]
    with db:
        pass  # the context manager closes it
    with pytest.raises(fdb.DatabaseClosed):
        db.run(add_task, text="late", user_id="u")
    conn = apsw.Connection(str(path))
    try:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    finally:
        conn.close()
    with fdb.open(path, schema) as again:
        assert [t.id for t in again.run(all_tasks)] == ids


def test_id_field_referencing_the_wrong_table_is_a_validation_error(db: fdb.Database) -> None:
    note = write(db, lambda w: w.insert("notes", {"title": "n"}))
    task = db.run(add_task, text="a", user_id="u")
    with pytest.raises(fdb.ValidationError) as info:
        write(db, lambda w: w.insert("notes", Note(title="x", task=note)))
    assert (info.value.table, info.value.field) == ("notes", "task")
    with pytest.raises(fdb.ValidationError):
        write(db, lambda w: w.patch(note, {"task": note}))
    write(db, lambda w: w.patch(note, {"task": task}))
    assert db.run(get_doc, doc_id=note).task == task
    assert db.run(counts)["notes"] == 1


def test_serializable_read_modify_write(db: fdb.Database) -> None:
    doc_id = db.run(add_task, text="0", user_id="u")

    @fdb.mutation
    def bump(w: fdb.Writer) -> None:
        w.patch(doc_id, {"priority": w.get(doc_id).priority + 1})

    for _ in range(10):
        db.run(bump)
    assert db.run(get_doc, doc_id=doc_id).priority == 10


class Aliased(fdb.Document):
    x: int = pydantic.Field(alias="y")
    other: str = ""


aliased_schema = fdb.Schema(aliased=fdb.table(Aliased).index("by_x", ["x"]))


def test_fields_with_an_alias_round_trip(make_db: Callable[..., fdb.Database]) -> None:
    db = make_db(aliased_schema)
    from_dict = write(db, lambda w: w.insert("aliased", {"y": 1}))
    from_model = write(db, lambda w: w.insert("aliased", Aliased(y=2)))
    write(db, lambda w: w.patch(from_dict, {"other": "patched"}))
    got = read(db, lambda r: (r.get(from_dict), r.get(from_model)))
    assert (got[0].x, got[0].other, got[1].x) == (1, "patched", 2)
    # Stored (and indexed) under the field name.
    found = read(db, lambda r: r.query("aliased").with_index("by_x", lambda q: q.eq("x", 2)).collect())
    assert [d.id for d in found] == [from_model]
    assert read(db, lambda r: r.query("aliased").as_dicts().first())["x"] == 1


class Rollback(Exception):
    pass


class MutationsAgreeWithAModel(RuleBasedStateMachine):
    """Random inserts, patches, replaces, deletes and rolled-back mutations, checked after
    every step against a dict of what should be stored, through gets and index ranges."""

    def __init__(self) -> None:
        super().__init__()
        self.db = fdb.open(None, schema)
        self.docs: dict[str, dict[str, Any]] = {}  # id -> stored fields
        self.order: list[str] = []  # insertion order

    ids = Bundle("ids")

    @rule(target=ids, user=st.sampled_from("ab"), priority=st.integers(-2, 2))
    def insert(self, user: str, priority: int) -> str:
        doc = {"text": f"t{len(self.order)}", "user_id": user, "priority": priority, "completed": False}
        doc_id: str = write(self.db, lambda w: w.insert("tasks", doc))
        self.docs[doc_id] = doc
        self.order.append(doc_id)
        return doc_id

    @rule(doc_id=ids, priority=st.one_of(st.none(), st.integers(-2, 2)), done=st.booleans())
    def patch(self, doc_id: str, priority: int | None, done: bool) -> None:
        if doc_id not in self.docs:
            with pytest.raises(fdb.DocumentNotFound):
                write(self.db, lambda w: w.patch(doc_id, {"priority": priority}))
            return
        write(self.db, lambda w: w.patch(doc_id, {"priority": priority, "completed": done}))
        self.docs[doc_id] |= {"priority": 0 if priority is None else priority, "completed": done}

    @rule(doc_id=ids, user=st.sampled_from("ab"))
    def replace(self, doc_id: str, user: str) -> None:
        if doc_id not in self.docs:
            return
        write(self.db, lambda w: w.replace(doc_id, {"text": "r", "user_id": user}))
        self.docs[doc_id] = {"text": "r", "user_id": user, "priority": 0, "completed": False}

    @rule(doc_id=ids)
    def delete(self, doc_id: str) -> None:
        if doc_id in self.docs:
            write(self.db, lambda w: w.delete(doc_id))
            del self.docs[doc_id]

    @rule(doc_id=ids)
    def rolled_back(self, doc_id: str) -> None:
        def fn(w: fdb.Writer) -> None:
            w.insert("tasks", {"text": "ghost", "user_id": "a"})
            if doc_id in self.docs:
                w.patch(doc_id, {"text": "ghost"})
            raise Rollback

        with pytest.raises(Rollback):
            write(self.db, fn)

    @invariant()
    def stored_documents_match(self) -> None:
        got = read(self.db, lambda r: r.query("tasks").as_dicts().collect())
        assert [d["id"] for d in got] == [i for i in self.order if i in self.docs]
        for d in got:
            assert {k: d[k] for k in ("text", "user_id", "priority", "completed")} == self.docs[d["id"]]

    @invariant()
    def index_ranges_match(self) -> None:
        for user in "ab":
            got = read(
                self.db,
                lambda r, user=user: [
                    t.id
                    for t in r.query("tasks")
                    .with_index("by_user_priority", lambda q: q.eq("user_id", user).gte("priority", 0))
                    .collect()
                ],
            )
            expected = sorted(
                (
                    i
                    for i in self.order
                    if i in self.docs and self.docs[i]["user_id"] == user and self.docs[i]["priority"] >= 0
                ),
                key=lambda i: (self.docs[i]["priority"], self.order.index(i)),
            )
            assert got == expected

    def teardown(self) -> None:
        self.db.close()


MutationsAgreeWithAModel.TestCase.settings = settings(max_examples=30, stateful_step_count=25, deadline=None)
test_mutations_agree_with_a_model = MutationsAgreeWithAModel.TestCase


def test_unknown_fields_are_refused_not_dropped(db: fdb.Database) -> None:
    @fdb.mutation
    def insert_typo(db: fdb.Writer) -> str:
        return db.insert("tasks", {"text": "a", "user_id": "u", "complted": True})

    @fdb.mutation
    def patch_typo(db: fdb.Writer, task_id: str) -> None:
        db.patch(task_id, {"complted": True})

    with pytest.raises(fdb.ValidationError) as info:
        db.run(insert_typo)
    assert info.value.field == "complted" and info.value.table == "tasks"
    assert "complted" in str(info.value)
    task_id = db.run(add_task, text="a", user_id="u")
    with pytest.raises(fdb.ValidationError) as info:
        db.run(patch_typo, task_id=task_id)
    assert info.value.field == "complted" and info.value.id == task_id
    assert len(db.run(all_tasks)) == 1


def test_creation_time_follows_insertion_order_across_connections(tmp_path: Path) -> None:
    path = tmp_path / "clock.db"
    first, second = fdb.open(path, schema), fdb.open(path, schema)
    try:
        # A connection whose clock ran ahead, as another process's might.
        first._runner.clock._last = time.time() * 1000.0 + 60_000
        ahead = first.run(add_task, text="ahead", user_id="u")
        later = second.run(add_task, text="later", user_id="u")
        docs = second.run(all_tasks)
        assert [d.id for d in docs] == [ahead, later]
        assert docs[1].creation_time > docs[0].creation_time
    finally:
        first.close()
        second.close()


def test_creation_time_floor_is_redone_after_another_connection_commits(tmp_path: Path) -> None:
    # The floor (newest stored creation time) is looked up once and then trusted while only
    # this database commits; a commit by another connection must make it look again.
    path = tmp_path / "clock.db"
    first, second = fdb.open(path, schema), fdb.open(path, schema)
    lookups: list[str] = []

    def trace(cursor: Any, sql: str, bindings: Any) -> bool:
        if "SELECT creation_time FROM" in sql:
            lookups.append(sql)
        return True

    second._engine.writer.conn.exec_trace = trace
    try:
        ids = [second.run(add_task, text="s1", user_id="u"), second.run(add_task, text="s2", user_id="u")]
        assert len(lookups) == 1  # nobody else committed in between
        first._runner.clock._last = time.time() * 1000.0 + 60_000
        ids.append(first.run(add_task, text="ahead", user_id="u"))
        ids.append(second.run(add_task, text="after", user_id="u"))
        assert len(lookups) == 2
        docs = second.run(all_tasks)
        assert [d.id for d in docs] == ids
        assert docs[3].creation_time > docs[2].creation_time
    finally:
        first.close()
        second.close()
