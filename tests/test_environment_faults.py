"""Environment faults: read-only files and directories, a full disk, corrupt, foreign and
non-SQLite files, a truncated WAL, a catalog from a newer fusiondb, two processes opening
with different schemas at once. Each gives a clear typed error and damages no data."""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from pathlib import Path

import apsw
import pytest

import fusiondb as fdb
from fusiondb.engine.sqlite import connection
from tests.models import Task, add_task, all_tasks, insert, insert_all, schema
from tests.stress_workers import SPAWN, integrity


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _filled(path: Path, n: int = 20) -> None:
    with fdb.open(path, schema) as db:
        for i in range(n):
            db.run(add_task, text=f"t{i}", user_id="u")


def _open_as_nobody(path: str) -> str:
    """In a child: drop root (file modes do not bind root), open ``path``; the error's type."""
    if os.geteuid() == 0:
        os.setgid(65534)
        os.setuid(65534)
    try:
        fdb.open(path, schema).close()
    except fdb.FusionError as exc:
        return f"{type(exc).__name__}: {exc}"
    return "opened"


@pytest.fixture
def shared_dir() -> object:
    """A directory another user may enter (tmp_path is private to root)."""
    where = Path(tempfile.mkdtemp(prefix="fdb-ro-"))
    where.chmod(0o755)
    yield where
    where.chmod(0o755)
    shutil.rmtree(where)


def test_read_only_file(shared_dir: Path) -> None:
    path = shared_dir / "ro.db"
    _filled(path)
    path.chmod(0o444)
    before = _digest(path)
    with SPAWN.Pool(1) as pool:
        out = pool.apply(_open_as_nobody, (str(path),))
    assert out.startswith("ReadOnlyError") and "read-only" in out and "writable" in out, out
    assert _digest(path) == before


def test_read_only_directory(shared_dir: Path) -> None:
    path = shared_dir / "in-ro-dir.db"
    _filled(path)
    shared_dir.chmod(0o555)
    with SPAWN.Pool(1) as pool:
        existing = pool.apply(_open_as_nobody, (str(path),))
        new = pool.apply(_open_as_nobody, (str(shared_dir / "new.db"),))
    assert existing.startswith("ReadOnlyError"), existing
    assert new.startswith("DatabaseError") and "directory" in new, new
    shared_dir.chmod(0o755)
    assert integrity(str(path)) == "ok"
    with fdb.open(path, schema) as db:
        assert len(db.run(all_tasks)) == 20


def test_disk_full_rolls_back_and_keeps_the_database_usable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "full.db"
    _filled(path, 5)
    pages = apsw.Connection(str(path)).pragma("page_count")
    # Every connection fusiondb opens gets a page limit a little over the current size.
    monkeypatch.setattr(
        connection,
        "FILE_SETTINGS",
        (*connection.FILE_SETTINGS, connection._pragma("max_page_count", pages + 8)),
    )
    with fdb.open(path, schema) as db:
        big = [{"text": "x" * 2000, "user_id": "u"} for _ in range(100)]
        with pytest.raises(fdb.DatabaseError, match="full") as info:
            db.run(insert_all, table="tasks", docs=big)
        assert "nothing of it was written" in str(info.value)
        assert len(db.run(all_tasks)) == 5
        db.run(add_task, text="small", user_id="u")  # small writes still fit
        assert len(db.run(all_tasks)) == 6
    assert integrity(str(path)) == "ok"


def test_corrupt_file_is_refused_untouched(tmp_path: Path) -> None:
    path = tmp_path / "corrupt.db"
    _filled(path, 200)
    data = bytearray(path.read_bytes())
    data[100:4096] = b"\xff" * (4096 - 100)  # the first page's schema records
    path.write_bytes(bytes(data))
    before = _digest(path)
    with pytest.raises(fdb.DatabaseError, match="corrupt"):
        fdb.open(path, schema)
    assert _digest(path) == before


