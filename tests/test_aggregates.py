"""count / sum / min / max: their meaning against a reference written from the rules, the
SQL SQLite runs for them (a covering index scan for a count over an index range), and the
errors of misuse.

The rules (``core/aggregates.py``, docs/queries.md): ``count`` counts documents; ``sum`` adds
the values that are numbers (booleans are not), ints exactly, ``0`` for none; ``min``/``max``
pick the least/greatest present, non-null value in the value order, ``None`` for none.
"""

from __future__ import annotations

import datetime
import functools
from typing import Any

import apsw
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import fusiondb as fdb
from fusiondb.core.aggregates import aggregate
from fusiondb.core.bytesvalues import untag_any
from fusiondb.core.keys import sort_bytes_of_json
from fusiondb.engine.base import Aggregate, IndexScan
from fusiondb.engine.sqlite.aggregate import aggregate_sql
from fusiondb.engine.sqlite.ddl import SORT_BYTES_FUNCTION
from fusiondb.engine.sqlite.txn import SqliteTxn
from tests.models import Task, add_task, insert_all, read
from tests.test_value_order import VALUES, ref_cmp


class Item(fdb.Document):
    g: int = 0
    v: Any = None
    text: str = ""


schema = fdb.Schema(items=fdb.table(Item).index("by_v", ["v"]).index("by_g_v", ["g", "v"]))

# Numbers whose every sum is exact in float64 (quarters, small ints): any summation order
# gives the same float, so the engine's sum is compared exactly.
EXACT_NUMBERS = st.integers(-(2**40), 2**40) | st.integers(-(10**6), 10**6).map(lambda n: n / 4)
SUMMED = EXACT_NUMBERS | st.none() | st.booleans() | st.text(max_size=2) | st.lists(EXACT_NUMBERS, max_size=2)


def ref_sum(values: list[Any]) -> int | float:
    numbers = [v for v in values if type(v) in (int, float)]
    total = sum(numbers)
    return float(total) if any(type(v) is float for v in numbers) else total


def ref_extreme(values: list[Any], last: bool) -> Any:
    present = [v for v in values if v is not None]
    if not present:
        return None
    ordered = sorted(present, key=functools.cmp_to_key(ref_cmp))
    return ordered[-1] if last else ordered[0]


def same_value(a: Any, b: Any) -> bool:
    return (a is None and b is None) or (a is not None and b is not None and ref_cmp(a, b) == 0)


def open_items(values: list[Any], missing: int) -> tuple[fdb.Database, list[Any], list[int]]:
    db = fdb.open(None, schema)
    docs = [{"g": i % 2, "v": v} for i, v in enumerate(values)] + [{"g": 1}] * missing
    db.run(insert_all, table="items", docs=docs)
    return db, [*values, *[None] * missing], [d["g"] for d in docs]


def aggregates(r: fdb.Reader, q: Any) -> dict[str, Any]:
    return {"count": q.count(), "min": q.min("v"), "max": q.max("v")}


@settings(max_examples=80, deadline=None)
@given(values=st.lists(VALUES, max_size=12), missing=st.integers(0, 2), g=st.integers(0, 1))
def test_count_min_max_follow_the_reference(values: list[Any], missing: int, g: int) -> None:
    db, values, gs = open_items(values, missing)
    try:
        queries = {
            # the whole table (engine aggregate over the rows), the range field (first key past
            # null from either end), an eq prefix then the range field, a filter (in SQL)
            "table": (lambda r: r.query("items"), values),
            "by_v": (lambda r: r.query("items").with_index("by_v"), values),
            "by_g_v": (
                lambda r: r.query("items").with_index("by_g_v", lambda q: q.eq("g", g)),
                [v for v, x in zip(values, gs, strict=True) if x == g],
            ),
            "filtered": (
                lambda r: r.query("items").with_index("by_v").filter(lambda q: q.g == g),
                [v for v, x in zip(values, gs, strict=True) if x == g],
            ),
        }
        for name, (build, expected) in queries.items():
            got = read(db, lambda r, b=build: aggregates(r, b(r)))
            assert got["count"] == len(expected), name
            assert same_value(got["min"], ref_extreme(expected, last=False)), name
            assert same_value(got["max"], ref_extreme(expected, last=True)), name
        # The engine-independent definition agrees (what another engine may fall back to).
        docs = read(db, lambda r: r.query("items").as_dicts().collect())
        for function in ("min", "max"):
            want = ref_extreme(values, last=function == "max")
            got = aggregate(function, "v", docs)  # type: ignore[arg-type]
            assert same_value(untag_any(got), want)
    finally:
        db.close()


