"""Reactivity is exact: counted re-runs, never sleeps.

Each test counts how many times a query function's body ran. ``db.wait_idle()`` returns once
every commit made so far has been matched and its re-runs have finished.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import threading
from collections import Counter
from typing import Any

import pytest

import fusiondb as fdb
from tests.models import Task, add_task, delete, toggle


def counting_queries() -> tuple[Counter[Any], Any, Any, Any]:
    runs: Counter[Any] = Counter()

    @fdb.query
    def by_user(db: fdb.Reader, user_id: str) -> list[str]:
        runs[("user", user_id)] += 1
        q = db.query("tasks").with_index("by_user", lambda q: q.eq("user_id", user_id))
        return [t.text for t in q.collect()]

    @fdb.query
    def one(db: fdb.Reader, doc_id: str) -> Any:
        runs[("get", doc_id)] += 1
        task = db.get(doc_id)
        return None if task is None else task.text

    @fdb.query
    def first_ten(db: fdb.Reader) -> list[str]:
        runs["first_ten"] += 1
        return [t.text for t in db.query("tasks").take(10)]

    return runs, by_user, one, first_ten


@fdb.mutation
def set_text(db: fdb.Writer, task_id: str, text: str) -> None:
    db.patch(task_id, {"text": text})


def test_insert_for_one_user_reruns_exactly_that_subscription(db: fdb.Database) -> None:
    runs, by_user, _, _ = counting_queries()
    subs = [db.subscribe(by_user, user_id=f"user{i}") for i in range(1000)]
    assert sum(runs.values()) == 1000
    runs.clear()
    db.run(add_task, text="milk", user_id="user417")
    assert db.wait_idle()
    assert runs == Counter({("user", "user417"): 1})
    assert subs[417].value == ["milk"]
    assert subs[416].value == []
    # a user nobody watches re-runs nothing
    db.run(add_task, text="x", user_id="nobody")
    assert db.wait_idle()
    assert runs == Counter({("user", "user417"): 1})


def test_unindexed_field_write_reruns_only_readers_of_that_document(db: fdb.Database) -> None:
    runs, by_user, one, _ = counting_queries()
    a = db.run(add_task, text="a", user_id="u1")
    b = db.run(add_task, text="b", user_id="u2")
    subs = [
        db.subscribe(by_user, user_id="u1"),
        db.subscribe(by_user, user_id="u2"),
        db.subscribe(one, doc_id=a),
        db.subscribe(one, doc_id=b),
    ]
    runs.clear()
    db.run(set_text, task_id=a, text="a2")
    assert db.wait_idle()
    assert runs == Counter({("user", "u1"): 1, ("get", a): 1})
    assert subs[0].value == ["a2"] and subs[2].value == "a2"
    assert subs[1].value == ["b"] and subs[3].value == "b"


def test_take_ten_is_not_rerun_by_insert_beyond_its_tenth_key(db: fdb.Database) -> None:
    runs, _, _, first_ten = counting_queries()
    ids = [db.run(add_task, text=f"t{i}", user_id="u") for i in range(20)]
    sub = db.subscribe(first_ten)
    runs.clear()
    db.run(add_task, text="late", user_id="u")  # sorts after the 20th key
    db.run(delete, doc_id=ids[15])  # beyond the 10th key too
    assert db.wait_idle()
    assert runs["first_ten"] == 0
    db.run(delete, doc_id=ids[3])  # inside: the 11th document moves up
    assert db.wait_idle()
    assert runs["first_ten"] == 1
    assert sub.value == [f"t{i}" for i in range(11) if i != 3]


def test_rolled_back_mutation_reruns_nothing(db: fdb.Database) -> None:
    runs, by_user, _, _ = counting_queries()
    sub = db.subscribe(by_user, user_id="u1")

    @fdb.mutation
    def add_then_fail(db: fdb.Writer) -> None:
        db.insert("tasks", Task(text="ghost", user_id="u1"))
        raise RuntimeError("boom")

    runs.clear()
    with pytest.raises(RuntimeError):
        db.run(add_then_fail)
    assert db.wait_idle()
    assert runs == Counter()
    assert sub.value == []


def test_identical_subscriptions_share_one_evaluation(db: fdb.Database) -> None:
    runs, by_user, _, _ = counting_queries()
    s1 = db.subscribe(by_user, user_id="u1")
    s2 = db.subscribe(by_user, user_id="u1")
    assert runs[("user", "u1")] == 1
    db.run(add_task, text="milk", user_id="u1")
    assert db.wait_idle()
    assert runs[("user", "u1")] == 2
    assert s1.value == s2.value == ["milk"]
    s1.close()
    db.run(add_task, text="eggs", user_id="u1")
    assert db.wait_idle()
    assert s2.value == ["milk", "eggs"]
    assert s1.value == ["milk"]  # closed: frozen


def test_value_is_published_only_when_it_changed(db: fdb.Database) -> None:
    runs, _, one, _ = counting_queries()
    a = db.run(add_task, text="same", user_id="u1")
    sub = db.subscribe(one, doc_id=a)
    sent: list[Any] = []
    sub.changed.connect(lambda s, value: sent.append(value))
    db.run(toggle, task_id=a)  # the document changed, the query's result did not
    assert db.wait_idle()
    assert runs[("get", a)] == 2
    assert sent == []
    db.run(set_text, task_id=a, text="new")
    assert db.wait_idle()
    assert sent == ["new"]


def test_raising_callback_is_logged_and_others_still_run(
    db: fdb.Database, caplog: pytest.LogCaptureFixture
) -> None:
    _, by_user, _, _ = counting_queries()
    sub = db.subscribe(by_user, user_id="u1")
    got: list[Any] = []

    def bad(s: Any, value: Any) -> None:
        raise ValueError("callback bug")

    sub.changed.connect(bad)
    sub.changed.connect(lambda s, value: got.append(value))
    with caplog.at_level(logging.ERROR, logger="fusiondb.subscriptions"):
        db.run(add_task, text="milk", user_id="u1")
        assert db.wait_idle()
    assert got == [["milk"]]
    assert any("callback" in r.getMessage() for r in caplog.records)
    db.run(add_task, text="eggs", user_id="u1")  # the database is still live
    assert db.wait_idle()
    assert got[-1] == ["milk", "eggs"]


def test_blocking_iterator_yields_current_then_new_values_and_ends_on_close(
    db: fdb.Database,
) -> None:
    _, by_user, _, _ = counting_queries()
    sub = db.subscribe(by_user, user_id="u1")
    seen: list[Any] = []
    started = threading.Event()

    def consume() -> None:
        for value in sub:
            seen.append(value)
            started.set()
            if value == ["a", "b"]:
                break

    t = threading.Thread(target=consume)
    t.start()
    assert started.wait(5)
    db.run(add_task, text="a", user_id="u1")
    db.run(add_task, text="b", user_id="u1")
    t.join(5)
    assert not t.is_alive()
    assert seen[0] == [] and seen[-1] == ["a", "b"]
    # values never go backwards
    assert all(len(x) <= len(y) for x, y in itertools.pairwise(seen))

    ended = threading.Event()

    def drain() -> None:
        for _ in sub:
            pass
        ended.set()

    t2 = threading.Thread(target=drain)
    t2.start()
    sub.close()
    assert ended.wait(5)


def test_async_iteration_on_the_event_loop(db: fdb.Database) -> None:
    _, by_user, _, _ = counting_queries()
    sub = db.subscribe(by_user, user_id="u1")

    async def main() -> list[Any]:
        values: list[Any] = []
        loop_thread = threading.get_ident()
        threads: set[int] = set()

        async def write() -> None:
            await asyncio.to_thread(db.run, add_task, text="a", user_id="u1")

        async for value in sub:
            threads.add(threading.get_ident())
            values.append(value)
            if value == []:
                asyncio.get_running_loop().create_task(write())
            if value == ["a"]:
                break
        assert threads == {loop_thread}
        return values

    values = asyncio.run(asyncio.wait_for(main(), 10))
    assert values == [[], ["a"]]


def test_db_close_ends_iterators_and_refuses_new_subscriptions(db: fdb.Database) -> None:
    _, by_user, _, _ = counting_queries()
    sub = db.subscribe(by_user, user_id="u1")
    ended = threading.Event()

    def drain() -> None:
        for _ in sub:
            pass
        ended.set()

    t = threading.Thread(target=drain)
    t.start()
    db.close()
    assert ended.wait(5)
    assert sub.closed
    with pytest.raises(fdb.DatabaseClosed):
        db.subscribe(by_user, user_id="u1")


def test_subscribe_rejects_mutations_and_plain_functions(db: fdb.Database) -> None:
    with pytest.raises(TypeError):
        db.subscribe(add_task, text="x", user_id="u")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        db.subscribe(lambda db: None)  # type: ignore[arg-type]


def test_nested_helper_reads_are_covered(db: fdb.Database) -> None:
    runs: Counter[str] = Counter()

    def helper(db: fdb.Reader, user_id: str) -> int:
        return len(db.query("tasks").with_index("by_user", lambda q: q.eq("user_id", user_id)).collect())

    @fdb.query
    def two_users(db: fdb.Reader) -> tuple[int, int]:
        runs["two"] += 1
        return helper(db, "a"), helper(db, "b")

    sub = db.subscribe(two_users)
    db.run(add_task, text="x", user_id="b")
    db.run(add_task, text="y", user_id="c")
    assert db.wait_idle()
    assert sub.value == (0, 1)
    assert runs["two"] == 2


def test_range_subscription_sees_key_moving_in_and_out(db: fdb.Database) -> None:
    runs: Counter[str] = Counter()

    @fdb.query
    def mid_priority(db: fdb.Reader) -> list[str]:
        runs["mid"] += 1
        q = db.query("tasks").with_index(
            "by_user_priority", lambda q: q.eq("user_id", "u").gte("priority", 3).lt("priority", 6)
        )
        return [t.text for t in q.collect()]

    @fdb.mutation
    def set_priority(db: fdb.Writer, task_id: str, priority: int) -> None:
        db.patch(task_id, {"priority": priority})

    low = db.run(add_task, text="low", user_id="u", priority=1)
    sub = db.subscribe(mid_priority)
    runs.clear()
    db.run(add_task, text="high", user_id="u", priority=9)  # outside: no re-run
    assert db.wait_idle()
    assert runs["mid"] == 0
    db.run(set_priority, task_id=low, priority=4)  # moves in: new key inside
    assert db.wait_idle()
    assert sub.value == ["low"] and runs["mid"] == 1
    db.run(set_priority, task_id=low, priority=0)  # moves out: old key inside
    assert db.wait_idle()
    assert sub.value == [] and runs["mid"] == 2


def test_paginated_subscription_keeps_its_page_boundaries(db: fdb.Database) -> None:
    ids = [db.run(add_task, text=f"t{i}", user_id="u", priority=i * 10) for i in range(10)]

    @fdb.query
    def page(db: fdb.Reader, cursor: str | None) -> list[str]:
        q = db.query("tasks").with_index("by_user_priority", lambda q: q.eq("user_id", "u"))
        result = q.paginate(cursor=cursor, num_items=3)
        return [t.text for t in result.page]

    @fdb.query
    def page_cursor(db: fdb.Reader) -> str:
        q = db.query("tasks").with_index("by_user_priority", lambda q: q.eq("user_id", "u"))
        return q.paginate(cursor=None, num_items=3).continue_cursor

    first = db.subscribe(page, cursor=None)
    second = db.subscribe(page, cursor=db.run(page_cursor))
    assert first.value == ["t0", "t1", "t2"]
    assert second.value == ["t3", "t4", "t5"]
    # A document entering the first page's key range grows that page, not the next one.
    db.run(add_task, text="t1.5", user_id="u", priority=15)
    assert db.wait_idle()
    assert first.value == ["t0", "t1", "t1.5", "t2"]
    assert second.value == ["t3", "t4", "t5"]
    db.run(delete, doc_id=ids[4])
    assert db.wait_idle()
    assert second.value == ["t3", "t5"]
    assert first.value == ["t0", "t1", "t1.5", "t2"]


def test_callbacks_in_blinker_style_or_taking_just_the_value(db: fdb.Database) -> None:
    _, by_user, _, _ = counting_queries()
    sub = db.subscribe(by_user, user_id="u1")
    got: list[Any] = []

    def value_only(value: Any) -> None:
        got.append(("value", value))

    def blinker_style(sender: Any, **kwargs: Any) -> None:
        got.append(("blinker", sender is sub, kwargs["value"]))

    sub.changed.connect(value_only)
    sub.changed.connect(blinker_style)
    db.run(add_task, text="milk", user_id="u1")
    assert db.wait_idle()
    assert sorted(got, key=str) == [("blinker", True, ["milk"]), ("value", ["milk"])]


def test_subscribe_inside_a_running_function_is_refused(db: fdb.Database) -> None:
    _, by_user, _, _ = counting_queries()

    @fdb.mutation
    def nested(inner: fdb.Writer) -> None:
        db.subscribe(by_user, user_id="u1")

    with pytest.raises(fdb.FusionError, match="inside a running"):
        db.run(nested)
    assert db.subscribe(by_user, user_id="u1").value == []
