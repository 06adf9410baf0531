"""A subscription's life: the README script, close delivering, errors, waiting, asyncio.

Timing bounds are generous (seconds) so the tests hold on a loaded two-core machine: they
check that something ends, never that it is fast.
"""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

import fusiondb as fdb
from tests.models import Task, add_task

ROOT = Path(__file__).resolve().parent.parent
BOUND = 2.0  # seconds: "promptly", on a slow machine


@fdb.query
def texts_or_boom(db: fdb.Reader, user_id: str) -> list[str]:
    """The user's task texts; raises while one of them is "boom"."""
    tasks = db.query("tasks").with_index("by_user", lambda q: q.eq("user_id", user_id)).collect()
    texts = sorted(t.text for t in tasks)
    if "boom" in texts:
        raise ValueError("boom")
    return texts


@fdb.mutation
def rename(db: fdb.Writer, task_id: str, text: str) -> None:
    db.patch(task_id, {"text": text})


# -- the README example ------------------------------------------------------------------


def test_readme_example_prints_the_callback_line_when_run_as_a_script(tmp_path: Path) -> None:
    readme = (ROOT / "README.md").read_text()
    code = re.search(r"^```python\n(.*?)^```", readme, re.S | re.M)
    assert code is not None, "README.md has no python example"
    script = tmp_path / "example.py"
    script.write_text(code.group(1))
    result = subprocess.run(
        [sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stdout.splitlines() if line.startswith("now [")]
    assert len(lines) == 1, result.stdout
    assert "eggs" in lines[0] and "milk" in lines[0]


# -- close delivers ------------------------------------------------------------------------


def test_close_delivers_every_commit_made_before_it(db: fdb.Database) -> None:
    sub = db.subscribe(texts_or_boom, user_id="u1")
    got: list[list[str]] = []
    sub.changed.connect(lambda value: got.append(value))
    for i in range(5):
        db.run(add_task, text=f"t{i}", user_id="u1")
    db.close()  # no wait_idle: close itself lets the worker catch up first
    assert got, "close() returned before the callback saw any commit"
    assert got[-1] == [f"t{i}" for i in range(5)]
    assert sub.closed


def test_close_from_a_callback_does_not_wait_for_itself(db: fdb.Database) -> None:
    sub = db.subscribe(texts_or_boom, user_id="u1")
    closed = threading.Event()

    def close_db(value: list[str]) -> None:
        db.close()
        closed.set()

    sub.changed.connect(close_db)
    db.run(add_task, text="a", user_id="u1")
    assert closed.wait(10)
    assert db.closed and sub.closed


# -- errors ----------------------------------------------------------------------------------


def test_a_failing_rerun_sends_failed_keeps_the_value_and_recovers(db: fdb.Database) -> None:
    sub = db.subscribe(texts_or_boom, user_id="u1")
    errors: list[BaseException] = []
    values: list[list[str]] = []
    sub.failed.connect(lambda sub, error: errors.append(error))
    sub.changed.connect(lambda value: values.append(value))
    db.run(add_task, text="a", user_id="u1")
    assert db.wait_idle()
    boom = db.run(add_task, text="boom", user_id="u1")
    assert db.wait_idle()
    assert len(errors) == 1 and isinstance(errors[0], ValueError)
    assert sub.error is errors[0]
    assert sub.value == ["a"]  # the last good value
    # A write the query did not read re-runs nothing, so nothing more is sent.
    db.run(add_task, text="x", user_id="u2")
    assert db.wait_idle()
    assert len(errors) == 1
    db.run(rename, task_id=boom, text="b")
    assert db.wait_idle()
    assert sub.error is None
    assert values == [["a"], ["a", "b"]]
    assert len(errors) == 1


def test_failed_takes_a_receiver_of_the_error_alone(db: fdb.Database) -> None:
    sub = db.subscribe(texts_or_boom, user_id="u1")
    errors: list[BaseException] = []
    sub.failed.connect(lambda error: errors.append(error))
    db.run(add_task, text="boom", user_id="u1")
    assert db.wait_idle()
    assert [type(e) for e in errors] == [ValueError]


def test_an_error_that_clears_with_the_value_unchanged_clears_sub_error(db: fdb.Database) -> None:
    sub = db.subscribe(texts_or_boom, user_id="u1")
    boom = db.run(add_task, text="boom", user_id="u1")
    assert db.wait_idle()
    assert isinstance(sub.error, ValueError)
    db.run(fdb.mutation(lambda db, task_id: db.delete(task_id)), task_id=boom)
    assert db.wait_idle()
    assert sub.error is None and sub.value == []


def test_blocking_iteration_raises_the_error_and_ends(db: fdb.Database) -> None:
    sub = db.subscribe(texts_or_boom, user_id="u1")
    seen: list[Any] = []
    raised: list[BaseException] = []
    first = threading.Event()

    def consume() -> None:
        try:
            for value in sub:
                seen.append(value)
                first.set()
        except ValueError as exc:
            raised.append(exc)

    t = threading.Thread(target=consume)
    t.start()
    assert first.wait(10)
    db.run(add_task, text="boom", user_id="u1")
    t.join(10)
    assert not t.is_alive()
    assert seen == [[]] and len(raised) == 1 and str(raised[0]) == "boom"
    # Iterating a failing subscription raises at once.
    with pytest.raises(ValueError, match="boom"):
        next(iter(sub))


def test_async_iteration_raises_the_error(db: fdb.Database) -> None:
    sub = db.subscribe(texts_or_boom, user_id="u1")

    async def main() -> list[Any]:
        seen: list[Any] = []
        with pytest.raises(ValueError, match="boom"):
            async for value in sub:
                seen.append(value)
                await asyncio.to_thread(db.run, add_task, text="boom", user_id="u1")
        return seen

    assert asyncio.run(asyncio.wait_for(main(), 10)) == [[]]
    assert not sub._live.waiters


# -- wait ------------------------------------------------------------------------------------


def test_wait_without_predicate_returns_the_next_value(db: fdb.Database) -> None:
    sub = db.subscribe(texts_or_boom, user_id="u1")
    assert sub.value == []
    with pytest.raises(TimeoutError):
        sub.wait(timeout=0.05)
    # Published before the call, but newer than what this handle gave out: returned at once.
    db.run(add_task, text="a", user_id="u1")
    assert db.wait_idle()
    assert sub.wait(timeout=10) == ["a"]
    with pytest.raises(TimeoutError):
        sub.wait(timeout=0.05)  # nothing newer than ["a"] yet

    def write_later() -> None:
        time.sleep(0.05)
        db.run(add_task, text="b", user_id="u1")

    threading.Thread(target=write_later).start()
    assert sub.wait(timeout=10) == ["a", "b"]


def test_wait_with_a_predicate_raises_the_error_and_after_close(db: fdb.Database) -> None:
    sub = db.subscribe(texts_or_boom, user_id="u1")
    db.run(add_task, text="a", user_id="u1")
    assert sub.wait(lambda v: v == ["a"], timeout=10) == ["a"]
    db.run(add_task, text="boom", user_id="u1")
    with pytest.raises(ValueError, match="boom"):
        sub.wait(lambda v: len(v) > 5, timeout=10)
    other = db.subscribe(texts_or_boom, user_id="u2")
    other.close()
    assert other.closed
    with pytest.raises(fdb.DatabaseClosed):
        other.wait(timeout=10)
    assert other.wait(lambda v: v == [], timeout=10) == []  # the final value still counts


# -- asyncio -------------------------------------------------------------------------------


def test_subscribe_async_evaluates_off_the_event_loop(db: fdb.Database) -> None:
    ran_on: list[int] = []

    @fdb.query
    def slow(db: fdb.Reader) -> int:
        ran_on.append(threading.get_ident())
        time.sleep(0.3)
        return len(db.query("tasks").collect())

    async def main() -> tuple[fdb.Subscription, int, int]:
        ticks = 0

        async def tick() -> None:
            nonlocal ticks
            while True:
                await asyncio.sleep(0.01)
                ticks += 1

        ticker = asyncio.create_task(tick())
        sub = await db.subscribe_async(slow)
        ticker.cancel()
        return sub, ticks, threading.get_ident()

    sub, ticks, loop_thread = asyncio.run(asyncio.wait_for(main(), 10))
    assert sub.value == 0
    assert ran_on and loop_thread not in ran_on
    assert ticks >= 3  # the loop kept running while the query did
    with pytest.raises(TypeError):
        asyncio.run(db.subscribe_async(add_task))  # type: ignore[arg-type]


def test_cancelling_an_async_for_task_ends_it_and_leaves_no_waiter(db: fdb.Database) -> None:
    sub = db.subscribe(texts_or_boom, user_id="u1")
    live = sub._live

    async def main() -> float:
        got_first = asyncio.Event()

        async def watch() -> None:
            async for _ in sub:
                got_first.set()

        task = asyncio.create_task(watch())
        await asyncio.wait_for(got_first.wait(), 10)
        assert len(live.waiters) == 1
        start = time.monotonic()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await asyncio.wait_for(task, BOUND)
        return time.monotonic() - start

    assert asyncio.run(main()) < BOUND
    assert live.waiters == []
    # The subscription itself is still live.
    db.run(add_task, text="a", user_id="u1")
    assert sub.wait(timeout=10) == ["a"]


def test_closing_the_database_ends_async_for_promptly(db: fdb.Database) -> None:
    sub = db.subscribe(texts_or_boom, user_id="u1")

    async def main() -> tuple[list[Any], float]:
        seen: list[Any] = []
        got_first = asyncio.Event()

        async def watch() -> None:
            async for value in sub:
                seen.append(value)
                got_first.set()

        task = asyncio.create_task(watch())
        await asyncio.wait_for(got_first.wait(), 10)
        start = time.monotonic()
        await asyncio.to_thread(db.close)
        await asyncio.wait_for(task, BOUND)  # ended by itself, not cancelled
        return seen, time.monotonic() - start

    seen, took = asyncio.run(main())
    assert seen == [[]] and took < BOUND
    assert sub.closed and sub._live.waiters == []


def test_a_task_model_value_is_what_subscribers_get(db: fdb.Database) -> None:
    # Values are the query's own objects: models compare by content, so equal reruns stay quiet.
    @fdb.query
    def tasks(db: fdb.Reader) -> list[Task]:
        return db.query("tasks").collect()

    sub = db.subscribe(tasks)
    db.run(add_task, text="a", user_id="u1")
    value = sub.wait(timeout=10)
    assert [t.text for t in value] == ["a"]
