"""``fusiondb copy SOURCE DEST`` (fusiondb/dbcopy.py): a whole database into a new one, SQLite
files today and PostgreSQL when the engine is there, ids, creation times and files kept."""

from __future__ import annotations

import hashlib
import io
import os
import tracemalloc
from pathlib import Path
from typing import Any

import orjson
import pytest
from click.testing import CliRunner, Result

import fusiondb as fdb
from fusiondb.cli.commands import cli
from fusiondb.dbcopy import copy_database
from fusiondb.pytest_plugin import drop_schemas, new_schema_name, with_schema
from tests.models import Note, Task
from tests.pg_server import postgres_url

__all__ = ["postgres_url"]  # a fixture, imported for the PostgreSQL test below


class Gone(fdb.Document):
    x: int


schema = fdb.Schema(
    tasks=fdb.table(Task)
    .index("by_user", ["user_id"])
    .search_index("search_text", search_field="text", filter_fields=["user_id"]),
    notes=fdb.table(Note),
)


@fdb.mutation
def seed(db: fdb.Writer) -> list[str]:
    first = db.insert("tasks", Task(text="buy milk", user_id="u1", priority=1))
    ids = [first, db.insert("tasks", Task(text="bread", user_id="u1", priority=2))]
    ids.append(db.insert("tasks", Task(text="tea", user_id="u2")))
    file_id = db.storage.store(b"hello bytes", "text/plain")
    ids.append(db.insert("notes", Note(title="n", task=first, attachment=file_id)))
    ids.append(file_id)
    return ids


@fdb.query
def by_user(db: fdb.Reader, user_id: str) -> list[str]:
    rows = db.query("tasks").with_index("by_user", lambda q: q.eq("user_id", user_id)).collect()
    return [t.text for t in rows]


@pytest.fixture
def app_db(tmp_path: Path) -> Path:
    path = tmp_path / "app.db"
    with fdb.open(path, fdb.Schema(**schema.tables, gone=fdb.table(Gone))) as db:
        db.run(seed)
        db.run(fdb.mutation(lambda w: w.insert("gone", Gone(x=1))))
        # Deleted rows leave gaps in the row numbers: the copy keeps every id as it is.
        doomed = db.run(fdb.mutation(lambda w: w.insert("tasks", Task(text="x", user_id="u9"))))
        db.run(fdb.mutation(lambda w: w.delete(doomed)))
        db.run(fdb.mutation(lambda w: w.insert("tasks", Task(text="after gap", user_id="u3"))))
    fdb.open(path, schema).close()  # "gone" is now removed from the schema, its document kept
    return path


def run(*args: Any, ok: bool = True) -> Result:
    result = CliRunner().invoke(cli, [str(a) for a in args])
    assert (result.exit_code == 0) == ok, result.output
    return result


def dump(where: str | Path) -> tuple[list[Any], list[tuple[Any, bytes]]]:
    """Every document of the schema's tables (as exported, ids and creation times included)
    and every stored file (metadata and bytes)."""
    with fdb.open(where, schema) as db:
        out = io.BytesIO()
        db.export_jsonl(out)
        docs = [orjson.loads(line) for line in out.getvalue().splitlines()]
        files = []
        for meta in db.system.read("_storage"):
            with db.storage.open(meta["id"]) as stream:
                files.append((meta, stream.read()))
    return docs, files


def test_copy_keeps_every_document_id_creation_time_and_file(app_db: Path, tmp_path: Path) -> None:
    dest = tmp_path / "copy.db"
    result = run("copy", app_db, dest)
    assert "copied 5 documents (tasks 4, notes 1) and 1 files (11 bytes)" in result.stderr
    assert "not copied (removed from the schema): gone" in result.stderr
    docs, files = dump(dest)
    assert (docs, files) == dump(app_db)
    assert len(docs) == 5 and files[0][1] == b"hello bytes"

    with fdb.open(dest, schema) as db:
        # The application finds its own schema: nothing to change, nothing to check.
        assert db.schema_changes == []
        assert db.run(by_user, user_id="u1") == ["buy milk", "bread"]
        assert [
            d.text
            for d in db.run(
                fdb.query(
                    lambda r: (
                        r.query("tasks")
                        .with_search_index("search_text", lambda q: q.search("text", "milk"))
                        .collect()
                    )
                )
            )
        ] == ["buy milk"]
        # New documents get new ids, created after the copied ones.
        newest = max(d["creation_time"] for d in docs)
        new_id = db.run(fdb.mutation(lambda w: w.insert("tasks", Task(text="new", user_id="u1"))))
        assert new_id not in {d["id"] for d in docs}
        assert db.run(fdb.query(lambda r: r.get(new_id))).creation_time > newest
    with fdb.open_stored(dest) as stored:
        assert "gone" not in {t.name for t in stored.system.tables()}


