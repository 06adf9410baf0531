"""Queries: index ranges against a Python oracle, Convex's rule, order, limits and filters."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pydantic
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import fusiondb as fdb
from tests.models import Address, Person, Task, all_tasks, insert_all, read, schema

USERS = ["a", "b", "c"]


def tasks_db(docs: list[tuple[str, int]]) -> tuple[fdb.Database, list[dict[str, Any]]]:
    """An in-memory db holding one task per (user, priority); returns it and the oracle rows."""
    db = fdb.open(None, schema)
    rows = [
        {"text": f"t{i}", "user_id": u, "priority": p, "completed": i % 3 == 0}
        for i, (u, p) in enumerate(docs)
    ]
    ids = db.run(insert_all, table="tasks", docs=rows)
    for i, (row, doc_id) in enumerate(zip(rows, ids, strict=True)):
        row["id"] = doc_id
        row["seq"] = i  # insertion order: the tie-breaker every index ends with
    return db, rows


BOUND = st.one_of(st.none(), st.tuples(st.sampled_from(["gt", "gte"]), st.integers(-4, 4)))
UPPER = st.one_of(st.none(), st.tuples(st.sampled_from(["lt", "lte"]), st.integers(-4, 4)))
OPS: dict[str, Callable[[Any, Any], bool]] = {
    "gt": lambda a, b: a > b,
    "gte": lambda a, b: a >= b,
    "lt": lambda a, b: a < b,
    "lte": lambda a, b: a <= b,
}


def in_bounds(value: Any, lower: Any, upper: Any) -> bool:
    # Convex's order: None (null or missing) sorts before every number, and a bound at a
    # number includes it on the low side (lt(3) holds for None).
    def key(v: Any) -> tuple[int, Any]:
        return (0, 0) if v is None else (1, v)

    for bound in (lower, upper):
        if bound is not None and not OPS[bound[0]](key(value), key(bound[1])):
            return False
    return True


@settings(max_examples=50, deadline=None)
@given(
    docs=st.lists(st.tuples(st.sampled_from(USERS), st.integers(-3, 3)), max_size=30),
    user=st.sampled_from(USERS),
    lower=BOUND,
    upper=UPPER,
    desc=st.booleans(),
)
def test_compound_index_range_matches_oracle(
    docs: list[tuple[str, int]], user: str, lower: Any, upper: Any, desc: bool
) -> None:
    db, rows = tasks_db(docs)
    try:

        def rng(q: Any) -> Any:
            q = q.eq("user_id", user)
            for bound in (lower, upper):
                if bound is not None:
                    q = getattr(q, bound[0])("priority", bound[1])
            return q

        got = read(
            db,
            lambda r: (
                r.query("tasks")
                .with_index("by_user_priority", rng)
                .order("desc" if desc else "asc")
                .collect()
            ),
        )
        expected = sorted(
            (r for r in rows if r["user_id"] == user and in_bounds(r["priority"], lower, upper)),
            key=lambda r: (r["priority"], r["seq"]),
            reverse=desc,
        )
        assert [t.id for t in got] == [r["id"] for r in expected]
    finally:
        db.close()


@settings(max_examples=50, deadline=None)
@given(
    docs=st.lists(st.tuples(st.sampled_from(USERS), st.integers(-3, 3)), max_size=30),
    lower=st.one_of(st.none(), st.tuples(st.sampled_from(["gt", "gte"]), st.sampled_from(USERS))),
    upper=st.one_of(st.none(), st.tuples(st.sampled_from(["lt", "lte"]), st.sampled_from(USERS))),
    n=st.integers(1, 5),
)
def test_range_on_first_field_with_take_matches_oracle(
    docs: list[tuple[str, int]], lower: Any, upper: Any, n: int
) -> None:
    db, rows = tasks_db(docs)
    try:

        def rng(q: Any) -> Any:
            for bound in (lower, upper):
                if bound is not None:
                    q = getattr(q, bound[0])("user_id", bound[1])
            return q

        got = read(db, lambda r: r.query("tasks").with_index("by_user", rng).take(n))
        expected = sorted(
            (r for r in rows if in_bounds(r["user_id"], lower, upper)),
            key=lambda r: (r["user_id"], r["seq"]),
        )[:n]
        assert [t.id for t in got] == [r["id"] for r in expected]
    finally:
        db.close()


AGES = st.one_of(st.none(), st.integers(0, 5))


@settings(max_examples=50, deadline=None)
@given(ages=st.lists(AGES, max_size=20), lower=BOUND, upper=UPPER, eq=st.booleans())
def test_ranges_over_missing_values_match_oracle(
    ages: list[int | None], lower: Any, upper: Any, eq: bool
) -> None:
    # Missing and null values sort first (an upper bound includes them); eq(None) finds them.
    db = fdb.open(None, schema)
    try:
        docs = [{"name": f"p{i}"} | ({} if a is None else {"age": a}) for i, a in enumerate(ages)]
        ids = db.run(insert_all, table="people", docs=docs)
        if eq:
            got = read(
                db, lambda r: r.query("people").with_index("by_age", lambda q: q.eq("age", None)).collect()
            )
            expected = [i for i, a in zip(ids, ages, strict=True) if a is None]
        else:

            def rng(q: Any) -> Any:
                for bound in (lower, upper):
                    if bound is not None:
                        q = getattr(q, bound[0])("age", bound[1])
                return q

            got = read(db, lambda r: r.query("people").with_index("by_age", rng).collect())
            order = sorted(range(len(ages)), key=lambda i: (ages[i] is not None, ages[i] or 0, i))
            expected = [ids[i] for i in order if in_bounds(ages[i], lower, upper)]
        assert [p.id for p in got] == expected
    finally:
        db.close()


def test_eq_on_every_field_including_creation_time(db: fdb.Database) -> None:
    db.run(insert_all, table="tasks", docs=[{"text": "x", "user_id": "a", "priority": 1}] * 3)
    all_docs = read(db, lambda r: r.query("tasks").collect())
    target = all_docs[1]
    got = read(
        db,
        lambda r: (
            r.query("tasks")
            .with_index(
                "by_user_priority",
                lambda q: q.eq("user_id", "a").eq("priority", 1).eq("creation_time", target.creation_time),
            )
            .collect()
        ),
    )
    assert [t.id for t in got] == [target.id]
    # by_creation_time ranges work on the creation time directly.
    later = read(
        db,
        lambda r: (
            r.query("tasks")
            .with_index("by_creation_time", lambda q: q.gt("creation_time", target.creation_time))
            .collect()
        ),
    )
    assert [t.id for t in later] == [all_docs[2].id]


@pytest.mark.parametrize(
    ("build", "field", "says"),
    [
        (lambda q: q.eq("priority", 1), "priority", "out of order"),
        (lambda q: q.eq("user_id", "a").eq("text", "x"), "text", "out of order"),
        (lambda q: q.gt("priority", 1), "priority", "field after the eq prefix"),
        (lambda q: q.eq("user_id", "a").lt("user_id", "b"), "user_id", "field after the eq prefix"),
        (lambda q: q.gt("user_id", "a").gte("user_id", "b"), "user_id", "lower bound is already set"),
        (lambda q: q.lt("user_id", "a").lte("user_id", "b"), "user_id", "upper bound is already set"),
        (lambda q: q.gt("user_id", "a").eq("priority", 1), "priority", "after a range bound"),
        (lambda q: q.lt("user_id", "a").eq("user_id", "a"), "user_id", "after a range bound"),
        (lambda q: q.eq("user_id", "a").gt("user_id", "a"), "user_id", "field after the eq prefix"),
        (
            lambda q: q.eq("user_id", "a").eq("priority", 1).eq("creation_time", 1).eq("x", 1),
            "x",
            "out of order",
        ),
        (lambda q: q.eq("user_id", object()), "user_id", "cannot compare"),
    ],
)
def test_convex_rule_violations_name_index_and_field(
    db: fdb.Database, build: Callable[[Any], Any], field: str, says: str
) -> None:
    with pytest.raises(fdb.InvalidQuery, match=says) as info:
        read(db, lambda r: r.query("tasks").with_index("by_user_priority", build).collect())
    err = info.value
    assert err.index == "by_user_priority" and err.field == field and err.table == "tasks"
    assert "'by_user_priority'" in str(err) and f"'{field}'" in str(err)


def test_unknown_index_is_invalid_query(db: fdb.Database) -> None:
    with pytest.raises(fdb.InvalidQuery, match="no index 'nope'") as info:
        read(db, lambda r: r.query("tasks").with_index("nope").collect())
    assert info.value.index == "nope"


def test_range_callback_must_return_q(db: fdb.Database) -> None:
    with pytest.raises(fdb.InvalidQuery, match="must return the q"):
        read(db, lambda r: r.query("tasks").with_index("by_user", lambda q: None).collect())


def test_with_index_twice_is_invalid(db: fdb.Database) -> None:
    with pytest.raises(fdb.InvalidQuery):
        read(db, lambda r: r.query("tasks").with_index("by_user").with_index("by_user"))


def test_bad_order_and_take_arguments(db: fdb.Database) -> None:
    with pytest.raises(fdb.InvalidQuery):
        read(db, lambda r: r.query("tasks").order("up"))  # type: ignore[arg-type]
    for n in (-1, 1.5, True, "3"):
        with pytest.raises(fdb.InvalidQuery):
            read(db, lambda r, n=n: r.query("tasks").take(n))


def test_order_take_first_unique(db: fdb.Database) -> None:
    ids = db.run(
        insert_all,
        table="tasks",
        docs=[{"text": str(i), "user_id": "a" if i < 3 else "b", "priority": i} for i in range(5)],
    )
    asc = read(db, lambda r: [t.id for t in r.query("tasks").order("asc").collect()])
    desc = read(db, lambda r: [t.id for t in r.query("tasks").order("desc").collect()])
    assert asc == ids and desc == ids[::-1]
    assert read(db, lambda r: [t.id for t in r.query("tasks").order("desc").take(2)]) == ids[:2:-1][:2]
    assert read(db, lambda r: r.query("tasks").take(0)) == []
    assert read(db, lambda r: len(r.query("tasks").take(100))) == 5
    assert read(db, lambda r: r.query("tasks").first().id) == ids[0]
    assert read(db, lambda r: r.query("tasks").order("desc").first().id) == ids[-1]
    empty = read(
        db, lambda r: r.query("tasks").with_index("by_user", lambda q: q.eq("user_id", "zz")).first()
    )
    assert empty is None

    def by_prio(p: int) -> Callable[[fdb.Reader], Any]:
        return lambda r: (
            r.query("tasks")
            .with_index("by_user_priority", lambda q: q.eq("user_id", "b").eq("priority", p))
            .unique()
        )

    assert read(db, by_prio(4)).id == ids[4]
    assert read(db, by_prio(99)) is None
    with pytest.raises(fdb.UniqueError) as info:
        read(db, lambda r: r.query("tasks").with_index("by_user", lambda q: q.eq("user_id", "a")).unique())
    assert info.value.table == "tasks"


def test_equal_index_keys_come_out_in_insertion_order(db: fdb.Database) -> None:
    ids = []
    for i in range(12):
        # Separate transactions, and several docs in one: both keep insertion order.
        ids += db.run(insert_all, table="tasks", docs=[{"text": str(i), "user_id": "same"}] * 2)
    got = read(
        db,
        lambda r: [
            t.id for t in r.query("tasks").with_index("by_user", lambda q: q.eq("user_id", "same")).collect()
        ],
    )
    assert got == ids
    got_desc = read(
        db,
        lambda r: [
            t.id
            for t in r.query("tasks")
            .with_index("by_user", lambda q: q.eq("user_id", "same"))
            .order("desc")
            .collect()
        ],
    )
    assert got_desc == ids[::-1]


def test_nested_path_index_query(db: fdb.Database) -> None:
    people = [
        Person(name="ann", address=Address(city="Oslo")),
        Person(name="bob", address=Address(city="Rome")),
        Person(name="cid"),
        Person(name="dan", address=Address(city="Oslo", street="x")),
    ]
    ids = db.run(insert_all, table="people", docs=[p.model_dump() for p in people])
    oslo = read(
        db,
        lambda r: r.query("people").with_index("by_city", lambda q: q.eq("address.city", "Oslo")).collect(),
    )
    assert [p.id for p in oslo] == [ids[0], ids[3]]
    assert oslo[1].address == Address(city="Oslo", street="x")
    nowhere = read(
        db, lambda r: r.query("people").with_index("by_city", lambda q: q.eq("address.city", None)).collect()
    )
    assert [p.id for p in nowhere] == [ids[2]]
    after_o = read(
        db,
        lambda r: r.query("people").with_index("by_city", lambda q: q.gt("address.city", "Oslo")).collect(),
    )
    assert [p.name for p in after_o] == ["bob"]


def test_as_dicts(db: fdb.Database) -> None:
    [doc_id] = db.run(insert_all, table="tasks", docs=[{"text": "x", "user_id": "a"}])
    dicts = read(db, lambda r: r.query("tasks").as_dicts().collect())
    model = read(db, lambda r: r.get(doc_id))
    assert dicts == [
        {
            "id": doc_id,
            "creation_time": model.creation_time,
            "text": "x",
            "user_id": "a",
            "completed": False,
            "priority": 0,
        }
    ]
    assert type(dicts[0]) is dict
    assert read(db, lambda r: r.query("tasks").as_dicts().first()) == dicts[0]
    assert read(db, lambda r: r.query("tasks").as_dicts().paginate(None, 5)).page == dicts


def test_iterating_a_query(db: fdb.Database) -> None:
    # More than one internal batch, so the continuation between batches is exercised.
    n = 600
    ids = db.run(
        insert_all,
        table="tasks",
        docs=[{"text": str(i), "user_id": "u", "priority": i % 7} for i in range(n)],
    )
    got = read(db, lambda r: [t.id for t in r.query("tasks")])
    assert got == ids
    by_prio = read(
        db,
        lambda r: [
            (t.priority, t.id)
            for t in r.query("tasks")
            .with_index("by_user_priority", lambda q: q.eq("user_id", "u"))
            .order("desc")
        ],
    )
    expected = sorted(((i % 7, i) for i in range(n)), reverse=True)
    assert by_prio == [(p, ids[i]) for p, i in expected]


def test_query_is_immutable(db: fdb.Database) -> None:
    db.run(insert_all, table="tasks", docs=[{"text": str(i), "user_id": "u"} for i in range(3)])

    def fn(r: fdb.Reader) -> tuple[int, int, int]:
        base = r.query("tasks")
        filtered = base.filter(lambda q: q.text == "1")
        desc = base.order("desc")
        return len(base.collect()), len(filtered.collect()), len(desc.collect())

    assert read(db, fn) == (3, 1, 3)


def task_rows() -> list[dict[str, Any]]:
    texts = ["a", "milk", "eggs", "bread", "tea", "x", "cheese", "ok"]
    return [
        {"text": t, "user_id": USERS[i % 3], "priority": i % 4, "completed": i % 2 == 0}
        for i, t in enumerate(texts)
    ]


FILTERS: list[tuple[str, Callable[[Any], Any], Callable[[dict[str, Any]], bool], bool]] = [
    ("not completed", lambda q: q.completed == False, lambda d: not d["completed"], True),  # noqa: E712
    ("completed is True", lambda q: q.completed == True, lambda d: d["completed"], True),  # noqa: E712
    (
        "and",
        lambda q: (q.completed == False) & (q.user_id == "b"),  # noqa: E712
        lambda d: not d["completed"] and d["user_id"] == "b",
        True,
    ),
    (
        "or",
        lambda q: (q.priority >= 3) | (q.text == "milk"),
        lambda d: d["priority"] >= 3 or d["text"] == "milk",
        True,
    ),
    ("not", lambda q: ~(q.priority < 2), lambda d: not d["priority"] < 2, True),
    ("ne", lambda q: q.user_id != "a", lambda d: d["user_id"] != "a", True),
    (
        "convex eq",
        lambda q: q.eq(q.field("completed"), True),
        lambda d: d["completed"],
        True,
    ),
    (
        "convex and/or",
        lambda q: q.and_(
            q.gt(q.field("priority"), 0), q.or_(q.eq(q.field("user_id"), "a"), q.lte(q.field("priority"), 1))
        ),
        lambda d: d["priority"] > 0 and (d["user_id"] == "a" or d["priority"] <= 1),
        True,
    ),
    ("python len", lambda t: len(t.text) > 3, lambda d: len(d["text"]) > 3, False),
    (
        "python and",
        lambda t: t.completed and t.priority > 1,
        lambda d: d["completed"] and d["priority"] > 1,
        False,
    ),
    ("startswith", lambda t: t.text.startswith("e"), lambda d: d["text"].startswith("e"), True),
    ("python method", lambda t: t.text.upper() == "EGGS", lambda d: d["text"].upper() == "EGGS", False),
    ("python in", lambda t: t.text in ("tea", "ok"), lambda d: d["text"] in ("tea", "ok"), False),
    ("bare field", lambda t: t.completed, lambda d: d["completed"], False),
    ("bare text field", lambda t: t.text, lambda d: bool(d["text"]), False),
]


@pytest.mark.parametrize(("name", "predicate", "oracle", "sql"), FILTERS, ids=[f[0] for f in FILTERS])
def test_filters_match_python_oracle(
    db: fdb.Database,
    name: str,
    predicate: Callable[[Any], Any],
    oracle: Callable[[dict[str, Any]], bool],
    sql: bool,
) -> None:
    rows = task_rows()
    ids = db.run(insert_all, table="tasks", docs=rows)
    expected = [i for i, d in zip(ids, rows, strict=True) if oracle(d)]
    query = read(db, lambda r: r.query("tasks").filter(predicate))
    assert (len(query._sql_filters) == 1) is sql, "compiled to SQL" if sql else "ran in Python"
    assert read(db, lambda r: [t.id for t in r.query("tasks").filter(predicate).collect()]) == expected
    assert read(db, lambda r: [t.id for t in r.query("tasks").filter(predicate).take(2)]) == expected[:2]
    desc = read(db, lambda r: [t.id for t in r.query("tasks").order("desc").filter(predicate).collect()])
    assert desc == expected[::-1]


def test_filter_combined_with_index_range(db: fdb.Database) -> None:
    rows = task_rows()
    ids = db.run(insert_all, table="tasks", docs=rows)
    got = read(
        db,
        lambda r: [
            t.id
            for t in r.query("tasks")
            .with_index("by_user", lambda q: q.eq("user_id", "a"))
            .filter(lambda q: q.completed == True)  # noqa: E712
            .filter(lambda t: len(t.text) > 1)
            .collect()
        ],
    )
    expected = [
        i
        for i, d in zip(ids, rows, strict=True)
        if d["user_id"] == "a" and d["completed"] and len(d["text"]) > 1
    ]
    assert got == expected and got


@pytest.mark.parametrize(
    ("predicate", "oracle"),
    [
        (lambda q: q.age > 3, lambda a: a is not None and a > 3),
        (lambda q: q.age < 3, lambda a: a is None or a < 3),  # null sorts before numbers
        (lambda q: ~(q.age > 3), lambda a: not (a is not None and a > 3)),
        (lambda q: q.age == None, lambda a: a is None),  # noqa: E711
        (lambda q: q.age != None, lambda a: a is not None),  # noqa: E711
        (lambda q: q.age != 3, lambda a: a != 3),
        (lambda q: q.not_(q.lte(q.field("age"), 2)), lambda a: not (a is None or a <= 2)),
    ],
)
def test_filters_over_missing_fields(
    db: fdb.Database, predicate: Callable[[Any], Any], oracle: Callable[[Any], bool]
) -> None:
    # A comparison with a missing field is false (never unknown), so ~ is its complement.
    ages = [None, 1, 3, 5, None, 2]
    ids = db.run(
        insert_all,
        table="people",
        docs=[{"name": str(i)} | ({} if a is None else {"age": a}) for i, a in enumerate(ages)],
    )
    got = read(db, lambda r: [p.id for p in r.query("people").filter(predicate).collect()])
    assert got == [i for i, a in zip(ids, ages, strict=True) if oracle(a)]


def test_filter_on_nested_field(db: fdb.Database) -> None:
    ids = db.run(
        insert_all,
        table="people",
        docs=[
            {"name": "a", "address": {"city": "Oslo"}},
            {"name": "b", "address": {"city": "Rome"}},
            {"name": "c"},
        ],
    )
    got = read(
        db, lambda r: [p.id for p in r.query("people").filter(lambda q: q.address.city == "Rome").collect()]
    )
    assert got == [ids[1]]
    got2 = read(
        db,
        lambda r: [
            p.id for p in r.query("people").filter(lambda q: q.field("address.city") != "Rome").collect()
        ],
    )
    assert got2 == [ids[0], ids[2]]


@settings(max_examples=50, deadline=None)
@given(
    docs=st.lists(st.tuples(st.sampled_from(USERS), st.integers(-3, 3)), max_size=25),
    threshold=st.integers(-3, 3),
    user=st.sampled_from(USERS),
)
def test_sql_and_python_filters_agree(docs: list[tuple[str, int]], threshold: int, user: str) -> None:
    db, rows = tasks_db(docs)
    try:
        sql = read(
            db,
            lambda r: [
                t.id
                for t in r.query("tasks")
                .filter(lambda q: (q.priority > threshold) | (q.user_id == user))
                .collect()
            ],
        )
        py = read(
            db,
            lambda r: [
                t.id
                for t in r.query("tasks")
                .filter(lambda t: t.priority > threshold or t.user_id == user)
                .collect()
            ],
        )
        expected = [r["id"] for r in rows if r["priority"] > threshold or r["user_id"] == user]
        assert sql == py == expected
    finally:
        db.close()


def test_query_results_are_models_of_the_table(db: fdb.Database) -> None:
    db.run(insert_all, table="tasks", docs=[{"text": "x", "user_id": "a"}])
    [task] = read(db, lambda r: r.query("tasks").collect())
    assert isinstance(task, Task) and task.text == "x" and task.id and task.creation_time


def test_query_outside_its_function_fails(db: fdb.Database) -> None:
    query = read(db, lambda r: r.query("tasks"))
    with pytest.raises(fdb.DatabaseClosed):
        query.collect()


def test_reads_and_writes_while_iterating_a_query(db: fdb.Database) -> None:
    """Per-connection cursors are reused; iterating must survive gets, queries and writes."""

    @fdb.mutation
    def seed(w: fdb.Writer) -> None:
        for i in range(600):  # more than one iteration batch
            w.insert("tasks", {"text": str(i), "user_id": f"u{i % 3}"})

    @fdb.query
    def walk(r: fdb.Reader) -> list[tuple[str, str, int]]:
        out = []
        for task in r.query("tasks"):
            again = r.get(task.id)
            user = task.user_id
            same_user = r.query("tasks").with_index("by_user", lambda q, u=user: q.eq("user_id", u))
            out.append((task.text, again.text, len(same_user.take(5))))
        return out

    @fdb.mutation
    def copy_all(w: fdb.Writer) -> int:
        n = 0
        for task in w.query("tasks").with_index("by_user", lambda q: q.eq("user_id", "u0")):
            w.insert("tasks", {"text": task.text + "!", "user_id": "copies"})
            w.patch(task.id, {"priority": 1})
            n += 1
        return n

    db.run(seed)
    walked = db.run(walk)
    assert [w[0] for w in walked] == [str(i) for i in range(600)]
    assert all(a == b and n == 5 for a, b, n in walked)
    assert db.run(copy_all) == 200
    copies = db.run(all_tasks)
    assert sum(t.user_id == "copies" for t in copies) == 200
    assert sum(t.priority == 1 for t in copies) == 200


VALIDATIONS = {"n": 0}


class Counted(fdb.Document):
    text: str

    @pydantic.field_validator("text")
    @classmethod
    def _count(cls, value: str) -> str:
        VALIDATIONS["n"] += 1
        return value


def test_python_filter_validates_each_scanned_document_once(make_db: Callable[..., fdb.Database]) -> None:
    db = make_db(fdb.Schema(counted=fdb.table(Counted)))

    @fdb.mutation
    def seed(w: fdb.Writer) -> None:
        for i in range(10):
            w.insert("counted", {"text": "x" * i})

    @fdb.query
    def long_ones(r: fdb.Reader) -> list[str]:
        return [c.text for c in r.query("counted").filter(lambda c: len(c.text) > 4).collect()]

    db.run(seed)
    VALIDATIONS["n"] = 0
    assert db.run(long_ones) == ["x" * i for i in range(5, 10)]
    assert VALIDATIONS["n"] == 10  # each scanned document once, not again for the result
