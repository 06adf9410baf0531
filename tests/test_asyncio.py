"""asyncio: run_async on worker threads, awaiting subscriptions on the caller's loop, cancellation
that never leaves a transaction open, open_async. Real event loops (asyncio.run).

Timing bounds are generous (seconds): they check that something ends, never that it is fast.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

import fusiondb as fdb
from fusiondb.database import ASYNC_WORKERS
from tests.models import Task, add_task, schema


@fdb.query
def texts(db: fdb.Reader) -> list[str]:
    return sorted(t.text for t in db.query("tasks").collect())


ran_on: list[int] = []


@fdb.query
def slow_count(db: fdb.Reader, seconds: float) -> int:
    ran_on.append(threading.get_ident())
    time.sleep(seconds)
    return len(db.query("tasks").collect())


started = threading.Event()
release = threading.Event()


@fdb.mutation
def slow_add(db: fdb.Writer, text: str, seconds: float) -> str:
    task = db.insert("tasks", Task(text=text, user_id="u1"))
    started.set()
    time.sleep(seconds)
    return task


@fdb.query
def blocked(db: fdb.Reader) -> None:
    release.wait(10)


def write_lock_is_free(path: Path) -> bool:
    """Whether another process can take the file's write lock right now (no waiting). In
    another process: a second SQLite library closing the file here would drop this process's
    POSIX locks."""
    code = (
        "import sqlite3, sys; con = sqlite3.connect(sys.argv[1], timeout=0); "
        "con.execute('BEGIN IMMEDIATE'); con.rollback()"
    )
    return subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True).returncode == 0


async def heartbeat(ticks: list[float]) -> None:
    while True:
        await asyncio.sleep(0.01)
        ticks.append(time.monotonic())


def test_run_async_runs_off_the_loop_while_the_loop_keeps_ticking(db: fdb.Database) -> None:
    async def main() -> tuple[int, list[float], int]:
        ticks: list[float] = []
        beat = asyncio.create_task(heartbeat(ticks))
        await asyncio.sleep(0)
        await db.run_async(add_task, text="a", user_id="u1")
        count = await db.run_async(slow_count, seconds=0.5)
        beat.cancel()
        return count, ticks, threading.get_ident()

    count, ticks, loop_thread = asyncio.run(asyncio.wait_for(main(), 30))
    assert count == 1
    assert len(ticks) >= 10  # ~50 in 0.5 s; a blocked loop would tick once
    assert ran_on and loop_thread not in ran_on


def test_run_async_refuses_bad_arguments_at_once(db: fdb.Database) -> None:
    with pytest.raises(TypeError, match="unknown argument 'txt'"):
        asyncio.run(db.run_async(add_task, txt="a", user_id="u1"))  # type: ignore[call-arg]
    assert asyncio.run(db.run_async(texts)) == []


def test_cancelling_a_running_mutation_leaves_no_transaction_open(tmp_path: Path) -> None:
    path = tmp_path / "cancel.db"
    started.clear()

    async def main() -> tuple[bool, list[str]]:
        async with fdb.open_async(path, schema) as db:
            task = asyncio.create_task(db.run_async(slow_add, text="slow", seconds=1.0))
            while not started.is_set():
                await asyncio.sleep(0.01)
            assert not write_lock_is_free(path)  # the probe sees the running transaction
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            free = write_lock_is_free(path)  # the moment the cancelled task is done
            await db.run_async(add_task, text="after", user_id="u1")
            return free, await db.run_async(texts)

    free, found = asyncio.run(asyncio.wait_for(main(), 30))
    assert free
    # It had started, so it ran to its end and committed; the database went on working.
    assert found == ["after", "slow"]
    assert write_lock_is_free(path)


def test_a_cancelled_run_that_had_not_started_never_runs(db: fdb.Database) -> None:
    release.clear()

    async def main() -> list[str]:
        busy = [asyncio.create_task(db.run_async(blocked)) for _ in range(ASYNC_WORKERS)]
        await asyncio.sleep(0.2)  # every worker thread is taken
        queued = asyncio.create_task(db.run_async(add_task, text="never", user_id="u1"))
        await asyncio.sleep(0.1)
        queued.cancel()
        with pytest.raises(asyncio.CancelledError):
            await queued
        release.set()
        await asyncio.gather(*busy)
        return await db.run_async(texts)

    assert asyncio.run(asyncio.wait_for(main(), 30)) == []


def test_next_and_async_for_wait_on_the_callers_loop(db: fdb.Database) -> None:
    sub = db.subscribe(texts)

    async def main() -> tuple[list[list[str]], list[str], bool]:
        loop_thread = threading.get_ident()
        ticks: list[float] = []
        beat = asyncio.create_task(heartbeat(ticks))
        seen: list[list[str]] = []
        async for value in sub:
            seen.append(value)
            if len(seen) == 2:
                break
            await db.run_async(add_task, text="a", user_id="u1")
        waiting = asyncio.create_task(sub.next())
        await asyncio.sleep(0.2)
        assert not waiting.done()  # nothing new yet: it waits, and the loop ticks meanwhile
        await db.run_async(add_task, text="b", user_id="u1")
        newer = await asyncio.wait_for(waiting, 10)
        beat.cancel()
        return seen, newer, threading.get_ident() == loop_thread and len(ticks) > 5

    seen, newer, on_loop = asyncio.run(asyncio.wait_for(main(), 30))
    assert seen == [[], ["a"]]
    assert newer == ["a", "b"]
    assert on_loop
    assert not sub._live.waiters


def test_cancelling_next_leaves_the_subscription_working(db: fdb.Database) -> None:
    sub = db.subscribe(texts)

    async def main() -> list[str]:
        waiting = asyncio.create_task(sub.next())
        await asyncio.sleep(0.1)
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
        assert not sub._live.waiters
        await db.run_async(add_task, text="a", user_id="u1")
        return await asyncio.wait_for(sub.next(), 10)

    assert asyncio.run(main()) == ["a"]


def test_next_raises_once_closed(db: fdb.Database) -> None:
    sub = db.subscribe(texts)

    async def main() -> None:
        waiting = asyncio.create_task(sub.next())
        await asyncio.sleep(0.1)
        sub.close()
        with pytest.raises(fdb.DatabaseClosed):
            await asyncio.wait_for(waiting, 10)

    asyncio.run(main())


def test_a_cancelled_subscribe_async_leaves_nothing_live(db: fdb.Database) -> None:
    async def main() -> None:
        task = asyncio.create_task(db.subscribe_async(slow_count, seconds=0.3))
        await asyncio.sleep(0.1)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    assert not db._subs._live


def test_open_async_opens_and_closes(tmp_path: Path) -> None:
    async def main() -> fdb.Database:
        async with fdb.open_async(tmp_path / "a.db", schema) as db:
            await db.run_async(add_task, text="a", user_id="u1")
            assert not db.closed
        return db

    db = asyncio.run(main())
    assert db.closed
    with fdb.open(tmp_path / "a.db", schema) as again:
        assert again.run(texts) == ["a"]
