"""Add an optional field and a field with a default: applies on open, without a check."""

from __future__ import annotations

import tempfile
from pathlib import Path

import fusiondb as fdb


class TaskV1(fdb.Document):
    text: str


class TaskV2(fdb.Document):
    text: str
    due: str | None = None  # optional: old documents read as None
    priority: int = 1  # a default: old documents read as 1


v1 = fdb.Schema(tasks=fdb.table(TaskV1))
v2 = fdb.Schema(tasks=fdb.table(TaskV2))


@fdb.mutation
def add(db: fdb.Writer, text: str) -> str:
    return db.insert("tasks", {"text": text})


@fdb.query
def everything(db: fdb.Reader) -> list[TaskV2]:
    return db.query("tasks").collect()


def main() -> None:
    path = Path(tempfile.mkdtemp()) / "app.db"
    with fdb.open(path, v1) as db:
        for i in range(1000):
            db.run(add, text=f"task {i}")

    with fdb.open(path, v2) as db:
        (change,) = db.schema_changes
        print("applied:", change)
        # Every old document is valid under the new model by construction, so no document
        # was read to apply it (checked is None).
        assert change.kind == "change_fields" and change.checked is None
        tasks = db.run(everything)
        assert {(t.due, t.priority) for t in tasks} == {(None, 1)}
        print(f"{len(tasks)} old tasks read back with due=None, priority=1")
    print("OK add_optional_field")


if __name__ == "__main__":
    main()