@settings(max_examples=80, deadline=None)
@given(values=st.lists(SUMMED, max_size=12), missing=st.integers(0, 2), g=st.integers(0, 1))
def test_sum_adds_the_numbers_exactly(values: list[Any], missing: int, g: int) -> None:
    db, values, gs = open_items(values, missing)
    try:
        in_g = [v for v, x in zip(values, gs, strict=True) if x == g]
        got = read(
            db,
            lambda r: [
                r.query("items").sum("v"),
                r.query("items").with_index("by_v").sum("v"),
                r.query("items").with_index("by_g_v", lambda q: q.eq("g", g)).sum("v"),
                r.query("items").filter(lambda q: q.g == g).sum("v"),
            ],
        )
        want = [ref_sum(values), ref_sum(values), ref_sum(in_g), ref_sum(in_g)]
        assert got == want
        assert [type(x) for x in got] == [type(x) for x in want]  # an int when only ints
        docs = read(db, lambda r: r.query("items").as_dicts().collect())
        assert aggregate("sum", "v", docs) == ref_sum(values)
    finally:
        db.close()


def test_an_integer_sum_past_64_bits_is_exact() -> None:
    db, _, _ = open_items([2**62, 2**62, 2**62, 2**62 - 1, -5, True, 1.5], 0)
    try:
        assert read(db, lambda r: r.query("items").with_index("by_v").sum("v")) == 2**64 - 6 + 1.5
        db.run(
            fdb.mutation(
                lambda w: [w.delete(d.id) for d in w.query("items").collect() if isinstance(d.v, float)]
            )
        )
        total = read(db, lambda r: r.query("items").sum("v"))
        assert total == 2**64 - 6 and type(total) is int
    finally:
        db.close()


def test_ranges_bounds_and_empty_ranges(db: fdb.Database) -> None:
    for i in range(10):
        db.run(add_task, text=f"t{i}", user_id="u" if i < 6 else "v", priority=i)

    def q(r: fdb.Reader) -> Any:
        return r.query("tasks").with_index(
            "by_user_priority", lambda q: q.eq("user_id", "u").gte("priority", 2).lt("priority", 5)
        )

    assert read(
        db,
        lambda r: (
            q(r).count(),
            q(r).sum("priority"),
            q(r).min("priority"),
            q(r).max("priority"),
            q(r).min("text"),
            q(r).max("text"),
        ),
    ) == (3, 9, 2, 4, "t2", "t4")
    empty = read(db, lambda r: r.query("tasks").with_index("by_user", lambda q: q.eq("user_id", "w")))
    assert read(
        db,
        lambda r: (
            r.query("tasks").with_index("by_user", lambda q: q.eq("user_id", "w")).count(),
            r.query("tasks").with_index("by_user", lambda q: q.eq("user_id", "w")).sum("priority"),
            r.query("tasks").with_index("by_user", lambda q: q.eq("user_id", "w")).min("priority"),
            r.query("tasks").with_index("by_user", lambda q: q.eq("user_id", "w")).max("text"),
        ),
    ) == (0, 0, None, None)
    assert empty is not None
    # order() does not change an aggregate
    assert read(db, lambda r: r.query("tasks").order("desc").with_index("by_user").max("user_id")) == "v"


class Event(fdb.Document):
    at: datetime.datetime
    blob: bytes = b""
    kind: str = "x"


