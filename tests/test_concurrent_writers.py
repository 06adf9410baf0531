"""Concurrent writers and readers: read-modify-write increments from 2 processes x 4 threads
end on exact counts, with no BusyError reaching a caller, and a live subscription in a third
process ends on the final values. One Database shared by 8 threads mixing queries, mutations,
subscribe and close stays consistent."""

from __future__ import annotations

import random
import threading
import time
from pathlib import Path
from typing import Any

import pytest

import fusiondb as fdb
from tests.models import add_task, all_tasks, list_by_user, read
from tests.stress_workers import (
    SPAWN,
    counter_schema,
    counter_values,
    increment_plan,
    increment_worker,
    record,
    scale,
    watch_worker,
)


@fdb.mutation
def make_counters(db: fdb.Writer, names: list[str]) -> list[str]:
    return [db.insert("counters", {"name": n}) for n in names]


def test_two_processes_of_four_threads_increment_exactly(tmp_path: Path) -> None:
    path = str(tmp_path / "counters.db")
    names = [f"c{i}" for i in range(5)]
    with fdb.open(path, counter_schema) as db:
        ids = db.run(make_counters, names=names)
    threads, per_thread = 4, scale(150, 1_500)
    plan = increment_plan(ids, threads, per_thread, 1) + increment_plan(ids, threads, per_thread, 2)
    expected = {name: plan[i] for name, i in zip(names, ids, strict=True)}
    with SPAWN.Pool(3) as pool:
        watcher = pool.apply_async(watch_worker, (path, expected, 120.0))
        time.sleep(0.3)  # let the watcher subscribe before the writes start
        start = time.perf_counter()
        writers = [
            pool.apply_async(increment_worker, (path, ids, threads, per_thread, seed)) for seed in (1, 2)
        ]
        errors = [w.get(300) for w in writers]
        elapsed = time.perf_counter() - start
        watched = watcher.get(300)
    assert errors == [0, 0], "errors (BusyError, database is locked...) reached the caller"
    with fdb.open(path, counter_schema) as db:
        final = db.run(counter_values)
    assert final == expected, "lost updates"
    assert watched == expected, "the live subscription in a third process did not end on the final values"
    total = 2 * threads * per_thread
    lost = sum(expected.values()) - sum(final.values())
    record("concurrent writers", increments=total, lost_updates=lost, throughput_per_s=round(total / elapsed))


def test_eight_threads_share_one_database(make_file_db: Any) -> None:
    db = make_file_db()
    rounds = scale(150, 1_500)
    errors: list[BaseException] = []
    written: list[int] = [0] * 8
    stop_subscribers = threading.Event()

    def writer(k: int) -> None:
        for i in range(rounds):
            db.run(add_task, text=f"{k}-{i}", user_id=f"u{k % 2}")
            written[k] += 1

    def reader(k: int) -> None:
        for _ in range(rounds):
            # One snapshot: a user's tasks are some of all the tasks, whatever commits meanwhile.
            tasks, mine = read(db, lambda r: (all_tasks.fn(r), list_by_user.fn(r, user_id="u0")))
            assert {t.id for t in mine} <= {t.id for t in tasks}

    def subscriber(k: int) -> None:
        rng = random.Random(k)
        while not stop_subscribers.is_set():
            with db.subscribe(list_by_user, user_id=f"u{rng.randrange(2)}") as sub:
                assert all(t.user_id == sub.value[0].user_id for t in sub.value) if sub.value else True

    def guarded(fn: Any, k: int) -> None:
        try:
            fn(k)
        except BaseException as exc:
            errors.append(exc)

    roles = [writer, writer, writer, reader, reader, reader, subscriber, subscriber]
    pool = [threading.Thread(target=guarded, args=(fn, k)) for k, fn in enumerate(roles)]
    for t in pool:
        t.start()
    for t in pool[:6]:
        t.join()
    stop_subscribers.set()
    for t in pool[6:]:
        t.join()
    assert not errors, errors[:3]
    live = db.subscribe(all_tasks)
    assert db.wait_idle()
    assert len(live.value) == sum(written) == 3 * rounds
    # Now close while threads are still at work: each gets a result or DatabaseClosed.
    late_errors: list[BaseException] = []

    def late(k: int) -> None:
        try:
            for i in range(10_000):
                if k % 2:
                    db.run(add_task, text=f"late{i}", user_id="u")
                else:
                    db.run(all_tasks)
        except fdb.DatabaseClosed:
            return
        except BaseException as exc:
            late_errors.append(exc)

    late_threads = [threading.Thread(target=late, args=(k,)) for k in range(4)]
    for t in late_threads:
        t.start()
    time.sleep(0.05)
    db.close()
    for t in late_threads:
        t.join(30)
    assert not any(t.is_alive() for t in late_threads)
    assert not late_errors, [f"{type(e).__name__}: {e}" for e in late_errors[:3]]
    assert live.closed


def test_a_read_that_close_cuts_short_raises_database_closed(make_file_db: Any) -> None:
    # close() on another thread closes a pooled reader's connection while a query runs on it;
    # the query must end with fdb.DatabaseClosed, not apsw's ConnectionClosedError (which the
    # schema check on leaving the read once let through: the eight-thread test's late errors).
    db = make_file_db()
    db.run(add_task, text="x", user_id="u")

    @fdb.query
    def closes_midway(r: fdb.Reader) -> int:
        closer = threading.Thread(target=db.close)
        closer.start()
        closer.join(10)
        assert not closer.is_alive()
        return len(all_tasks.fn(r))

    with pytest.raises(fdb.DatabaseClosed):
        db.run(closes_midway)
    assert db.closed
