"""The limits of docs/limits.md, each just inside and just past, and filters comparing with
lists and dicts in every spelling (the Convex-style methods too)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pydantic
import pytest

import fusiondb as fdb
from fusiondb.core.documents import MAX_DOCUMENT_BYTES
from fusiondb.core.limits import MAX_INDEX_FIELDS, MAX_INDEXES, MAX_SEARCH_RESULTS, MAX_SEARCH_TERMS
from tests.models import insert, insert_all, read


class Bag(fdb.Document):
    meta: dict[str, Any] = {}
    items: list[Any] = []


class Post(fdb.Document):
    text: str
    user_id: str = "u"


limits_schema = fdb.Schema(
    bags=fdb.table(Bag),
    posts=fdb.table(Post).search_index("search_text", search_field="text", filter_fields=["user_id"]),
)


@pytest.fixture
def ldb(make_db: Callable[..., fdb.Database]) -> fdb.Database:
    return make_db(limits_schema)


def wide_model(n: int) -> type[fdb.Document]:
    fields: dict[str, Any] = {f"f{i}": (int, 0) for i in range(n)}
    return pydantic.create_model(f"Wide{n}", __base__=fdb.Document, **fields)  # type: ignore[no-any-return]


# -- arrays and objects: no count limit of their own, 1 MiB bounds them -------------------


def test_arrays_past_8192_items_and_objects_past_1024_entries_are_stored(ldb: fdb.Database) -> None:
    items = list(range(8193))
    meta = {f"k{i}": i for i in range(1025)}
    doc_id = ldb.run(insert, table="bags", doc={"items": items, "meta": meta})
    got = read(ldb, lambda r: r.get(doc_id))
    assert got.items == items and got.meta == meta


def test_a_big_array_is_bounded_by_the_document_size(ldb: fdb.Database) -> None:
    # "1," is two bytes: about half a million items fit in 1 MiB, one more byte does not.
    overhead = len('{"meta":{},"items":[]}')
    count = (MAX_DOCUMENT_BYTES - overhead + 1) // 2
    ok = ldb.run(insert, table="bags", doc={"items": [1] * count})
    assert len(read(ldb, lambda r: r.get(ok)).items) == count
    with pytest.raises(fdb.DocumentTooLarge):
        ldb.run(insert, table="bags", doc={"items": [1] * count + [11]})
    assert len(read(ldb, lambda r: r.query("bags").collect())) == 1


# -- indexes ------------------------------------------------------------------------------


def test_an_index_takes_at_most_16_fields() -> None:
    model = wide_model(MAX_INDEX_FIELDS + 1)
    names = [f"f{i}" for i in range(MAX_INDEX_FIELDS + 1)]
    tdef = fdb.table(model).index("widest", names[:MAX_INDEX_FIELDS])
    assert tdef.indexes["widest"].fields == tuple(names[:MAX_INDEX_FIELDS])
    with pytest.raises(fdb.SchemaError, match="17 fields; an index has at most 16") as info:
        fdb.table(model).index("too_wide", names)
    assert info.value.name == "too_wide"


def test_a_search_index_takes_at_most_16_filter_fields() -> None:
    model = pydantic.create_model(
        "Searchable", __base__=fdb.Document, text=(str, ""),
        **{f"f{i}": (int, 0) for i in range(MAX_INDEX_FIELDS + 1)},  # type: ignore[arg-type]
    )
    names = [f"f{i}" for i in range(MAX_INDEX_FIELDS + 1)]
    fdb.table(model).search_index("s", search_field="text", filter_fields=names[:MAX_INDEX_FIELDS])
    with pytest.raises(fdb.SchemaError, match="17 filter fields; a search index has at most 16"):
        fdb.table(model).search_index("s", search_field="text", filter_fields=names)


def test_a_table_has_at_most_32_indexes_search_indexes_included(
    make_db: Callable[..., fdb.Database],
) -> None:
    model = pydantic.create_model("Many", __base__=fdb.Document, text=(str, ""), n=(int, 0))
    tdef = fdb.table(model).search_index("s0", search_field="text")
    for i in range(1, MAX_INDEXES):
        tdef = tdef.index(f"i{i}", ["n"])
    db = make_db(fdb.Schema(many=tdef))  # 32: opens and works
    db.run(insert, table="many", doc={"text": "hello", "n": 3})
    found = read(db, lambda r: r.query("many").with_index("i31", lambda q: q.eq("n", 3)).collect())
    assert [d.text for d in found] == ["hello"]
    with pytest.raises(fdb.SchemaError, match="already has 32 indexes") as info:
        tdef.index("one_more", ["n"])
    assert info.value.name == "one_more"
    with pytest.raises(fdb.SchemaError, match="already has 32 indexes"):
        tdef.search_index("s_more", search_field="text")


# -- searches -----------------------------------------------------------------------------


def search(db: fdb.Database, text: str, call: Callable[[Any], Any]) -> Any:
    return read(db, lambda r: call(r.query("posts").with_search_index(
        "search_text", lambda q: q.search("text", text))))


def test_a_search_takes_at_most_16_distinct_words(ldb: fdb.Database) -> None:
    words = [f"w{i}" for i in range(MAX_SEARCH_TERMS + 1)]
    ldb.run(insert, table="posts", doc={"text": "w3 and more"})
    sixteen = " ".join(words[:MAX_SEARCH_TERMS])
    assert [p.text for p in search(ldb, sixteen, lambda q: q.collect())] == ["w3 and more"]
    assert len(search(ldb, " ".join([sixteen, *words[:5]] * 50), lambda q: q.collect())) == 1
    with pytest.raises(fdb.InvalidQuery, match="17 different words; a search takes at most 16") as info:
        search(ldb, " ".join(words), lambda q: q.collect())
    assert (info.value.table, info.value.index) == ("posts", "search_text")


def test_long_search_words_have_no_limit(ldb: fdb.Database) -> None:
    word = "x" * 200
    ldb.run(insert_all, table="posts", docs=[{"text": f"a {word}"}, {"text": "a " + "x" * 33}])
    assert [p.text for p in search(ldb, word, lambda q: q.collect())] == [f"a {word}"]
    assert len(search(ldb, "x" * 33, lambda q: q.collect())) == 2  # last word: a prefix


@pytest.fixture
def full(ldb: fdb.Database) -> fdb.Database:
    ldb.run(insert_all, table="posts", docs=[{"text": f"hit {i}"} for i in range(MAX_SEARCH_RESULTS + 1)])
    ldb.run(insert, table="posts", doc={"text": "only one", "user_id": "v"})
    return ldb


def test_a_search_call_returns_at_most_1024_documents(full: fdb.Database) -> None:
    assert len(search(full, "hit", lambda q: q.take(MAX_SEARCH_RESULTS))) == MAX_SEARCH_RESULTS
    page = search(full, "hit", lambda q: q.paginate(None, MAX_SEARCH_RESULTS))
    assert len(page.page) == MAX_SEARCH_RESULTS and not page.is_done
    rest = search(full, "hit", lambda q: q.paginate(page.continue_cursor, MAX_SEARCH_RESULTS))
    assert len(rest.page) == 1 and rest.is_done
    assert search(full, "hit", lambda q: sum(1 for _ in q)) == MAX_SEARCH_RESULTS + 1
    for call in (
        lambda q: q.take(MAX_SEARCH_RESULTS + 1),
        lambda q: q.paginate(None, MAX_SEARCH_RESULTS + 1),
        lambda q: q.collect(),
    ):
        with pytest.raises(fdb.InvalidQuery, match="one search call returns at most 1024") as info:
            search(full, "hit", call)
        assert info.value.index == "search_text"


def test_collect_of_a_search_with_1024_matches_returns_them_all(full: fdb.Database) -> None:
    # The same search, narrowed by a filter that runs in SQL to just under the cap.
    found = search(full, "hit", lambda q: q.filter(lambda p: p.text != "hit 0").collect())
    assert len(found) == MAX_SEARCH_RESULTS
    assert search(full, "only", lambda q: [p.text for p in q.collect()]) == ["only one"]


def test_a_search_takes_more_than_8_eq_filters(make_db: Callable[..., fdb.Database]) -> None:
    model = pydantic.create_model(
        "Tagged", __base__=fdb.Document, text=(str, ""), **{f"f{i}": (int, 0) for i in range(9)},  # type: ignore[arg-type]
    )
    names = [f"f{i}" for i in range(9)]
    tdef = fdb.table(model).search_index("s", search_field="text", filter_fields=names)
    db = make_db(fdb.Schema(tagged=tdef))
    db.run(insert_all, table="tagged", docs=[{"text": "x", **{n: 1 for n in names}}, {"text": "x", "f8": 1}])

    def nine(q: Any) -> Any:
        q = q.search("text", "x")
        for n in names:
            q = q.eq(n, 1)
        return q

    found = read(db, lambda r: r.query("tagged").with_search_index("s", nine).collect())
    assert [d.f0 for d in found] == [1]


# -- filters comparing with lists and dicts -----------------------------------------------


class Thing(fdb.Document):
    name: str
    tags: list[str] = []
    scores: list[float] = []
    meta: dict[str, Any] = {}


things_schema = fdb.Schema(things=fdb.table(Thing))


@pytest.fixture
def tdb(make_db: Callable[..., fdb.Database]) -> fdb.Database:
    db = make_db(things_schema)
    db.run(insert_all, table="things", docs=[
        {"name": "a", "tags": ["a"], "scores": [1.0, 2.0], "meta": {"k": 1, "j": [1]}},
        {"name": "ab", "tags": ["a", "b"], "meta": {"k": 2}},
        {"name": "none"},
    ])
    return db


def names(db: fdb.Database, predicate: Callable[[Any], Any]) -> list[str]:
    return [t.name for t in read(db, lambda r: r.query("things").filter(predicate).collect())]


SPELLINGS: list[tuple[Callable[[Any], Any], list[str]]] = [
    (lambda q: q.tags == ["a"], ["a"]),
    (lambda q: q.eq(q.field("tags"), ["a"]), ["a"]),
    (lambda q: q.eq(["a"], q.field("tags")), ["a"]),
    (lambda q: q.neq(q.field("tags"), ["a"]), ["ab", "none"]),
    (lambda q: q.not_(q.eq(q.field("tags"), ["a"])), ["ab", "none"]),
    (lambda q: ~(q.tags == ["a"]), ["ab", "none"]),
    (lambda q: q.or_(q.eq(q.field("tags"), ["a", "b"]), q.eq(q.field("name"), "none")), ["ab", "none"]),
    (lambda q: q.and_(q.eq(q.field("tags"), []), q.name == "none"), ["none"]),
    (lambda q: (q.tags == ["a"]) | (q.meta == {"k": 2}), ["a", "ab"]),
    # dicts compare as values: key order does not count; lists of floats equal lists of ints
    (lambda q: q.eq(q.field("meta"), {"j": [1], "k": 1}), ["a"]),
    (lambda q: q.eq(q.field("scores"), [1, 2]), ["a"]),
    # a nested path into a dict field, compared with a list
    (lambda q: q.eq(q.field("meta.j"), [1]), ["a"]),
    (lambda q: q.meta.j == None, ["ab", "none"]),  # noqa: E711
]


@pytest.mark.parametrize(("predicate", "expected"), SPELLINGS)
def test_every_filter_spelling_works_with_lists_and_dicts(
    tdb: fdb.Database, predicate: Callable[[Any], Any], expected: list[str]
) -> None:
    assert names(tdb, predicate) == expected


def test_ordering_with_lists_follows_the_index_order(tdb: fdb.Database) -> None:
    # As in an index (docs/queries.md, value order): lists compare element by element, then
    # by length ([] < ["a"] < ["a", "b"]); a missing value is null, below every list; every
    # list sorts after every string.
    assert names(tdb, lambda q: q.lt(q.field("tags"), ["a"])) == ["none"]
    assert names(tdb, lambda q: q.gte(q.field("tags"), ["a"])) == ["a", "ab"]
    assert names(tdb, lambda q: q.gt(q.field("meta.j"), [0])) == ["a"]
    assert names(tdb, lambda q: q.not_(q.gt(q.field("meta.j"), [0]))) == ["ab", "none"]
    assert names(tdb, lambda q: q.lt(q.field("meta.j"), [0])) == ["ab", "none"]
    assert names(tdb, lambda q: q.gt(q.field("tags"), "zzz")) == ["a", "ab", "none"]


def test_list_filters_combine_with_pagination(tdb: fdb.Database) -> None:
    def first_page(r: fdb.Reader) -> Any:
        return r.query("things").filter(lambda q: q.neq(q.field("tags"), ["a"])).paginate(None, 1)

    page = read(tdb, first_page)
    assert [t.name for t in page.page] == ["ab"] and not page.is_done
