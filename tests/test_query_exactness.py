"""Queries that used to give silent wrong answers, each checked against what Convex returns.

- filters on the system fields (Convex's ``_id`` and ``_creationTime``: ``id`` and
  ``creation_time`` here), and filters on a field no document can hold;
- a pagination cursor used on another query (the other order, another range);
- ``None`` in index range bounds (null is the smallest value in Convex), and ``by_id``;
- ``order()`` given twice;
- ``datetime`` and ``Enum`` values in index ranges, NaN in ranges and filters.
"""

from __future__ import annotations

import base64
import enum
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from pydantic import ConfigDict

import fusiondb as fdb


class Color(enum.Enum):
    RED = "red"
    BLUE = "blue"


class Size(enum.IntEnum):
    SMALL = 1
    LARGE = 2


class Event(fdb.Document):
    title: str
    owner: str = ""
    when: datetime | None = None
    color: Color = Color.RED
    size: Size = Size.SMALL
    score: float | None = None

    @property
    def shout(self) -> str:  # not stored: a filter on it must run in Python
        return self.title.upper()


class Loose(fdb.Document):
    model_config = ConfigDict(extra="allow")
    name: str


schema = fdb.Schema(
    events=fdb.table(Event)
    .index("by_when", ["when"])
    .index("by_color", ["color"])
    .index("by_size", ["size"])
    .index("by_score", ["score"])
    .index("by_owner_score", ["owner", "score"])
    .search_index("search_title", search_field="title"),
    loose=fdb.table(Loose),
)

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
# (title, owner, hours after T0 or None, color, score or None): scores include null and missing.
ROWS: list[tuple[str, str, int | None, Color, float | None]] = [
    ("a", "ann", 0, Color.RED, 2.0),
    ("b", "bob", None, Color.BLUE, None),
    ("c", "ann", 2, Color.BLUE, -1.0),
    ("d", "bob", 1, Color.RED, None),
    ("e", "ann", 3, Color.RED, 5.0),
    ("f", "ann", None, Color.BLUE, None),
]


@fdb.mutation
def seed(db: fdb.Writer) -> list[str]:
    ids = []
    for i, (title, owner, hours, color, score) in enumerate(ROWS):
        doc: dict[str, Any] = {"title": title, "owner": owner, "color": color}
        if hours is not None:
            doc["when"] = T0 + timedelta(hours=hours)
        if score is not None or i % 2:  # odd rows store null, even rows leave score missing
            doc["score"] = score
        ids.append(db.insert("events", doc))
    db.insert("loose", {"name": "x", "extra": 1})
    return ids


@fdb.mutation
def add_event(db: fdb.Writer, title: str, score: float | None = None, owner: str = "") -> str:
    return db.insert("events", {"title": title, "score": score, "owner": owner})


@fdb.mutation
def set_title(db: fdb.Writer, doc_id: str, title: str) -> None:
    db.patch(doc_id, {"title": title})


@pytest.fixture
def edb(make_db: Any) -> Any:
    """This file's schema on each kind of database (conftest's ``make_db``)."""
    return make_db(schema)


def read(db: fdb.Database, fn: Callable[[fdb.Reader], Any]) -> Any:
    return db.run(fdb.query(fn))


def by_index(db: fdb.Database, index: str, rng: Any = None, order: str = "asc") -> list[Any]:
    return read(db, lambda r: r.query("events").with_index(index, rng).order(order).collect())  # type: ignore[arg-type]


def filtered(db: fdb.Database, predicate: Callable[[Any], Any], table: str = "events") -> list[Any]:
    return read(db, lambda r: r.query(table).filter(predicate).collect())


def titles(docs: list[Any]) -> list[str]:
    return [d.title for d in docs]


def events(db: fdb.Database) -> list[Event]:
    docs: list[Event] = read(db, lambda r: r.query("events").collect())
    return docs


# -- 1. filters on system fields, and on fields no document can hold --------------------------


def test_filter_on_id_compares_with_the_documents_id(edb: fdb.Database) -> None:
    ids = edb.run(seed)
    c = ids[2]
    assert titles(filtered(edb, lambda q: q.id == c)) == ["c"]
    assert titles(filtered(edb, lambda q: q.id != c)) == ["a", "b", "d", "e", "f"]
    # Convex's spellings, the id on either side.
    assert titles(filtered(edb, lambda q: q.eq(c, q.field("id")))) == ["c"]
    got = filtered(edb, lambda q: q.or_(q.eq(q.field("id"), c), q.eq(q.field("id"), ids[4])))
    assert titles(got) == ["c", "e"]
    # In a search query's conditions too.
    got = read(edb, lambda r: r.query("events")
               .with_search_index("search_title", lambda q: q.search("title", "c"))
               .filter(lambda q: q.id == c).collect())
    assert titles(got) == ["c"]


