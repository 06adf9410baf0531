"""Convex's value order (core/keys.py): index order, ranges, filters and reactive matching,
each against a plain reference comparator written from the rules.

null < numbers < bool < str < bytes < list < dict; numbers by value (int and float as one
type), strings by code point, bytes bytewise, lists element by element then by length,
dicts by (key, value) pairs in key order then by length. A missing field is None.
"""

from __future__ import annotations

import functools
import operator
from collections import Counter
from collections.abc import Callable
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

import fusiondb as fdb
from fusiondb.core.expr import ExprFilter, bind, compile_filter
from fusiondb.core.keys import normalize_value, sort_bytes, sql_key, stored_json
from tests.models import read

# -- the reference -----------------------------------------------------------------------


def ref_rank(v: Any) -> int:
    if v is None:
        return 0
    if isinstance(v, bool):  # before int: bool is an int subclass
        return 2
    if isinstance(v, int | float):
        return 1
    if isinstance(v, str):
        return 3
    if isinstance(v, bytes):
        return 4
    if isinstance(v, list):
        return 5
    assert isinstance(v, dict)
    return 6


def ref_cmp(a: Any, b: Any) -> int:
    ra, rb = ref_rank(a), ref_rank(b)
    if ra != rb:
        return -1 if ra < rb else 1
    if ra == 0:
        return 0
    if ra <= 4:
        return (a > b) - (a < b)  # Python compares int and float exactly, str by code point
    if ra == 5:
        for x, y in zip(a, b, strict=False):
            c = ref_cmp(x, y)
            if c:
                return c
        return (len(a) > len(b)) - (len(a) < len(b))
    ka, kb = sorted(a), sorted(b)
    for x, y in zip(ka, kb, strict=False):
        if x != y:
            return -1 if x < y else 1
        c = ref_cmp(a[x], b[y])
        if c:
            return c
    return (len(ka) > len(kb)) - (len(ka) < len(kb))


def sign(x: int) -> int:
    return (x > 0) - (x < 0)


NEAR_2_53 = st.integers(-5, 5).map(lambda d: 2**53 + d) | st.integers(-5, 5).map(lambda d: -(2**53) + d)
NUMBERS = (
    st.integers(-(2**63), 2**63 - 1) | st.integers(-3, 3) | NEAR_2_53
    | st.floats(allow_nan=False, allow_infinity=False) | st.sampled_from([0.5, 2.5, -0.0, 2.0**53, 1e300])
)
SCALARS = st.none() | st.booleans() | NUMBERS | st.text(max_size=4) | st.binary(max_size=3)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=3)
    | st.dictionaries(st.sampled_from(["a", "b", "ab"]), inner, max_size=3),
    max_leaves=6,
)


def cmp_normalized(a: Any, b: Any) -> int:
    na, nb = normalize_value(a), normalize_value(b)
    return (na > nb) - (na < nb)


@settings(max_examples=500, deadline=None)
@given(a=VALUES, b=VALUES)
def test_normalized_and_sort_bytes_orders_are_the_reference(a: Any, b: Any) -> None:
    want = sign(ref_cmp(a, b))
    sa, sb = stored_json(a), stored_json(b)  # bytes as stored ({"$bytes": hex})
    assert cmp_normalized(sa, sb) == want
    ba, bb = sort_bytes(sa), sort_bytes(sb)
    assert (ba > bb) - (ba < bb) == want
    if ref_rank(a) == ref_rank(b):
        ka, kb = sql_key(sa), sql_key(sb)
        if ref_rank(a) >= 5:  # arrays and objects: sort bytes, compared bytewise
            assert (ka > kb) - (ka < kb) == want


# -- the database ---------------------------------------------------------------------------


class Item(fdb.Document):
    g: int = 0
    v: Any = None


order_schema = fdb.Schema(
    items=fdb.table(Item).index("by_v", ["v"]).index("by_g_v", ["g", "v"]),
)

OPS = {"gt": operator.gt, "gte": operator.ge, "lt": operator.lt, "lte": operator.le}


