"""What only the PostgreSQL engine does: the URL contract, retried serializable mutations, a
change log in commit order, live queries across processes over LISTEN/NOTIFY, and a lost
LISTEN connection. Skipped only when ``FUSIONDB_POSTGRES_URL`` is unset."""

from __future__ import annotations

import multiprocessing
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest

import fusiondb as fdb
from tests.conftest import POSTGRES_URL, drop_postgres_schema, postgres_url
from tests.models import add_task, bump, schema, write_in_process

pytestmark = pytest.mark.skipif(not POSTGRES_URL, reason="FUSIONDB_POSTGRES_URL is not set")


@pytest.fixture
def url() -> Iterator[str]:
    """A fresh schema's URL; the schema is dropped after the test."""
    name = f"fdbtest_{uuid.uuid4().hex[:16]}"
    yield postgres_url(name)
    drop_postgres_schema(name)


def _server() -> Any:
    import psycopg

    return psycopg.connect(POSTGRES_URL.split("?", 1)[0], autocommit=True)


def by_user_counting() -> tuple[Counter[str], Any]:
    runs: Counter[str] = Counter()

    @fdb.query
    def by_user(db: fdb.Reader, user_id: str) -> list[str]:
        runs[user_id] += 1
        q = db.query("tasks").with_index("by_user", lambda q: q.eq("user_id", user_id))
        return [t.text for t in q.collect()]

    return runs, by_user


def run_child(target: Any, *args: Any) -> None:
    proc = multiprocessing.get_context("spawn").Process(target=target, args=args)
    proc.start()
    proc.join(120)
    assert proc.exitcode == 0


