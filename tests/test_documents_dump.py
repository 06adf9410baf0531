"""Documents as plain pydantic models: a stored document dumps its id and creation time (so
an API returning documents returns their ids), while what fusiondb stores never holds them."""

from __future__ import annotations

from typing import Any

import orjson
import pydantic
import pytest

import fusiondb as fdb
from fusiondb.core.tableinfo import TableInfo
from tests.helpers import raw_sql
from tests.models import Task


def stored_body(db: fdb.Database, table: str, doc_id: str) -> dict[str, Any]:
    """The stored document body, straight from SQLite."""
    from fusiondb.core.ids import decode_id

    decoded = decode_id(doc_id)
    assert decoded is not None
    body: dict[str, Any] = orjson.loads(
        raw_sql(db, f'SELECT doc FROM "{table}" WHERE _id = ?', (decoded[1],))[0][0]
    )
    return body


@fdb.mutation
def insert(w: fdb.Writer, table: str, doc: Any) -> str:
    return w.insert(table, doc)


@fdb.query
def get(r: fdb.Reader, doc_id: str) -> Any:
    return r.get(doc_id)


class Page(pydantic.BaseModel):
    items: list[Task]
    next_cursor: str | None = None


def stored_task(db: fdb.Database) -> Task:
    doc_id = db.run(insert, table="tasks", doc=Task(text="milk", user_id="u1", priority=2))
    task: Task = db.run(get, doc_id=doc_id)
    assert task.id == doc_id and isinstance(task.creation_time, float)
    return task


def test_a_stored_document_dumps_its_id_and_creation_time(db: fdb.Database) -> None:
    task = stored_task(db)
    dumped = task.model_dump()
    assert dumped["id"] == task.id and dumped["creation_time"] == task.creation_time
    back = Task.model_validate(dumped)
    assert (back.id, back.creation_time) == (task.id, task.creation_time)
    assert back == task
    as_json = orjson.loads(task.model_dump_json())
    assert as_json["id"] == task.id and as_json["creation_time"] == task.creation_time
    from_json = Task.model_validate_json(task.model_dump_json())
    assert (from_json.id, from_json.creation_time) == (task.id, task.creation_time)


def test_a_document_built_by_hand_dumps_no_id() -> None:
    task = Task(text="milk", user_id="u1")
    assert task.model_dump() == {"text": "milk", "completed": False, "user_id": "u1", "priority": 0}
    assert b'"id"' not in task.model_dump_json().encode()
    assert "creation_time" not in task.model_dump_json()


def test_a_document_nested_in_another_model_dumps_its_id(db: fdb.Database) -> None:
    task = stored_task(db)
    page = Page(items=[task, Task(text="new", user_id="u1")])
    items = page.model_dump()["items"]
    assert items[0]["id"] == task.id and items[0]["creation_time"] == task.creation_time
    assert "id" not in items[1]
    assert orjson.loads(page.model_dump_json())["items"][0]["id"] == task.id
    # What a web framework does with a response model: serialize through a TypeAdapter.
    listed = orjson.loads(pydantic.TypeAdapter(list[Task]).dump_json([task]))
    assert listed[0]["id"] == task.id
    # ... and the serialization JSON schema (an OpenAPI response) names both fields.
    props = Task.model_json_schema(mode="serialization")["properties"]
    assert "id" in props and "creation_time" in props


def test_inserting_a_dumped_stored_document_stores_a_copy_without_its_id(db: fdb.Database) -> None:
    task = stored_task(db)
    copy = Task.model_validate(task.model_dump())
    assert copy.id == task.id  # the copy carries the stored document's id ...
    new_id = db.run(insert, table="tasks", doc=copy)
    assert new_id != task.id  # ... which is not used
    body = stored_body(db, "tasks", new_id)
    assert body == {"text": "milk", "completed": False, "user_id": "u1", "priority": 2}
    assert stored_body(db, "tasks", task.id or "") == body
    got = db.run(get, doc_id=new_id)
    assert got.id == new_id and got.creation_time > (task.creation_time or 0)


def test_replacing_with_a_read_document_stores_no_id(db: fdb.Database) -> None:
    task = stored_task(db)
    changed = task.model_copy(update={"text": "oat milk"})
    db.run(fdb.mutation(lambda w: w.replace(task.id, changed)))
    body = stored_body(db, "tasks", task.id or "")
    assert "id" not in body and "creation_time" not in body and body["text"] == "oat milk"


def test_a_dict_dumped_from_a_stored_document_is_refused_with_a_hint(db: fdb.Database) -> None:
    task = stored_task(db)
    with pytest.raises(fdb.ValidationError, match="model_dump") as info:
        db.run(insert, table="tasks", doc=task.model_dump())
    assert info.value.field == "id"
    # The hint works: without the system fields the dict is an ordinary document.
    new_id = db.run(insert, table="tasks", doc=task.model_dump(exclude={"id", "creation_time"}))
    assert "id" not in stored_body(db, "tasks", new_id)


class Tree(fdb.Document):
    name: str = ""
    child: Tree | None = None


class Checked(fdb.Document):
    count: int = 0

    @pydantic.model_validator(mode="before")
    @classmethod
    def keep(cls, data: Any) -> Any:
        return data


class Measured(fdb.Document):
    value: float = 0.0


trees = fdb.Schema(trees=fdb.table(Tree), checked=fdb.table(Checked))


def test_recursive_and_validated_models_store_no_ids() -> None:
    db = fdb.open(None, trees)
    try:
        leaf_id = db.run(insert, table="trees", doc=Tree(name="leaf"))
        leaf = db.run(get, doc_id=leaf_id)
        root_id = db.run(insert, table="trees", doc=Tree(name="root", child=leaf))
        root = db.run(get, doc_id=root_id)
        body = stored_body(db, "trees", root_id)
        assert "id" not in body and "creation_time" not in body
        # A nested document keeps what it carried: it is the user's data, not a system field.
        assert body["child"]["name"] == "leaf"
        assert root.model_dump()["id"] == root_id
        copy_id = db.run(insert, table="trees", doc=Tree.model_validate(root.model_dump()))
        assert "id" not in stored_body(db, "trees", copy_id)
        checked = db.run(get, doc_id=db.run(insert, table="checked", doc={"count": 3}))
        again = db.run(insert, table="checked", doc=Checked.model_validate(checked.model_dump()))
        assert stored_body(db, "checked", again) == {"count": 3}
    finally:
        db.close()


@pytest.mark.parametrize(
    ("model", "expected"), [(Task, False), (Tree, False), (Checked, False), (Measured, True)]
)
def test_creation_time_does_not_make_every_write_check_floats(
    model: type[fdb.Document], expected: bool
) -> None:
    # creation_time is a float in what model_dump() writes, but not in what is stored: a
    # model without float fields must not pay the NaN/infinity walk on every write.
    info = TableInfo(name="t", number=16, model=model, indexes={}, search_indexes={})
    assert info.may_hold_floats is expected
