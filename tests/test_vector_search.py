"""Vector search: declaration, exact results against brute force, filters, upkeep on every
write, validation, evolution, db.check, and live queries re-run exactly (by run counts)."""

from __future__ import annotations

import contextlib
import io
import math
import random
import subprocess
import sys
from array import array
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

import fusiondb as fdb
from fusiondb.core import documents
from fusiondb.core.limits import MAX_VECTOR_DIMENSIONS, MAX_VECTOR_FILTER_VALUES, MAX_VECTOR_RESULTS
from fusiondb.core.tableinfo import TableInfo
from fusiondb.engine.sqlite import vectors as sqlite_vectors
from fusiondb.transaction import writeset
from tests.conftest import DbFactory
from tests.helpers import raw_sql
from tests.models import delete, patch, replace

DIMS = 8


class Doc(fdb.Document):
    text: str = ""
    embedding: list[float] | None = None
    user_id: str = "u1"
    level: int | bool | None = None


def doc_table() -> fdb.TableDef[Doc]:
    return fdb.table(Doc).vector_index(
        "by_embedding", vector_field="embedding", dimensions=DIMS, filter_fields=["user_id", "level"]
    )


class Other(fdb.Document):
    name: str


schema = fdb.Schema(docs=doc_table(), others=fdb.table(Other))