def wait_for(predicate: Any, timeout: float = 20.0) -> bool:
    """Poll ``predicate`` until true (no timed assertion: the limit only ends a hung test)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return bool(predicate())


# -- the URL contract ------------------------------------------------------------------------


def test_schema_parameter_names_the_namespace_and_is_created(url: str) -> None:
    name = url.rsplit("schema=", 1)[1]
    with fdb.open(url, schema) as db:
        db.run(add_task, text="x", user_id="u")
    with _server() as conn:
        tables = {
            r[0] for r in conn.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = %s", (name,)
            )
        }
    assert {"tasks", "_fdb_catalog", "_fdb_changelog"} <= tables
    with fdb.open(url, schema) as db:  # reopened: the same documents
        assert [t.text for t in db.run(fdb.query(lambda db: db.query("tasks").collect()))] == ["x"]


def test_bad_schema_name_is_refused_before_connecting() -> None:
    with pytest.raises(fdb.InvalidArgument, match="schema"):
        fdb.open(postgres_url('x"; DROP TABLE y; --'), schema)


def test_a_schema_with_other_tables_is_refused(url: str) -> None:
    name = url.rsplit("schema=", 1)[1]
    with _server() as conn:
        conn.execute(f'CREATE SCHEMA "{name}"')
        conn.execute(f'CREATE TABLE "{name}".theirs (a int)')
    with pytest.raises(fdb.SchemaError, match="theirs"):
        fdb.open(url, schema)
    with _server() as conn:  # nothing was added
        count = conn.execute(
            "SELECT count(*) FROM pg_tables WHERE schemaname = %s", (name,)
        ).fetchone()
    assert count == (1,)


def test_backup_says_to_use_pg_dump_or_export(url: str, tmp_path: Any) -> None:
    with fdb.open(url, schema) as db:
        with pytest.raises(fdb.NotSupported, match="pg_dump") as info:
            db.backup(tmp_path / "copy.db")
        assert info.value.feature == "backup" and info.value.engine == "postgres"
        assert info.value.extra is None
    assert not (tmp_path / "copy.db").exists()


def test_without_the_extra_the_error_names_it(url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [m for m in sys.modules if m.startswith("fusiondb.engine.postgres.engine")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "psycopg", None)
    with pytest.raises(fdb.FusionError, match=r"pip install 'fusiondb\[postgres\]'"):
        fdb.open(url, schema)


# -- serializable mutations, retried ---------------------------------------------------------


def test_a_conflicting_mutation_runs_again_and_no_update_is_lost(url: str) -> None:
    """Two mutations read the same counter, then both write it: PostgreSQL aborts one, and
    fusiondb runs it again (its function runs twice), so the counter counts both."""
    with fdb.open(url, schema) as db:
        counter = db.run(add_task, text="counter", user_id="c")
        both_read = threading.Barrier(2, timeout=30)
        attempts: Counter[str] = Counter()

        @fdb.mutation
        def increment(db: fdb.Writer, who: str) -> None:
            attempts[who] += 1
            task = db.get(counter)
            if attempts[who] == 1:
                both_read.wait()  # both first attempts have read the old value
            db.patch(counter, {"priority": task.priority + 1})

        threads = [threading.Thread(target=db.run, args=(increment,), kwargs={"who": w})
                   for w in ("a", "b")]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        final = db.run(fdb.query(lambda db, i: db.get(i).priority), i=counter)
    assert final == 2
    assert sorted(attempts.values()) == [1, 2]  # one of them ran again


def test_retries_are_bounded(url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from fusiondb.engine.base import RetryTransaction
    from fusiondb.transaction import retry

    monkeypatch.setattr(retry, "MAX_ATTEMPTS", 3)
    runs = []

    @fdb.mutation
    def always_conflicts(db: fdb.Writer) -> None:
        runs.append(1)
        db.insert("tasks", {"text": "never", "user_id": "u"})
        raise RetryTransaction("simulated serialization failure")

    with fdb.open(url, schema) as db:
        with pytest.raises(fdb.TransactionConflict) as info:
            db.run(always_conflicts)
        assert info.value.attempts == 3 and len(runs) == 3
        assert db.run(fdb.query(lambda db: db.query("tasks").collect())) == []


def test_threads_and_processes_lose_no_update(url: str) -> None:
    n = 15
    with fdb.open(url, schema) as db:
        counter = db.run(add_task, text="counter", user_id="c")
        ctx = multiprocessing.get_context("spawn")
        procs = [ctx.Process(target=write_in_process, args=(url, f"p{i}", n, counter))
                 for i in range(2)]
        for p in procs:
            p.start()
        threads = [threading.Thread(target=lambda: [db.run(bump, task_id=counter)
                                                    for _ in range(n)]) for _ in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        for p in procs:
            p.join(120)
            assert p.exitcode == 0
        final = db.run(fdb.query(lambda db, i: db.get(i).priority), i=counter)
        count = db.run(fdb.query(lambda db: len(db.query("tasks").collect())))
    assert final == 5 * n
    assert count == 1 + 2 * n


# -- the change log: commit order -------------------------------------------------------------


def test_log_order_is_commit_order(url: str) -> None:
    """Trap 1: a writer that began first but commits last must get the later number, or a
    reader that read up to the earlier commit's number would never see it."""
    with fdb.open(url, schema) as db:
        reader = db._engine.log_reader()  # type: ignore[attr-defined]
        try:
            start = reader.position()
            slow_wrote = threading.Event()
            release = threading.Event()

            @fdb.mutation
            def slow(db: fdb.Writer) -> None:
                db.insert("tasks", {"text": "slow", "user_id": "s"})
                slow_wrote.set()
                assert release.wait(30)

            thread = threading.Thread(target=db.run, args=(slow,))
            thread.start()
            assert slow_wrote.wait(30)
            db.run(add_task, text="fast", user_id="f")  # commits while slow is open
            entries, complete = reader.read_since(start, "")
            assert complete and len(entries) == 1
            seen = entries[-1].seq
            release.set()
            thread.join()
            later, complete = reader.read_since(seen, "")
            assert complete and len(later) == 1 and later[0].seq > seen
        finally:
            reader.close()


