"""Count and aggregate figures: fusiondb's indexed count against raw apsw, same run.

    .venv/bin/python benchmarks/bench_counts.py        # BENCH_QUICK=1 for a smoke run

(a) ``query.with_index("by_group", eq("group", "a")).count()`` over a range of 1M documents
    (in a table of 1.2M) against raw apsw running ``SELECT count(*)`` over the same index
    range on the same file (the statement fusiondb runs: the ratio is fusiondb's overhead
    around SQLite's count). For scale, a second raw line counts the same documents without
    the index (``doc ->> '$.group' = 'a'`` over the table), and ``sum``/``max`` of the indexed
    ``score`` over the range against raw ``sum``/``max`` over the same index columns.
    Deterministic: the pages each reads from the file (cache misses, fresh connection).
(b) A live count over that range: the cost of a write outside the range (``db.run`` of one
    insert + ``db.wait_idle()``) with the live count open, against the same writes with no
    subscription at all (ratio = without / with), and against the same writes with a live
    query that reads one document instead (what having any live query costs: the worker
    wakes and matches each commit; ratio 1.0 = the 1M count itself adds nothing), with the
    re-runs they caused (should be 0); and, for scale, a write inside the range (one re-run
    of the 1M count each).
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import apsw
from benchutil import compare, fmt_time, header, repeats, report, size, timed

import fusiondb as fdb


class Item(fdb.Document):
    group: str
    score: int


schema = fdb.Schema(
    items=fdb.table(Item).index("by_group", ["group"]).index("by_group_score", ["group", "score"])
)

RANGE = size(1_000_000, 20_000)
OTHER = size(200_000, 4_000)
BATCH = 50_000
WRITES = size(100, 20)
INSIDE = size(10, 3)

RAW_COUNT = 'SELECT count(*) FROM items INDEXED BY "items$by_group" WHERE "$group$t" = 3 AND "$group$v" = ?'
RAW_JSON_COUNT = "SELECT count(*) FROM items WHERE doc ->> '$.group' = ?"
RAW_SUM = (
    'SELECT sum("$score$v") FROM items INDEXED BY "items$by_group_score" '
    'WHERE "$group$t" = 3 AND "$group$v" = ? AND "$score$t" = 1'
)
RAW_MAX = (
    'SELECT "$score$v" FROM items INDEXED BY "items$by_group_score" '
    'WHERE "$group$t" = 3 AND "$group$v" = ? AND "$score$t" = 1 '
    'ORDER BY "$score$t" DESC, "$score$v" DESC LIMIT 1'
)


@fdb.mutation
def fill(db: fdb.Writer, group: str, start: int, n: int) -> None:
    db.insert_many("items", ({"group": group, "score": (start + i) % 1000} for i in range(n)))


@fdb.mutation
def add(db: fdb.Writer, group: str) -> None:
    db.insert("items", {"group": group, "score": 1})


def in_range(r: fdb.Reader) -> Any:
    return r.query("items").with_index("by_group", lambda q: q.eq("group", "a"))


@fdb.query
def count_a(r: fdb.Reader) -> int:
    return in_range(r).count()


def pages(path: str, sql: str) -> int:
    conn = apsw.Connection(path, flags=apsw.SQLITE_OPEN_READONLY)
    try:
        conn.execute(sql, ("a",)).get  # noqa: B018  (run it for its page reads)
        return int(conn.status(apsw.SQLITE_DBSTATUS_CACHE_MISS)[0])
    finally:
        conn.close()


def bench_count(db: fdb.Database, path: str) -> None:
    raw = apsw.Connection(path, flags=apsw.SQLITE_OPEN_READONLY)
    n = repeats(7)
    assert raw.execute(RAW_COUNT, ("a",)).get == db.run(count_a) == RANGE
    raw_t, fdb_t = compare(lambda: raw.execute(RAW_COUNT, ("a",)).get, lambda: db.run(count_a), n)
    report(f"(a) count() of a {RANGE:,}-document index range", raw_t, fdb_t)
    json_t, fdb_t2 = compare(
        lambda: raw.execute(RAW_JSON_COUNT, ("a",)).get, lambda: db.run(count_a), repeats(3)
    )
    report("    vs raw count without the index (doc ->> field)", json_t, fdb_t2)

    @fdb.query
    def sum_a(r: fdb.Reader) -> int:
        return int(r.query("items").with_index("by_group_score", lambda q: q.eq("group", "a")).sum("score"))

    @fdb.query
    def max_a(r: fdb.Reader) -> int:
        return int(r.query("items").with_index("by_group_score", lambda q: q.eq("group", "a")).max("score"))

    assert raw.execute(RAW_SUM, ("a",)).get == db.run(sum_a)
    raw_t, fdb_t = compare(lambda: raw.execute(RAW_SUM, ("a",)).get, lambda: db.run(sum_a), n)
    report("    sum('score') over the range", raw_t, fdb_t)
    assert raw.execute(RAW_MAX, ("a",)).get == db.run(max_a)
    raw_t, fdb_t = compare(lambda: raw.execute(RAW_MAX, ("a",)).get, lambda: db.run(max_a), n * 20)
    report("    max('score') over the range (one index entry)", raw_t, fdb_t)
    raw.close()
    print(
        f"    pages read from the file: indexed count {pages(path, RAW_COUNT):,}, "
        f"count without the index {pages(path, RAW_JSON_COUNT):,}"
    )


@fdb.query
def first_b(r: fdb.Reader) -> str | None:
    doc = r.query("items").with_index("by_group", lambda q: q.eq("group", "b")).first()
    return None if doc is None else doc.id


def bench_live(db: fdb.Database, path: str) -> None:
    n = WRITES

    def writes(on: fdb.Database, group: str, count: int = n) -> None:
        for _ in range(count):
            on.run(add, group=group)
            on.wait_idle()

    # No subscription: a second Database on the file that never subscribes (its writes wake
    # no worker). The live phases run on ``db`` while ``plain`` is idle, and the other way.
    plain = fdb.open(path, schema)
    none_t: list[float] = []
    count_t: list[float] = []
    one_t: list[float] = []
    reruns = 0
    try:
        for _ in range(repeats(7)):
            none_t.append(timed(lambda: writes(plain, "z")))
            for fn, out in ((count_a, count_t), (first_b, one_t)):
                sub = db.subscribe(fn)
                db.wait_idle()  # anything the subscription owes from before it is settled first
                before = db.subscription_reruns
                out.append(timed(lambda: writes(db, "z")))
                reruns += db.subscription_reruns - before
                sub.close()
    finally:
        plain.close()
    report("(b) write outside a live 1M count's range", none_t, count_t, per=n, unit="write")
    print("    (raw: the same writes with no subscription at all)")
    report("    vs a live query reading one document", one_t, count_t, per=n, unit="write")
    print(
        f"    re-runs during {n * (len(count_t) + len(one_t)):,} writes outside both: {reruns} (a few are"
        " possible: when SQLite restarts its WAL file, every live query re-runs once, docs/reactivity.md)"
    )
    sub = db.subscribe(count_a)
    db.wait_idle()
    before = db.subscription_reruns
    inside = timed(lambda: writes(db, "a", INSIDE))
    print(
        f"    for scale, a write inside the range (re-runs the count): {fmt_time(inside / INSIDE)}/write, "
        f"{db.subscription_reruns - before} re-runs for {INSIDE} writes"
    )
    sub.close()


def main() -> None:
    header("counts and aggregates")
    with tempfile.TemporaryDirectory() as tmp:
        path = str(Path(tmp) / "counts.db")
        with fdb.open(path, schema) as db:
            for group, total in (("a", RANGE), ("b", OTHER)):
                for start in range(0, total, BATCH):
                    db.run(fill, group=group, start=start, n=min(BATCH, total - start))
            bench_count(db, path)
            bench_live(db, path)


if __name__ == "__main__":
    main()
