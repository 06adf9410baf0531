"""A small app written as a user would, type-checked by pyright (and mypy) in ``make test``.

It must check with 0 errors: fusiondb's public names resolve (no submodule shadows them),
``db.run`` returns what the function returns, and ``fdb.Id`` references are spelled in a way
type checkers accept. ``tests/test_packaging.py`` also runs it.
"""

from __future__ import annotations

from typing import Annotated

import fusiondb as fdb

UserId = str
TaskId = Annotated[str, fdb.Id["tasks"]]  # a str to a type checker, an id of "tasks" to fusiondb


class Task(fdb.Document):
    text: str
    completed: bool = False
    user_id: UserId


class Comment(fdb.Document):
    task: TaskId
    body: str


schema = fdb.Schema(
    tasks=fdb.table(Task).index("by_user", ["user_id"]),
    comments=fdb.table(Comment).index("by_task", ["task"]),
)


@fdb.mutation
def add_task(db: fdb.Writer, text: str, user_id: UserId) -> str:
    return db.insert("tasks", Task(text=text, user_id=user_id))


@fdb.mutation
def comment(db: fdb.Writer, task: str, body: str) -> str:
    return db.insert("comments", {"task": task, "body": body})


@fdb.query
def list_by_user(db: fdb.Reader, user_id: UserId) -> list[Task]:
    tasks: list[Task] = (
        db.query("tasks").with_index("by_user", lambda q: q.eq("user_id", user_id)).order("desc").collect()
    )
    return tasks


@fdb.query
def comments_on(db: fdb.Reader, task: str) -> list[Comment]:
    found: list[Comment] = db.query("comments").with_index("by_task", lambda q: q.eq("task", task)).collect()
    return found


def titles(tasks: list[Task]) -> list[str]:
    return [t.text for t in tasks]


def main(path: str | None = None) -> list[str]:
    db: fdb.Database = fdb.open(path, schema)
    try:
        seen: list[list[str]] = []
        sub: fdb.Subscription[list[Task]] = db.subscribe(list_by_user, user_id="u1")
        sub.changed.connect(lambda value: seen.append(titles(value)))
        task_id: str = db.run(add_task, text="milk", user_id="u1")
        db.run(comment, task=task_id, body="oat, please")
        tasks: list[Task] = db.run(list_by_user, user_id="u1")
        sub.wait(lambda value: len(value) == 1, timeout=5)
        sub.close()
        first: Task = tasks[0]
        assert first.id == task_id and first.creation_time is not None
        notes = db.run(comments_on, task=task_id)
        assert [c.body for c in notes] == ["oat, please"]
        return titles(tasks)
    finally:
        db.close()


if __name__ == "__main__":
    print(main())