def test_min_and_max_come_back_as_the_model_reads_them(make_db: Any) -> None:
    db = make_db(fdb.Schema(events=fdb.table(Event).index("by_at", ["at"])))
    times = [datetime.datetime(2026, 1, d, tzinfo=datetime.UTC) for d in (5, 2, 9)]
    db.run(
        insert_all,
        table="events",
        docs=[Event(at=t, blob=bytes([i])).model_dump() for i, t in enumerate(times)],
    )
    got = read(
        db,
        lambda r: (
            r.query("events").with_index("by_at").min("at"),
            r.query("events").max("at"),
            r.query("events").max("blob"),
        ),
    )
    assert got == (times[1], times[2], b"\x02")


# Opcodes that read a B-tree cursor (its first operand) or move it.
_READS = {
    "Column",
    "Rowid",
    "SeekRowid",
    "NotExists",
    "Rewind",
    "Last",
    "Next",
    "Prev",
    "SeekGE",
    "SeekGT",
    "SeekLE",
    "SeekLT",
    "Seek",
    "Count",
}


def plan(path: str, spec: Aggregate) -> tuple[str, list[str], int]:
    """``EXPLAIN QUERY PLAN`` of the aggregate's SQL; the opcodes that touch the table's own
    B-tree beyond opening it; and how many pages running it reads from the file (cache
    misses on a fresh connection)."""
    sql, params = aggregate_sql(spec)
    conn = apsw.Connection(path, flags=apsw.SQLITE_OPEN_READONLY)
    conn.create_scalar_function(SORT_BYTES_FUNCTION, sort_bytes_of_json, 1, deterministic=True)
    try:
        query_plan = " | ".join(str(r[-1]) for r in conn.execute("EXPLAIN QUERY PLAN " + sql, params))
        root = conn.execute("SELECT rootpage FROM sqlite_master WHERE name = ?", (spec.scan.table,)).get
        program = list(conn.execute("EXPLAIN " + sql, params))
        table_cursors = {r[2] for r in program if r[1] == "OpenRead" and r[3] == root}
        # A DeferredSeek only notes the row; the table is read when a Column of it is asked.
        touches = [r[1] for r in program if r[2] in table_cursors and r[1] in _READS]
        assert conn.execute(sql, params).get is not None
        pages = conn.status(apsw.SQLITE_DBSTATUS_CACHE_MISS)[0]
        return query_plan, touches, pages
    finally:
        conn.close()


def test_a_count_over_an_index_range_reads_the_index_alone(make_file_db: Any) -> None:
    """SQLite's plan says ``USING INDEX`` rather than ``USING COVERING INDEX``: it counts any
    reference to a virtual generated column (the index's columns are) as a use of every
    column. The program shows what happens: the table's row is only ever noted
    (``DeferredSeek``), never read, so no table page is: the pages read are the index's."""
    db = make_file_db()
    db.run(
        insert_all,
        table="tasks",
        docs=[
            Task(text="x" * 300 + str(i), user_id=f"u{i % 3}", priority=i).model_dump() for i in range(3000)
        ],
    )
    path = str(db.path)

    def spec(
        index: str,
        fields: tuple[str, ...],
        eqs: tuple[Any, ...],
        function: Any,
        field: str | None,
        lower: Any = None,
    ) -> Aggregate:
        scan = IndexScan("tasks", index, fields, eqs, lower, None, False, (), None, None, None)
        return Aggregate(scan, function, field)

    whole_table = plan(path, spec("by_creation_time", (), (), "sum", "priority"))
    assert "Column" in whole_table[1]  # the reference: reads every document
    assert whole_table[2] > 300
    for aggregate_spec in (
        spec("by_user", ("user_id",), ("u1",), "count", None),
        spec("by_user_priority", ("user_id", "priority"), ("u1",), "count", None, ("gt", 3)),
        spec("by_user_priority", ("user_id", "priority"), ("u1",), "sum", "priority"),
        spec("by_user_priority", ("user_id", "priority"), ("u1",), "max", "priority"),
    ):
        query_plan, touches, pages = plan(path, aggregate_spec)
        index = aggregate_spec.scan.index_name
        assert query_plan.startswith(f"SEARCH tasks USING INDEX tasks${index} ("), query_plan
        assert touches == [], (aggregate_spec, touches)
        assert pages * 10 < whole_table[2], (aggregate_spec, pages)
    # A field outside the index is read from the documents of the range.
    _, touches, _ = plan(path, spec("by_user", ("user_id",), ("u1",), "max", "text"))
    assert "Column" in touches
    assert (
        read(db, lambda r: r.query("tasks").with_index("by_user", lambda q: q.eq("user_id", "u1")).count())
        == 1000
    )


