"""Issue 18: one bad waiter, callback or log row must not stop anybody else's live queries, and
a database dropped without ``close()`` is collected with its threads and connections.
"""

from __future__ import annotations

import asyncio
import gc
import os
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import apsw
import pytest

import fusiondb as fdb
from fusiondb.engine.sqlite import changelog
from tests.models import add_task, schema

USERS = [f"u{i}" for i in range(20)]


def by_user_counting() -> tuple[Counter[str], Any]:
    runs: Counter[str] = Counter()

    @fdb.query
    def by_user(db: fdb.Reader, user_id: str) -> list[str]:
        runs[user_id] += 1
        q = db.query("tasks").with_index("by_user", lambda q: q.eq("user_id", user_id))
        return [t.text for t in q.collect()]

    return runs, by_user


def test_an_async_iterator_left_on_a_closed_loop_stales_nobody(tmp_path: Path) -> None:
    db = fdb.open(tmp_path / "x.db", schema)
    _, by_user = by_user_counting()
    subs = {u: db.subscribe(by_user, user_id=u) for u in USERS}

    loop = asyncio.new_event_loop()
    iterator = subs["u0"].__aiter__()  # suspended after its first value; its loop closes
    loop.run_until_complete(iterator.__anext__())
    loop.close()
    for round_ in range(3):
        for u in USERS:
            db.run(add_task, text=f"{u}-{round_}", user_id=u)
        assert db.wait_idle()
        assert all(subs[u].value == [f"{u}-{r}" for r in range(round_ + 1)] for u in USERS)
    db.close()


@pytest.mark.parametrize("exc", [SystemExit, KeyboardInterrupt, asyncio.CancelledError, GeneratorExit])
def test_a_callback_raising_anything_leaves_the_worker_running(tmp_path: Path, exc: type) -> None:
    db = fdb.open(tmp_path / "x.db", schema)
    _, by_user = by_user_counting()
    subs = {u: db.subscribe(by_user, user_id=u) for u in USERS}
    calls: Counter[str] = Counter()

    def bad(value: Any) -> None:
        calls["bad"] += 1
        raise exc()

    for u in USERS[:5]:
        subs[u].changed.connect(bad)
    for round_ in range(2):
        for u in USERS:
            db.run(add_task, text=f"{u}-{round_}", user_id=u)
        assert db.wait_idle()
    assert calls["bad"] >= 5
    assert all(len(subs[u].value) == 2 for u in USERS)
    # A new identical subscription shares the current value, not a stale one.
    assert db.subscribe(by_user, user_id="u0").value == ["u0-0", "u0-1"]
    db.close()


def test_a_failing_delivery_does_not_cost_the_rest_of_the_round(tmp_path: Path) -> None:
    db = fdb.open(tmp_path / "x.db", schema)
    _, by_user = by_user_counting()
    subs = {u: db.subscribe(by_user, user_id=u) for u in USERS}

    class BadLoop:
        """A waiter whose loop raises something ``_wake_all`` does not expect."""

        def call_soon_threadsafe(self, *args: Any) -> None:
            raise SystemExit

    for u in USERS[:7]:
        subs[u]._live.add_waiter((BadLoop(), asyncio.Event()))  # type: ignore[arg-type]

    @fdb.mutation
    def add_for_all(db: fdb.Writer) -> None:
        for u in USERS:
            db.insert("tasks", {"text": u, "user_id": u})

    db.run(add_for_all)
    assert db.wait_idle()
    assert {u: subs[u].value for u in USERS[7:]} == {u: [u] for u in USERS[7:]}
    db.close()


def test_wait_idle_inside_a_callback_raises_at_once(tmp_path: Path) -> None:
    db = fdb.open(tmp_path / "x.db", schema)
    _, by_user = by_user_counting()
    sub = db.subscribe(by_user, user_id="a")
    outcome: list[Any] = []

    def callback(value: Any) -> None:
        start = time.monotonic()
        try:
            db.wait_idle()
        except fdb.FusionError as exc:
            outcome.append((exc, time.monotonic() - start))

    sub.changed.connect(callback)
    db.run(add_task, text="x", user_id="a")
    assert db.wait_idle()
    assert len(outcome) == 1 and outcome[0][1] < 0.5
    db.close()


@pytest.mark.parametrize("payload", [b"not json", "text, not a blob", b"\xff\xfe", 42, b'{"format": 99}'])
def test_an_unreadable_log_row_reruns_everything_once_and_keeps_following(
    tmp_path: Path, payload: Any
) -> None:
    path = str(tmp_path / "x.db")
    db = fdb.open(path, schema)
    runs, by_user = by_user_counting()
    subs = {u: db.subscribe(by_user, user_id=u) for u in ("a", "b")}
    other = fdb.open(path, schema)
    other.run(add_task, text="a1", user_id="a")
    assert db.wait_idle()
    assert subs["a"].value == ["a1"]
    runs.clear()
    raw = apsw.Connection(path)
    raw.execute("INSERT INTO _fdb_changelog(origin, writes) VALUES ('elsewhere', ?)", (payload,))
    raw.close()
    assert db.wait_idle()
    assert runs == Counter({"a": 1, "b": 1})  # unknown change: everything once, then back to exact
    runs.clear()
    other.run(add_task, text="b1", user_id="b")
    assert db.wait_idle()
    assert runs == Counter({"b": 1})
    assert subs["b"].value == ["b1"]
    other.close()
    db.close()


def test_own_commits_trimmed_from_the_log_while_busy_do_not_rerun_everything(tmp_path: Path) -> None:
    db = fdb.open(tmp_path / "x.db", schema)
    runs, by_user = by_user_counting()
    release = threading.Event()
    blocked = threading.Event()

    @fdb.query
    def slow(db: fdb.Reader, user_id: str) -> int:
        q = db.query("tasks").with_index("by_user", lambda q: q.eq("user_id", user_id))
        n = len(q.collect())
        if n:
            blocked.set()
            assert release.wait(30)
        return n

    subs = [db.subscribe(by_user, user_id=u) for u in USERS]
    slow_sub = db.subscribe(slow, user_id="slow")
    runs.clear()
    db.run(add_task, text="x", user_id="slow")
    assert blocked.wait(10)  # the worker is stuck in one re-run
    for i in range(changelog.KEEP + 2 * changelog.TRIM_EVERY):
        db.run(add_task, text=f"n{i}", user_id="nobody")
    release.set()
    assert db.wait_idle(30)
    assert slow_sub.value == 1
    assert runs == Counter()  # the log lost only this process's own commits: nothing unknown
    assert len(subs) == len(USERS)
    db.close()


def _fds() -> int:
    return len(os.listdir("/proc/self/fd"))


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="counts file descriptors in /proc")
def test_a_database_dropped_with_live_subscriptions_is_collected(tmp_path: Path) -> None:
    def open_and_drop(i: int) -> None:
        db = fdb.open(tmp_path / f"x{i}.db", schema)
        _, by_user = by_user_counting()
        sub = db.subscribe(by_user, user_id="a")
        db.run(add_task, text="x", user_id="a")
        assert db.wait_idle()
        assert sub.value == ["x"]

    open_and_drop(-1)  # warm up: imports, the first notifier
    gc.collect()
    time.sleep(0.2)
    threads, fds = threading.active_count(), _fds()
    for i in range(50):
        open_and_drop(i)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        gc.collect()
        if threading.active_count() <= threads and _fds() <= fds:
            break
        time.sleep(0.05)
    assert threading.active_count() <= threads
    assert _fds() <= fds
