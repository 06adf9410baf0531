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
    subscription (ratio = without / with: 1.0 = the live count costs nothing per unrelated
    write), with the re-runs they caused (should be 0); and, for scale, a write inside the
    range (one re-run of the 1M count each).
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import apsw
from benchutil import compare, fmt_time, header, repeats, report, size

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
WRITES = size(300, 30)

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


def bench_live(db: fdb.Database) -> None:
    n = WRITES

    def writes(group: str) -> None:
        for _ in range(n):
            db.run(add, group=group)
            db.wait_idle()

    without_t: list[float] = []
    with_t: list[float] = []
    reruns = 0
    for _ in range(repeats(3)):
        without, _ = compare(lambda: writes("z"), lambda: None, 1)
        sub = db.subscribe(count_a)
        before = db.subscription_reruns
        with_, _ = compare(lambda: writes("z"), lambda: None, 1)
        reruns += db.subscription_reruns - before
        sub.close()
        without_t += without
        with_t += with_
    report("(b) write outside a live 1M count's range", without_t, with_t, per=n, unit="write")
    print(f"    re-runs caused by {n * len(with_t):,} writes outside the range: {reruns}")
    sub = db.subscribe(count_a)
    before = db.subscription_reruns
    inside = min(compare(lambda: writes("a"), lambda: None, 1)[0])
    print(
        f"    for scale, a write inside the range (re-runs the count): {fmt_time(inside / n)}/write, "
        f"{db.subscription_reruns - before} re-runs for {n} writes"
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
            bench_live(db)


if __name__ == "__main__":
    main()