def test_a_count_reads_no_document_through_the_engine(db: fdb.Database, monkeypatch: Any) -> None:
    for i in range(5):
        db.run(add_task, text=f"t{i}", user_id="u", priority=i)

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("an aggregate must not fetch rows")

    for name in ("scan", "iter_scan", "get", "rows_after"):
        monkeypatch.setattr(SqliteTxn, name, refuse)
    assert read(
        db,
        lambda r: (
            r.query("tasks").count(),
            r.query("tasks").with_index("by_user", lambda q: q.eq("user_id", "u")).count(),
            r.query("tasks").with_index("by_user_priority").sum("priority"),
            r.query("tasks").max("priority"),
        ),
    ) == (5, 5, 10, 4)


MISUSE = {
    "python filter": lambda r: r.query("tasks").filter(lambda t: len(t.text) > 1).count(),
    "sum of a str field": lambda r: r.query("tasks").sum("text"),
    "sum of a bool field": lambda r: r.query("tasks").sum("completed"),
    "sum of id": lambda r: r.query("tasks").sum("id"),
    "min of creation_time": lambda r: r.query("tasks").min("creation_time"),
    "unknown field": lambda r: r.query("tasks").max("nope"),
    "bad path": lambda r: r.query("tasks").max("a..b"),
}


@pytest.mark.parametrize("name", list(MISUSE))
def test_misuse_is_an_invalid_aggregate(db: fdb.Database, name: str) -> None:
    db.run(add_task, text="t", user_id="u")
    with pytest.raises(fdb.InvalidAggregate) as info:
        read(db, MISUSE[name])
    assert isinstance(info.value, fdb.InvalidQuery)
    assert info.value.table == "tasks" and info.value.aggregate in ("count", "sum", "min", "max")


class Post(fdb.Document):
    text: str
    likes: int = 0


def test_an_aggregate_over_a_search_is_refused(make_db: Any) -> None:
    db = make_db(fdb.Schema(posts=fdb.table(Post).search_index("search_text", search_field="text")))
    db.run(insert_all, table="posts", docs=[{"text": "milk"}])
    with pytest.raises(fdb.InvalidAggregate, match="search") as info:
        read(
            db,
            lambda r: (
                r.query("posts").with_search_index("search_text", lambda q: q.search("text", "milk")).count()
            ),
        )
    assert info.value.aggregate == "count"


@pytest.mark.parametrize("n", [10, 3000])  # 3000: past SEEK_MIN_ROWS, creation-time bounds seek
def test_counts_over_creation_time_and_id_ranges(db: fdb.Database, n: int) -> None:
    ids = db.run(
        insert_all, table="tasks", docs=[{"text": f"t{i}", "user_id": "u", "priority": i} for i in range(n)]
    )
    docs = read(db, lambda r: r.query("tasks").collect())
    t = docs[n // 3].creation_time
    got = read(
        db,
        lambda r: (
            r.query("tasks").with_index("by_creation_time", lambda q: q.gte("creation_time", t)).count(),
            r.query("tasks")
            .with_index("by_creation_time", lambda q: q.lt("creation_time", t))
            .sum("priority"),
            r.query("tasks").with_index("by_id", lambda q: q.gt("id", ids[1]).lte("id", ids[-2])).count(),
            r.query("tasks")
            .with_index("by_user_priority", lambda q: q.eq("user_id", "u").eq("priority", 5))
            .filter(lambda q: q.creation_time > 0)
            .count(),
        ),
    )
    assert got == (n - n // 3, sum(range(n // 3)), n - 3, 1)
