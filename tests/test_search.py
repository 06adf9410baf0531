"""Full-text search: relevance order, prefixes, filters, FTS upkeep on every write, re-runs."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import fusiondb as fdb
from fusiondb.engine.sqlite import fts as search
from fusiondb.engine.sqlite.fts import fts_table, tokenize
from tests.helpers import is_postgres, raw_sql
from tests.models import delete, patch, replace


class Post(fdb.Document):
    text: str
    user_id: str
    pinned: bool = False
    score: float = 0.0


def post_table() -> fdb.TableDef:
    return fdb.table(Post).search_index(
        "search_text", search_field="text", filter_fields=["user_id", "pinned"]
    )


schema = fdb.Schema(posts=post_table())


@pytest.fixture
def sdb(make_db: Callable[..., fdb.Database]) -> fdb.Database:
    return make_db(schema)


@fdb.mutation
def add(db: fdb.Writer, text: str, user_id: str = "u1", pinned: bool = False) -> str:
    return db.insert("posts", {"text": text, "user_id": user_id, "pinned": pinned})


@fdb.mutation
def add_many(db: fdb.Writer, texts: list[str], user_id: str = "u1") -> list[str]:
    return [db.insert("posts", {"text": t, "user_id": user_id}) for t in texts]


@fdb.query
def find(db: fdb.Reader, text: str, user_id: str | None = None, n: int = 50) -> list[str]:
    def build(q: Any) -> Any:
        q = q.search("text", text)
        return q if user_id is None else q.eq("user_id", user_id)

    return [p.text for p in db.query("posts").with_search_index("search_text", build).take(n)]


def texts(db: fdb.Database, text: str, user_id: str | None = None) -> list[str]:
    result: list[str] = db.run(find, text=text, user_id=user_id)
    return result


def fts_count(db: fdb.Database, text: str) -> int:
    """Rows the raw search index matches (checks the index itself, not only query results):
    the FTS5 table on SQLite, the tsvector table on PostgreSQL (``word*``: a prefix)."""
    if is_postgres(db):
        from fusiondb.engine.postgres.search import fts_table as pg_fts_table

        fts = pg_fts_table("posts", "search_text")
        query = f"'{text[:-1]}':*" if text.endswith("*") else f"'{text}'"
        return int(raw_sql(db, f'SELECT count(*) FROM "{fts}" WHERE tsv @@ ?::tsquery', (query,))[0][0])
    fts = fts_table("posts", "search_text")
    return int(raw_sql(db, f'SELECT count(*) FROM "{fts}" WHERE "{fts}" MATCH ?', (text,))[0][0])


CORPUS = [
    "the quick brown fox jumps over the lazy dog",
    "apple pie recipe with cinnamon",
    "banana bread",
    "apple apple apple",
    "an apple and a banana walk into a bar",
    "weather report for tuesday",
    "minutes of the board meeting",
    "how to repair a bicycle chain",
    "notes on linear algebra",
    "grocery list: eggs, flour, sugar",
    "travel plans for the summer",
    "a long document that mentions apple only once among many many other words here",
]


def bm25_order(corpus: list[str], query: str, filter_tokens: int = 2) -> list[str]:
    """Okapi BM25 as FTS5 computes it (k1=1.2, b=0.75, IDF floored at 1e-6), in Python.

    Each OR-ed term is a phrase; the last one matches as a prefix. Document length counts the
    filter tokens too (FTS5 sums all columns; their weight is 0 but their length is not).
    """
    docs = [tokenize(t) for t in corpus]
    n_docs = len(docs)
    avgdl = sum(len(d) + filter_tokens for d in docs) / n_docs
    *whole, prefix = tokenize(query)
    phrases = [lambda tok, w=w: tok == w for w in whole] + [lambda tok: tok.startswith(prefix)]
    scored = []
    for i, doc in enumerate(docs):
        score, hit = 0.0, False
        for phrase in phrases:
            containing = sum(1 for d in docs if any(phrase(t) for t in d))
            idf = math.log((n_docs - containing + 0.5) / (containing + 0.5))
            idf = idf if idf > 0 else 1e-6
            freq = sum(1 for t in doc if phrase(t))
            hit = hit or freq > 0
            norm = 1 - 0.75 + 0.75 * (len(doc) + filter_tokens) / avgdl
            score += idf * (freq * 2.2) / (freq + 1.2 * norm)
        if hit:
            scored.append((-score, i))
    return [corpus[i] for _, i in sorted(scored)]


def test_relevance_order_follows_bm25(sdb: fdb.Database) -> None:
    sdb.run(add_many, texts=CORPUS)
    if is_postgres(sdb):
        # An engine difference (docs): PostgreSQL ranks with ts_rank (term frequency, no
        # inverse document frequency), not bm25. The same documents match; more occurrences
        # still rank first.
        for query in ["apple banana", "apple", "the", "a b", "banana ap", "notes on the"]:
            assert sorted(texts(sdb, query)) == sorted(bm25_order(CORPUS, query)), query
        assert texts(sdb, "apple")[0] == "apple apple apple"
        return
    # More occurrences in fewer words rank first.
    assert texts(sdb, "apple") == [
        "apple apple apple",
        "apple pie recipe with cinnamon",
        "an apple and a banana walk into a bar",
        "a long document that mentions apple only once among many many other words here",
    ]
    # "banana" is rarer than "apple", so a short banana document outranks one with both words.
    assert texts(sdb, "apple banana")[:3] == [
        "banana bread",
        "an apple and a banana walk into a bar",
        "apple apple apple",
    ]
    for query in ["apple banana", "apple", "the", "a b", "banana ap", "notes on the"]:
        assert texts(sdb, query) == bm25_order(CORPUS, query), query


def test_last_term_is_a_prefix_the_others_are_whole_words(sdb: fdb.Database) -> None:
    sdb.run(add_many, texts=["banana split", "bandana", "band practice", "apple tart"])
    assert sorted(texts(sdb, "ban")) == ["banana split", "band practice", "bandana"]
    assert sorted(texts(sdb, "bana")) == ["banana split"]
    # "ban" is not the last term here, so it must match a whole word: none does.
    assert texts(sdb, "ban tart") == ["apple tart"]
    assert texts(sdb, "xylophone") == []


def test_case_and_diacritics_fold_like_fts5(sdb: fdb.Database) -> None:
    sdb.run(add_many, texts=["Café au lait", "NAÏVE question", "Straße und Weg"])
    assert texts(sdb, "cafe") == ["Café au lait"]
    assert texts(sdb, "CAFÉ") == ["Café au lait"]
    assert texts(sdb, "naive") == ["NAÏVE question"]
    assert texts(sdb, "straße") == ["Straße und Weg"]
    assert tokenize("Straße, NAÏVE!") == ["straße", "naive"]


def test_empty_or_punctuation_only_search_finds_nothing(sdb: fdb.Database) -> None:
    sdb.run(add_many, texts=CORPUS)
    assert texts(sdb, "") == []
    assert texts(sdb, "  ...!  ") == []


def test_search_text_with_fts5_syntax_is_plain_words(sdb: fdb.Database) -> None:
    sdb.run(add_many, texts=["apple OR pie", 'say "hi" NOT now', "NEAR the end"])
    assert texts(sdb, 'apple" OR "x') == ["apple OR pie"]
    assert texts(sdb, "NOT") == ['say "hi" NOT now']
    assert texts(sdb, "near(") == ["NEAR the end"]
    assert texts(sdb, "title:apple") == ["apple OR pie"]


def test_filters_apply_inside_fts(sdb: fdb.Database) -> None:
    sdb.run(add, text="buy milk", user_id="alice")
    sdb.run(add, text="buy milk and eggs", user_id="bob")
    sdb.run(add, text="buy bread", user_id="alice", pinned=True)
    assert sorted(texts(sdb, "buy", "alice")) == ["buy bread", "buy milk"]
    assert texts(sdb, "milk", "bob") == ["buy milk and eggs"]
    assert texts(sdb, "milk", "carol") == []

    @fdb.query
    def pinned(db: fdb.Reader, value: Any) -> list[str]:
        q = db.query("posts").with_search_index(
            "search_text", lambda q: q.search("text", "buy").eq("pinned", value).eq("user_id", "alice")
        )
        return [p.text for p in q.collect()]

    assert sdb.run(pinned, value=True) == ["buy bread"]
    assert sdb.run(pinned, value=1) == []  # a boolean is not the number 1 (the value order)
    assert sdb.run(pinned, value=False) == ["buy milk"]


def test_filter_tokens_are_exact_and_typed() -> None:
    tok = search.filter_token
    assert tok(0, "u1") != tok(1, "u1")
    assert tok(0, 1) == tok(0, 1.0) != tok(0, True)  # a boolean is not a number (value order)
    assert tok(0, False) != tok(0, 0) and tok(0, False) != tok(0, True)
    assert tok(0, 1) != tok(0, "1")
    assert tok(0, None) != tok(0, "") != tok(0, 0)
    assert tok(0, 1.5) != tok(0, 1)
    long_a, long_b = "x" * 100 + "a", "x" * 100 + "b"
    assert tok(0, long_a) != tok(0, long_b)
    assert len(tok(0, "y" * 10_000)) < 60
    for value in ["u1", "with space", "ünï", 7, -3, 2.25, None, True, "x" * 100]:
        assert tokenize(tok(3, value)) == [tok(3, value)], value


def test_filter_values_of_every_kind(make_db: Callable[..., fdb.Database]) -> None:
    class Item(fdb.Document):
        text: str
        owner: str | None = None
        rank: int = 0
        ratio: float = 0.0

    s = fdb.Schema(
        items=fdb.table(Item).search_index(
            "by_text", search_field="text", filter_fields=["owner", "rank", "ratio"]
        )
    )
    db = make_db(s)

    @fdb.mutation
    def fill(w: fdb.Writer) -> None:
        w.insert("items", {"text": "red", "owner": None, "rank": 2, "ratio": 0.5})
        w.insert("items", {"text": "red", "owner": "o", "rank": -1, "ratio": 2.0})
        w.insert("items", {"text": "red", "owner": "with spaces & symbols", "rank": 2})

    db.run(fill)

    @fdb.query
    def count(r: fdb.Reader, field: str, value: Any) -> int:
        q = r.query("items").with_search_index(
            "by_text", lambda q: q.search("text", "red").eq(field, value)
        )
        return len(q.collect())

    assert db.run(count, field="owner", value=None) == 1
    assert db.run(count, field="owner", value="o") == 1
    assert db.run(count, field="owner", value="with spaces & symbols") == 1
    assert db.run(count, field="rank", value=2) == 2
    assert db.run(count, field="rank", value=-1) == 1
    assert db.run(count, field="ratio", value=2) == 1
    assert db.run(count, field="ratio", value=0.5) == 1
    assert db.run(count, field="ratio", value=0.0) == 1


def test_fts_stays_in_sync_with_every_kind_of_write(sdb: fdb.Database) -> None:
    a = sdb.run(add, text="red apple", user_id="u1")
    b = sdb.run(add, text="green pear", user_id="u1")
    assert texts(sdb, "apple") == ["red apple"]

    sdb.run(patch, doc_id=a, fields={"text": "yellow banana"})  # text changed
    assert texts(sdb, "apple") == []
    assert texts(sdb, "banana") == ["yellow banana"]
    assert fts_count(sdb, "apple") == 0 and fts_count(sdb, "banana") == 1

    sdb.run(patch, doc_id=a, fields={"score": 3.0})  # other field: still found
    assert texts(sdb, "banana") == ["yellow banana"]

    sdb.run(patch, doc_id=a, fields={"user_id": "u2"})  # filter field changed
    assert texts(sdb, "banana", "u1") == []
    assert texts(sdb, "banana", "u2") == ["yellow banana"]

    sdb.run(replace, doc_id=b, doc={"text": "purple plum", "user_id": "u1"})
    assert texts(sdb, "pear") == [] and texts(sdb, "plum", "u1") == ["purple plum"]

    sdb.run(delete, doc_id=b)
    assert texts(sdb, "plum") == [] and fts_count(sdb, "plum") == 0

    @fdb.mutation
    def failing(w: fdb.Writer) -> None:
        w.insert("posts", {"text": "orange kiwi", "user_id": "u1"})
        w.patch(a, {"text": "changed"})
        w.delete(a)
        raise RuntimeError("abort")

    with pytest.raises(RuntimeError):
        sdb.run(failing)
    assert texts(sdb, "kiwi") == [] and fts_count(sdb, "kiwi") == 0
    assert texts(sdb, "banana", "u2") == ["yellow banana"]
    assert fts_count(sdb, "banana") == 1


def test_many_writes_in_one_mutation_then_search(sdb: fdb.Database) -> None:
    @fdb.mutation
    def churn(w: fdb.Writer) -> None:
        ids = [w.insert("posts", {"text": f"word{i} common", "user_id": "u1"}) for i in range(50)]
        for i, doc_id in enumerate(ids):
            if i % 3 == 0:
                w.delete(doc_id)
            elif i % 3 == 1:
                w.patch(doc_id, {"text": f"word{i} changed"})

    sdb.run(churn)
    assert len(texts(sdb, "common")) == 16
    assert len(texts(sdb, "changed")) == 17
    assert fts_count(sdb, "word") == 0  # whole-word match: "word" alone is in no document
    assert fts_count(sdb, "word*") == 33


def test_query_shapes_on_a_search(sdb: fdb.Database) -> None:
    sdb.run(add_many, texts=[f"note {i} about cats" for i in range(7)])
    sdb.run(add, text="dogs only", user_id="u1")

    @fdb.query
    def shapes(db: fdb.Reader) -> dict[str, Any]:
        def q() -> Any:
            return db.query("posts").with_search_index("search_text", lambda q: q.search("text", "cats"))

        return {
            "collect": len(q().collect()),
            "take": len(q().take(3)),
            "first": q().first() is not None,
            "sql_filter": len(q().filter(lambda d: d.text != "note 3 about cats").collect()),
            "py_filter": [d.text for d in q().filter(lambda d: d.text.endswith("5 about cats")).take(1)],
            "dicts": sorted(q().as_dicts().collect()[0]),
            "iter": len(list(q())),
        }

    out = sdb.run(shapes)
    assert out == {
        "collect": 7,
        "take": 3,
        "first": True,
        "sql_filter": 6,
        "py_filter": ["note 5 about cats"],
        "dicts": ["creation_time", "id", "pinned", "score", "text", "user_id"],
        "iter": 7,
    }

    @fdb.query
    def unique_dog(db: fdb.Reader) -> str:
        doc = db.query("posts").with_search_index("search_text", lambda q: q.search("text", "dogs")).unique()
        return str(doc.text)

    assert sdb.run(unique_dog) == "dogs only"


def test_paginate_a_search(sdb: fdb.Database) -> None:
    sdb.run(add_many, texts=[f"cats {'x ' * i}" for i in range(9)])

    @fdb.query
    def page(db: fdb.Reader, cursor: str | None) -> Any:
        q = db.query("posts").with_search_index("search_text", lambda q: q.search("text", "cats"))
        return q.paginate(cursor, num_items=4)

    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        result = sdb.run(page, cursor=cursor)
        seen.extend(p.text for p in result.page)
        pages += 1
        if result.is_done:
            break
        cursor = result.continue_cursor
    assert pages == 3
    assert seen == texts(sdb, "cats")
    assert len(seen) == 9 and len(set(seen)) == 9


def test_search_query_errors(sdb: fdb.Database) -> None:
    @fdb.query
    def attempt(db: fdb.Reader, case: str) -> Any:
        q = db.query("posts")
        if case == "unknown":
            return q.with_search_index("nope", lambda q: q.search("text", "x")).collect()
        if case == "field":
            return q.with_search_index("search_text", lambda q: q.search("user_id", "x")).collect()
        if case == "not_filter":
            return q.with_search_index(
                "search_text", lambda q: q.search("text", "x").eq("score", 1)
            ).collect()
        if case == "eq_first":
            return q.with_search_index("search_text", lambda q: q.eq("user_id", "u")).collect()
        if case == "no_search":
            return q.with_search_index("search_text", lambda q: q).collect()
        if case == "twice":
            return q.with_search_index(
                "search_text", lambda q: q.search("text", "x").eq("user_id", "a").eq("user_id", "b")
            ).collect()
        if case == "order":
            return q.with_search_index("search_text", lambda q: q.search("text", "x")).order("desc")
        if case == "with_index":
            return q.with_index("by_creation_time").with_search_index(
                "search_text", lambda q: q.search("text", "x")
            )
        if case == "not_str":
            return q.with_search_index("search_text", lambda q: q.search("text", 5)).collect()
        if case == "bad_value":
            return q.with_search_index(
                "search_text", lambda q: q.search("text", "x").eq("user_id", [1])
            ).collect()
        if case == "returns_other":
            return q.with_search_index("search_text", lambda q: None).collect()
        raise AssertionError(case)

    cases = [
        "unknown", "field", "not_filter", "eq_first", "no_search", "twice", "order",
        "with_index", "not_str", "bad_value", "returns_other",
    ]
    for case in cases:
        with pytest.raises(fdb.InvalidQuery) as info:
            sdb.run(attempt, case=case)
        assert info.value.table == "posts", case


def counting_search(runs: Counter[str]) -> Any:
    @fdb.query
    def watch(db: fdb.Reader, text: str, user_id: str | None = None) -> list[str]:
        runs[f"{text}/{user_id}"] += 1

        def build(q: Any) -> Any:
            q = q.search("text", text)
            return q if user_id is None else q.eq("user_id", user_id)

        return [p.text for p in db.query("posts").with_search_index("search_text", build).take(10)]

    return watch


def test_search_subscription_reruns_exactly_when_a_write_can_change_it(sdb: fdb.Database) -> None:
    runs: Counter[str] = Counter()
    watch = counting_search(runs)
    keep = sdb.run(add, text="buy milk", user_id="alice")
    sub = sdb.subscribe(watch, text="buy mil", user_id="alice")
    assert sub.value == ["buy milk"] and runs["buy mil/alice"] == 1

    def step(mutation: Any, **args: Any) -> Any:
        out = sdb.run(mutation, **args)
        assert sdb.wait_idle()
        return out

    step(add, text="walk the dog", user_id="alice")  # no term
    assert runs["buy mil/alice"] == 1
    step(add, text="buy milk", user_id="bob")  # term, other filter value
    assert runs["buy mil/alice"] == 1
    other = step(add, text="millet flour", user_id="alice")  # prefix "mil" matches
    assert runs["buy mil/alice"] == 2
    assert sorted(sub.value) == ["buy milk", "millet flour"]
    step(add, text="buying things", user_id="alice")  # "buy" is a whole term: "buying" is not
    assert runs["buy mil/alice"] == 2
    step(patch, doc_id=keep, fields={"score": 1.0})  # a matching document changed
    assert runs["buy mil/alice"] == 3
    step(patch, doc_id=other, fields={"user_id": "bob"})  # left the filter: re-run, then gone
    assert runs["buy mil/alice"] == 4
    assert sub.value == ["buy milk"]
    step(patch, doc_id=other, fields={"score": 2.0})  # now only bob's
    assert runs["buy mil/alice"] == 4
    step(replace, doc_id=keep, doc={"text": "sell eggs", "user_id": "alice"})  # old text matched
    assert runs["buy mil/alice"] == 5
    assert sub.value == []
    step(delete, doc_id=keep)  # neither old nor new text matches any more
    assert runs["buy mil/alice"] == 5
    sub.close()


def test_search_subscription_without_filters_and_storage_of_results(sdb: fdb.Database) -> None:
    runs: Counter[str] = Counter()
    watch = counting_search(runs)
    sub = sdb.subscribe(watch, text="cats")
    assert sub.value == [] and runs["cats/None"] == 1
    doc = sdb.run(add, text="Cats and dogs", user_id="x")
    assert sdb.wait_idle()
    assert runs["cats/None"] == 2 and sub.value == ["Cats and dogs"]
    sdb.run(delete, doc_id=doc)
    assert sdb.wait_idle()
    assert runs["cats/None"] == 3 and sub.value == []
    sdb.run(add, text="category", user_id="x")  # "cats" is the last term, a prefix: no match
    assert sdb.wait_idle()
    assert runs["cats/None"] == 3
    sub.close()


def test_search_index_added_to_an_existing_table_is_built_from_its_documents(tmp_path: Path) -> None:
    plain = fdb.Schema(posts=fdb.table(Post))
    path = tmp_path / "evolve.db"
    with fdb.open(path, plain) as db:
        db.run(add_many, texts=[f"entry {i} {'even' if i % 2 == 0 else 'odd'}" for i in range(5001)])
    calls: list[tuple[str, int, int]] = []
    with fdb.open(path, schema, progress=lambda task, done, total: calls.append((task, done, total))) as db:
        build = [c for c in calls if c[0] == "building search index posts.search_text"]
        assert build[0] == (build[0][0], 0, 5001) and build[-1][1:] == (5001, 5001)
        assert [c[1] for c in build] == sorted(c[1] for c in build) and len(build) >= 4
        # More matches than one search call returns (limits.MAX_SEARCH_RESULTS): iterate.
        every = fdb.query(lambda r: sum(1 for _ in r.query("posts").with_search_index(
            "search_text", lambda q: q.search("text", "even"))))
        assert db.run(every) == 2501
        assert db.run(find, text="odd", user_id="u1", n=3) == ["entry 1 odd", "entry 3 odd", "entry 5 odd"]
        db.run(add, text="new even", user_id="u2")
        assert db.run(find, text="even", user_id="u2") == ["new even"]
    # Changing the filter fields rebuilds the index; removing it drops its FTS table.
    changed = fdb.Schema(
        posts=fdb.table(Post).search_index("search_text", search_field="text", filter_fields=["pinned"])
    )
    with fdb.open(path, changed) as db:

        @fdb.query
        def by_pinned(r: fdb.Reader) -> int:
            q = r.query("posts").with_search_index(
                "search_text", lambda q: q.search("text", "even").eq("pinned", False)
            )
            return sum(1 for _ in q)  # more than one search call returns: iterate

        assert db.run(by_pinned) == 2502
    with fdb.open(path, plain) as db:

        assert raw_sql(db, "SELECT name FROM sqlite_schema WHERE name LIKE '%$fts$%'") == []


WORDS = ["ant", "anthem", "bee", "beetle", "cat", "catalog", "dog", "émigré", "emit"]


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    docs=st.lists(
        st.tuples(st.lists(st.sampled_from(WORDS), max_size=5), st.sampled_from(["u1", "u2"])),
        max_size=12,
    ),
    query=st.lists(st.sampled_from([*WORDS, "an", "ca", "em", "be"]), min_size=1, max_size=3),
    user=st.sampled_from([None, "u1", "u2"]),
)
def test_search_finds_exactly_the_matching_documents(
    docs: list[tuple[list[str], str]], query: list[str], user: str | None
) -> None:
    with fdb.open(None, schema) as db:

        @fdb.mutation
        def load(w: fdb.Writer) -> None:
            for words, owner in docs:
                w.insert("posts", {"text": " ".join(words), "user_id": owner})

        db.run(load)
        *whole, prefix = tokenize(" ".join(query))
        expected = sorted(
            " ".join(words)
            for words, owner in docs
            if (user is None or owner == user)
            and any(t in whole or t.startswith(prefix) for t in tokenize(" ".join(words)))
        )
        assert sorted(db.run(find, text=" ".join(query), user_id=user)) == expected


def test_search_subscription_follows_writes_from_another_connection(tmp_path: Path) -> None:
    # Two Database objects on one file talk through the change log, as two processes do:
    # the search texts and filter values travel in it.
    path = tmp_path / "shared.db"
    with fdb.open(path, schema) as watcher, fdb.open(path, schema) as writer:
        runs: Counter[str] = Counter()
        sub = watcher.subscribe(counting_search(runs), text="tea", user_id="u1")
        assert sub.value == [] and runs["tea/u1"] == 1
        writer.run(add, text="green tea", user_id="u2")
        writer.run(add, text="coffee", user_id="u1")
        assert watcher.wait_idle()
        assert runs["tea/u1"] == 1
        doc = writer.run(add, text="teapot", user_id="u1")
        assert watcher.wait_idle()
        assert runs["tea/u1"] == 2 and sub.value == ["teapot"]
        writer.run(delete, doc_id=doc)
        assert watcher.wait_idle()
        assert runs["tea/u1"] == 3 and sub.value == []
        sub.close()


def test_a_filter_field_added_with_a_default_finds_older_documents(tmp_path: Path) -> None:
    class V1(fdb.Document):
        text: str

    class V2(fdb.Document):
        text: str
        status: str = "open"

    path = tmp_path / "defaults.db"
    with fdb.open(path, fdb.Schema(items=fdb.table(V1))) as db:
        db.run(fdb.mutation(lambda w: w.insert("items", {"text": "old report"})))
    with fdb.open(path, fdb.Schema(items=fdb.table(V2))) as db:  # field added, no index yet
        db.run(fdb.mutation(lambda w: w.insert("items", {"text": "new report", "status": "done"})))
    indexed = fdb.Schema(
        items=fdb.table(V2).search_index("by_text", search_field="text", filter_fields=["status"])
    )
    with fdb.open(path, indexed) as db:

        @fdb.query
        def by_status(r: fdb.Reader, status: str) -> list[str]:
            q = r.query("items").with_search_index(
                "by_text", lambda q: q.search("text", "report").eq("status", status)
            )
            return [d.text for d in q.collect()]

        assert db.run(by_status, status="open") == ["old report"]
        assert db.run(by_status, status="done") == ["new report"]
