"""The PostgreSQL change log keeps what a live reader has not read yet, and only that (see
``fusiondb/engine/postgres/changelog.py``): entries counted in the log table, readers in
``_fdb_log_readers``, a reader killed with SIGKILL in a child process, a reader whose
connection was lost and comes back past a trim. Skipped only when ``FUSIONDB_POSTGRES_URL``
is unset."""

from __future__ import annotations

import multiprocessing
import os
import signal
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest

import fusiondb as fdb
from fusiondb.engine.postgres import changelog
from tests.conftest import POSTGRES_URL, drop_postgres_schema, postgres_url
from tests.models import add_task, schema
from tests.test_postgres_engine import by_user_counting, wait_for

pytestmark = pytest.mark.skipif(not POSTGRES_URL, reason="FUSIONDB_POSTGRES_URL is not set")


@pytest.fixture
def name() -> Iterator[str]:
    """A fresh schema's name; the schema is dropped after the test."""
    name = f"fdbtest_{uuid.uuid4().hex[:16]}"
    yield name
    drop_postgres_schema(name)


@pytest.fixture
def trim_every_commit(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every commit of this process trims the log (children keep the defaults)."""
    monkeypatch.setattr(changelog, "TRIM_EVERY", 1)


@pytest.fixture
def report_every_read(monkeypatch: pytest.MonkeyPatch) -> None:
    """This process's readers move their row on at every read (not every REPORT_EVERY)."""
    monkeypatch.setattr(changelog, "REPORT_EVERY", 0)


def _sql(query: str) -> list[tuple[Any, ...]]:
    import psycopg

    with psycopg.connect(POSTGRES_URL.split("?", 1)[0], autocommit=True) as conn:
        cur = conn.execute(query)  # type: ignore[arg-type]
        return cur.fetchall() if cur.description else []


def logged(name: str, after: int = 0) -> int:
    """How many entries the log holds (numbered after ``after``)."""
    return int(_sql(f'SELECT count(*) FROM "{name}"._fdb_changelog WHERE seq > {int(after)}')[0][0])


def readers(name: str) -> list[int]:
    """The registered readers' positions."""
    return [int(r[0]) for r in _sql(f'SELECT seq FROM "{name}"._fdb_log_readers ORDER BY id')]


def terminate(application_name: str) -> int:
    rows = _sql(
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
        f"WHERE application_name = '{application_name}'"
    )
    return int(rows[0][0])


def watch_a_and_b(db: fdb.Database) -> tuple[Counter[str], dict[str, fdb.Subscription[Any]]]:
    """Live queries on users a and b, evaluated: their runs by user, and the handles."""
    runs, by_user = by_user_counting()
    subs = {u: db.subscribe(by_user, user_id=u) for u in ("a", "b")}
    assert db.wait_idle()
    return runs, subs

def test_a_writer_that_never_follows_registers_nothing_and_keeps_no_log(
    name: str, trim_every_commit: None
) -> None:
    with fdb.open(postgres_url(name), schema) as db:
        for i in range(5):
            db.run(add_task, text=f"t{i}", user_id="a")
        assert readers(name) == []
        assert logged(name) == 0  # nobody needs any of it


def test_entries_a_live_reader_has_not_read_are_kept_then_trimmed_once_read(
    name: str, trim_every_commit: None, report_every_read: None
) -> None:
    url = postgres_url(name)
    with fdb.open(url, schema) as watcher, fdb.open(url, schema) as other:
        runs, subs = watch_a_and_b(watcher)
        [start] = readers(name)
        runs.clear()
        # Hold the watcher's worker: it cannot read what the other handle commits.
        with watcher._subs._lock:  # type: ignore[attr-defined]
            for i in range(40):
                other.run(add_task, text=f"a{i}", user_id="a")
                # Each commit trimmed the log, and kept every entry the reader needs.
                assert logged(name) == logged(name, after=start) == i + 1
        assert wait_for(lambda: subs["a"].value == [f"a{i}" for i in range(40)])
        assert watcher.wait_idle()
        assert wait_for(lambda: readers(name) == [start + 40])  # read them all
        other.run(add_task, text="last", user_id="c")  # its trim drops what the reader read
        assert logged(name) <= 1
        # The reader matched the entries, no gap: the untouched query never ran again.
        assert runs["b"] == 0 and runs["a"] >= 1


def _stuck_follower(url: str, conn: Any) -> None:
    """A child app process with a live query whose worker is stuck: it holds the log."""
    _, by_user = by_user_counting()
    db = fdb.open(url, schema)
    db.subscribe(by_user, user_id="a")
    assert db.wait_idle()
    db._subs._lock.acquire()  # type: ignore[attr-defined]
    conn.send("ready")
    time.sleep(300)  # until killed


def test_a_reader_killed_with_sigkill_stops_holding_the_log(name: str, trim_every_commit: None) -> None:
    url = postgres_url(name)
    parent, child = multiprocessing.Pipe()
    proc = multiprocessing.get_context("spawn").Process(target=_stuck_follower, args=(url, child))
    proc.start()
    try:
        assert parent.poll(60) and parent.recv() == "ready"
        with fdb.open(url, schema) as db:
            [start] = readers(name)
            for i in range(10):
                db.run(add_task, text=f"a{i}", user_id="a")
            assert logged(name, after=start) == 10  # the stuck child has not read them
            assert proc.pid is not None
            os.kill(proc.pid, signal.SIGKILL)
            proc.join(30)
            assert proc.exitcode == -signal.SIGKILL

            def trimmed() -> bool:
                # Its connection closes with the process; the next commit's trim drops it.
                db.run(add_task, text="more", user_id="b")
                return readers(name) == [] and logged(name) == 0

            assert wait_for(trimmed)
    finally:
        if proc.is_alive():
            proc.kill()
        proc.join()


def test_a_reader_back_after_its_connection_was_lost_past_a_trim_reruns_once(
    name: str, trim_every_commit: None
) -> None:
    url = postgres_url(name)
    with fdb.open(url, schema) as watcher, fdb.open(url, schema) as other:
        runs, subs = watch_a_and_b(watcher)
        runs.clear()
        log: Any = watcher._feed._log  # type: ignore[attr-defined]
        with watcher._subs._lock:  # type: ignore[attr-defined]
            # The watcher is away: its reading connection (and with it its lock) is gone.
            assert terminate(log.reader_name) == 1
            for i in range(10):
                other.run(add_task, text=f"a{i}", user_id="a")
            assert readers(name) == [] and logged(name) == 0  # dropped, trimmed past it
        assert wait_for(lambda: subs["a"].value == [f"a{i}" for i in range(10)])
        assert watcher.wait_idle()
        assert runs == Counter({"a": 1, "b": 1})  # it cannot know what it missed: all once
        assert len(readers(name)) == 1  # registered again
        # And it follows as before: a later commit re-runs only what it touches.
        runs.clear()
        other.run(add_task, text="b0", user_id="b")
        assert wait_for(lambda: subs["b"].value == ["b0"])
        assert watcher.wait_idle()
        assert runs == Counter({"b": 1})


def test_reader_ids_skip_one_still_locked_and_take_over_a_dead_readers_row(name: str) -> None:
    import psycopg

    with fdb.open(postgres_url(name), schema) as db, psycopg.connect(
        POSTGRES_URL.split("?", 1)[0], autocommit=True
    ) as holder:
        holder.execute(f"SELECT setval('\"{name}\"._fdb_log_readers_id', 41)")  # next: 42
        holder.execute("SELECT pg_advisory_lock(hashtext(%s), 42)", (changelog.lock_name(name),))
        holder.execute(f'INSERT INTO "{name}"._fdb_log_readers (id, seq, pid) VALUES (43, -1, 0)')
        reader: Any = db._engine.log_reader()  # type: ignore[attr-defined]
        try:
            assert reader.reader_id == 43
            assert readers(name) == [reader.position()]  # the dead row's position replaced
        finally:
            reader.close()
        assert readers(name) == []  # a closed reader unregisters


def test_a_reader_moves_its_row_on_every_report_every_entries_or_report_seconds(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(changelog, "REPORT_EVERY", 50)
    monkeypatch.setattr(changelog, "REPORT_SECONDS", 3600.0)
    with fdb.open(postgres_url(name), schema) as db:
        reader: Any = db._engine.log_reader()  # type: ignore[attr-defined]
        try:
            start = reader.position()
            for i in range(30):
                db.run(add_task, text=f"a{i}", user_id="a")
            seq = start
            for _ in range(2):  # 30, then 60 read: still under 50 past the row before each read
                entries, _ = reader.read_since(seq, "")
                seq = entries[-1].seq
                assert readers(name) == [start]
                for i in range(30):
                    db.run(add_task, text=f"b{i}", user_id="b")
            entries, _ = reader.read_since(seq, "")  # 60 past its row: this read moves it on
            assert readers(name) == [entries[-1].seq] == [start + 90]
            db.run(add_task, text="c", user_id="c")
            monkeypatch.setattr(changelog, "REPORT_SECONDS", 0.0)
            entries, _ = reader.read_since(start + 90, "")  # due by time
            assert readers(name) == [entries[-1].seq] == [start + 91]
        finally:
            reader.close()


def test_a_live_reader_whose_row_went_missing_puts_it_back_when_it_reports(
    name: str, report_every_read: None
) -> None:
    with fdb.open(postgres_url(name), schema) as db:
        reader: Any = db._engine.log_reader()  # type: ignore[attr-defined]
        try:
            start = reader.position()
            _sql(f'DELETE FROM "{name}"._fdb_log_readers')  # (only a cycled id's takeover could)
            db.run(add_task, text="a", user_id="a")
            entries, complete = reader.read_since(start, "")
            assert complete and readers(name) == [entries[-1].seq]
        finally:
            reader.close()


def test_a_reader_that_cannot_reconnect_yet_raises_then_reconnects_on_a_later_read(name: str) -> None:
    with fdb.open(postgres_url(name), schema) as db:
        reader: Any = db._engine.log_reader()  # type: ignore[attr-defined]
        connect = reader._connect
        try:
            start = reader.position()
            assert terminate(reader.reader_name) == 1

            def down(*args: Any) -> Any:
                raise fdb.DatabaseError("the server is away")

            reader._connect = down
            with pytest.raises(fdb.DatabaseError, match="away"):
                reader.read_since(start, "")
            reader._connect = connect
            db.run(add_task, text="a", user_id="a")
            entries, complete = reader.read_since(start, "")
            assert not complete and [e.seq for e in entries] == [start + 1]  # a gap, once
            # Registered again, at the log's end then (the dead row waits for the next trim).
            mine = f'SELECT seq FROM "{name}"._fdb_log_readers WHERE id = {int(reader.reader_id)}'
            assert _sql(mine) == [(start + 1,)] and len(readers(name)) == 2
            db.run(add_task, text="b", user_id="b")
            entries, complete = reader.read_since(start + 1, "")
            assert complete and [e.seq for e in entries] == [start + 2]
        finally:
            reader._connect = connect
            reader.close()


def test_a_reader_starting_on_a_log_trimmed_empty_matches_exactly(
    name: str, trim_every_commit: None
) -> None:
    url = postgres_url(name)
    with fdb.open(url, schema) as watcher, fdb.open(url, schema) as other:
        for i in range(5):
            other.run(add_task, text=f"x{i}", user_id="x")
        assert logged(name) == 0  # no reader: trimmed to its end
        runs, subs = watch_a_and_b(watcher)
        assert readers(name) == [5]  # the log's position is its last commit, trimmed or not
        assert runs == Counter({"a": 1, "b": 1})  # evaluated, and no gap to re-run them for
        runs.clear()
        other.run(add_task, text="a0", user_id="a")
        assert wait_for(lambda: subs["a"].value == ["a0"])
        assert watcher.wait_idle()
        assert runs == Counter({"a": 1})  # no gap: nothing it needed was trimmed