def test_the_copy_is_seen_by_live_queries_on_the_destination(app_db: Path, tmp_path: Path) -> None:
    dest = tmp_path / "live.db"
    fdb.open(dest, schema).close()  # the application made its (empty) tables already
    with fdb.open(dest, schema) as watching:
        sub = watching.subscribe(by_user, user_id="u1")
        assert sub.value == []
        copy_database(str(app_db), str(dest), replace=True)
        assert watching.wait_idle()
        assert sub.value == ["buy milk", "bread"]


def test_a_destination_with_documents_or_tables_is_refused_and_left_alone(
    app_db: Path, tmp_path: Path
) -> None:
    dest = tmp_path / "busy.db"
    with fdb.open(dest, schema) as db:
        db.run(fdb.mutation(lambda w: w.insert("tasks", Task(text="mine", user_id="me"))))
    before = dump(dest)
    result = run("copy", app_db, dest, ok=False)
    assert result.stderr.startswith("Error: copy: ")
    assert "already holds table 'tasks' (1 documents); nothing was written" in result.stderr
    assert "--replace" in result.stderr
    with pytest.raises(fdb.DestinationNotEmpty) as caught:
        copy_database(str(app_db), str(dest))
    assert (caught.value.dest, caught.value.table, caught.value.documents) == (str(dest), "tasks", 1)
    assert dump(dest) == before

    empty_tables = tmp_path / "empty.db"
    fdb.open(empty_tables, schema).close()
    with pytest.raises(fdb.DestinationNotEmpty) as caught:
        copy_database(str(app_db), str(empty_tables))
    assert caught.value.documents == 0  # tables, even empty: the copy numbers them itself


def test_stored_files_alone_make_a_destination_not_empty(app_db: Path, tmp_path: Path) -> None:
    dest = tmp_path / "files.db"
    with fdb.open(dest, fdb.Schema()) as db:
        db.storage.store(b"x")
    with pytest.raises(fdb.DestinationNotEmpty) as caught:
        copy_database(str(app_db), str(dest))
    assert (caught.value.table, caught.value.documents) == ("_storage", 1)
    assert "1 stored files" in str(caught.value)


def test_replace_drops_what_the_destination_held(app_db: Path, tmp_path: Path) -> None:
    dest = tmp_path / "old.db"
    with fdb.open(dest, fdb.Schema(gone=fdb.table(Gone), **schema.tables)) as db:
        db.run(fdb.mutation(lambda w: w.insert("gone", Gone(x=7))))
        db.run(fdb.mutation(lambda w: w.insert("tasks", Task(text="old", user_id="u1"))))
        db.storage.store(b"old file")
    run("copy", app_db, dest, "--replace")
    assert dump(dest) == dump(app_db)
    with fdb.open_stored(dest) as db:
        assert {t.name for t in db.system.tables()} == {"_storage", "tasks", "notes"}


def test_copy_onto_itself_or_into_another_sqlite_file_is_refused(app_db: Path, tmp_path: Path) -> None:
    result = run("copy", app_db, app_db, "--replace", ok=False)
    assert "is the source itself" in result.stderr
    plain = tmp_path / "plain.db"
    import apsw

    conn = apsw.Connection(str(plain))
    conn.execute("CREATE TABLE t(x)")
    conn.close()
    result = run("copy", app_db, plain, ok=False)
    assert "not a fusiondb database" in result.stderr
    result = run("copy", tmp_path / "missing.db", tmp_path / "x.db", ok=False)
    assert "no such file" in result.stderr and not (tmp_path / "x.db").exists()


def test_files_are_copied_a_chunk_at_a_time(tmp_path: Path) -> None:
    source, dest = tmp_path / "big.db", tmp_path / "big-copy.db"
    data = os.urandom(12 * (1 << 20))
    with fdb.open(source, schema) as db:
        file_id = db.storage.store(data)
    del data
    tracemalloc.start()
    try:
        result = copy_database(str(source), str(dest))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert (result.files, result.file_bytes) == (1, 12 * (1 << 20))
    assert peak < 4 * (1 << 20), peak  # a 12 MiB file through 1 MiB chunks
    with fdb.open(dest, schema) as db, db.storage.open(file_id) as stream:
        assert hashlib.sha256(stream.read()).hexdigest() == stream.sha256


def test_copy_from_sqlite_into_postgresql(app_db: Path, postgres_url: str) -> None:
    name = new_schema_name("copy")
    dest = with_schema(postgres_url, name)
    try:
        result = run("copy", app_db, dest)
        assert "copied 5 documents" in result.stderr
        assert dump(dest) == dump(app_db)
        with fdb.open(dest, schema) as db:
            assert db.schema_changes == []
            assert db.run(by_user, user_id="u1") == ["buy milk", "bread"]
        # And back: PostgreSQL to a new SQLite file.
        back = app_db.parent / "back.db"
        run("copy", dest, back)
        assert dump(back) == dump(app_db)
        # Into the same schema again: refused, then replaced.
        assert "already holds table 'tasks'" in run("copy", back, dest, ok=False).stderr
        run("copy", back, dest, "--replace")
        assert dump(dest) == dump(app_db)
    finally:
        drop_schemas(postgres_url, [name])
