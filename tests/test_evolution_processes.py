"""Schema evolution across processes: a process with an older schema gets a SchemaError, never
corruption; an evolution racing a writer is serialized; a kill during an index build or a
migration leaves a file that opens and finishes; validator fingerprints agree between processes.

The children run code of ``tests/evolution_procs.py`` (spawned, so it must be importable).
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import apsw
import pytest

import fusiondb as fdb
from tests import evolution_procs as procs
from tests.evolution_helpers import integrity


def _spawn(target: Callable[..., Any], *args: Any) -> Any:
    proc = multiprocessing.get_context("spawn").Process(target=target, args=args)
    proc.start()
    return proc


def _wait_for(path: Path, proc: Any, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert proc.is_alive(), "the child died before reaching the marker"
        assert time.monotonic() < deadline, "the child never reached the marker"
        time.sleep(0.01)


def test_older_process_gets_schema_error_not_corruption(tmp_path: Path) -> None:
    path = tmp_path / "a.db"
    procs.populate(str(path), 20)
    old = fdb.open(path, procs.v1)
    try:
        old.run(procs.fill, count=1)
        # Another process adds a table: nothing this one declares changed, it carries on.
        proc = _spawn(procs.open_with, str(path), "v1_plus_table")
        proc.join(60)
        assert proc.exitcode == 0
        old.run(procs.fill, count=1)
        # Another process changes the items table: this one may not write (or read) it now.
        proc = _spawn(procs.open_with, str(path), "v2_index")
        proc.join(60)
        assert proc.exitcode == 0
        with pytest.raises(fdb.SchemaError, match=r"changed by another process.*items"):
            old.run(procs.fill, count=1)
        with pytest.raises(fdb.SchemaError, match="changed by another process"):
            old.run(fdb.query(lambda db: db.query("items").collect()))
    finally:
        old.close()
    with fdb.open(path, procs.v2_index) as db:
        assert len(db.run(fdb.query(lambda db: db.query("items").collect()))) == 22
    assert integrity(path) == "ok"


def test_live_query_survives_unrelated_changes_and_reports_a_stale_schema(tmp_path: Path) -> None:
    path = tmp_path / "a.db"
    procs.populate(str(path), 20)

    @fdb.query
    def count(db: fdb.Reader) -> int:
        return len(db.query("items").collect())

    with fdb.open(path, procs.v1) as db:
        sub = db.subscribe(count)
        assert sub.value == 20
        # Another process adds a table, then writes items: the live query follows.
        proc = _spawn(procs.open_and_fill, str(path), "v1_plus_table", 3)
        proc.join(60)
        assert proc.exitcode == 0
        deadline = time.monotonic() + 10
        while sub.value != 23 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert sub.value == 23 and sub.error is None
        # Another process changes the items table and writes: the re-run reports the change.
        proc = _spawn(procs.open_and_fill, str(path), "v2_index", 2)
        proc.join(60)
        assert proc.exitcode == 0
        while sub.error is None and time.monotonic() < deadline + 10:
            time.sleep(0.01)
        assert isinstance(sub.error, fdb.SchemaError)
        assert "changed by another process" in str(sub.error)
        assert sub.value == 23  # the last value computed with a schema that still held
        sub.close()


def test_evolution_racing_a_writer_is_serialized(tmp_path: Path) -> None:
    path = tmp_path / "a.db"
    procs.populate(str(path), 2000)
    stop = tmp_path / "stop"
    queue = multiprocessing.get_context("spawn").Queue()
    proc = _spawn(procs.write_until_stale, str(path), str(stop), queue)
    try:
        deadline = time.monotonic() + 30
        while _count(path) < 2050 and time.monotonic() < deadline:
            time.sleep(0.01)
        with fdb.open(path, procs.v2_index) as db:  # adds an index while the child writes
            assert [c.kind for c in db.schema_changes] == ["add_index"]
            written, outcome = queue.get(timeout=30)
            assert outcome.startswith("SchemaError") and written >= 50
            total = len(db.run(fdb.query(lambda db: db.query("items").collect())))
            by_user = sum(len(db.run(items_of_user, user=f"u{i}")) for i in range(7))
            assert total == 2000 + written == by_user
    finally:
        stop.touch()
        proc.join(30)
    assert integrity(path) == "ok"


@fdb.query
def items_of_user(db: fdb.Reader, user: str) -> list[Any]:
    return db.query("items").with_index("by_user", lambda q: q.eq("user", user)).collect()


def _count(path: Path) -> int:
    conn = apsw.Connection(str(path))
    try:
        return int(conn.execute("SELECT count(*) FROM items").fetchone()[0])  # type: ignore[index]
    finally:
        conn.close()


def test_kill_during_index_build_leaves_a_database_that_opens_and_finishes(tmp_path: Path) -> None:
    path = tmp_path / "a.db"
    ids = procs.populate(str(path), 5000)
    marker = tmp_path / "building"
    proc = _spawn(procs.build_index_then_hang, str(path), str(marker))
    _wait_for(marker, proc)
    os.kill(proc.pid, signal.SIGKILL)
    proc.join(10)
    assert proc.exitcode == -signal.SIGKILL
    assert integrity(path) == "ok"
    with fdb.open(path, procs.v1) as db:  # rolled back: the old schema, nothing to do
        assert db.schema_changes == []
    with fdb.open(path, procs.v2_index) as db:  # and the build runs again, to the end
        assert [c.kind for c in db.schema_changes] == ["add_index"]
        got = db.run(fdb.query(
            lambda db: db.query("items").with_index("by_user", lambda q: q.eq("user", "u3")).collect()
        ))
        assert [d.id for d in got] == ids[3::7]
    assert integrity(path) == "ok"


def test_kill_during_migrate_resumes_without_repeating_a_batch(tmp_path: Path) -> None:
    path = tmp_path / "a.db"
    ids = procs.populate(str(path), 400)
    marker = tmp_path / "migrating"
    proc = _spawn(procs.migrate_then_hang, str(path), str(marker), 175)
    _wait_for(marker, proc)
    os.kill(proc.pid, signal.SIGKILL)
    proc.join(10)
    assert proc.exitcode == -signal.SIGKILL
    assert integrity(path) == "ok"
    with fdb.open(path, procs.renamed) as db:
        rows = db.system.read("items")
        # Batches of 50: three committed, the fourth (with document 175) rolled back.
        assert [r.get("runs", 0) for r in rows] == [1] * 150 + [0] * 250
        result = db.migrate("items", procs.rename, batch_size=50, name="rename")
        assert result.resumed and result.processed == 400 and result.changed == 400
        docs = db.run(fdb.query(lambda db: db.query("items").collect()))
        assert [d.runs for d in docs] == [1] * 400  # no document migrated twice
        assert [d.title for d in docs] == [f"item{i}" for i in range(400)]
        assert [d.id for d in docs] == ids


VALIDATOR_SOURCE = '''
import pydantic
import fusiondb as fdb

class Checked(fdb.Document):
    text: str

    @pydantic.field_validator("text")
    @classmethod
    def known(cls, v):
        if v not in {"a", "b", "c", "d", "e"} or any(ch.isdigit() for ch in v):
            raise ValueError("unknown")
        return (lambda x: x)(v)
'''


def test_validator_fingerprint_is_the_same_in_every_process() -> None:
    script = VALIDATOR_SOURCE + (
        "\nfrom fusiondb.evolution.relax import validator_fingerprint\n"
        "print(validator_fingerprint(Checked))\n"
    )
    prints = {
        subprocess.run(
            [sys.executable, "-c", script], capture_output=True, text=True, check=True,
            env={**os.environ, "PYTHONHASHSEED": seed},
        ).stdout.strip()
        for seed in ("1", "2", "3")
    }
    assert len(prints) == 1 and len(next(iter(prints))) == 16
