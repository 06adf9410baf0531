"""The functions the serve tests expose: tasks by user, files, an identity, errors."""

from __future__ import annotations

from typing import Annotated, Any

import fusiondb as fdb


class Task(fdb.Document):
    text: str
    completed: bool = False
    user_id: str
    attachment: Annotated[str, fdb.Id["_storage"]] | None = None


schema = fdb.Schema(tasks=fdb.table(Task).index("by_user", ["user_id"]))


@fdb.query
def list_by_user(db: fdb.Reader, user_id: str) -> list[Task]:
    return db.query("tasks").with_index("by_user", lambda q: q.eq("user_id", user_id)).collect()


@fdb.query
def count_all(db: fdb.Reader) -> int:
    return len(db.query("tasks").collect())


@fdb.mutation
def add(db: fdb.Writer, text: str, user_id: str, attachment: str | None = None) -> str:
    return db.insert("tasks", Task(text=text, user_id=user_id, attachment=attachment))


@fdb.mutation
def toggle(db: fdb.Writer, task_id: str) -> None:
    task = db.get(task_id)
    if task is None:
        raise fdb.FusionError(f"no task {task_id}")
    db.patch(task_id, {"completed": not task.completed})


@fdb.query
def file_url(db: fdb.Reader, file_id: str) -> str | None:
    return db.storage.get_url(file_id)


@fdb.query
def whoami(db: fdb.Reader, identity: Any) -> Any:
    return identity


@fdb.mutation
def broken(db: fdb.Writer) -> None:
    raise RuntimeError("secret internal detail")


@fdb.query
def flaky(db: fdb.Reader, user_id: str) -> int:
    tasks = list_by_user(db, user_id=user_id)
    if any(t.text == "boom" for t in tasks):
        raise fdb.FusionError("boom task")
    return len(tasks)


@fdb.mutation
def upload_url(db: fdb.Writer) -> str:
    return db.storage.generate_upload_url()


@fdb.query
def upload_url_in_a_query(db: fdb.Reader) -> str:
    return db.storage.generate_upload_url()  # refused: a query cannot hand out upload URLs


def not_exposed() -> None:
    """A plain function: never served."""


FUNCTIONS = [
    list_by_user,
    count_all,
    add,
    toggle,
    file_url,
    whoami,
    broken,
    flaky,
    upload_url,
    upload_url_in_a_query,
]