def test_a_database_made_before_the_append_function_gains_it_at_open(url: str) -> None:
    """The log's append is a function made at bootstrap: a schema without it (an older
    version's), or with an older body, gets this version's when a process opens it."""
    with fdb.open(url, schema) as db:
        db.run(add_task, text="first", user_id="u")
    name = url.rsplit("schema=", 1)[1]
    with _server() as conn:
        conn.execute(f'DROP FUNCTION "{name}".fdb_append(text, bytea, text)')
    with fdb.open(url, schema) as db:
        reader = db._engine.log_reader()  # type: ignore[attr-defined]
        try:
            start = reader.position()
            db.run(add_task, text="second", user_id="u")
            entries, complete = reader.read_since(start, "")
            assert complete and [e.seq for e in entries] == [start + 1]
        finally:
            reader.close()
    with _server() as conn:
        conn.execute(
            f'CREATE OR REPLACE FUNCTION "{name}".fdb_append(a_origin text, a_writes bytea, a_channel text) '
            "RETURNS bigint LANGUAGE sql AS 'SELECT 0::bigint'"
        )
    with fdb.open(url, schema) as db:
        db.run(add_task, text="third", user_id="u")
        texts = db.run(fdb.query(lambda db: [t.text for t in db.query("tasks").collect()]))
    assert texts == ["first", "second", "third"]
    with _server() as conn:
        row = conn.execute(f'SELECT max(seq) FROM "{name}"._fdb_changelog').fetchone()
    assert row is not None and row[0] == start + 2


def test_an_insert_after_another_process_ran_ahead_is_created_after_it(url: str) -> None:
    """The clock's floor (the table's newest creation time) is looked up again after
    another process committed: a row inserted after one from a clock that ran ahead is
    still created after it, and so is the mutation's next insert."""
    seen: list[float] = []

    @fdb.mutation
    def add_two(db: fdb.Writer) -> list[str]:
        ids = [db.insert("tasks", {"text": t, "user_id": "u"}) for t in ("after", "then")]
        seen.extend(d.creation_time for d in (db.get(i) for i in ids) if d is not None)
        return ids

    with fdb.open(url, schema) as first, fdb.open(url, schema) as second:
        second.run(add_task, text="before", user_id="u")  # its floor is known from now on
        first._runner.clock._last = time.time() * 1000.0 + 60_000  # type: ignore[attr-defined]
        ahead = first.run(add_task, text="ahead", user_id="u")
        ids = second.run(add_two)
        docs = second.run(fdb.query(lambda db: db.query("tasks").collect()))
    assert [d.text for d in docs] == ["before", "ahead", "after", "then"]
    assert docs[1].id == ahead and [d.id for d in docs[2:]] == ids
    times = [d.creation_time for d in docs]
    assert times == sorted(times) and len(set(times)) == 4
    assert seen == times[2:]


def _commit_many(url: str, tag: str, n: int) -> None:
    with fdb.open(url, schema) as db:
        for i in range(n):
            db.run(add_task, text=f"{tag}{i}", user_id=tag)


def test_a_follower_reading_during_concurrent_commits_misses_none(url: str) -> None:
    with fdb.open(url, schema) as db:
        reader = db._engine.log_reader()  # type: ignore[attr-defined]
        try:
            seen, got = reader.position(), []
            ctx = multiprocessing.get_context("spawn")
            procs = [ctx.Process(target=_commit_many, args=(url, f"w{i}", 40)) for i in range(3)]
            for p in procs:
                p.start()
            while any(p.is_alive() for p in procs):
                entries, complete = reader.read_since(seen, "")
                assert complete
                got.extend(e.seq for e in entries)
                if entries:
                    seen = entries[-1].seq
            for p in procs:
                p.join()
                assert p.exitcode == 0
            entries, _ = reader.read_since(seen, "")
            got.extend(e.seq for e in entries)
            with _server() as conn:
                name = url.rsplit("schema=", 1)[1]
                logged = [r[0] for r in conn.execute(
                    f'SELECT seq FROM "{name}"._fdb_changelog WHERE seq > %s ORDER BY seq',
                    (got[0] - 1 if got else 0,),
                )]
        finally:
            reader.close()
    assert got == sorted(got) and got == logged
    assert len(got) >= 120


# -- live queries across processes -------------------------------------------------------------


