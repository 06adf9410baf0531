"""db.export_jsonl / db.import_jsonl / fdb.open_stored: round trips, all-or-nothing, kept ids."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import orjson
import pytest

import fusiondb as fdb
from tests.models import Note, Person, Task, schema


@fdb.mutation
def seed(db: fdb.Writer, n: int) -> list[str]:
    ids = [db.insert("tasks", Task(text=f"t{i}", user_id=f"u{i % 3}", priority=i)) for i in range(n)]
    db.insert("notes", Note(title="first", task=ids[0]))
    db.insert("people", Person(name="Ada", address={"city": "London"}, tags=["x"]))
    return ids


@fdb.query
def tasks_of(db: fdb.Reader, user_id: str) -> list[Task]:
    return db.query("tasks").with_index("by_user", lambda q: q.eq("user_id", user_id)).collect()


@fdb.query
def note_task_text(db: fdb.Reader) -> str:
    note = db.query("notes").first()
    assert note is not None and note.task is not None
    task = db.get(note.task)
    assert task is not None
    return str(task.text)


def lines(path: Path) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in path.read_bytes().splitlines()]


def test_export_writes_stored_documents_with_id_and_creation_time(tmp_path: Path) -> None:
    with fdb.open(tmp_path / "a.db", schema) as db:
        ids = db.run(seed, n=3)
        result = db.export_jsonl(tmp_path / "tasks.jsonl", ["tasks"])
        docs = db.run(fdb.query(lambda r: r.query("tasks").as_dicts().collect()))
    assert result.documents == {"tasks": 3}
    exported = lines(tmp_path / "tasks.jsonl")
    assert [d["id"] for d in exported] == ids
    assert exported == docs
    assert list(exported[0])[:2] == ["id", "creation_time"]


def test_export_of_several_tables_names_each_line_and_writes_to_text_files(tmp_path: Path) -> None:
    with fdb.open(tmp_path / "a.db", schema) as db:
        db.run(seed, n=2)
        out = io.StringIO()
        result = db.export_jsonl(out)
    assert result.documents == {"notes": 1, "people": 1, "tasks": 2}
    tables = [orjson.loads(line)["$table"] for line in out.getvalue().splitlines()]
    assert tables == ["notes", "people", "tasks", "tasks"]


def test_export_of_an_unknown_table_is_a_schema_error(tmp_path: Path) -> None:
    with fdb.open(tmp_path / "a.db", schema) as db, pytest.raises(fdb.SchemaError, match="no table 'nope'"):
        db.export_jsonl(io.BytesIO(), ["nope"])


def test_round_trip_with_kept_ids_keeps_references_valid(tmp_path: Path) -> None:
    with fdb.open(tmp_path / "a.db", schema) as db:
        db.run(seed, n=5)
        db.export_jsonl(tmp_path / "all.jsonl")
    fdb.open(tmp_path / "b.db", schema).close()  # same application: same table numbers
    with fdb.open_stored(tmp_path / "b.db") as copy:
        for table in ("tasks", "notes", "people"):
            copy.import_jsonl(table, tmp_path / "all.jsonl", keep_ids=True)
        copy.export_jsonl(tmp_path / "again.jsonl")
    assert lines(tmp_path / "again.jsonl") == lines(tmp_path / "all.jsonl")
    with fdb.open(tmp_path / "b.db", schema) as db:
        assert db.run(note_task_text) == "t0"
        assert [t.text for t in db.run(tasks_of, user_id="u1")] == ["t1", "t4"]
        # New inserts are numbered and timed after the restored ones.
        new = db.run(fdb.mutation(lambda w: w.insert("tasks", Task(text="new", user_id="u1"))))
        last = db.run(fdb.query(lambda r: r.query("tasks").order("desc").first()))
        assert last is not None and last.id == new


def test_import_without_kept_ids_gives_new_ids(tmp_path: Path) -> None:
    with fdb.open(tmp_path / "a.db", schema) as db:
        db.run(seed, n=2)
        db.export_jsonl(tmp_path / "tasks.jsonl", ["tasks"])
        result = db.import_jsonl("tasks", tmp_path / "tasks.jsonl")
        assert (result.imported, result.skipped, result.commits) == (2, 0, 1)
        assert [t.text for t in db.run(fdb.query(lambda r: r.query("tasks").collect()))] == ["t0", "t1"] * 2


def test_a_bad_line_names_its_number_and_nothing_is_imported(tmp_path: Path) -> None:
    data = b'{"text": "a", "user_id": "u"}\n{"text": "b", "user_id": "u"}\n{"text": 3}\n'
    with fdb.open(tmp_path / "a.db", schema) as db:
        for batch in (None, 1):
            with pytest.raises(fdb.InvalidImport, match=r"line 3: .*nothing was imported") as info:
                db.import_jsonl("tasks", io.BytesIO(data), batch_size=batch)
            assert info.value.line == 3
        for bad, message in ((b"{oops\n", "not valid JSON"), (b"[1]\n", "expected a JSON object"),
                             (b'{"text": "a", "user_id": "u", "typo": 1}\n', "typo")):
            with pytest.raises(fdb.InvalidImport, match=message):
                db.import_jsonl("tasks", io.BytesIO(data[:30] + b"\n" + bad))
        assert db.system.tables()[-1].documents == 0


def test_batched_import_commits_per_batch_and_live_queries_see_it(tmp_path: Path) -> None:
    data = "".join(f'{{"text": "t{i}", "user_id": "u1"}}\n' for i in range(10))
    (tmp_path / "in.jsonl").write_text(data)
    with fdb.open(tmp_path / "a.db", schema) as db:
        sub = db.subscribe(tasks_of, user_id="u1")
        assert sub.value == []
        seen: list[int] = []
        result = db.import_jsonl("tasks", tmp_path / "in.jsonl", batch_size=4,
                                 progress=lambda task, done, total: seen.append(total))
        assert (result.imported, result.commits) == (10, 3)
        assert sub.wait(lambda v: len(v) == 10, timeout=5)
        assert set(seen) == {10}
        sub.close()


def test_batched_import_needs_a_seekable_source(tmp_path: Path) -> None:
    class Pipe(io.BytesIO):
        def seekable(self) -> bool:
            return False

    with fdb.open(tmp_path / "a.db", schema) as db, pytest.raises(fdb.InvalidImport, match="seekable"):
        db.import_jsonl("tasks", Pipe(b"{}\n"), batch_size=2)


def test_kept_ids_are_refused_into_a_non_empty_table_or_from_another_table(tmp_path: Path) -> None:
    with fdb.open(tmp_path / "a.db", schema) as db:
        db.run(seed, n=2)
        db.export_jsonl(tmp_path / "tasks.jsonl", ["tasks"])
        db.export_jsonl(tmp_path / "notes.jsonl", ["notes"])
        with pytest.raises(fdb.InvalidImport, match="only into an empty table"):
            db.import_jsonl("tasks", tmp_path / "tasks.jsonl", keep_ids=True)
    with fdb.open(tmp_path / "b.db", schema) as other:
        with pytest.raises(fdb.InvalidImport, match=r"line 1: id .* belongs to table number") as info:
            other.import_jsonl("tasks", tmp_path / "notes.jsonl", keep_ids=True)
        assert info.value.line == 1
        twice = (tmp_path / "tasks.jsonl").read_bytes().splitlines()[0] + b"\n"
        with pytest.raises(fdb.InvalidImport, match=r"line 2: id .* appears twice"):
            other.import_jsonl("tasks", io.BytesIO(twice * 2), keep_ids=True)
        with pytest.raises(fdb.InvalidImport, match="needs a document id"):
            other.import_jsonl("tasks", io.BytesIO(b'{"text": "a", "user_id": "u"}\n'), keep_ids=True)
        assert other.system.tables()[-1].documents == 0


def test_import_into_unknown_or_system_tables_is_refused(tmp_path: Path) -> None:
    with fdb.open(tmp_path / "a.db", schema) as db:
        with pytest.raises(fdb.SchemaError, match="no table named 'nope'"):
            db.import_jsonl("nope", io.BytesIO(b""))
        with pytest.raises(fdb.InvalidImport, match="maintained by fusiondb"):
            db.import_jsonl("_storage", io.BytesIO(b""))
        with pytest.raises(FileNotFoundError):
            db.import_jsonl("tasks", tmp_path / "missing.jsonl")


def test_import_streams_many_documents(tmp_path: Path) -> None:
    n = 20_000
    with open(tmp_path / "in.jsonl", "w") as f:
        for i in range(n):
            f.write(f'{{"text": "t{i}", "user_id": "u{i % 7}", "priority": {i}}}\n')
    with fdb.open(tmp_path / "a.db", schema) as db:
        assert db.import_jsonl("tasks", tmp_path / "in.jsonl").imported == n
        assert db.export_jsonl(tmp_path / "out.jsonl").documents["tasks"] == n


def test_open_stored_rebuilds_models_and_writes_nothing(tmp_path: Path) -> None:
    with fdb.open(tmp_path / "a.db", schema) as db:
        db.run(seed, n=1)
        version = db.system.catalog_version()
    before = (tmp_path / "a.db").stat().st_mtime_ns
    with fdb.open_stored(tmp_path / "a.db") as tool:
        model = tool.schema.tables["people"].model
        assert model(name="x", address={"city": "c"}).model_dump() == {
            "address": {"city": "c", "street": ""}, "age": None, "name": "x", "tags": [],
        }
        with pytest.raises(ValueError):
            model(name=3)
        assert tool.schema.tables["people"].indexes.keys() == {"by_age", "by_city"}
        assert tool.system.catalog_version() == version
        assert tool.run(fdb.query(lambda r: len(r.query("people").collect()))) == 1
    assert (tmp_path / "a.db").stat().st_mtime_ns == before


def test_open_stored_refuses_what_is_not_a_fusiondb_file(tmp_path: Path) -> None:
    import apsw

    (tmp_path / "text.db").write_text("hello")
    apsw.Connection(str(tmp_path / "plain.db")).execute("CREATE TABLE t(x)")
    for name, message in (("missing.db", "no such file"), ("text.db", "not a SQLite database"),
                          ("plain.db", "not a fusiondb one")):
        with pytest.raises(fdb.NotADatabase, match=message):
            fdb.open_stored(tmp_path / name)
    assert not (tmp_path / "missing.db").exists()