@fdb.mutation
def insert_values(db: fdb.Writer, values: list[Any]) -> list[str]:
    return [db.insert("items", {"g": i % 2, "v": v}) for i, v in enumerate(values)]


def ordered(values: list[Any]) -> list[int]:
    """Positions of ``values`` in index order: by value, then insertion order."""
    return sorted(range(len(values)), key=functools.cmp_to_key(
        lambda i, j: ref_cmp(values[i], values[j]) or (i > j) - (i < j)
    ))


def in_range(v: Any, lower: tuple[str, Any] | None, upper: tuple[str, Any] | None) -> bool:
    return all(
        OPS[b[0]](ref_cmp(v, b[1]), 0) for b in (lower, upper) if b is not None
    )


BOUND_LO = st.none() | st.tuples(st.sampled_from(["gt", "gte"]), VALUES)
BOUND_HI = st.none() | st.tuples(st.sampled_from(["lt", "lte"]), VALUES)


@settings(max_examples=80, deadline=None)
@given(
    values=st.lists(VALUES, max_size=14), lower=BOUND_LO, upper=BOUND_HI, desc=st.booleans(),
    missing=st.integers(0, 2),
)
def test_index_order_and_every_range_match_the_reference(
    values: list[Any], lower: Any, upper: Any, desc: bool, missing: int
) -> None:
    db = fdb.open(None, order_schema)
    try:
        ids = db.run(insert_values, values=values)
        # Documents without the field: the model reads None, and the index holds None.
        ids += db.run(fdb.mutation(lambda w: [w.insert("items", {"g": 0}) for _ in range(missing)]))
        values = [*values, *[None] * missing]
        got = read(db, lambda r: r.query("items").with_index("by_v").collect())
        assert [d.id for d in got] == [ids[i] for i in ordered(values)]

        def rng(q: Any) -> Any:
            for b in (lower, upper):
                if b is not None:
                    q = getattr(q, b[0])("v", b[1])
            return q

        order = "desc" if desc else "asc"
        got = read(db, lambda r: r.query("items").with_index("by_v", rng).order(order).collect())
        want = [ids[i] for i in ordered(values) if in_range(values[i], lower, upper)]
        assert [d.id for d in got] == (want[::-1] if desc else want)

        # The same under an eq prefix, and paginated (the cursor is a key in the order).
        def rng_g(q: Any) -> Any:
            return rng(q.eq("g", 1))

        pages: list[str] = []
        cursor = None
        while True:
            page = read(db, lambda r, c=cursor: r.query("items").with_index("by_g_v", rng_g)
                        .order(order).paginate(c, 2))
            pages += [d.id for d in page.page]
            if page.is_done:
                break
            cursor = page.continue_cursor
        want_g = [ids[i] for i in ordered(values) if i < len(values) - missing and i % 2 == 1
                  and in_range(values[i], lower, upper)]
        assert pages == (want_g[::-1] if desc else want_g)
    finally:
        db.close()


FILTER_OPS: dict[str, Callable[[Any, Any], Any]] = {
    "==": operator.eq, "!=": operator.ne, "<": operator.lt, "<=": operator.le,
    ">": operator.gt, ">=": operator.ge,
}