def test_commit_in_another_process_reruns_exactly_the_affected_query(url: str) -> None:
    with fdb.open(url, schema) as db:
        runs, by_user = by_user_counting()
        subs = {u: db.subscribe(by_user, user_id=u) for u in ("a", "b", "c")}
        runs.clear()
        run_child(_commit_many, url, "b", 3)
        assert wait_for(lambda: subs["b"].value == ["b0", "b1", "b2"])
        assert db.wait_idle()
        assert set(runs) == {"b"}
        assert 1 <= runs["b"] <= 3  # commits close together may coalesce
        assert subs["a"].value == [] and subs["c"].value == []


def test_a_lost_listen_connection_reruns_every_live_query_once(url: str) -> None:
    with fdb.open(url, schema) as db, fdb.open(url, schema) as other:
        runs, by_user = by_user_counting()
        subs = {u: db.subscribe(by_user, user_id=u) for u in ("a", "b")}
        assert db.wait_idle()
        runs.clear()
        log = db._feed._log  # type: ignore[attr-defined]
        with _server() as conn:
            killed = conn.execute(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE application_name = %s",
                (log.listener_name,),
            ).fetchone()
        assert killed == (1,)
        # While it reconnects, another process commits: its notification may be lost.
        other.run(add_task, text="a-new", user_id="a")
        assert wait_for(lambda: subs["a"].value == ["a-new"])
        assert wait_for(lambda: runs["b"] >= 1)
        assert db.wait_idle()
        # Every live query ran again once for the gap; the one a commit touched maybe twice.
        assert runs["b"] == 1
        assert 1 <= runs["a"] <= 2


