"""Concurrency: threads and processes writing one file; readers never block writers."""

from __future__ import annotations

import multiprocessing
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import apsw

import fusiondb as fdb
from tests.models import Task, add_task, all_tasks, bump, get_doc, schema, write_in_process

JOIN = 30.0  # a safety net against hanging, never a wait the test depends on


@fdb.query
def count_by_user(db: fdb.Reader, user_id: str) -> int:
    return len(db.query("tasks").with_index("by_user", lambda q: q.eq("user_id", user_id)).collect())


def test_threads_writing_one_file(file_db: fdb.Database) -> None:
    counter = file_db.run(add_task, text="counter", user_id="counter")
    threads, per_thread = 4, 40

    def work(t: int) -> list[str]:
        ids = []
        for i in range(per_thread):
            ids.append(file_db.run(add_task, text=f"{t}-{i}", user_id=f"t{t}"))
            file_db.run(bump, task_id=counter)
            # Reads interleave with the writes of other threads.
            assert file_db.run(count_by_user, user_id=f"t{t}") == i + 1
        return ids

    with ThreadPoolExecutor(threads) as pool:
        results = list(pool.map(work, range(threads)))
    all_ids = [i for ids in results for i in ids]
    assert len(set(all_ids)) == threads * per_thread
    assert len(file_db.run(all_tasks)) == threads * per_thread + 1
    # Every read-modify-write counted: mutations are serializable.
    assert file_db.run(get_doc, doc_id=counter).priority == threads * per_thread


def test_threads_on_memory_database() -> None:
    with fdb.open(None, schema) as db:
        counter = db.run(add_task, text="counter", user_id="counter")
        with ThreadPoolExecutor(4) as pool:
            list(pool.map(lambda _: [db.run(bump, task_id=counter) for _ in range(25)], range(4)))
        assert db.run(get_doc, doc_id=counter).priority == 100


def test_processes_writing_one_file(tmp_path: Path) -> None:
    path = str(tmp_path / "shared.db")
    with fdb.open(path, schema) as db:
        counter = db.run(add_task, text="counter", user_id="counter")
    procs, per_proc = 3, 25
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(procs) as pool:
        # Any exception in a child (BusyError included) is re-raised here by get().
        results = [
            pool.apply_async(write_in_process, (path, f"p{i}", per_proc, counter)) for i in range(procs)
        ]
        done = [r.get(timeout=120) for r in results]
    assert done == [per_proc] * procs
    with fdb.open(path, schema) as db:
        assert len(db.run(all_tasks)) == procs * per_proc + 1
        for i in range(procs):
            texts = [
                t.text
                for t in db.run(
                    fdb.query(
                        lambda r, i=i: (
                            r.query("tasks")
                            .with_index("by_user", lambda q: q.eq("user_id", f"p{i}"))
                            .collect()
                        )
                    )
                )
            ]
            # Each process's writes are all there, in its own order.
            assert texts == [f"p{i}-{k}" for k in range(per_proc)]
        assert db.run(get_doc, doc_id=counter).priority == procs * per_proc


def test_reader_does_not_block_writer_and_keeps_its_snapshot(file_db: fdb.Database) -> None:
    first = file_db.run(add_task, text="first", user_id="u")
    started, release = threading.Event(), threading.Event()
    result: dict[str, Any] = {}

    @fdb.query
    def slow_reader(db: fdb.Reader) -> tuple[list[str], Any, list[str]]:
        before = [t.text for t in db.query("tasks").collect()]
        started.set()
        assert release.wait(JOIN)
        # Same transaction, after another thread committed: still the old snapshot.
        after = [t.text for t in db.query("tasks").collect()]
        return before, db.get(first).text, after

    reader = threading.Thread(target=lambda: result.setdefault("value", file_db.run(slow_reader)))
    reader.start()
    assert started.wait(JOIN)

    def mutate() -> None:
        file_db.run(add_task, text="second", user_id="u")
        file_db.run(fdb.mutation(lambda w: w.patch(first, {"text": "changed"})))

    writer = threading.Thread(target=mutate)
    writer.start()
    writer.join(JOIN)
    # The writer finished while the reader's transaction was still open.
    assert not writer.is_alive(), "a reader blocked a writer"
    assert reader.is_alive()
    assert sorted(t.text for t in file_db.run(all_tasks)) == ["changed", "second"]
    release.set()
    reader.join(JOIN)
    assert result["value"] == (["first"], "first", ["first"])


def test_writer_waits_for_a_foreign_write_lock_instead_of_failing(tmp_path: Path) -> None:
    path = tmp_path / "locked.db"
    with fdb.open(path, schema) as db:
        other = apsw.Connection(str(path))
        try:
            other.execute("BEGIN IMMEDIATE")  # another process's writer, in effect
            outcome: dict[str, Any] = {}

            def write() -> None:
                try:
                    outcome["id"] = db.run(add_task, text="waited", user_id="u")
                except BaseException as exc:  # recorded, so the assertion below can show it
                    outcome["error"] = exc

            t = threading.Thread(target=write)
            t.start()
            t.join(0.3)
            # Had the busy lock reached the caller it would have failed at once.
            assert "error" not in outcome
            other.execute("COMMIT")
            t.join(JOIN)
            assert not t.is_alive()
            assert "error" not in outcome, outcome.get("error")
        finally:
            other.close()
        assert db.run(get_doc, doc_id=outcome["id"]).text == "waited"


def test_queries_from_many_threads_see_committed_states(file_db: fdb.Database) -> None:
    # Each mutation inserts two tasks; a snapshot must never see half of one.
    @fdb.mutation
    def add_pair(db: fdb.Writer, i: int) -> None:
        db.insert("tasks", Task(text=f"{i}a", user_id="pair"))
        db.insert("tasks", Task(text=f"{i}b", user_id="pair"))

    stop = threading.Event()
    seen: list[int] = []
    ready = threading.Barrier(3)

    def watch() -> None:
        seen.append(file_db.run(count_by_user, user_id="pair"))
        ready.wait(JOIN)
        while not stop.is_set():
            seen.append(file_db.run(count_by_user, user_id="pair"))

    watchers = [threading.Thread(target=watch) for _ in range(2)]
    for w in watchers:
        w.start()
    ready.wait(JOIN)  # both watchers are reading before the first write
    try:
        for i in range(60):
            file_db.run(add_pair, i=i)
    finally:
        stop.set()
        for w in watchers:
            w.join(JOIN)
    assert seen and all(n % 2 == 0 for n in seen)
    assert file_db.run(count_by_user, user_id="pair") == 120