@settings(max_examples=120, deadline=None)
@given(
    values=st.lists(VALUES, max_size=10), op=st.sampled_from(list(FILTER_OPS)), literal=VALUES,
    flipped=st.booleans(), missing=st.integers(0, 1),
)
def test_filters_in_sql_and_in_python_follow_the_reference(
    values: list[Any], op: str, literal: Any, flipped: bool, missing: int
) -> None:
    db = fdb.open(None, order_schema)
    try:
        ids = db.run(insert_values, values=values)
        ids += db.run(fdb.mutation(lambda w: [w.insert("items", {"g": 1}) for _ in range(missing)]))
        values = [*values, *[None] * missing]
        gs = [i % 2 for i in range(len(values) - missing)] + [1] * missing
        fn = FILTER_OPS[op]

        def pred(q: Any) -> Any:
            return fn(literal, q.v) if flipped else fn(q.v, literal)

        def holds(v: Any) -> bool:
            c = ref_cmp(literal, v) if flipped else ref_cmp(v, literal)
            return bool(fn(c, 0))

        want = [i for i, v in zip(ids, values, strict=True) if holds(v)]
        got = read(db, lambda r: r.query("items").filter(pred).collect())
        assert [d.id for d in got] == want
        # The Python evaluator (used for list and dict literals) agrees on every document.
        info = db._tables.get("items")
        expr = bind(compile_filter(pred), info)  # type: ignore[arg-type]
        assert expr is not None
        python = ExprFilter(expr)
        docs = read(db, lambda r: r.query("items").collect())
        assert [d.id for d in docs if python(d)] == want
        # A field against another field: the general (tag, value) comparison.
        got = read(db, lambda r: r.query("items").filter(lambda q: fn(q.v, q.g)).collect())
        want = [i for i, v, g in zip(ids, values, gs, strict=True) if fn(ref_cmp(v, g), 0)]
        assert [d.id for d in got] == want
    finally:
        db.close()


def test_the_issue_example_sorts_in_convex_order() -> None:
    db = fdb.open(None, order_schema)
    try:
        values = [None, 3, 2.5, True, False, "b", "a", [1], {"k": 1}, -1, 1000, b"\x01", "zz"]
        db.run(insert_values, values=values)
        db.run(fdb.mutation(lambda w: w.insert("items", {"g": 0})))
        got = [d.v for d in read(db, lambda r: r.query("items").with_index("by_v").collect())]
        assert got == [None, None, -1, 2.5, 3, 1000, False, True, "a", "b", "zz", b"\x01", [1], {"k": 1}]
        # An open-ended range runs to the end of the order.
        above = read(db, lambda r: r.query("items").with_index("by_v", lambda q: q.gt("v", 3)).collect())
        assert [d.v for d in above] == [1000, False, True, "a", "b", "zz", b"\x01", [1], {"k": 1}]
    finally:
        db.close()


# -- reactive matching --------------------------------------------------------------------


@settings(max_examples=40, deadline=None)
@given(
    seed=st.lists(VALUES, max_size=6),
    writes=st.lists(st.tuples(st.sampled_from(["insert", "patch", "delete"]), VALUES, st.integers(0, 99)),
                    min_size=1, max_size=6),
    lower=BOUND_LO, upper=BOUND_HI,
)
def test_subscriptions_over_mixed_type_ranges_rerun_exactly(
    seed: list[Any], writes: list[tuple[str, Any, int]], lower: Any, upper: Any
) -> None:
    runs: Counter[str] = Counter()

    def rng(q: Any) -> Any:
        for b in (lower, upper):
            if b is not None:
                q = getattr(q, b[0])("v", b[1])
        return q

    @fdb.query
    def in_range_q(r: fdb.Reader) -> list[str]:
        runs["q"] += 1
        return [d.id for d in r.query("items").with_index("by_v", rng).collect()]  # type: ignore[misc]

    db = fdb.open(None, order_schema)
    try:
        ids = db.run(insert_values, values=seed)
        live = dict(zip(ids, seed, strict=True))
        sub = db.subscribe(in_range_q)
        assert db.wait_idle()
        for kind, value, pick in writes:
            before = runs["q"]
            if kind == "insert" or not live:
                new_id = db.run(fdb.mutation(lambda w, v=value: w.insert("items", {"v": v})))
                live[new_id] = value
                hit = in_range(value, lower, upper)
            else:
                target = sorted(live)[pick % len(live)]
                old = live[target]
                if kind == "patch":
                    db.run(fdb.mutation(lambda w, t=target, v=value: w.replace(t, {"v": v})))
                    live[target] = value
                    hit = in_range(old, lower, upper) or in_range(value, lower, upper)
                else:
                    db.run(fdb.mutation(lambda w, t=target: w.delete(t)))
                    del live[target]
                    hit = in_range(old, lower, upper)
            assert db.wait_idle()
            assert runs["q"] - before == (1 if hit else 0), (kind, value, lower, upper)
        sub.close()
    finally:
        db.close()