def test_a_stuck_subscriber_past_the_logs_cap_reruns_everything(
    url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from fusiondb.engine.postgres import changelog

    # The log keeps what a live reader has not read, but never more than KEEP_MAX entries.
    monkeypatch.setattr(changelog, "KEEP_MAX", 3)
    monkeypatch.setattr(changelog, "TRIM_EVERY", 1)
    with fdb.open(url, schema) as watcher, fdb.open(url, schema) as other:
        runs, by_user = by_user_counting()
        subs = {u: watcher.subscribe(by_user, user_id=u) for u in ("a", "b")}
        assert watcher.wait_idle()
        runs.clear()
        # Hold the watcher's worker so it cannot read the log while it is trimmed past it.
        with watcher._subs._lock:  # type: ignore[attr-defined]
            for i in range(10):
                other.run(add_task, text=f"a{i}", user_id="a")
        assert wait_for(lambda: subs["a"].value == [f"a{i}" for i in range(10)])
        assert watcher.wait_idle()
        assert runs == Counter({"a": 1, "b": 1})  # it cannot know what it missed
        name = url.rsplit("schema=", 1)[1]
        with _server() as conn:
            kept = conn.execute(f'SELECT count(*) FROM "{name}"._fdb_changelog').fetchone()
        assert kept is not None and kept[0] <= 3


def test_an_interrupted_mutation_leaves_nothing_and_the_pool_usable(url: str) -> None:
    @fdb.mutation
    def interrupted(db: fdb.Writer) -> None:
        db.insert("tasks", {"text": "half", "user_id": "u"})
        raise KeyboardInterrupt

    with fdb.open(url, schema) as db:
        for _ in range(3):  # more often than the pool has idle connections at first
            with pytest.raises(KeyboardInterrupt):
                db.run(interrupted)
        db.run(add_task, text="after", user_id="u")
        texts = db.run(fdb.query(lambda db: [t.text for t in db.query("tasks").collect()]))
        engine = db._engine  # type: ignore[attr-defined]
        with engine.read() as txn:  # a pooled connection is idle before it is lent again
            assert txn.conn.info.transaction_status == 0  # IDLE: the BEGIN waits for a statement
            assert txn.count("tasks") == 1
            assert txn.conn.info.transaction_status == 2  # INTRANS: only this read's
    assert texts == ["after"]


def test_the_url_password_stays_out_of_repr() -> None:
    from fusiondb.engine.postgres.url import redacted, split_url

    assert redacted("postgresql://u:secret@h:5/d?schema=s") == "postgresql://u:***@h:5/d?schema=s"
    assert split_url("postgresql://u@h/d?sslmode=disable&schema=app") == (
        "postgresql://u@h/d?sslmode=disable", "app",
    )


def test_open_stored_reads_a_postgres_database_with_its_own_schema(url: str) -> None:
    with pytest.raises(fdb.NotADatabase, match="no fusiondb database"):
        fdb.open_stored(url)
    with fdb.open(url, schema) as db:
        db.run(add_task, text="kept", user_id="u")
    with fdb.open_stored(url) as stored:
        rows = stored.run(fdb.query(lambda db: db.query("tasks").as_dicts().collect()))
    assert [r["text"] for r in rows] == ["kept"]


def test_a_schema_changed_by_another_process_is_refused_before_writing(url: str) -> None:
    from tests.models import Task

    old = fdb.Schema(tasks=fdb.table(Task).index("by_user", ["user_id"]))
    new = fdb.Schema(tasks=fdb.table(Task).index("by_user", ["user_id"]).index("by_p", ["priority"]))
    with fdb.open(url, old) as first:
        first.run(add_task, text="a", user_id="u", priority=2)
        with fdb.open(url, new) as second:  # another "process": an engine of its own
            with pytest.raises(fdb.SchemaError, match="changed by another process"):
                first.run(add_task, text="refused", user_id="u")
            second.run(add_task, text="b", user_id="u", priority=1)
            by_p = second.run(fdb.query(lambda db: [
                t.text for t in db.query("tasks").with_index("by_p", lambda q: q.gte("priority", 0))
                .collect()
            ]))
    assert by_p == ["b", "a"]  # the new index holds the old document and the new one


def test_a_refused_schema_caught_by_the_function_still_writes_nothing(url: str) -> None:
    """The guard runs when the BEGIN, sent with the function's first statement, is answered:
    a function that catches its SchemaError and writes on is refused again at commit."""
    from tests.models import Task

    old = fdb.Schema(tasks=fdb.table(Task).index("by_user", ["user_id"]))
    new = fdb.Schema(tasks=fdb.table(Task).index("by_user", ["user_id"]).index("by_p", ["priority"]))
    caught: list[str] = []

    @fdb.mutation
    def stubborn(db: fdb.Writer) -> None:
        try:
            db.query("tasks").collect()
        except fdb.SchemaError as exc:
            caught.append(str(exc))
        db.insert("tasks", Task(text="sneaked", user_id="u"))

    with fdb.open(url, old) as first:
        first.run(add_task, text="a", user_id="u")
        with fdb.open(url, new), pytest.raises(fdb.SchemaError, match="changed by another process"):
            first.run(stubborn)
    assert len(caught) == 1
    with fdb.open(url, new) as db:
        texts = db.run(fdb.query(lambda db: [t.text for t in db.query("tasks").collect()]))
    assert texts == ["a"]


def test_a_read_is_one_snapshot_from_its_first_statement(url: str) -> None:
    """The BEGIN rides with the first statement: a commit between that statement and the next
    is not seen by the second (and nothing ran before the first, outside the snapshot)."""
    with fdb.open(url, schema) as db:
        db.run(add_task, text="a", user_id="u")
        engine = db._engine  # type: ignore[attr-defined]
        with engine.read() as txn:
            before = txn.count("tasks")
            db.run(add_task, text="b", user_id="u")  # another connection of the pool commits
            after = txn.count("tasks")
            rows = txn.rows_after("tasks", 0, -1)
        assert (before, after, len(rows)) == (1, 1, 1)
        with engine.read() as txn:
            assert txn.count("tasks") == 2


def test_a_mutation_that_runs_no_statement_sends_nothing(url: str) -> None:
    @fdb.mutation
    def nothing(db: fdb.Writer) -> int:
        return 7

    with fdb.open(url, schema) as db:
        assert db.run(nothing) == 7
        engine = db._engine  # type: ignore[attr-defined]
        with engine.write() as txn:
            assert txn.conn.info.transaction_status == 0  # IDLE: no BEGIN without a statement
            assert txn.commit() == 0
        assert db.run(add_task, text="after", user_id="u")


def test_a_single_insert_mutation_is_two_round_trips(url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The insert rides the BEGIN (with the catalog read and the clock floor in it), then the
    change-log append rides the COMMIT: two strings, no other statement."""
    import psycopg

    from fusiondb.engine.postgres import wire

    with fdb.open(url, schema) as db:
        first = db.run(add_task, text="a", user_id="u")  # caches the table's layout
        sent: list[bytes] = []
        executed: list[object] = []
        simple = wire.simple
        monkeypatch.setattr(wire, "simple", lambda conn, query: sent.append(query) or simple(conn, query))
        execute = psycopg.Cursor.execute
        monkeypatch.setattr(
            psycopg.Cursor, "execute", lambda self, *a, **k: executed.append(a[0]) or execute(self, *a, **k)
        )
        second = db.run(add_task, text="b", user_id="u")
        monkeypatch.undo()
        assert len(sent) == 2 and not executed, (sent, executed)
        assert sent[0].startswith(b"BEGIN") and b"EXECUTE fdb_first_" in sent[0]
        assert sent[1].endswith(b"; COMMIT")
        rows = db.run(fdb.query(lambda db: [(t.id, t.creation_time) for t in db.query("tasks").collect()]))
    assert [r[0] for r in rows] == [first, second]
    assert rows[0][1] < rows[1][1]


def test_an_insert_whose_prepared_statement_was_dropped_or_kept_is_written_once(url: str) -> None:
    """psycopg deallocates every prepared statement of a session after a ROLLBACK (and the
    engine's with them); or the engine may not know one is still there: either way the insert
    that rides the BEGIN is rolled back unwritten and goes the usual way, once."""
    with fdb.open(url, schema) as db:
        for i in range(6):  # the pool hands its connections out in turn: each prepares
            db.run(add_task, text=f"warm {i}", user_id="u")
        engine = db._engine  # type: ignore[attr-defined]
        txns = list(engine._txns.values())
        assert txns and all(txn.prepared for txn in txns)
        for txn in txns:
            txn.conn.execute("DEALLOCATE ALL")
        turns = len(txns) + 1
        for i in range(turns):
            db.run(add_task, text=f"after deallocate {i}", user_id="u")
        for txn in txns:
            txn.prepared.clear()  # still prepared on the server: PREPARE fails, nothing written
        for i in range(turns):
            db.run(add_task, text=f"after forgetting {i}", user_id="u")
        assert all(txn.prepared for txn in txns)
        texts = db.run(fdb.query(lambda db: [t.text for t in db.query("tasks").collect()]))
    assert texts == (
        [f"warm {i}" for i in range(6)]
        + [f"after deallocate {i}" for i in range(turns)]
        + [f"after forgetting {i}" for i in range(turns)]
    )


def test_the_next_transaction_takes_the_connection_a_write_just_committed_on(url: str) -> None:
    """The pool hands its connections out in turn; a committed write's connection waits out of
    it for the next transaction instead, so one thread's transactions stay on one backend."""
    with fdb.open(url, schema) as db:
        engine = db._engine  # type: ignore[attr-defined]
        with engine.write() as held:
            held.max_creation_time("tasks")  # holds a connection: the mutation needs another
            db.run(add_task, text="a", user_id="u")
            held.commit()
        used = []
        for _ in range(3):
            with engine.write() as txn:
                txn.max_creation_time("tasks")
                txn.commit()
                used.append(txn.conn)
        assert used[0] is used[1] is used[2]
        assert len(engine._txns) >= 2  # the pool had another one to hand out


def test_more_threads_than_pooled_connections_read_and_write_to_the_end(url: str) -> None:
    """A read's connection waits for its COMMIT's answer outside the pool until the next
    transaction takes it: threads beyond the pool's size still get one, and close gives every
    connection back."""
    from fusiondb.engine.postgres.engine import POOL_MAX

    def backends() -> int:
        with _server() as conn:
            row = conn.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND backend_type = 'client backend' AND pid <> pg_backend_pid()"
            ).fetchone()
        return int(row[0])

    before = backends()
    errors: list[BaseException] = []
    with fdb.open(url, schema) as db:
        ids = [db.run(add_task, text=f"t{i}", user_id="u") for i in range(4)]

        def work(n: int) -> None:
            try:
                for i in range(10):
                    db.run(fdb.query(lambda db, i: db.get(i).text), i=ids[i % 4])
                    if i % 5 == 0:
                        db.run(bump, task_id=ids[n % 4])
            except BaseException as exc:  # pragma: no cover - the assertion shows it
                errors.append(exc)

        threads = [threading.Thread(target=work, args=(n,)) for n in range(POOL_MAX + 8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        total = db.run(fdb.query(lambda db: sum(t.priority for t in db.query("tasks").collect())))
    assert errors == []
    assert total == 2 * (POOL_MAX + 8)  # every bump counted, none lost
    assert wait_for(lambda: backends() <= before)


def test_the_loser_of_a_race_for_a_unique_key_runs_again_and_names_the_winner(url: str) -> None:
    """B's insert waits on A's uncommitted row holding the key; A commits; B's snapshot cannot
    see A's row, so B is refused for a key no document it sees holds: it runs again (twice in
    all), then raises DuplicateKey naming A's document. A's refused-then-retried key is not
    written twice."""
    from tests.unique_procs import Account
    from tests.unique_procs import schema as accounts

    fdb.open(url, accounts).close()
    first, second = fdb.open(url, accounts), fdb.open(url, accounts)
    inserted, release = threading.Event(), threading.Event()
    runs: Counter[str] = Counter()
    out: dict[str, Any] = {}

    @fdb.mutation
    def hold(db: fdb.Writer) -> str:
        runs["a"] += 1
        doc_id = db.insert("accounts", Account(email="x@example.com", who=1))
        inserted.set()
        assert release.wait(60)
        return doc_id

    @fdb.mutation
    def claim(db: fdb.Writer) -> str:
        runs["b"] += 1
        return db.insert("accounts", Account(email="x@example.com", who=2))

    def run_b() -> None:
        try:
            out["b"] = second.run(claim)
        except fdb.DuplicateKey as exc:
            out["b"] = exc

    a = threading.Thread(target=lambda: out.setdefault("a", first.run(hold)))
    b = threading.Thread(target=run_b)
    try:
        a.start()
        assert inserted.wait(60)
        b.start()
        with _server() as conn:
            assert wait_for(
                lambda: (
                    conn.execute(
                        "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                        "AND datname = current_database()"
                    ).fetchone()[0]
                    > 0
                )
            )
        release.set()
        a.join(60)
        b.join(60)
    finally:
        release.set()
        first.close()
        second.close()
    exc = out["b"]
    assert isinstance(exc, fdb.DuplicateKey), exc
    assert (exc.index, exc.key, exc.existing_id) == ("by_email", ("x@example.com",), out["a"])
    assert runs == Counter({"a": 1, "b": 2})
    with fdb.open(url, accounts) as db:
        stored = db.run(fdb.query(lambda r: [(a.email, a.who) for a in r.query("accounts").collect()]))
    assert stored == [("x@example.com", 1)]


def test_a_vector_index_is_refused_on_open_and_nothing_is_created(url: str) -> None:
    from tests.test_vector_search import Other
    from tests.test_vector_search import schema as with_vectors

    with pytest.raises(fdb.NotSupported, match="not supported on PostgreSQL") as info:
        fdb.open(url, with_vectors)
    assert (info.value.feature, info.value.extra, info.value.engine) == ("vector search", None, "postgres")
    with fdb.open(url, fdb.Schema(others=fdb.table(Other))) as db:
        # a fresh database: this open creates everything (the refused one left nothing)
        assert {c.table for c in db.schema_changes} == {"_storage", "others"}