def test_filter_on_id_matches_the_python_predicate(edb: fdb.Database) -> None:
    ids = edb.run(seed)
    for target in ids:
        compiled = filtered(edb, lambda q, t=target: q.id == t)
        # `and True` cannot compile: the same condition, evaluated in Python on each model.
        python = filtered(edb, lambda m, t=target: m.id == t and True)
        assert [d.id for d in compiled] == [d.id for d in python] == [target]


def test_filter_on_id_with_a_value_that_is_no_id_of_the_table(edb: fdb.Database) -> None:
    edb.run(seed)
    other = read(edb, lambda r: r.query("loose").first().id)
    for value in (other, "not an id", None, 3):
        # As in Convex: a value that is no id of this table equals no document's id.
        assert filtered(edb, lambda q, v=value: q.id == v) == []
        assert len(filtered(edb, lambda q, v=value: q.id != v)) == 6


def test_filter_orders_ids_by_creation_as_by_id(edb: fdb.Database) -> None:
    ids = edb.run(seed)
    assert titles(filtered(edb, lambda q: q.id < ids[2])) == ["a", "b"]
    assert titles(filtered(edb, lambda q: q.id >= ids[4])) == ["e", "f"]
    assert titles(filtered(edb, lambda q: ids[1] < q.id)) == ["c", "d", "e", "f"]
    with pytest.raises(fdb.InvalidQuery, match="not an id of this table") as info:
        filtered(edb, lambda q: q.id > "zzz")
    assert info.value.field == "id" and info.value.table == "events"


def test_filter_on_creation_time(edb: fdb.Database) -> None:
    edb.run(seed)
    docs = events(edb)
    t = docs[2].creation_time
    assert titles(filtered(edb, lambda q: q.field("creation_time") > t)) == ["d", "e", "f"]
    assert titles(filtered(edb, lambda q: q.creation_time <= t)) == ["a", "b", "c"]
    assert titles(filtered(edb, lambda q: q.creation_time == t)) == ["c"]


def test_filter_on_a_field_no_document_can_hold_is_invalid_query(edb: fdb.Database) -> None:
    edb.run(seed)
    for predicate, field in [
        (lambda q: q.titel == "a", "titel"),
        (lambda q: q.field("nope.deep") > 1, "nope.deep"),
        (lambda q: (q.title == "a") | ~(q.wrong != 2), "wrong"),
        (lambda q: q.field("id.x") == 1, "id.x"),
    ]:
        with pytest.raises(fdb.InvalidQuery, match="no document of the table can hold") as info:
            filtered(edb, predicate)
        assert info.value.field == field and info.value.table == "events"
        assert "Event has" in str(info.value) and "title" in str(info.value)


def test_filter_on_an_extra_field_or_a_property(edb: fdb.Database) -> None:
    edb.run(seed)
    # A model that allows extra fields can hold any field.
    assert [d.name for d in filtered(edb, lambda q: q.extra == 1, table="loose")] == ["x"]
    assert filtered(edb, lambda q: q.other == 1, table="loose") == []
    # A property is not stored: the predicate runs on the models, in Python.
    assert titles(filtered(edb, lambda q: q.shout == "C")) == ["c"]


def test_nan_is_refused_in_filters_and_ranges(edb: fdb.Database) -> None:
    edb.run(seed)
    nan = float("nan")
    # NaN was bound as NULL: == NaN matched the documents without a score.
    with pytest.raises(fdb.InvalidQuery, match="NaN"):
        filtered(edb, lambda q: q.score == nan)
    for op in ("eq", "gt", "lte"):
        with pytest.raises(fdb.InvalidQuery, match="NaN") as info:
            by_index(edb, "by_score", lambda q, op=op: getattr(q, op)("score", nan))
        assert info.value.field == "score" and info.value.index == "by_score"


# -- 2. cursors of another query ------------------------------------------------------------


@fdb.query
def page(db: fdb.Reader, cursor: str | None, order: str = "asc", lo: float | None = None,
         n: int = 1, end: str | None = None) -> fdb.PaginationResult:
    q = db.query("events")
    if lo is not None:
        q = q.with_index("by_score", lambda r: r.gt("score", lo))
    return q.order(order).paginate(cursor, n, end_cursor=end)  # type: ignore[arg-type]


