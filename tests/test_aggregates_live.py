"""Live counts and aggregates re-run exactly: only when a committed write enters or leaves
the range they read (counted re-runs, never sleeps).

``count``/``sum`` (and ``min``/``max`` of a field the range is not on) read their whole
range; ``min``/``max`` of the range's own field read from the range's end up to the first
key past null (docs/reactivity.md).
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import fusiondb as fdb
from tests.models import add_task, delete, insert, patch


def live(db: fdb.Database, runs: Counter[str], name: str, build: Any) -> fdb.Subscription[Any]:
    @fdb.query
    def fn(r: fdb.Reader) -> Any:
        runs[name] += 1
        return build(r)

    sub = db.subscribe(fn)
    runs[name] = 0
    return sub


def settle(db: fdb.Database) -> None:
    assert db.wait_idle()


def test_a_live_count_reruns_only_for_writes_entering_or_leaving_its_range(db: fdb.Database) -> None:
    a = db.run(add_task, text="a", user_id="u")
    b = db.run(add_task, text="b", user_id="v")
    runs: Counter[str] = Counter()
    count = live(
        db,
        runs,
        "u",
        lambda r: r.query("tasks").with_index("by_user", lambda q: q.eq("user_id", "u")).count(),
    )
    assert count.value == 1

    db.run(add_task, text="c", user_id="v")  # outside
    db.run(patch, doc_id=b, fields={"text": "b2"})  # outside, stays outside
    db.run(insert, table="notes", doc={"title": "n"})  # another table
    settle(db)
    assert runs["u"] == 0 and count.value == 1

    db.run(add_task, text="d", user_id="u")  # enters
    settle(db)
    assert runs["u"] == 1 and count.value == 2
    db.run(patch, doc_id=b, fields={"user_id": "u"})  # a patch moves a document in
    settle(db)
    assert runs["u"] == 2 and count.value == 3
    db.run(patch, doc_id=a, fields={"user_id": "w"})  # and one out
    settle(db)
    assert runs["u"] == 3 and count.value == 2
    db.run(delete, doc_id=b)  # leaves
    settle(db)
    assert runs["u"] == 4 and count.value == 1
    # A patch inside the range that moves nothing writes its key: one re-run, same value,
    # nothing published.
    published: list[Any] = []
    count.changed.connect(lambda value: published.append(value))
    only = db.run(add_task, text="e", user_id="u")
    settle(db)
    assert runs["u"] == 5 and published == [2]
    db.run(patch, doc_id=only, fields={"text": "e2"})
    settle(db)
    assert runs["u"] == 6 and published == [2]


def test_a_live_count_over_a_bounded_range(db: fdb.Database) -> None:
    for p in (1, 5, 9):
        db.run(add_task, text=f"p{p}", user_id="u", priority=p)
    runs: Counter[str] = Counter()
    mid = live(
        db,
        runs,
        "mid",
        lambda r: (
            r.query("tasks")
            .with_index(
                "by_user_priority", lambda q: q.eq("user_id", "u").gte("priority", 3).lte("priority", 7)
            )
            .count()
        ),
    )
    assert mid.value == 1
    db.run(add_task, text="low", user_id="u", priority=2)
    db.run(add_task, text="high", user_id="u", priority=8)
    db.run(add_task, text="other", user_id="v", priority=5)
    settle(db)
    assert runs["mid"] == 0
    db.run(add_task, text="in", user_id="u", priority=3)
    settle(db)
    assert runs["mid"] == 1 and mid.value == 2


def test_a_live_whole_table_count_and_a_filtered_count(db: fdb.Database) -> None:
    runs: Counter[str] = Counter()
    total = live(db, runs, "all", lambda r: r.query("tasks").count())
    done = live(
        db,
        runs,
        "done",
        lambda r: (
            r.query("tasks")
            .with_index("by_user", lambda q: q.eq("user_id", "u"))
            .filter(lambda q: q.eq(q.completed, True))
            .count()
        ),
    )
    t = db.run(add_task, text="t", user_id="u")
    settle(db)
    assert (total.value, done.value) == (1, 0)
    assert runs == Counter({"all": 1, "done": 1})
    db.run(patch, doc_id=t, fields={"completed": True})
    settle(db)
    assert (total.value, done.value) == (1, 1)
    db.run(add_task, text="x", user_id="v")  # the filtered count's range is user u only
    db.run(insert, table="notes", doc={"title": "n"})
    settle(db)
    assert runs == Counter({"all": 3, "done": 2}) and total.value == 2


def test_a_live_sum_follows_the_values_in_its_range(db: fdb.Database) -> None:
    t = db.run(add_task, text="t", user_id="u", priority=4)
    runs: Counter[str] = Counter()
    total = live(
        db,
        runs,
        "sum",
        lambda r: r.query("tasks").with_index("by_user", lambda q: q.eq("user_id", "u")).sum("priority"),
    )
    assert total.value == 4
    db.run(patch, doc_id=t, fields={"priority": 10})  # in the range: its value counts
    settle(db)
    assert runs["sum"] == 1 and total.value == 10
    db.run(add_task, text="v", user_id="v", priority=100)
    settle(db)
    assert runs["sum"] == 1


def test_a_live_min_reads_up_to_the_first_key_only(db: fdb.Database) -> None:
    for age in (30, 20, 40):
        db.run(insert, table="people", doc={"name": f"p{age}", "age": age})
    runs: Counter[str] = Counter()
    youngest = live(db, runs, "min", lambda r: r.query("people").with_index("by_age").min("age"))
    oldest = live(db, runs, "max", lambda r: r.query("people").with_index("by_age").max("age"))
    assert (youngest.value, oldest.value) == (20, 40)

    db.run(insert, table="people", doc={"name": "between", "age": 25})  # past both ends' first keys
    db.run(insert, table="people", doc={"name": "ageless", "age": None})  # null: not a value
    settle(db)
    assert runs == Counter({"min": 0, "max": 0})

    young = db.run(insert, table="people", doc={"name": "young", "age": 10})
    settle(db)
    assert runs == Counter({"min": 1, "max": 0}) and youngest.value == 10
    db.run(patch, doc_id=young, fields={"age": 50})  # leaves the min's end, enters the max's
    settle(db)
    assert runs == Counter({"min": 2, "max": 1})
    assert (youngest.value, oldest.value) == (20, 50)
    db.run(delete, doc_id=young)
    settle(db)
    assert runs == Counter({"min": 2, "max": 2}) and oldest.value == 40


def test_a_live_max_of_a_field_outside_the_range_reads_the_whole_range(db: fdb.Database) -> None:
    t = db.run(add_task, text="a", user_id="u", priority=1)
    runs: Counter[str] = Counter()
    top = live(
        db,
        runs,
        "top",
        lambda r: r.query("tasks").with_index("by_user", lambda q: q.eq("user_id", "u")).max("text"),
    )
    assert top.value == "a"
    db.run(add_task, text="0", user_id="u")  # in the range (a lesser text): re-runs, same value
    db.run(add_task, text="z", user_id="v")  # outside
    settle(db)
    assert runs["top"] == 1 and top.value == "a"
    db.run(patch, doc_id=t, fields={"text": "b"})
    settle(db)
    assert runs["top"] == 2 and top.value == "b"
