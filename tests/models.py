"""The models and functions the tests share (importable by child processes too).

Besides the shared schema and its task functions, the small generic wrappers many test files
need: ``read``/``write`` run a lambda as a query/mutation, and ``insert``, ``insert_all``,
``patch``, ``replace``, ``delete`` and ``delete_all`` are one-write mutations on any table
(ids name their table). Functions particular to one file stay in that file.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import fusiondb as fdb


class Address(fdb.Document):
    city: str
    street: str = ""


class Task(fdb.Document):
    text: str
    completed: bool = False
    user_id: str
    priority: int = 0


# Aliases, because linters read a string inside an annotation as a forward reference.
StorageId = fdb.Id["_storage"]
TaskId = fdb.Id["tasks"]


class Note(fdb.Document):
    title: str
    body: str = ""
    attachment: StorageId | None = None
    task: TaskId | None = None


class Person(fdb.Document):
    name: str
    age: int | None = None
    address: Address | None = None
    tags: list[str] = []


schema = fdb.Schema(
    tasks=fdb.table(Task)
    .index("by_user", ["user_id"])
    .index("by_user_priority", ["user_id", "priority"]),
    notes=fdb.table(Note),
    people=fdb.table(Person).index("by_city", ["address.city"]).index("by_age", ["age"]),
)


@fdb.mutation
def add_task(db: fdb.Writer, text: str, user_id: str, priority: int = 0) -> str:
    return db.insert("tasks", Task(text=text, user_id=user_id, priority=priority))


@fdb.mutation
def toggle(db: fdb.Writer, task_id: str) -> None:
    task = db.get(task_id)
    if task is None:
        raise ValueError("Task not found")
    db.patch(task_id, {"completed": not task.completed})


@fdb.query
def list_by_user(db: fdb.Reader, user_id: str) -> list[Task]:
    return (
        db.query("tasks")
        .with_index("by_user", lambda q: q.eq("user_id", user_id))
        .order("desc")
        .collect()
    )


@fdb.query
def first_ten(db: fdb.Reader) -> list[Task]:
    return db.query("tasks").take(10)


@fdb.query
def get_doc(db: fdb.Reader, doc_id: str) -> Any:
    return db.get(doc_id)


@fdb.query
def all_tasks(db: fdb.Reader) -> list[Task]:
    return db.query("tasks").collect()


@fdb.mutation
def bump(db: fdb.Writer, task_id: str) -> int:
    """Read-modify-write of a counter (a task's priority): lost updates would show in the total."""
    task = db.get(task_id)
    db.patch(task_id, {"priority": task.priority + 1})
    return int(task.priority + 1)


def write_in_process(path: str, tag: str, n: int, counter_id: str) -> int:
    """Run in a spawned process: open the file, insert ``n`` tasks and bump the counter ``n``
    times, each write its own transaction. Returns how many inserts succeeded."""
    with fdb.open(path, schema) as db:
        for i in range(n):
            db.run(add_task, text=f"{tag}-{i}", user_id=tag)
            db.run(bump, task_id=counter_id)
    return n


# -- generic wrappers -----------------------------------------------------------------------


def read(db: fdb.Database, fn: Callable[[fdb.Reader], Any]) -> Any:
    """Run ``fn`` (usually a lambda) as a query."""
    return db.run(fdb.query(fn))


def write(db: fdb.Database, fn: Callable[[fdb.Writer], Any]) -> Any:
    """Run ``fn`` (usually a lambda) as a mutation."""
    return db.run(fdb.mutation(fn))


@fdb.mutation
def insert(db: fdb.Writer, table: str, doc: dict[str, Any]) -> str:
    return db.insert(table, doc)


@fdb.mutation
def insert_all(db: fdb.Writer, table: str, docs: list[dict[str, Any]]) -> list[str]:
    return [db.insert(table, d) for d in docs]


@fdb.mutation
def patch(db: fdb.Writer, doc_id: str, fields: dict[str, Any]) -> None:
    db.patch(doc_id, fields)


@fdb.mutation
def replace(db: fdb.Writer, doc_id: str, doc: dict[str, Any]) -> None:
    db.replace(doc_id, doc)


@fdb.mutation
def delete(db: fdb.Writer, doc_id: str) -> None:
    db.delete(doc_id)


@fdb.mutation
def delete_all(db: fdb.Writer, ids: list[str]) -> None:
    for doc_id in ids:
        db.delete(doc_id)