def test_cursor_of_the_other_order_is_invalid_cursor(edb: fdb.Database) -> None:
    edb.run(seed)
    asc = edb.run(page, cursor=None)
    # Convex raises InvalidCursor; this used to return an empty page.
    with pytest.raises(fdb.InvalidCursor, match="order 'asc'") as info:
        edb.run(page, cursor=asc.continue_cursor, order="desc", n=5)
    assert isinstance(info.value, fdb.InvalidQuery)
    assert info.value.table == "events" and info.value.index == "by_creation_time"
    with pytest.raises(fdb.InvalidCursor):
        edb.run(page, cursor=None, order="desc", end=asc.continue_cursor)
    # The same query goes on.
    assert titles(edb.run(page, cursor=asc.continue_cursor, n=5).page) == ["b", "c", "d", "e", "f"]


def test_cursor_of_another_range_is_invalid_cursor(edb: fdb.Database) -> None:
    edb.run(seed)
    first = edb.run(page, cursor=None, lo=0.0)
    assert titles(first.page) == ["a"]
    with pytest.raises(fdb.InvalidCursor, match="another range"):
        edb.run(page, cursor=first.continue_cursor, lo=3.0)
    with pytest.raises(fdb.InvalidCursor, match="another query"):
        edb.run(page, cursor=first.continue_cursor)  # another index
    assert titles(edb.run(page, cursor=first.continue_cursor, lo=0.0, n=5).page) == ["e"]


def test_cursor_of_another_search_is_invalid_cursor(edb: fdb.Database) -> None:
    edb.run(seed)

    @fdb.query
    def search(db: fdb.Reader, text: str, cursor: str | None) -> fdb.PaginationResult:
        q = db.query("events").with_search_index("search_title", lambda q: q.search("title", text))
        return q.paginate(cursor, 1)

    first = edb.run(search, text="a", cursor=None)
    with pytest.raises(fdb.InvalidCursor):
        edb.run(search, text="b", cursor=first.continue_cursor)


def test_format_1_cursors_are_still_read(edb: fdb.Database) -> None:
    ids = edb.run(seed)
    docs = events(edb)
    # What paginate returned before cursors carried their order and range: [name, key].
    old = base64.urlsafe_b64encode(
        orjson.dumps(["events.by_creation_time", [docs[1].creation_time, 2]])
    ).decode().rstrip("=")
    assert [d.id for d in edb.run(page, cursor=old, n=10).page] == ids[2:]
    with pytest.raises(fdb.InvalidCursor, match="another query"):
        edb.run(page, cursor=old, lo=0.0)


# -- 3. None in range bounds, and by_id -------------------------------------------------------


def convex_range(values: list[float | None], lower: tuple[str, Any] | None,
                 upper: tuple[str, Any] | None) -> list[int]:
    """Positions of ``values`` in a Convex index range over them, in index order: null sorts
    below every number (missing and null are one value in this file format)."""

    def key(v: float | None) -> tuple[bool, float]:
        return (v is not None, v or 0.0)

    ops: dict[str, Callable[[Any, Any], bool]] = {
        "gt": lambda a, b: a > b, "gte": lambda a, b: a >= b,
        "lt": lambda a, b: a < b, "lte": lambda a, b: a <= b,
    }
    out = []
    for i in sorted(range(len(values)), key=lambda i: (key(values[i]), i)):
        v = values[i]
        if all(b is None or ops[b[0]](key(v), key(b[1])) for b in (lower, upper)):
            out.append(i)
    return out


@pytest.mark.parametrize(
    ("lower", "upper"),
    [
        (("gt", None), None),
        (("gte", None), None),
        (None, ("lt", None)),
        (None, ("lte", None)),
        (("gte", None), ("lte", None)),
        (("gt", None), ("lte", None)),
        (("gt", None), ("lt", 3.0)),
        (("gte", None), ("lt", None)),
    ],
)
def test_none_bounds_follow_convex_null_order(
    edb: fdb.Database, lower: tuple[str, Any] | None, upper: tuple[str, Any] | None
) -> None:
    ids = edb.run(seed)

    def rng(q: Any) -> Any:
        for bound in (lower, upper):
            if bound is not None:
                q = getattr(q, bound[0])("score", bound[1])
        return q

    scores = [row[4] for row in ROWS]
    expected = [ids[i] for i in convex_range(scores, lower, upper)]
    assert [d.id for d in by_index(edb, "by_score", rng)] == expected
    assert [d.id for d in by_index(edb, "by_score", rng, "desc")] == expected[::-1]
    # Within an eq prefix too.
    ann = by_index(edb, "by_owner_score", lambda q: rng(q.eq("owner", "ann")))
    assert [d.id for d in ann] == [ids[i] for i in convex_range(scores, lower, upper) if ROWS[i][1] == "ann"]


