"""db.backup: SQLite's online backup while another process keeps writing."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import apsw
import pytest

import fusiondb as fdb
from tests.models import schema

ROOT = Path(__file__).resolve().parent.parent

# A writer process: one task per commit, printing each id once its commit returned.
WRITER = """
import sys
import fusiondb as fdb
from tests.models import Task, schema
with fdb.open(sys.argv[1], schema) as db:
    add = fdb.mutation(lambda w, i: w.insert("tasks", Task(text=str(i), user_id="w")))
    i = 0
    while True:
        print(db.run(add, i=i), flush=True)
        i += 1
"""


@fdb.query
def all_ids(db: fdb.Reader) -> set[str]:
    return {t.id for t in db.query("tasks").collect()}


def test_backup_while_another_process_writes(tmp_path: Path) -> None:
    path = tmp_path / "live.db"
    fdb.open(path, schema).close()
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(path)], cwd=ROOT, stdout=subprocess.PIPE, text=True
    )
    try:
        assert writer.stdout is not None
        acknowledged = [writer.stdout.readline().strip() for _ in range(200)]
        with fdb.open(path, schema) as db:
            db.backup(tmp_path / "copy.db")
        more = [writer.stdout.readline().strip() for _ in range(50)]  # it kept writing
    finally:
        writer.kill()
        writer.wait()
    assert all(more)
    conn = apsw.Connection(str(tmp_path / "copy.db"))
    assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    conn.close()
    assert not (tmp_path / "copy.db-wal").exists() or (tmp_path / "copy.db-wal").stat().st_size == 0
    with fdb.open(tmp_path / "copy.db", schema) as copy:
        stored = copy.run(all_ids)
        assert set(acknowledged) <= stored  # every write acknowledged before the backup began
        assert copy.check(repair=False).ok


def test_backup_refuses_an_existing_destination_and_copies_memory_databases(tmp_path: Path) -> None:
    (tmp_path / "taken.db").write_text("keep me")
    with fdb.open(None, schema) as db:
        db.run(fdb.mutation(lambda w: w.insert("tasks", {"text": "a", "user_id": "u"})))
        with pytest.raises(fdb.FusionError, match="already exists"):
            db.backup(tmp_path / "taken.db")
        db.backup(tmp_path / "mem.db")
    assert (tmp_path / "taken.db").read_text() == "keep me"
    assert not list(tmp_path.glob("*.partial"))
    with fdb.open(tmp_path / "mem.db", schema) as copy:
        assert len(copy.run(all_ids)) == 1

