"""Each table's read-only SQL view, read as other tools read it: with Python's sqlite3 module,
which knows nothing of fusiondb."""

from __future__ import annotations

import random
import sqlite3
from pathlib import Path
from typing import Annotated, Any

import apsw
import pytest

import fusiondb as fdb
from fusiondb.core.ids import MAX_ROWID, MAX_TABLE_NUMBER, encode_id
from fusiondb.engine.sqlite.views import id_select

TaskId = Annotated[str, fdb.Id["tasks"]]


class Task(fdb.Document):
    text: str
    done: bool = False
    tags: list[str] = []


class Note(fdb.Document):
    task: TaskId
    body: str


class TaskV2(fdb.Document):
    text: str
    done: bool = False
    tags: list[str] = []
    priority: int = 0


schema = fdb.Schema(tasks=fdb.table(Task), notes=fdb.table(Note))


@fdb.mutation
def seed(w: fdb.Writer) -> tuple[list[str], list[str]]:
    tasks = [w.insert("tasks", Task(text=f"task {i}", done=i % 2 == 0, tags=["a"] * i)) for i in range(5)]
    notes = [w.insert("notes", {"task": tasks[i % 2], "body": f"note {i}"}) for i in range(4)]
    return tasks, notes


def rows(path: Path, sql: str) -> list[dict[str, Any]]:
    conn = sqlite3.connect(path)
    conn.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in conn.execute(sql)]
    finally:
        conn.close()


def test_a_view_shows_ids_creation_times_and_fields(tmp_path: Path) -> None:
    path = tmp_path / "views.db"
    with fdb.open(path, schema) as db:
        task_ids, _ = db.run(seed)
        stored = db.run(fdb.query(lambda r: r.query("tasks").collect()))
    got = rows(path, "SELECT * FROM _view_tasks ORDER BY creation_time")
    assert list(got[0]) == ["id", "creation_time", "text", "done", "tags"]
    assert [r["id"] for r in got] == task_ids == [t.id for t in stored]
    assert [r["creation_time"] for r in got] == [t.creation_time for t in stored]
    assert got[3] == {"id": task_ids[3], "creation_time": stored[3].creation_time, "text": "task 3",
                      "done": 0, "tags": '["a","a","a"]'}


def test_an_id_field_joins_to_the_other_views_id(tmp_path: Path) -> None:
    path = tmp_path / "views.db"
    with fdb.open(path, schema) as db:
        task_ids, note_ids = db.run(seed)
    joined = rows(path, "SELECT n.id AS note, n.body, t.id AS task, t.text FROM _view_notes n "
                        "JOIN _view_tasks t ON t.id = n.task ORDER BY n.creation_time")
    assert [(r["note"], r["task"], r["text"]) for r in joined] == [
        (note_ids[i], task_ids[i % 2], f"task {i % 2}") for i in range(4)
    ]


def test_views_are_read_only(tmp_path: Path) -> None:
    path = tmp_path / "views.db"
    with fdb.open(path, schema) as db:
        db.run(seed)
    conn = sqlite3.connect(path)
    try:
        with pytest.raises(sqlite3.OperationalError, match="view"):
            conn.execute("INSERT INTO _view_tasks(text) VALUES ('x')")
    finally:
        conn.close()


def test_the_sql_id_equals_encode_id_for_many_rowids_and_table_numbers() -> None:
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE TABLE t (_id INTEGER PRIMARY KEY, creation_time REAL, doc TEXT)")
    rng = random.Random(15)
    edges = [1, 2, 255, 256, 65535, 65536, 2**31 - 1, 2**31, 2**32, 2**47, MAX_ROWID - 1, MAX_ROWID]
    rowids = sorted(set(edges + [rng.randrange(1, MAX_ROWID) for _ in range(2000)]
                        + [rng.randrange(1, 1 << 20) for _ in range(500)]))
    conn.executemany("INSERT INTO t VALUES (?, 0, '{}')", [(r,) for r in rowids])
    for number in (0, 1, 16, 17, 255, 32767, 32768, MAX_TABLE_NUMBER):
        got = {r: i for r, _, _, i in conn.execute(id_select(number, "t"))}
        assert got == {r: encode_id(number, r) for r in rowids}, number


def test_views_follow_schema_changes_and_table_drops(tmp_path: Path) -> None:
    path = tmp_path / "views.db"
    with fdb.open(path, schema) as db:
        db.run(seed)
    with fdb.open(path, fdb.Schema(tasks=fdb.table(TaskV2), notes=fdb.table(Note))):
        pass
    got = rows(path, "SELECT * FROM _view_tasks")
    assert list(got[0]) == ["id", "creation_time", "text", "done", "tags", "priority"]
    assert {r["priority"] for r in got} == {None}  # stored before the field existed
    with fdb.open(path, fdb.Schema(tasks=fdb.table(TaskV2))) as db:
        assert rows(path, "SELECT count(*) AS n FROM _view_notes") == [{"n": 4}]  # removed, kept
        db.drop_table("notes")
    names = {r["name"] for r in rows(path, "SELECT name FROM sqlite_master WHERE type = 'view'")}
    assert names == {"_view_tasks", "_view__storage"}


def test_a_file_without_views_gets_them_on_open(tmp_path: Path) -> None:
    path = tmp_path / "views.db"
    with fdb.open(path, schema) as db:
        task_ids, _ = db.run(seed)
    conn = apsw.Connection(str(path))
    conn.execute("DROP VIEW _view_tasks; DROP VIEW _view_notes")
    conn.close()
    with fdb.open(path, schema):
        pass
    assert [r["id"] for r in rows(path, "SELECT id FROM _view_tasks ORDER BY creation_time")] == task_ids
    assert len(rows(path, "SELECT * FROM _view_notes")) == 4


def test_view_names_cannot_collide_with_user_tables() -> None:
    with pytest.raises(fdb.SchemaError, match="reserved"):
        fdb.Schema(_view_tasks=fdb.table(Task))