def test_eq_none_matches_null_and_missing(edb: fdb.Database) -> None:
    edb.run(seed)
    assert titles(by_index(edb, "by_score", lambda q: q.eq("score", None))) == ["b", "d", "f"]
    assert titles(by_index(edb, "by_when", lambda q: q.eq("when", None))) == ["b", "f"]


def test_paginate_over_a_none_bound(edb: fdb.Database) -> None:
    edb.run(seed)

    @fdb.query
    def non_null(db: fdb.Reader, cursor: str | None) -> fdb.PaginationResult:
        q = db.query("events").with_index("by_score", lambda q: q.gt("score", None))
        return q.paginate(cursor, 2)

    out, cursor, done = [], None, False
    while not done:
        result = edb.run(non_null, cursor=cursor)
        out += titles(result.page)
        cursor, done = result.continue_cursor, result.is_done
    assert out == ["c", "a", "e"]


def test_by_id_scans_in_id_order(edb: fdb.Database) -> None:
    ids = edb.run(seed)
    assert [d.id for d in by_index(edb, "by_id")] == ids
    assert [d.id for d in by_index(edb, "by_id", order="desc")] == ids[::-1]
    assert [d.id for d in by_index(edb, "by_id", lambda q: q.eq("id", ids[3]))] == [ids[3]]
    got = by_index(edb, "by_id", lambda q: q.gt("id", ids[1]).lte("id", ids[3]))
    assert [d.id for d in got] == ids[2:4]
    got = by_index(edb, "by_id", lambda q: q.gte("id", ids[4]), order="desc")
    assert [d.id for d in got] == [ids[5], ids[4]]
    # Filters, and pagination through every document.
    got = read(edb, lambda r: r.query("events")
               .with_index("by_id").filter(lambda q: q.owner == "bob").take(9))
    assert titles(got) == ["b", "d"]

    @fdb.query
    def by_id_page(db: fdb.Reader, cursor: str | None) -> fdb.PaginationResult:
        return db.query("events").with_index("by_id").order("desc").paginate(cursor, 4)

    first = edb.run(by_id_page, cursor=None)
    second = edb.run(by_id_page, cursor=first.continue_cursor)
    assert [d.id for d in first.page + second.page] == ids[::-1] and second.is_done


def test_by_id_range_needs_ids_of_the_table(edb: fdb.Database) -> None:
    edb.run(seed)
    other = read(edb, lambda r: r.query("loose").first().id)
    for value in (other, "nope", None, 1):
        with pytest.raises(fdb.InvalidQuery, match="ids of table 'events'") as info:
            by_index(edb, "by_id", lambda q, v=value: q.eq("id", v))
        assert info.value.index == "by_id" and info.value.field == "id"
    with pytest.raises(fdb.InvalidQuery, match="out of order"):
        by_index(edb, "by_id", lambda q: q.eq("creation_time", 1.0))


def by_index_in(r: fdb.Reader, index: str, rng: Any) -> list[Any]:
    docs: list[Any] = r.query("events").with_index(index, rng).collect()
    return docs


def counted(runs: Counter[str], name: str, build: Callable[[fdb.Reader], Any]) -> Any:
    @fdb.query
    def fn(db: fdb.Reader) -> list[str]:
        runs[name] += 1
        return titles(build(db))

    return fn


def test_live_by_id_range_reruns_only_for_its_documents(edb: fdb.Database) -> None:
    ids = edb.run(seed)
    runs: Counter[str] = Counter()
    one = counted(runs, "one", lambda r: by_index_in(r, "by_id", lambda q: q.eq("id", ids[2])))
    head = counted(runs, "head", lambda r: r.query("events").with_index("by_id").take(2))
    subs = [edb.subscribe(one), edb.subscribe(head)]
    runs.clear()
    edb.run(set_title, doc_id=ids[4], title="e2")  # neither reads it
    edb.run(add_event, title="late")  # sorts after both ranges
    assert edb.wait_idle()
    assert runs == Counter()
    edb.run(set_title, doc_id=ids[2], title="c2")
    assert edb.wait_idle()
    assert runs == Counter({"one": 1})
    assert subs[0].value == ["c2"]
    edb.run(set_title, doc_id=ids[0], title="a2")
    assert edb.wait_idle()
    assert runs == Counter({"one": 1, "head": 1})
    assert subs[1].value == ["a2", "b"]