def test_non_sqlite_file_is_refused_untouched(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_bytes(b"these are my notes, not a database\n" * 200)
    before = _digest(path)
    with pytest.raises(fdb.DatabaseError, match="not a SQLite database"):
        fdb.open(path, schema)
    assert _digest(path) == before
    assert not (tmp_path / "notes.txt-wal").exists()


def test_truncated_wal_loses_at_most_the_unchecked_tail(tmp_path: Path) -> None:
    path = tmp_path / "wal.db"
    fdb.open(path, schema).close()
    with fdb.open(path, schema) as db:
        db._engine.writer.conn.wal_autocheckpoint(0)  # keep every commit in the WAL
        for i in range(30):
            db.run(add_task, text=f"t{i}", user_id="u")
        shutil.copy(path, tmp_path / "copy.db")
        shutil.copy(f"{path}-wal", tmp_path / "copy.db-wal")
    copy = tmp_path / "copy.db"
    wal = Path(f"{copy}-wal")
    wal.write_bytes(wal.read_bytes()[: wal.stat().st_size // 2])
    assert integrity(str(copy)) == "ok"
    with fdb.open(copy, schema) as db:
        texts = [t.text for t in db.run(all_tasks)]
    # A prefix of the commits survives, in order, none half-applied.
    assert texts == [f"t{i}" for i in range(len(texts))]


def test_foreign_sqlite_file_is_refused_untouched(tmp_path: Path) -> None:
    path = tmp_path / "theirs.db"
    conn = apsw.Connection(str(path))
    conn.execute("CREATE TABLE tasks(a, b); INSERT INTO tasks VALUES (1, 2)")
    conn.close()
    before = _digest(path)
    with pytest.raises(fdb.SchemaError, match="did not create"):
        fdb.open(path, schema)
    assert _digest(path) == before
    conn = apsw.Connection(str(path))
    assert conn.pragma("journal_mode") == "delete"  # not switched to WAL
    assert list(conn.execute("SELECT * FROM tasks")) == [(1, 2)]


def test_catalog_from_a_newer_fusiondb(tmp_path: Path) -> None:
    path = tmp_path / "newer.db"
    _filled(path, 3)
    conn = apsw.Connection(str(path))
    conn.execute("UPDATE _fdb_catalog SET value = '99' WHERE key = 'format'")
    conn.close()
    with pytest.raises(fdb.SchemaError, match="newer fusiondb"):
        fdb.open(path, schema)
    conn = apsw.Connection(str(path))
    assert conn.execute("SELECT count(*) FROM tasks").get == 3


class TaskV2(fdb.Document):
    text: str
    completed: bool = False
    user_id: str
    priority: int = 0
    due: str | None = None


schema_v2 = fdb.Schema(tasks=fdb.table(TaskV2).index("by_user", ["user_id"]).index("by_due", ["due"]))


def _open_with(path: str, version: int, barrier: object) -> str:
    barrier.wait()  # type: ignore[attr-defined]
    try:
        with fdb.open(path, schema if version == 1 else schema_v2) as db:
            db.run(insert, table="tasks", doc={"text": f"v{version}", "user_id": "u"})
        return "ok"
    except fdb.FusionError as exc:
        return f"{type(exc).__name__}: {exc}"


def test_two_processes_open_with_different_schemas_at_once(tmp_path: Path) -> None:
    for round_ in range(3):
        path = str(tmp_path / f"race-{round_}.db")
        _filled(Path(path), 10)
        barrier = SPAWN.Manager().Barrier(2)
        with SPAWN.Pool(2) as pool:
            results = [pool.apply_async(_open_with, (path, v, barrier)) for v in (1, 2)]
            outcomes = [r.get(60) for r in results]
        for out in outcomes:
            assert out == "ok" or out.startswith("SchemaError"), out
        assert integrity(path) == "ok"
        with fdb.open(path, schema) as db:
            texts = [t.text for t in db.run(all_tasks)]
        assert len(texts) == 10 + outcomes.count("ok")


def test_task_model_unchanged() -> None:
    # The race above relies on v2 being a compatible superset of the shared model.
    assert set(Task.model_fields) < set(TaskV2.model_fields)