def test_a_write_between_values_python_calls_equal_reruns_the_range_it_enters() -> None:
    # 1 == True and [1] == [True] in Python, but not in the value order: moving from one to
    # the other leaves one range and enters another.
    runs: Counter[str] = Counter()

    @fdb.query
    def bools(r: fdb.Reader) -> list[Any]:
        runs["q"] += 1
        return [d.v for d in r.query("items").with_index("by_v", lambda q: q.gt("v", 5)).collect()]

    db = fdb.open(None, order_schema)
    try:
        [doc_id] = db.run(insert_values, values=[1])
        sub = db.subscribe(bools)
        assert db.wait_idle() and sub.value == []
        for old, new in [(1, True), (True, [1]), ([1], [True])]:
            before = runs["q"]
            db.run(fdb.mutation(lambda w, v=new: w.replace(doc_id, {"v": v})))
            assert db.wait_idle()
            assert runs["q"] == before + 1, (old, new)
        assert sub.value == [[True]]
    finally:
        db.close()


def test_subscriptions_with_arguments_python_calls_equal_do_not_share() -> None:
    @fdb.query
    def equal_to(r: fdb.Reader, v: Any) -> list[Any]:
        return [d.v for d in r.query("items").with_index("by_v", lambda q: q.eq("v", v)).collect()]

    db = fdb.open(None, order_schema)
    try:
        db.run(insert_values, values=[1, True, 1.0])
        subs = [db.subscribe(equal_to, v=v) for v in (1, True, (1,), (True,))]
        assert db.wait_idle()
        assert [s.value for s in subs] == [[1, 1.0], [True], [], []]
    finally:
        db.close()


class Narrow(fdb.Document):
    v: int = 0


class Wide(fdb.Document):
    v: int | list[int] = 0


def test_a_field_that_starts_holding_lists_gets_its_index_rebuilt(tmp_path: Any) -> None:
    path = tmp_path / "x.db"
    db = fdb.open(path, fdb.Schema(items=fdb.table(Narrow).index("by_v", ["v"])))
    db.run(fdb.mutation(lambda w: w.insert_many("items", [{"v": 3}, {"v": 1}])))
    db.close()
    db = fdb.open(path, fdb.Schema(items=fdb.table(Wide).index("by_v", ["v"])))
    try:
        assert "add_index" in [c.kind for c in db.schema_changes]  # rebuilt with list columns
        db.run(fdb.mutation(lambda w: w.insert_many("items", [{"v": [2]}, {"v": [1, 5]}, {"v": 2}])))
        got = read(db, lambda r: r.query("items").with_index("by_v", lambda q: q.gt("v", 1)).collect())
        assert [d.v for d in got] == [2, 3, [1, 5], [2]]
    finally:
        db.close()


SAMPLE = [None, -1, 0, 0.5, 1, 1.0, 2**53 + 1, False, True, "", "a", "b", b"", b"\x00", [], [0], [True],
          {}, {"a": 1}]


def test_every_filter_op_against_every_kind_of_value() -> None:
    # Exhaustive over one value of each kind (and a missing field): each comparison compiled
    # to SQL, either way round, against the reference.
    db = fdb.open(None, order_schema)
    try:
        ids = db.run(insert_values, values=SAMPLE)
        ids += db.run(fdb.mutation(lambda w: [w.insert("items", {"g": 0})]))
        values = [*SAMPLE, None]
        for literal in SAMPLE:
            for op, fn in FILTER_OPS.items():
                for flipped in (False, True):
                    def pred(q: Any, fn: Any = fn, lit: Any = literal, flipped: bool = flipped) -> Any:
                        return fn(lit, q.v) if flipped else fn(q.v, lit)

                    got = [d.id for d in read(db, lambda r, p=pred: r.query("items").filter(p).collect())]
                    want = [i for i, v in zip(ids, values, strict=True)
                            if fn(ref_cmp(literal, v) if flipped else ref_cmp(v, literal), 0)]
                    assert got == want, (literal, op, flipped)
    finally:
        db.close()
