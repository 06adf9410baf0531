"""Bad input, fuzzed with Hypothesis over the public API.

Documents that violate their models, wrong types, huge strings, deep nesting, NaN/inf, lone
surrogates, odd field names, integers past 64 bits; malformed and foreign ids; invalid
ranges, unknown tables, indexes and fields; bad cursors; closed databases; re-entrant runs.
Each either works (a stored document reads back identically, as a model and as a dict) or
raises a typed ``fdb.FusionError`` (``TypeError`` for a call's own signature), writes nothing,
and leaves the database usable. ``make stress`` runs 10,000+ examples.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import fusiondb as fdb
from tests.models import Task, get_doc, read, write
from tests.stress_workers import integrity, record, scale


class Free(fdb.Document):
    data: dict[str, Any] = {}
    n: int = 0
    x: float = 0.0
    s: str = ""


fuzz_schema = fdb.Schema(
    tasks=fdb.table(Task).index("by_user_priority", ["user_id", "priority"]),
    free=fdb.table(Free).index("by_n", ["n"]).search_index("search", search_field="s"),
)
EXAMPLES = scale(60, 2_000)  # per property; five properties
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
COUNT = {"examples": 0}

keys = st.one_of(
    st.text(max_size=8),
    st.sampled_from(["", "$", "_", "$where", "a.b", "\x00", "id", "creation_time", "\ud800", "é", "text"]),
)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=2**63 - 2, max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(),
    st.text(max_size=3).map(lambda t: t + "\ud800"),
    st.just("x" * 2_000_000),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(keys, inner, max_size=4)),
    max_leaves=20,
)


def deep(n: int) -> Any:
    out: Any = 1
    for _ in range(n):
        out = {"d": out}
    return out


documents = st.one_of(
    st.dictionaries(keys, values, max_size=6),
    st.fixed_dictionaries(
        {"text": values, "user_id": values}, optional={"priority": values, "completed": values}
    ),
    st.fixed_dictionaries(
        {"data": st.dictionaries(keys, values, max_size=5)}, optional={"n": values, "x": values, "s": values}
    ),
    st.builds(lambda n: {"data": deep(n)}, st.integers(60, 400)),
    values,
)


@pytest.fixture(scope="module")
def fdb_file(tmp_path_factory: pytest.TempPathFactory) -> Any:
    path = tmp_path_factory.mktemp("fuzz") / "fuzz.db"
    db = fdb.open(path, fuzz_schema)
    yield db
    db.close()
    assert integrity(str(path)) == "ok"
    record("fuzz", examples=COUNT["examples"])


def _count(db: fdb.Database) -> int:
    return sum(s.documents for s in db.system.tables())


def _typed(exc: BaseException) -> bool:
    return isinstance(exc, fdb.FusionError) and bool(str(exc))


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return bool(a == b)


@FUZZ
@given(table=st.sampled_from(["tasks", "free"]), doc=documents)
def test_documents_store_identically_or_fail_typed(fdb_file: fdb.Database, table: str, doc: Any) -> None:
    db = fdb_file
    COUNT["examples"] += 1
    before = _count(db)
    try:
        doc_id = write(db, lambda w: w.insert(table, doc))
    except TypeError:
        raise
    except Exception as exc:
        assert _typed(exc), f"{type(exc).__name__}: {exc}"
        assert _count(db) == before
        return
    model = db.run(get_doc, doc_id=doc_id)
    as_dict = read(db, lambda r: [d for d in r.query(table).as_dicts().collect() if d["id"] == doc_id])[0]
    dumped = model.model_dump()
    for key in dumped:  # what the model holds reads back the same through as_dicts
        if key in as_dict:
            assert _same(dumped[key], as_dict[key]), (key, dumped[key], as_dict[key])
    write(db, lambda w: w.delete(doc_id))
    assert _count(db) == before


@FUZZ
@given(
    field=st.sampled_from(["user_id", "priority", "text", "nope", "", "creation_time"]),
    value=values,
    op=st.sampled_from(["eq", "gt", "gte", "lt", "lte"]),
    index=st.sampled_from(["by_user_priority", "by_creation_time", "nope", "BY_USER_PRIORITY"]),
)
def test_ranges_and_filters_fail_typed(
    fdb_file: fdb.Database, field: str, value: Any, op: str, index: str
) -> None:
    db = fdb_file
    COUNT["examples"] += 1
    for build in (
        lambda q: q.with_index(index, lambda r: getattr(r, op)(field, value)).collect(),
        lambda q: q.filter(lambda t: t.field(field) == value).take(3),
        lambda q: q.with_index("by_user_priority", lambda r: r.eq("user_id", value)).take(3),
    ):
        try:
            read(db, lambda r, b=build: b(r.query("tasks")))
        except TypeError:
            pass  # a value of a type no comparison takes (a dict, a list): a programming error
        except Exception as exc:
            assert _typed(exc), f"{type(exc).__name__}: {exc}"


@FUZZ
@given(
    cursor=st.one_of(
        st.text(),
        st.binary().map(lambda b: __import__("base64").urlsafe_b64encode(b).decode()),
        values.map(
            lambda v: (
                __import__("base64")
                .urlsafe_b64encode(
                    __import__("json").dumps(["tasks.by_creation_time", v], default=str).encode()
                )
                .decode()
            )
        ),
    ),
    n=st.one_of(st.integers(), st.integers(min_value=2**62, max_value=2**70)),
)
def test_cursors_and_limits_fail_typed(fdb_file: fdb.Database, cursor: str, n: int) -> None:
    db = fdb_file
    COUNT["examples"] += 1
    for build in (
        lambda q: q.paginate(cursor, 5),
        lambda q: q.paginate(None, n),
        lambda q: q.take(n),
        lambda q: q.paginate(None, 3, end_cursor=cursor),
    ):
        try:
            read(db, lambda r, b=build: b(r.query("tasks")))
        except Exception as exc:
            assert _typed(exc), f"{type(exc).__name__}: {exc}"
    try:
        db.system.read("tasks", limit=n)
    except Exception as exc:
        assert _typed(exc), f"{type(exc).__name__}: {exc}"


@FUZZ
@given(doc_id=st.one_of(st.text(), values), table=st.one_of(st.text(max_size=10), values))
def test_ids_and_table_names_fail_typed(fdb_file: fdb.Database, doc_id: Any, table: Any) -> None:
    db = fdb_file
    COUNT["examples"] += 1
    before = _count(db)
    calls = [
        lambda: db.run(get_doc, doc_id=doc_id),
        lambda: write(db, lambda w: w.patch(doc_id, {"text": "x"})),
        lambda: write(db, lambda w: w.delete(doc_id)),
        lambda: read(db, lambda r: r.query(table).take(1)),
        lambda: db.system.read(table),
        lambda: write(db, lambda w: w.insert(table, {})),
    ]
    for call in calls:
        try:
            call()
        except Exception as exc:
            assert _typed(exc), f"{type(exc).__name__}: {exc}"
    assert _count(db) == before


@FUZZ
@given(text=values, owner=values)
def test_search_terms_fail_typed(fdb_file: fdb.Database, text: Any, owner: Any) -> None:
    db = fdb_file
    COUNT["examples"] += 1
    try:
        read(db, lambda r: r.query("free").with_search_index("search", lambda q: q.search("s", text)).take(5))
    except Exception as exc:
        assert _typed(exc), f"{type(exc).__name__}: {exc}"


def test_closed_database_and_reentrant_runs(tmp_path: Path) -> None:
    db = fdb.open(tmp_path / "closed.db", fuzz_schema)
    with pytest.raises(fdb.FusionError, match="inside a running"):
        write(db, lambda w: read(db, lambda r: r.query("tasks").collect()))
    seen: list[BaseException] = []
    sub = db.subscribe(fdb.query(lambda r: r.query("tasks").collect()))

    def callback(value: Any) -> None:
        try:
            write(db, lambda w: w.insert("tasks", {"text": "from callback", "user_id": "u"}))
        except BaseException as exc:
            seen.append(exc)

    sub.changed.connect(callback)
    write(db, lambda w: w.insert("tasks", {"text": "a", "user_id": "u"}))
    assert db.wait_idle()
    assert all(_typed(e) for e in seen), seen
    db.close()
    for call in (
        lambda: read(db, lambda r: r.query("tasks").collect()),
        lambda: write(db, lambda w: w.insert("tasks", {"text": "a", "user_id": "u"})),
        lambda: db.subscribe(fdb.query(lambda r: 1)),
        lambda: db.system.tables(),
        lambda: db.migrate("tasks", lambda d: None, name="m"),
        lambda: db.storage.store(b"x"),
    ):
        with pytest.raises(fdb.DatabaseClosed):
            call()
    assert integrity(str(tmp_path / "closed.db")) == "ok"