@pytest.fixture(params=["memory", "file"])
def vdb(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[fdb.Database]:
    """A database of each SQLite kind: vector search is sqlite-vec's, PostgreSQL refuses it
    (``tests/test_postgres_engine.py``)."""
    factory = DbFactory(str(request.param), tmp_path)
    yield factory(schema)
    factory.close_all()


def rand_vector(rng: random.Random, dims: int = DIMS) -> list[float]:
    return [rng.uniform(-1, 1) for _ in range(dims)]


@fdb.mutation
def add(db: fdb.Writer, embedding: list[float] | None, user_id: str = "u1", level: Any = None) -> str:
    return db.insert("docs", {"embedding": embedding, "user_id": user_id, "level": level})


@fdb.mutation
def add_many(db: fdb.Writer, docs: list[dict[str, Any]]) -> list[str]:
    return db.insert_many("docs", docs)


@fdb.query
def nearest(db: fdb.Reader, vector: list[float], limit: int = 10, user_id: str | None = None) -> list[Any]:
    flt = None if user_id is None else (lambda q: q.eq("user_id", user_id))
    return db.vector_search("docs", "by_embedding", vector, limit=limit, filter=flt)


def cosine(a: list[float], b: list[float]) -> float:
    a32, b32 = array("f", a), array("f", b)  # the index holds float32
    dot = sum(x * y for x, y in zip(a32, b32, strict=True))
    return dot / math.sqrt(sum(x * x for x in a32) * sum(y * y for y in b32))


def brute_force(
    docs: dict[str, dict[str, Any]], vector: list[float], limit: int, keep: Callable[[dict[str, Any]], bool]
) -> list[tuple[str, float]]:
    scored = [
        (doc_id, cosine(d["embedding"], vector))
        for doc_id, d in docs.items()
        if d.get("embedding") is not None and keep(d)
    ]
    return sorted(scored, key=lambda s: -s[1])[:limit]


def assert_same(found: list[fdb.VectorResult], expected: list[tuple[str, float]]) -> None:
    """The same documents with the same scores, highest first (float32 arithmetic may swap two
    documents whose scores differ by less than 1e-5, so ids are compared by their scores)."""
    assert len(found) == len(expected)
    scores = dict(expected)
    for got, (_, want) in zip(found, expected, strict=True):
        assert got.score == pytest.approx(want, abs=1e-5)
    everything = {r.id for r in found}
    for doc_id in everything - set(scores):
        # only a near-tie with the last expected document may stand in for it
        assert found[-1].score == pytest.approx(expected[-1][1], abs=1e-5), doc_id
    assert [r.score for r in found] == sorted((r.score for r in found), reverse=True)


def vec_rows(db: fdb.Database) -> int:
    """Rows of the vec0 table itself (on a connection with sqlite-vec loaded)."""
    with db._engine.read() as txn:  # type: ignore[attr-defined]
        sqlite_vectors.ensure_loaded(txn.conn)
        return int(txn.conn.execute('SELECT count(*) FROM "docs$vec$by_embedding"').fetchone()[0])


def all_docs(db: fdb.Database) -> dict[str, dict[str, Any]]:
    docs = db.run(fdb.query(lambda db: db.query("docs").collect()))
    return {d.id: d.model_dump() for d in docs}


def test_declaration_is_checked_when_the_schema_is_written() -> None:
    class Bad(fdb.Document):
        text: str
        embedding: list[float]
        ints: list[int]
        user_id: str = ""

    def declare(**kwargs: Any) -> None:
        args: dict[str, Any] = {"vector_field": "embedding", "dimensions": 4}
        fdb.table(Bad).vector_index("v", **{**args, **kwargs})

    declare()  # fine
    for kwargs, words in [
        ({"vector_field": "text"}, r"a list\[float\]"),
        ({"vector_field": "ints"}, r"a list\[float\]"),
        ({"vector_field": "missing"}, "does not exist"),
        ({"dimensions": 1}, "from 2 to 4096"),
        ({"dimensions": MAX_VECTOR_DIMENSIONS + 1}, "from 2 to 4096"),
        ({"dimensions": 4.0}, "integer"),
        ({"filter_fields": ["nope"]}, "does not exist"),
        ({"filter_fields": "user_id"}, "must be a list"),
        ({"filter_fields": ["user_id", "user_id"]}, "repeats"),
        ({"filter_fields": ["embedding"]}, "cannot be a filter field"),
    ]:
        with pytest.raises(fdb.SchemaError, match=words):
            declare(**kwargs)
    with pytest.raises(fdb.SchemaError, match="already defined"):
        fdb.table(Bad).search_index("v", search_field="text").vector_index(
            "v", vector_field="embedding", dimensions=4
        )
    with pytest.raises(fdb.SchemaError, match="invalid vector index name"):
        fdb.table(Bad).vector_index("by embedding", vector_field="embedding", dimensions=4)


def test_results_are_the_exact_nearest_with_cosine_scores(vdb: fdb.Database) -> None:
    rng = random.Random(7)
    users = ["u1", "u2", "u3"]
    vdb.run(
        add_many,
        docs=[{"embedding": rand_vector(rng), "user_id": rng.choice(users)} for _ in range(300)],
    )
    docs = all_docs(vdb)
    for _ in range(5):
        q = rand_vector(rng)
        assert_same(vdb.run(nearest, vector=q, limit=10), brute_force(docs, q, 10, lambda d: True))
        assert_same(
            vdb.run(nearest, vector=q, limit=7, user_id="u2"),
            brute_force(docs, q, 7, lambda d: d["user_id"] == "u2"),
        )
        both = vdb.vector_search(
            "docs",
            "by_embedding",
            q,
            limit=12,
            filter=lambda q: q.or_(q.eq("user_id", "u1"), q.eq("user_id", "u3")),
        )
        assert_same(both, brute_force(docs, q, 12, lambda d: d["user_id"] in ("u1", "u3")))
    # A vector scores 1 with itself.
    some_id, some = next(iter(docs.items()))
    top = vdb.vector_search("docs", "by_embedding", some["embedding"], limit=1)
    assert top[0].id == some_id and top[0].score == pytest.approx(1.0, abs=1e-6)


def test_a_filter_keeps_k_results_when_the_nearest_belong_to_others(vdb: fdb.Database) -> None:
    # The nearest 50 are u1's; u2's lie further. A filter applied after a KNN of k rows would
    # find none of them; applied inside the index (and per field for or_) it finds k.
    base = [1.0] + [0.0] * (DIMS - 1)
    vdb.run(add_many, docs=[{"embedding": [1.0, i / 1000] + [0.0] * (DIMS - 2)} for i in range(50)])
    far = vdb.run(
        add_many,
        docs=[{"embedding": [0.5 - i / 20, 1.0] + [0.0] * (DIMS - 2), "user_id": "u2"} for i in range(5)],
    )
    vdb.run(add_many, docs=[{"embedding": [-1.0] + [0.0] * (DIMS - 1), "level": 3}])
    assert [r.id for r in vdb.run(nearest, vector=base, limit=3, user_id="u2")] == far[:3]
    mixed = vdb.vector_search(
        "docs",
        "by_embedding",
        base,
        limit=3,
        filter=lambda q: q.or_(q.eq("user_id", "u2"), q.eq("level", 3)),
    )
    assert [r.id for r in mixed] == far[:3]
    last = vdb.vector_search(
        "docs",
        "by_embedding",
        base,
        limit=10,
        filter=lambda q: q.or_(q.eq("level", 3), q.eq("user_id", "u2")),
    )
    assert len(last) == 6 and last[-1].score == pytest.approx(-1.0, abs=1e-6)


def test_filter_values_compare_as_in_the_value_order(vdb: fdb.Database) -> None:
    v = [1.0] * DIMS
    one = vdb.run(add, embedding=v, level=1)
    true = vdb.run(add, embedding=v, level=True)
    none = vdb.run(add, embedding=v, level=None)

    def ids(value: Any) -> set[str]:
        return {
            r.id for r in vdb.vector_search("docs", "by_embedding", v, filter=lambda q: q.eq("level", value))
        }

    assert ids(1) == {one} and ids(1.0) == {one}
    assert ids(True) == {true}
    assert ids(None) == {none}
    assert ids(2) == set()


def test_index_follows_every_kind_of_write(vdb: fdb.Database) -> None:
    rng = random.Random(3)
    a = vdb.run(add, embedding=rand_vector(rng))
    b = vdb.run(add, embedding=rand_vector(rng), user_id="u2")
    c = vdb.run(add, embedding=None)  # not indexed
    vdb.run(patch, doc_id=a, fields={"embedding": rand_vector(rng)})
    vdb.run(patch, doc_id=c, fields={"embedding": rand_vector(rng), "user_id": "u3"})
    vdb.run(patch, doc_id=b, fields={"text": "only text"})
    vdb.run(replace, doc_id=b, doc={"embedding": rand_vector(rng), "user_id": "u1"})
    vdb.run(patch, doc_id=a, fields={"embedding": None})  # leaves the index
    d = vdb.run(add, embedding=rand_vector(rng))
    vdb.run(delete, doc_id=d)
    source = io.BytesIO(b"".join(orjson.dumps({"embedding": rand_vector(rng)}) + b"\n" for _ in range(4)))
    vdb.import_jsonl("docs", source)

    docs = all_docs(vdb)
    indexed = {i for i, doc in docs.items() if doc["embedding"] is not None}
    assert len(indexed) == 6 and a not in indexed
    for _ in range(3):
        q = rand_vector(rng)
        assert_same(vdb.run(nearest, vector=q, limit=20), brute_force(docs, q, 20, lambda d: True))
    assert_same(
        vdb.run(nearest, vector=q, limit=20, user_id="u3"),
        brute_force(docs, q, 20, lambda d: d["user_id"] == "u3"),
    )
    assert vec_rows(vdb) == 6
    assert vdb.check().ok and vdb.check().out_of_date == ()


def test_a_rolled_back_write_leaves_the_index_alone(vdb: fdb.Database) -> None:
    v = [1.0] * DIMS

    @fdb.mutation
    def fails(db: fdb.Writer) -> None:
        db.insert("docs", {"embedding": v})
        raise RuntimeError("boom")

    @fdb.mutation
    def inner(db: fdb.Writer) -> None:
        db.insert("docs", {"embedding": v, "user_id": "inner"})
        raise RuntimeError("inner")

    @fdb.mutation
    def outer(db: fdb.Writer) -> str:
        with contextlib.suppress(RuntimeError):
            inner(db)
        return db.insert("docs", {"embedding": v, "user_id": "outer"})

    with pytest.raises(RuntimeError):
        vdb.run(fails)
    assert vdb.vector_search("docs", "by_embedding", v) == []
    kept = vdb.run(outer)
    assert [r.id for r in vdb.vector_search("docs", "by_embedding", v)] == [kept]
    assert vec_rows(vdb) == 1


def test_bad_vectors_are_refused_naming_the_field_and_nothing_is_written(vdb: fdb.Database) -> None:
    ok = [0.5] * DIMS
    for bad, words in [
        ([1.0] * (DIMS - 1), f"takes {DIMS}"),
        ([1.0] * (DIMS + 1), f"takes {DIMS}"),
        ([0.0] * DIMS, "all-zero"),
        ([math.nan] + [1.0] * (DIMS - 1), "NaN"),
        ([math.inf] + [1.0] * (DIMS - 1), "NaN and infinity"),
    ]:
        with pytest.raises(fdb.ValidationError, match=words) as info:
            vdb.run(add, embedding=bad)
        assert info.value.table == "docs" and info.value.field in ("embedding", "embedding.0")
    good = vdb.run(add, embedding=ok)
    with pytest.raises(fdb.ValidationError, match="embedding") as info:
        vdb.run(patch, doc_id=good, fields={"embedding": [1.0, 2.0]})
    assert info.value.id == good
    with pytest.raises(fdb.ValidationError, match=r"document 1: .*embedding"):
        vdb.run(add_many, docs=[{"embedding": ok}, {"embedding": [1.0]}])
    assert list(all_docs(vdb)) == [good]
    assert all_docs(vdb)[good]["embedding"] == ok
    assert vec_rows(vdb) == 1


def test_query_errors_are_typed_and_name_the_problem(vdb: fdb.Database) -> None:
    v = [1.0] * DIMS
    cases: list[tuple[Callable[[], Any], str]] = [
        (lambda: vdb.vector_search("docs", "nope", v), "no vector index 'nope'"),
        (lambda: vdb.vector_search("docs", "by_embedding", v[:-1]), f"takes {DIMS}"),
        (lambda: vdb.vector_search("docs", "by_embedding", [0.0] * DIMS), "all-zero"),
        (lambda: vdb.vector_search("docs", "by_embedding", "abc"), "list of"),
        (lambda: vdb.vector_search("docs", "by_embedding", v, limit=0), "from 1 to 256"),
        (lambda: vdb.vector_search("docs", "by_embedding", v, limit=MAX_VECTOR_RESULTS + 1), "256"),
        (
            lambda: vdb.vector_search("docs", "by_embedding", v, filter=lambda q: q.eq("text", "x")),
            "not a filter field",
        ),
        (
            lambda: vdb.vector_search("docs", "by_embedding", v, filter=lambda q: q.eq("user_id", [1])),
            "cannot compare",
        ),
        (lambda: vdb.vector_search("docs", "by_embedding", v, filter=lambda q: q), "must return"),
        (lambda: vdb.vector_search("docs", "by_embedding", v, filter=lambda q: q.or_()), "at least one"),
        (
            lambda: vdb.vector_search(
                "docs",
                "by_embedding",
                v,
                filter=lambda q: q.or_(
                    *[q.eq("user_id", str(i)) for i in range(MAX_VECTOR_FILTER_VALUES + 1)]
                ),
            ),
            "at most 64",
        ),
    ]
    for attempt, words in cases:
        with pytest.raises(fdb.InvalidQuery, match=words) as info:
            attempt()
        assert info.value.table == "docs", words
    with pytest.raises(fdb.InvalidQuery, match="no vector index"):
        vdb.vector_search("others", "by_embedding", v)


def test_usable_in_queries_and_mutations_which_see_their_own_writes(vdb: fdb.Database) -> None:
    v = [1.0] * DIMS

    @fdb.mutation
    def add_then_search(db: fdb.Writer) -> tuple[str, list[fdb.VectorResult]]:
        doc_id = db.insert("docs", {"embedding": v})
        return doc_id, db.vector_search("docs", "by_embedding", v)

    doc_id, found = vdb.run(add_then_search)
    assert [r.id for r in found] == [doc_id]
    assert vdb.run(nearest, vector=v) == found
    assert vdb.vector_search(schema.tables["docs"], "by_embedding", v)[0].id == doc_id  # typed handle
    assert isinstance(found[0], tuple) and found[0]._fields == ("id", "score")


def counting_nearest(runs: Counter[str]) -> Any:
    @fdb.query
    def watch(db: fdb.Reader, user_id: str | None = None, levels: list[int] | None = None) -> list[str]:
        runs[f"{user_id}/{levels}"] += 1
        if levels is not None:

            def flt(q: Any) -> Any:
                return q.or_(*[q.eq("level", n) for n in levels])
        elif user_id is not None:

            def flt(q: Any) -> Any:
                return q.eq("user_id", user_id)
        else:
            flt = None  # type: ignore[assignment]
        return [r.id for r in db.vector_search("docs", "by_embedding", [1.0] * DIMS, limit=5, filter=flt)]

    return watch


def test_live_vector_search_reruns_exactly_when_its_index_changes_within_its_filter(
    vdb: fdb.Database,
) -> None:
    runs: Counter[str] = Counter()
    watch = counting_nearest(runs)
    rng = random.Random(11)
    mine = vdb.run(add, embedding=rand_vector(rng), user_id="alice")
    theirs = vdb.run(add, embedding=rand_vector(rng), user_id="bob")
    sub = vdb.subscribe(watch, user_id="alice")
    assert sub.value == [mine] and runs["alice/None"] == 1

    def step(mutation: Any, **args: Any) -> Any:
        out = vdb.run(mutation, **args)
        assert vdb.wait_idle()
        return out

    step(add, embedding=rand_vector(rng), user_id="bob")  # another user's vector
    step(patch, doc_id=theirs, fields={"embedding": rand_vector(rng)})
    step(patch, doc_id=mine, fields={"text": "not the vector"})  # neither vector nor filter
    step(add, embedding=None, user_id="alice")  # not in the index
    vdb.run(fdb.mutation(lambda db: db.insert("others", {"name": "x"})))  # another table
    assert vdb.wait_idle()
    assert runs["alice/None"] == 1

    new = step(add, embedding=rand_vector(rng), user_id="alice")  # enters alice's part
    assert runs["alice/None"] == 2 and set(sub.value) == {mine, new}
    step(patch, doc_id=mine, fields={"embedding": rand_vector(rng)})  # moves
    assert runs["alice/None"] == 3
    step(patch, doc_id=theirs, fields={"user_id": "alice"})  # joins the filter
    assert runs["alice/None"] == 4 and theirs in sub.value
    step(patch, doc_id=new, fields={"user_id": "bob"})  # leaves it
    assert runs["alice/None"] == 5 and new not in sub.value
    step(patch, doc_id=new, fields={"embedding": rand_vector(rng)})  # bob's now
    assert runs["alice/None"] == 5
    step(delete, doc_id=mine)
    assert runs["alice/None"] == 6 and sub.value == [theirs]
    sub.close()


def test_live_vector_search_without_filter_and_with_or(vdb: fdb.Database) -> None:
    runs: Counter[str] = Counter()
    watch = counting_nearest(runs)
    all_sub = vdb.subscribe(watch)
    any_sub = vdb.subscribe(watch, levels=[1, 2])
    assert runs["None/None"] == 1 and runs["None/[1, 2]"] == 1
    v = [1.0] * DIMS
    vdb.run(add, embedding=v, level=3)
    assert vdb.wait_idle()
    assert runs["None/None"] == 2 and runs["None/[1, 2]"] == 1
    two = vdb.run(add, embedding=v, level=2)
    assert vdb.wait_idle()
    assert runs["None/None"] == 3 and runs["None/[1, 2]"] == 2 and any_sub.value == [two]
    vdb.run(patch, doc_id=two, fields={"level": True})  # True is not 1 nor 2: leaves
    assert vdb.wait_idle()
    assert runs["None/None"] == 4 and runs["None/[1, 2]"] == 3 and any_sub.value == []
    vdb.run(patch, doc_id=two, fields={"text": "x"})  # neither vector nor filter field
    assert vdb.wait_idle()
    assert runs["None/None"] == 4 and runs["None/[1, 2]"] == 3
    all_sub.close()
    any_sub.close()


def test_live_vector_search_follows_another_connection(tmp_path: Path) -> None:
    path = tmp_path / "shared.db"
    with fdb.open(path, schema) as watcher, fdb.open(path, schema) as writer:
        runs: Counter[str] = Counter()
        sub = watcher.subscribe(counting_nearest(runs), user_id="u1")
        assert sub.value == [] and runs["u1/None"] == 1
        writer.run(add, embedding=[1.0] * DIMS, user_id="u2")
        assert watcher.wait_idle()
        assert runs["u1/None"] == 1
        doc = writer.run(add, embedding=[1.0] * DIMS, user_id="u1")
        assert watcher.wait_idle()
        assert runs["u1/None"] == 2 and sub.value == [doc]
        writer.run(delete, doc_id=doc)
        assert watcher.wait_idle()
        assert runs["u1/None"] == 3 and sub.value == []
        sub.close()


def test_the_change_log_carries_vector_writes_without_vectors() -> None:
    ws = writeset.WriteSet()
    ws.record_vector("docs", "by_embedding", None, ("u1", 3))
    ws.record_vector("docs", "by_embedding", ("u1", None), None)
    payload = writeset.encode(ws)
    assert b"embedding" not in payload.replace(b"by_embedding", b"")
    back = writeset.decode(payload)
    assert back is not None and back.vectors == ws.vectors
    ws.fold()
    assert ws.vectors == [] and ws.vectored == {("docs", "by_embedding")}
    again = writeset.decode(writeset.encode(ws))
    assert again is not None and again.vectored == {("docs", "by_embedding")}


def test_adding_a_vector_index_builds_it_from_stored_documents(tmp_path: Path) -> None:
    path = tmp_path / "app.db"
    plain = fdb.Schema(docs=fdb.table(Doc))
    rng = random.Random(5)
    with fdb.open(path, plain) as db:
        db.run(add_many, docs=[{"embedding": rand_vector(rng)} for _ in range(2500)])
        db.run(add, embedding=None)
    calls: list[tuple[str, int, int]] = []
    with fdb.open(path, schema, progress=lambda t, d, n: calls.append((t, d, n))) as db:
        assert [(c.kind, c.detail) for c in db.schema_changes if "vector" in c.kind] == [
            ("add_vector_index", "by_embedding")
        ]
        assert calls[-1] == ("building vector index docs.by_embedding", 2501, 2501)
        docs = all_docs(db)
        q = rand_vector(rng)
        assert_same(db.run(nearest, vector=q), brute_force(docs, q, 10, lambda d: True))
    changed = fdb.Schema(
        docs=fdb.table(Doc).vector_index("by_embedding", vector_field="embedding", dimensions=DIMS)
    )
    with fdb.open(path, changed) as db:  # filter fields changed: rebuilt
        assert vec_rows(db) == 2500
        assert db.check().ok
    with fdb.open(path, plain) as db:
        assert [(c.kind, c.detail) for c in db.schema_changes] == [("drop_vector_index", "by_embedding")]
        assert raw_sql(db, "SELECT name FROM sqlite_schema WHERE name LIKE '%$vec$%'") == []


def test_a_vector_index_that_stored_documents_cannot_fill_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "app.db"
    with fdb.open(path, fdb.Schema(docs=fdb.table(Doc))) as db:
        good = db.run(add, embedding=[1.0] * DIMS)
        short = db.run(add, embedding=[1.0, 2.0])
        zero = db.run(add, embedding=[0.0] * DIMS)
    with pytest.raises(fdb.SchemaMismatch, match="cannot hold 2 stored") as info:
        fdb.open(path, schema)
    assert info.value.table == "docs" and info.value.count == 2
    assert sorted(info.value.ids) == sorted([short, zero])
    with fdb.open(path, fdb.Schema(docs=fdb.table(Doc))) as db:  # nothing was changed
        assert db.schema_changes == []
        assert raw_sql(db, "SELECT name FROM sqlite_schema WHERE name LIKE '%$vec$%'") == []
        assert good in all_docs(db)


def test_check_rebuilds_a_vector_index_another_tool_left_behind(tmp_path: Path) -> None:
    path = tmp_path / "app.db"
    with fdb.open(path, schema) as db:
        a = db.run(add, embedding=[1.0] + [0.0] * (DIMS - 1))
        db.run(add, embedding=[0.0, 1.0] + [0.0] * (DIMS - 2))
        assert db.check().vector_indexes == ("docs.by_embedding",)
        # Another tool, in another process (two SQLite libraries in one process drop each
        # other's locks), rewrites a vector without touching the index.
        vector = orjson.dumps([0.0, 1.0] + [0.0] * (DIMS - 2)).decode()
        script = (
            "import sqlite3, sys\n"
            "c = sqlite3.connect(sys.argv[1])\n"
            "c.execute(\"UPDATE docs SET doc = json_set(doc, '$.embedding', json(?)) WHERE _id = 1\","
            " (sys.argv[2],))\n"
            "c.commit()\n"
        )
        subprocess.run([sys.executable, "-c", script, str(path), vector], check=True, timeout=60)
        report = db.check(repair=False)
        assert report.out_of_date == ("docs.by_embedding",) and not report.ok
        report = db.check()
        assert report.rebuilt == ("docs.by_embedding",) and report.ok
        found = db.vector_search("docs", "by_embedding", [0.0, 1.0] + [0.0] * (DIMS - 2), limit=2)
        assert [r.score for r in found] == pytest.approx([1.0, 1.0], abs=1e-6)
        assert a in {r.id for r in found}


def test_open_stored_keeps_and_searches_the_vector_index(tmp_path: Path) -> None:
    path = tmp_path / "app.db"
    with fdb.open(path, schema) as db:
        doc = db.run(add, embedding=[1.0] * DIMS)
    with fdb.open_stored(path) as db:
        assert [r.id for r in db.vector_search("docs", "by_embedding", [1.0] * DIMS)] == [doc]
    with fdb.open(path, schema) as db:
        assert db.schema_changes == []


def test_without_sqlite_vec_open_says_which_extra_to_install(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setitem(sys.modules, "sqlite_vec", None)  # import fails, as when not installed
    with pytest.raises(fdb.NotSupported, match=r"pip install 'fusiondb\[vector\]'") as info:
        fdb.open(None, schema)
    assert info.value.extra == "vector" and info.value.feature == "vector search"
    with fdb.open(tmp_path / "plain.db", fdb.Schema(others=fdb.table(Other))) as db:
        assert db.schema_changes  # a schema without vector indexes needs no extension
    monkeypatch.undo()
    with fdb.open(None, schema) as db:
        assert db.vector_search("docs", "by_embedding", [1.0] * DIMS) == []


def test_sqlite_vec_is_loaded_only_by_connections_that_use_it(tmp_path: Path) -> None:
    plain = fdb.Schema(others=fdb.table(Other))
    with fdb.open(None, plain) as db, db._engine.read() as txn:  # type: ignore[attr-defined]
        assert txn.conn not in sqlite_vectors._loaded
    with fdb.open(None, schema) as db, db._engine.read() as txn:  # type: ignore[attr-defined]
        assert txn.conn in sqlite_vectors._loaded


def reference_non_finite(value: Any) -> bool:
    """Plain reference: whether any float anywhere in ``value`` is NaN or infinite."""
    if isinstance(value, float):
        return not math.isfinite(value)
    if isinstance(value, list | tuple):
        return any(reference_non_finite(v) for v in value)
    return False


@given(
    st.lists(
        st.one_of(
            st.floats(allow_nan=True, allow_infinity=True),
            st.floats(min_value=1e307, max_value=1.7e308),  # sums that overflow
            st.integers(min_value=-(2**70), max_value=2**70),
        ),
        max_size=20,
    ).map(lambda xs: [float(xs[0]), *xs[1:]] if xs and not isinstance(xs[0], float) else xs)
)
def test_the_vector_fast_path_of_the_finite_check_agrees_with_a_plain_walk(values: list[Any]) -> None:
    # documents._non_finite checks a list of floats with one sum (any NaN or infinity makes
    # the sum non-finite; an overflowing sum falls back to the walk).
    assert (documents._non_finite(values, []) is not None) == reference_non_finite(values)


def test_only_models_that_can_hold_integers_are_scanned_for_big_ones(vdb: fdb.Database) -> None:
    class Floats(fdb.Document):
        embedding: list[float]
        label: str = ""

    class Loose(fdb.Document):
        embedding: list[float]
        extra: Any = None

    floats = fdb.Schema(f=fdb.table(Floats))
    assert not TableInfo("f", 16, Floats, {}, {}).may_hold_ints
    assert TableInfo("l", 16, Loose, {}, {}).may_hold_ints
    assert TableInfo("d", 16, Doc, {}, {}).may_hold_ints  # level: int
    with fdb.open(None, floats) as db:
        doc_id = db.run(fdb.mutation(lambda db: db.insert("f", {"embedding": [2**70, 1]})))
        stored = db.run(fdb.query(lambda db: db.get(doc_id)))
        assert stored.embedding == [float(2**70), 1.0]  # a float field holds floats
    with (
        fdb.open(None, fdb.Schema(l=fdb.table(Loose))) as db,
        pytest.raises(fdb.ValidationError, match="64 bits"),
    ):
        db.run(fdb.mutation(lambda db: db.insert("l", {"embedding": [1.0], "extra": [2**70]})))


def test_dropping_a_removed_table_drops_its_vector_index(tmp_path: Path) -> None:
    path = tmp_path / "app.db"
    with fdb.open(path, schema) as db:
        db.run(add, embedding=[1.0] * DIMS)
    with fdb.open(path, fdb.Schema(others=fdb.table(Other))) as db:
        assert raw_sql(db, "SELECT count(*) FROM sqlite_schema WHERE name LIKE 'docs$vec$%'")[0][0] > 0
        db.drop_table("docs")
        assert raw_sql(db, "SELECT name FROM sqlite_schema WHERE name LIKE 'docs$%'") == []


def test_an_array_query_vector_is_taken_as_its_list(vdb: fdb.Database) -> None:
    # numpy arrays, like array.array (no numpy in the test extra), have tolist().
    doc = vdb.run(add, embedding=[0.5] * DIMS)
    found = vdb.vector_search("docs", "by_embedding", array("f", [1.0] * DIMS), limit=1)
    assert [r.id for r in found] == [doc] and found[0].score == pytest.approx(1.0, abs=1e-6)