def test_live_none_bound_reruns_only_for_its_range(edb: fdb.Database) -> None:
    ids = edb.run(seed)
    runs: Counter[str] = Counter()
    scored = counted(runs, "gt", lambda r: by_index_in(r, "by_score", lambda q: q.gt("score", None)))
    unscored = counted(runs, "lte", lambda r: by_index_in(r, "by_score", lambda q: q.lte("score", None)))
    subs = [edb.subscribe(scored), edb.subscribe(unscored)]
    runs.clear()
    edb.run(add_event, title="g", score=1.5)  # a score: only gt(None)
    assert edb.wait_idle()
    assert runs == Counter({"gt": 1})
    assert subs[0].value == ["c", "g", "a", "e"]
    edb.run(add_event, title="h", score=None)  # null: only lte(None)
    assert edb.wait_idle()
    assert runs == Counter({"gt": 1, "lte": 1})
    assert subs[1].value == ["b", "d", "f", "h"]
    edb.run(set_title, doc_id=ids[1], title="b2")  # b has no score
    assert edb.wait_idle()
    assert runs == Counter({"gt": 1, "lte": 2})


# -- 4. order() twice -----------------------------------------------------------------------


def test_order_twice_is_invalid_query(edb: fdb.Database) -> None:
    edb.run(seed)
    with pytest.raises(fdb.InvalidQuery, match="once"):
        read(edb, lambda r: r.query("events").order("asc").order("desc").collect())
    with pytest.raises(fdb.InvalidQuery, match="once"):
        read(edb, lambda r: r.query("events").with_index("by_score").order("desc").order("desc"))
    # As Convex: search results are in relevance order, before or after the search.
    with pytest.raises(fdb.InvalidQuery, match="relevance order"):
        read(edb, lambda r: r.query("events").order("asc").with_search_index(
            "search_title", lambda q: q.search("title", "a")))
    with pytest.raises(fdb.InvalidQuery, match="relevance order"):
        read(edb, lambda r: r.query("events").with_search_index(
            "search_title", lambda q: q.search("title", "a")).order("asc"))


# -- 5. datetime and Enum values in ranges ---------------------------------------------------


def test_datetime_in_index_range(edb: fdb.Database) -> None:
    edb.run(seed)
    at = T0 + timedelta(hours=2)
    assert titles(by_index(edb, "by_when", lambda q: q.eq("when", at))) == ["c"]
    # The same answer as the filter, which compares the models' datetimes in Python.
    hour = T0 + timedelta(hours=1)
    got = by_index(edb, "by_when", lambda q: q.gte("when", hour))
    assert titles(got) == ["d", "c", "e"]
    python = filtered(edb, lambda m: m.when is not None and m.when >= hour)
    assert sorted(titles(python)) == sorted(titles(got))


def test_enum_in_index_range(edb: fdb.Database) -> None:
    edb.run(seed)
    got = by_index(edb, "by_color", lambda q: q.eq("color", Color.BLUE))
    assert titles(got) == ["b", "c", "f"]
    assert titles(got) == titles(filtered(edb, lambda q: q.color == Color.BLUE))
    # The stored value itself works too, and an IntEnum is its int.
    assert titles(by_index(edb, "by_color", lambda q: q.eq("color", "blue"))) == ["b", "c", "f"]
    assert len(by_index(edb, "by_size", lambda q: q.gte("size", Size.SMALL))) == 6
    assert by_index(edb, "by_size", lambda q: q.gt("size", Size.SMALL)) == []


def test_range_value_the_field_does_not_accept_is_invalid_query(edb: fdb.Database) -> None:
    edb.run(seed)
    for index, field, value, kind in [
        ("by_when", "when", Color.RED, "Color"),
        ("by_color", "color", T0, "datetime"),
        ("by_score", "score", object(), "object"),
    ]:
        with pytest.raises(fdb.InvalidQuery, match=f"cannot compare '{field}' with a {kind}") as info:
            by_index(edb, index, lambda q, f=field, v=value: q.eq(f, v))
        assert info.value.field == field and info.value.index == index
