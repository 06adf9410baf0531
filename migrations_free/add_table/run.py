"""Add a table: declare it and open the file again. Nothing to run, nothing to migrate."""

from __future__ import annotations

import tempfile
from pathlib import Path

import fusiondb as fdb


class Task(fdb.Document):
    text: str
    user_id: str


TaskId = fdb.Id["tasks"]  # a reference to a document of the existing table


class Note(fdb.Document):
    task: TaskId
    body: str


v1 = fdb.Schema(tasks=fdb.table(Task))
v2 = fdb.Schema(tasks=fdb.table(Task), notes=fdb.table(Note).index("by_task", ["task"]))


@fdb.mutation
def add_task(db: fdb.Writer, text: str) -> str:
    return db.insert("tasks", Task(text=text, user_id="u1"))


@fdb.mutation
def add_note(db: fdb.Writer, task: str, body: str) -> str:
    return db.insert("notes", {"task": task, "body": body})


@fdb.query
def notes_of(db: fdb.Reader, task: str) -> list[str]:
    return [n.body for n in db.query("notes").with_index("by_task", lambda q: q.eq("task", task))]


def main() -> None:
    path = Path(tempfile.mkdtemp()) / "app.db"
    with fdb.open(path, v1) as db:
        task = db.run(add_task, text="buy milk")

    with fdb.open(path, v2) as db:  # the new version of the app
        for change in db.schema_changes:
            print("applied:", change)
        assert [c.kind for c in db.schema_changes] == ["add_table"]
        db.run(add_note, task=task, body="semi-skimmed")
        assert db.run(notes_of, task=task) == ["semi-skimmed"]
        print("notes of the old task:", db.run(notes_of, task=task))
    print("OK add_table")


if __name__ == "__main__":
    main()
