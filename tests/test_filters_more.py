"""The filters beyond comparisons: ``in_``, ``startswith``, ``contains``, ``is_missing`` /
``exists``; and ``startswith`` as an index range.

Each is compiled to SQL and must give exactly what the Python evaluator (``ExprFilter``, the
fallback any engine can use) gives, and both what a reference written from the rules gives,
over random documents of mixed types (null, missing, bools, 1 vs 1.0, strings, bytes,
lists, dicts).
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import fusiondb as fdb
from fusiondb.core.expr import ExprFilter, bind, compile_filter, in_python
from fusiondb.transaction.query import prefix_end
from tests.models import delete, insert, insert_all, patch, read
from tests.test_value_order import VALUES, ref_cmp


class Item(fdb.Document):
    g: int = 0
    v: Any = None
    s: str = ""


schema = fdb.Schema(items=fdb.table(Item).index("by_v", ["v"]).index("by_g_s", ["g", "s"]))

# Strings around the edges of the code point order (NUL, the last BMP code point, the last
# before the surrogates, the first after them, the last of all).
EDGE = st.sampled_from(["\x00", "a", "b", "\ud7ff", "\ue000", "\uffff", "\U0010ffff", "é"])
STRINGS = st.lists(EDGE, max_size=4).map("".join)
SCALAR_ARGS = st.none() | st.booleans() | st.sampled_from([0, 1, 1.0, 1.5, -1]) | STRINGS
ARGS = SCALAR_ARGS | VALUES
DOC_VALUES = VALUES | STRINGS | st.lists(SCALAR_ARGS, max_size=3)


def reference(kind: str, arg: Any, present: bool, v: Any) -> bool:
    """The rule, written from the docs; ``present``: the document has the field."""
    value = v if present else None
    if kind == "in_":
        return any(ref_cmp(value, x) == 0 for x in arg)
    if kind == "startswith":
        return isinstance(value, str) and value.startswith(arg)
    if kind == "contains":
        return isinstance(value, list) and any(ref_cmp(e, arg) == 0 for e in value)
    if kind == "is_missing":
        return value is None
    assert kind == "exists"
    return value is not None


def predicate(kind: str, arg: Any, style: str) -> Any:
    if kind in ("is_missing", "exists"):
        return (lambda q: getattr(q.v, kind)()) if style == "method" else (lambda q: getattr(q, kind)("v"))
    if style == "method":
        return lambda q: getattr(q.v, kind)(arg)
    return lambda q: getattr(q, kind)(q.field("v"), arg)


@st.composite
def filters(draw: Any) -> tuple[str, Any]:
    kind = draw(st.sampled_from(["in_", "startswith", "contains", "is_missing", "exists"]))
    if kind == "in_":
        return kind, draw(st.lists(ARGS, max_size=4))
    if kind == "startswith":
        return kind, draw(STRINGS)
    if kind == "contains":
        return kind, draw(ARGS)
    return kind, None


@settings(max_examples=150, deadline=None)
@given(
    values=st.lists(st.tuples(DOC_VALUES, st.booleans()), max_size=10),
    spec=filters(),
    style=st.sampled_from(["method", "convex"]),
    negate=st.booleans(),
)
def test_sql_and_python_filters_follow_the_reference(
    values: list[tuple[Any, bool]], spec: tuple[str, Any], style: str, negate: bool
) -> None:
    kind, arg = spec
    db = fdb.open(None, schema)
    try:
        docs = [{"v": v} if present else {} for v, present in values]
        ids = db.run(insert_all, table="items", docs=docs)
        base = predicate(kind, arg, style)
        pred = (lambda q: ~base(q)) if negate else base
        want = [
            i
            for i, (v, present) in zip(ids, values, strict=True)
            if reference(kind, arg, present, v) != negate
        ]
        got = read(db, lambda r: [d.id for d in r.query("items").filter(pred).collect()])
        assert got == want
        expr = bind(compile_filter(pred), db._tables.get("items"))  # type: ignore[arg-type]
        assert expr is not None  # never a Python predicate
        compiled = not in_python(expr)
        query = read(db, lambda r: r.query("items").filter(pred))
        assert (len(query._sql_filters) == 1) is compiled
        python = ExprFilter(expr)
        every = read(db, lambda r: r.query("items").collect())
        assert [d.id for d in every if python(d)] == want
        # Computed in SQL for an aggregate too.
        if compiled:
            assert read(db, lambda r: r.query("items").filter(pred).count()) == len(want)
    finally:
        db.close()


@settings(max_examples=100, deadline=None)
@given(
    strings=st.lists(STRINGS | st.sampled_from([None, 1, b"a", ["a"]]), max_size=12),
    prefix=STRINGS,
    g=st.integers(0, 1),
    desc=st.booleans(),
)
def test_startswith_as_an_index_range_is_the_prefix_filter(
    strings: list[Any], prefix: str, g: int, desc: bool
) -> None:
    db = fdb.open(None, schema)
    try:
        ids = db.run(
            insert_all,
            table="items",
            docs=[{"v": s, "g": i % 2, "s": s if isinstance(s, str) else ""} for i, s in enumerate(strings)],
        )
        order = "desc" if desc else "asc"
        by_range = read(
            db,
            lambda r: [
                d.id
                for d in r.query("items")
                .with_index("by_v", lambda q: q.startswith("v", prefix))
                .order(order)
                .collect()
            ],
        )
        in_order = read(
            db, lambda r: [d.id for d in r.query("items").with_index("by_v").order(order).collect()]
        )
        matching = {
            i for i, s in zip(ids, strings, strict=True) if isinstance(s, str) and s.startswith(prefix)
        }
        assert by_range == [i for i in in_order if i in matching]
        # under an eq prefix, and counted
        count = read(
            db,
            lambda r: (
                r.query("items").with_index("by_g_s", lambda q: q.eq("g", g).startswith("s", prefix)).count()
            ),
        )
        assert count == sum(
            1
            for i, s in enumerate(strings)
            if i % 2 == g and (s if isinstance(s, str) else "").startswith(prefix)
        )
    finally:
        db.close()


@pytest.mark.parametrize(
    ("prefix", "end"),
    [
        ("ab", "ac"),
        ("a\U0010ffff", "b"),
        ("\U0010ffff", None),
        ("", None),
        ("\ud7ff", "\ue000"),
        ("x\U0010ffff\U0010ffff", "y"),
    ],
)
def test_prefix_end(prefix: str, end: str | None) -> None:
    assert prefix_end(prefix) == end


def test_a_live_prefix_range_reruns_only_for_strings_with_the_prefix(db: fdb.Database) -> None:
    runs: Counter[str] = Counter()

    @fdb.query
    def ab_people(r: fdb.Reader) -> int:
        runs["ab"] += 1
        return r.query("people").with_index("by_city", lambda q: q.startswith("address.city", "Ab")).count()

    a = db.run(insert, table="people", doc={"name": "a", "address": {"city": "Abidjan"}})
    sub = db.subscribe(ab_people)
    runs.clear()
    for city in ("Aa", "Ac", "AB", "A", "B", "Ab" * 0 + "Aa\U0010ffff"):
        db.run(insert, table="people", doc={"name": "x", "address": {"city": city}})
    db.run(insert, table="people", doc={"name": "nowhere"})
    assert db.wait_idle()
    assert runs["ab"] == 0 and sub.value == 1
    db.run(insert, table="people", doc={"name": "b", "address": {"city": "Ab"}})
    assert db.wait_idle()
    assert runs["ab"] == 1 and sub.value == 2
    db.run(patch, doc_id=a, fields={"address": {"city": "Paris"}})
    assert db.wait_idle()
    assert runs["ab"] == 2 and sub.value == 1
    db.run(delete, doc_id=a)
    assert db.wait_idle()
    assert runs["ab"] == 2


BAD = {
    "in_ of a string": lambda q: q.v.in_("abc"),
    "in_ of a dict": lambda q: q.in_("v", {"a": 1}),
    "startswith a number": lambda q: q.v.startswith(1),
    "in_ on id": lambda q: q.id.in_(["x"]),
    "contains on creation_time": lambda q: q.contains("creation_time", 1),
    "unknown field": lambda q: q.nope.exists(),
    "NaN": lambda q: q.v.in_([float("nan")]),
    "too many values": lambda q: q.v.in_(list(range(8193))),
}


@pytest.mark.parametrize("name", list(BAD))
def test_misused_filters_are_invalid_queries(name: str) -> None:
    db = fdb.open(None, schema)
    try:
        with pytest.raises(fdb.InvalidQuery):
            read(db, lambda r: r.query("items").filter(BAD[name]).collect())
    finally:
        db.close()


def test_startswith_takes_both_bounds(db: fdb.Database) -> None:
    with pytest.raises(fdb.InvalidQuery, match="already set"):
        read(
            db,
            lambda r: r.query("tasks").with_index(
                "by_user", lambda q: q.gt("user_id", "a").startswith("user_id", "b")
            ),
        )
    with pytest.raises(fdb.InvalidQuery, match="str prefix"):
        read(db, lambda r: r.query("tasks").with_index("by_user", lambda q: q.startswith("user_id", 3)))


def test_in_takes_up_to_its_limit_of_values() -> None:
    db = fdb.open(None, schema)
    try:
        db.run(insert_all, table="items", docs=[{"v": v} for v in (5, 8191.0, 9000, "5")])
        values = list(range(8192))
        assert read(db, lambda r: r.query("items").filter(lambda q: q.v.in_(values)).count()) == 2
    finally:
        db.close()
