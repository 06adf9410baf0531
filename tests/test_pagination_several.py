"""Several paginated queries in one live query function (Convex allows one per function).

Each ``paginate`` call of a live query keeps its own page boundaries (its end cursor is
pinned per call), so two pages over different tables, or over the same index with different
filters, stay exact: every published value equals a fresh run of the same pages up to the
cursors the subscription published, and each re-run is caused by a write to a range one of
the pages read.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import fusiondb as fdb
from tests.models import Person, add_task, delete, insert, patch


def two_pages_query(runs: Counter[str]) -> Any:
    @fdb.query
    def two_pages(db: fdb.Reader, n: int) -> dict[str, Any]:
        runs["two"] += 1
        tasks = (
            db.query("tasks").with_index("by_user_priority", lambda q: q.eq("user_id", "u")).paginate(None, n)
        )
        people = db.query("people").with_index("by_age").paginate(None, n)
        return {
            "tasks": [t.text for t in tasks.page],
            "tasks_end": tasks.continue_cursor,
            "people": [p.name for p in people.page],
            "people_end": people.continue_cursor,
        }

    return two_pages


@fdb.query
def fresh_pages(db: fdb.Reader, tasks_end: str, people_end: str) -> dict[str, list[str]]:
    """The same two pages as a fresh query, each up to the end a subscription published."""
    tasks = (
        db.query("tasks")
        .with_index("by_user_priority", lambda q: q.eq("user_id", "u"))
        .paginate(None, 1, end_cursor=tasks_end)
    )
    people = db.query("people").with_index("by_age").paginate(None, 1, end_cursor=people_end)
    return {"tasks": [t.text for t in tasks.page], "people": [p.name for p in people.page]}


def _matches_fresh(db: fdb.Database, value: dict[str, Any]) -> None:
    fresh = db.run(fresh_pages, tasks_end=value["tasks_end"], people_end=value["people_end"])
    assert fresh == {"tasks": value["tasks"], "people": value["people"]}


def test_two_paginated_tables_in_one_live_query_stay_exact(db: fdb.Database) -> None:
    for i in range(6):
        db.run(add_task, text=f"t{i}", user_id="u", priority=i * 10)
        db.run(insert, table="people", doc=Person(name=f"p{i}", age=i * 10).model_dump())
    runs: Counter[str] = Counter()
    sub = db.subscribe(two_pages_query(runs), n=3)
    assert sub.value["tasks"] == ["t0", "t1", "t2"]
    assert sub.value["people"] == ["p0", "p1", "p2"]
    _matches_fresh(db, sub.value)
    runs.clear()

    # Past both pages' ends: no re-run.
    db.run(add_task, text="late", user_id="u", priority=99)
    db.run(insert, table="people", doc={"name": "old", "age": 99})
    db.run(add_task, text="other user", user_id="v", priority=1)
    assert db.wait_idle()
    assert runs["two"] == 0

    # Into the task page: it grows (its end is pinned), the people page is unchanged.
    db.run(add_task, text="t0.5", user_id="u", priority=5)
    assert db.wait_idle()
    assert runs["two"] == 1
    assert sub.value["tasks"] == ["t0", "t0.5", "t1", "t2"]
    assert sub.value["people"] == ["p0", "p1", "p2"]
    _matches_fresh(db, sub.value)

    # Into the people page, then out of it by a patch: each one re-run.
    newcomer = db.run(insert, table="people", doc={"name": "p0.5", "age": 5})
    assert db.wait_idle()
    assert runs["two"] == 2
    assert sub.value["people"] == ["p0", "p0.5", "p1", "p2"]
    db.run(patch, doc_id=newcomer, fields={"age": 77})
    assert db.wait_idle()
    assert runs["two"] == 3
    assert sub.value["people"] == ["p0", "p1", "p2"]
    assert sub.value["tasks"] == ["t0", "t0.5", "t1", "t2"]
    _matches_fresh(db, sub.value)


def test_two_pages_over_one_index_with_different_filters_keep_their_own_ends(
    db: fdb.Database,
) -> None:
    """Same table, index, range, order and cursor: only the filters differ, so each call
    must keep its own pinned end (not the other's)."""
    ids = {}
    for i in range(8):
        ids[i] = db.run(add_task, text=f"t{i}", user_id="u", priority=i)
    runs: Counter[str] = Counter()

    @fdb.query
    def split(db: fdb.Reader) -> dict[str, Any]:
        runs["split"] += 1
        q = db.query("tasks").with_index("by_user_priority", lambda q: q.eq("user_id", "u"))
        even = q.filter(lambda t: t.text.in_(["t0", "t2", "t4", "t6", "t8"])).paginate(None, 2)
        odd = q.filter(lambda t: t.text.in_(["t1", "t3", "t5", "t7", "t9"])).paginate(None, 3)
        return {
            "even": [t.text for t in even.page],
            "even_end": even.continue_cursor,
            "odd": [t.text for t in odd.page],
            "odd_end": odd.continue_cursor,
        }

    @fdb.query
    def fresh(db: fdb.Reader, even_end: str, odd_end: str) -> dict[str, list[str]]:
        q = db.query("tasks").with_index("by_user_priority", lambda q: q.eq("user_id", "u"))
        even = q.filter(lambda t: t.text.in_(["t0", "t2", "t4", "t6", "t8"]))
        odd = q.filter(lambda t: t.text.in_(["t1", "t3", "t5", "t7", "t9"]))
        return {
            "even": [t.text for t in even.paginate(None, 1, end_cursor=even_end).page],
            "odd": [t.text for t in odd.paginate(None, 1, end_cursor=odd_end).page],
        }

    sub = db.subscribe(split)
    assert sub.value["even"] == ["t0", "t2"]
    assert sub.value["odd"] == ["t1", "t3", "t5"]
    runs.clear()
    db.run(delete, doc_id=ids[1])  # inside both pages' ranges
    assert db.wait_idle()
    assert runs["split"] == 1
    assert sub.value["even"] == ["t0", "t2"]  # the even page keeps its end (t2's key)
    assert sub.value["odd"] == ["t3", "t5"]  # the odd page keeps its own (t5's), not t2's
    expected = {k: sub.value[k] for k in ("even", "odd")}
    assert db.run(fresh, even_end=sub.value["even_end"], odd_end=sub.value["odd_end"]) == expected
    db.run(patch, doc_id=ids[7], fields={"priority": -1})  # moves into both ranges' start
    assert db.wait_idle()
    assert runs["split"] == 2
    assert sub.value["odd"] == ["t7", "t3", "t5"]
    assert sub.value["even"] == ["t0", "t2"]
    expected = {k: sub.value[k] for k in ("even", "odd")}
    assert db.run(fresh, even_end=sub.value["even_end"], odd_end=sub.value["odd_end"]) == expected
