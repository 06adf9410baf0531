"""The fusiondb command: every command through click's CliRunner, and once each as a real process."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest
from click.testing import CliRunner, Result

import fusiondb as fdb
from fusiondb.cli import MISSING_EXTRA
from fusiondb.cli.commands import cli
from fusiondb.evolution.catalog import CATALOG_FORMAT
from tests.models import Note, Task, schema


class Gone(fdb.Document):
    x: int


@fdb.mutation
def seed(db: fdb.Writer) -> None:
    first = db.insert("tasks", Task(text="milk", user_id="u1", priority=1))
    db.insert("tasks", Task(text="bread", user_id="u1", priority=2))
    db.insert("tasks", Task(text="tea", user_id="u2"))
    file_id = db.storage.store(b"hello bytes", "text/plain")
    db.insert("notes", Note(title="n", task=first, attachment=file_id))


@pytest.fixture
def app_db(tmp_path: Path) -> Path:
    path = tmp_path / "app.db"
    with fdb.open(path, fdb.Schema(**schema.tables, gone=fdb.table(Gone))) as db:
        db.run(seed)
        db.run(fdb.mutation(lambda w: w.insert("gone", Gone(x=1))))
    fdb.open(path, schema).close()  # "gone" is now removed from the schema, its document kept
    return path


def run(*args: Any, ok: bool = True, stdin: bytes | None = None) -> Result:
    result = CliRunner().invoke(cli, [str(a) for a in args], input=stdin)
    assert (result.exit_code == 0) == ok, result.output
    return result


def json_lines(text: str) -> list[Any]:
    return [orjson.loads(line) for line in text.splitlines() if line]


def test_tables(app_db: Path) -> None:
    out = run("tables", app_db).stdout
    assert "catalog version" in out
    assert any(line.split()[:2] == ["tasks", "3"] and "by_user" in line for line in out.splitlines())
    assert any(line.startswith("gone") and "removed" in line for line in out.splitlines())
    data = orjson.loads(run("tables", app_db, "--json").stdout)
    assert data["catalog_format"] == CATALOG_FORMAT == 2
    by_name = {t["name"]: t for t in data["tables"]}
    assert by_name["tasks"]["documents"] == 3 and by_name["gone"]["removed"] is True


def test_show(app_db: Path) -> None:
    docs = json_lines(run("show", app_db, "tasks", "--index", "by_user", "--eq", "user_id=u1",
                          "--order", "desc", "--json").stdout)
    assert [d["text"] for d in docs] == ["bread", "milk"]
    assert list(docs[0])[:2] == ["id", "creation_time"]
    docs = json_lines(run("show", app_db, "tasks", "--index", "by_user_priority", "--eq", "user_id=u1",
                          "--eq", "priority=2", "--json").stdout)
    assert [d["text"] for d in docs] == ["bread"]
    table = run("show", app_db, "tasks", "--limit", "2").stdout
    assert table.splitlines()[1].split()[:2] == ["id", "text"] and "tea" not in table
    assert json_lines(run("show", app_db, "gone", "--json").stdout)[0]["x"] == 1


@pytest.mark.parametrize(("args", "message"), [
    (("tables", "missing.db"), "no such file"),
    (("show", "{db}", "nope"), "no table named 'nope'"),
    (("show", "{db}", "tasks", "--index", "nope"), "no index 'nope'"),
    (("show", "{db}", "tasks", "--eq", "user_id=u1"), "--eq needs --index"),
    (("show", "{db}", "tasks", "--index", "by_user", "--eq", "user_id"), "FIELD=VALUE"),
    (("export", "{db}", "nope"), "no table 'nope'"),
    (("get-file", "{db}", "nope", "-o", "-"), "nope"),
])
def test_errors_are_one_line_and_exit_1(app_db: Path, args: tuple[str, ...], message: str) -> None:
    result = run(*(a.format(db=app_db) for a in args), ok=False)
    assert result.exit_code == 1
    assert message in result.stderr and "Traceback" not in result.output


def test_not_a_fusiondb_file(tmp_path: Path) -> None:
    (tmp_path / "x.txt").write_text("hi")
    assert "not a SQLite database" in run("tables", tmp_path / "x.txt", ok=False).stderr


def test_export_and_import_round_trip(app_db: Path, tmp_path: Path) -> None:
    out = tmp_path / "all.jsonl"
    run("export", app_db, "-o", out)
    assert {d["$table"] for d in json_lines(out.read_text())} == {"notes", "tasks"}
    stdout = run("export", app_db, "tasks").stdout
    assert [d["text"] for d in json_lines(stdout)] == ["milk", "bread", "tea"]
    fdb.open(tmp_path / "new.db", schema).close()
    for table in ("tasks", "notes"):
        result = run("import", tmp_path / "new.db", table, out, "--keep-ids")
        assert "imported" in result.stderr
    run("export", tmp_path / "new.db", "-o", tmp_path / "again.jsonl")
    assert json_lines((tmp_path / "again.jsonl").read_text()) == json_lines(out.read_text())


def test_import_reports_a_bad_line_and_imports_nothing(app_db: Path, tmp_path: Path) -> None:
    data = tmp_path / "bad.jsonl"
    data.write_text('{"text": "a", "user_id": "u"}\n{"text": "b"}\n')
    result = run("import", app_db, "tasks", data, "--batch-size", "1", ok=False)
    assert "line 2:" in result.stderr and "user_id" in result.stderr
    assert orjson.loads(run("tables", app_db, "--json").stdout)["tables"][-1]["documents"] == 3
    ok = run("import", app_db, "tasks", "-", stdin=b'{"text": "c", "user_id": "u"}\n')
    assert "imported 1 documents into tasks" in ok.stderr


def test_backup(app_db: Path, tmp_path: Path) -> None:
    run("backup", app_db, tmp_path / "copy.db")
    assert "tasks" in run("tables", tmp_path / "copy.db").stdout
    assert "already exists" in run("backup", app_db, tmp_path / "copy.db", ok=False).stderr


def test_files_and_get_file(app_db: Path, tmp_path: Path) -> None:
    (listed,) = json_lines(run("files", app_db, "--json").stdout)
    assert listed["size"] == 11 and listed["content_type"] == "text/plain"
    assert listed["id"] in run("files", app_db).stdout
    run("get-file", app_db, listed["id"], "-o", tmp_path / "out.bin")
    assert (tmp_path / "out.bin").read_bytes() == b"hello bytes"
    assert run("get-file", app_db, listed["id"], "-o", "-").stdout_bytes == b"hello bytes"


def test_watch_once_and_count(app_db: Path) -> None:
    views = json_lines(run("watch", app_db, "tasks", "--index", "by_user", "--eq", "user_id=u2",
                           "--once", "--json").stdout)
    assert [[d["text"] for d in v] for v in views] == [["tea"]]


def test_watch_redraws_when_another_connection_writes(app_db: Path) -> None:
    # A real process: the writes start only once it has printed its first view, so that view
    # holds none of them however slowly the process starts.
    watch = subprocess.Popen(
        [sys.executable, "-m", "fusiondb", "watch", str(app_db), "tasks", "--index", "by_user",
         "--eq", "user_id=u2", "--count", "2", "--json"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert watch.stdout is not None
        first = orjson.loads(watch.stdout.readline())
        with fdb.open(app_db, schema) as db:
            for text in ("one", "two"):
                db.run(fdb.mutation(lambda w, t=text: w.insert("tasks", Task(text=t, user_id="u2"))))
        out, err = watch.communicate(timeout=60)
    finally:
        watch.kill()
    assert watch.returncode == 0, err
    second = json_lines(out)
    assert [d["text"] for d in first] == ["tea"]
    assert len(second) == 1 and second[0][0]["text"] == "tea" and len(second[0]) > 1


def cmd(*args: Any, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([sys.executable, "-m", "fusiondb", *map(str, args)], capture_output=True,
                          input=stdin, timeout=60, check=False)


def test_every_command_as_a_real_process(app_db: Path, tmp_path: Path) -> None:
    assert b"tasks" in cmd("tables", app_db).stdout
    assert b"milk" in cmd("show", app_db, "tasks").stdout
    exported = cmd("export", app_db, "tasks").stdout
    assert len(exported.splitlines()) == 3
    assert cmd("import", app_db, "tasks", "-", stdin=exported).returncode == 0
    assert cmd("backup", app_db, tmp_path / "copy.db").returncode == 0
    assert (tmp_path / "copy.db").exists()
    assert len(orjson.loads(cmd("watch", app_db, "tasks", "--once", "--json").stdout)) == 6
    (listed,) = json_lines(cmd("files", app_db, "--json").stdout.decode())
    assert cmd("get-file", app_db, listed["id"], "-o", "-").stdout == b"hello bytes"
    failed = cmd("show", app_db, "nope")
    assert failed.returncode == 1 and b"no table named 'nope'" in failed.stderr


def test_the_console_script_is_installed() -> None:
    script = Path(sys.executable).with_name("fusiondb")
    result = subprocess.run([str(script), "--help"], capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0 and "export" in result.stdout


def test_missing_extra_says_what_to_install() -> None:
    code = (
        "import sys; sys.modules['click'] = None\n"
        "from fusiondb.cli import main\n"
        "main(['--help'])\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                            check=False)
    assert result.returncode == 1
    assert result.stderr == MISSING_EXTRA
