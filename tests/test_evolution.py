"""Schema evolution: what applies by itself, what is checked first, what is refused, and how.

Every case opens a file with one model, writes, closes, and opens it again with another.
"""

from __future__ import annotations

import hashlib
import multiprocessing
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import apsw
import pydantic
import pytest

import fusiondb as fdb
from fusiondb.evolution.relax import relaxes
from tests import evolution_procs as procs


class V1(fdb.Document):
    text: str
    user: str


def schema_of(model: type[fdb.Document], **indexes: list[str]) -> fdb.Schema:
    tdef = fdb.table(model)
    for name, fields in indexes.items():
        tdef = tdef.index(name, fields)
    return fdb.Schema(tasks=tdef)


@fdb.mutation
def add(db: fdb.Writer, docs: list[dict[str, Any]]) -> list[str]:
    return [db.insert("tasks", d) for d in docs]


@fdb.query
def all_docs(db: fdb.Reader) -> list[Any]:
    return db.query("tasks").collect()


@fdb.mutation
def patch(db: fdb.Writer, doc_id: str, fields: dict[str, Any]) -> None:
    db.patch(doc_id, fields)


@fdb.mutation
def replace(db: fdb.Writer, doc_id: str, doc: dict[str, Any]) -> None:
    db.replace(doc_id, doc)


def seed(
    path: Path, model: type[fdb.Document], docs: list[dict[str, Any]], **indexes: list[str]
) -> list[str]:
    db = fdb.open(path, schema_of(model, **indexes))
    try:
        ids: list[str] = db.run(add, docs=docs)
        return ids
    finally:
        db.close()


def kinds(db: fdb.Database) -> list[tuple[str, str]]:
    return [(c.kind, c.table) for c in db.schema_changes if not c.table.startswith("_")]


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def sql_indexes(path: Path) -> set[str]:
    conn = apsw.Connection(str(path))
    try:
        return {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
    finally:
        conn.close()


def integrity(path: Path) -> str:
    conn = apsw.Connection(str(path))
    try:
        return str(conn.execute("PRAGMA integrity_check").fetchone()[0])  # type: ignore[index]
    finally:
        conn.close()


IdOfA = fdb.Id["a"]
IdOfB = fdb.Id["b"]
DOCS = [{"text": f"t{i}", "user": f"u{i % 3}"} for i in range(30)]


# -- applies by itself -------------------------------------------------------------------


def test_new_table_is_created_and_existing_data_kept(tmp_path: Path) -> None:
    path = tmp_path / "a.db"
    ids = seed(path, V1, DOCS)

    class Note(fdb.Document):
        body: str

    with fdb.open(path, fdb.Schema(tasks=fdb.table(V1), notes=fdb.table(Note))) as db:
        assert kinds(db) == [("add_table", "notes")]
        assert [t.id for t in db.run(all_docs)] == ids
        note_id = db.run(fdb.mutation(lambda db: db.insert("notes", {"body": "x"})))
        assert db.run(fdb.query(lambda db: db.get(note_id))).body == "x"


def test_new_optional_field_and_field_with_default_apply_without_a_check(tmp_path: Path) -> None:
    path = tmp_path / "a.db"
    seed(path, V1, DOCS)

    class V2(fdb.Document):
        text: str
        user: str
        note: str | None = None
        priority: int = 2

    with fdb.open(path, schema_of(V2)) as db:
        (change,) = db.schema_changes
        assert change.kind == "change_fields" and change.checked is None
        assert "added: note, priority" in change.detail
        docs = db.run(all_docs)
        assert {(d.note, d.priority) for d in docs} == {(None, 2)}


def test_new_index_on_a_field_with_a_default_finds_old_documents(tmp_path: Path) -> None:
    path = tmp_path / "a.db"
    seed(path, V1, DOCS)

    class V2(fdb.Document):
        text: str
        user: str
        priority: int = 2

    @fdb.query
    def by_priority(db: fdb.Reader, p: int) -> list[Any]:
        return db.query("tasks").with_index("by_priority", lambda q: q.eq("priority", p)).collect()

    with fdb.open(path, schema_of(V2, by_priority=["priority"])) as db:
        assert len(db.run(by_priority, p=2)) == len(DOCS)
        db.run(add, docs=[{"text": "new", "user": "u", "priority": 5}])
        assert [d.text for d in db.run(by_priority, p=5)] == ["new"]
        assert len(db.run(by_priority, p=2)) == len(DOCS)


def test_new_index_is_built_with_progress_and_used(tmp_path: Path) -> None:
    path = tmp_path / "a.db"
    docs = [{"text": f"t{i}", "user": f"u{i % 10}"} for i in range(3000)]
    seed(path, V1, docs)
    calls: list[tuple[str, int, int]] = []

    @fdb.query
    def by_user(db: fdb.Reader, user: str) -> list[Any]:
        return db.query("tasks").with_index("by_user", lambda q: q.eq("user", user)).collect()

    with fdb.open(path, schema_of(V1, by_user=["user"]), progress=lambda *a: calls.append(a)) as db:
        assert kinds(db) == [("add_index", "tasks")]
        assert [d.text for d in db.run(by_user, user="u3")] == [f"t{i}" for i in range(3, 3000, 10)]
    assert "tasks$by_user" in sql_indexes(path)
    assert calls[0] == ("building index tasks.by_user", 0, 3000)
    assert calls[-1] == ("building index tasks.by_user", 3000, 3000)
    done = [c[1] for c in calls]
    assert len(calls) > 3 and done == sorted(done)  # reported during the build, never backwards


def test_removed_and_changed_indexes(tmp_path: Path) -> None:
    path = tmp_path / "a.db"
    seed(path, V1, DOCS, by_user=["user"], by_text=["text"])
    assert {"tasks$by_user", "tasks$by_text"} <= sql_indexes(path)
    with fdb.open(path, schema_of(V1, by_user=["user", "text"])) as db:
        assert ("drop_index", "tasks") in kinds(db)
        got = db.run(
            fdb.query(
                lambda db: db.query("tasks")
                .with_index("by_user", lambda q: q.eq("user", "u1").gte("text", "t2"))
                .collect()
            )
        )
        assert sorted(d.text for d in got) == sorted(
            d["text"] for d in DOCS if d["user"] == "u1" and d["text"] >= "t2"
        )
    names = sql_indexes(path)
    assert "tasks$by_text" not in names and "tasks$by_user" in names


def test_relaxed_type_applies_without_a_check(tmp_path: Path) -> None:
    path = tmp_path / "a.db"

    class Before(fdb.Document):
        count: int
        kind: Literal["a", "b"]

    class After(fdb.Document):
        count: float | None
        kind: Literal["a", "b", "c"] | int

    seed(path, Before, [{"count": 3, "kind": "a"}])
    with fdb.open(path, schema_of(After)) as db:
        (change,) = db.schema_changes
        assert change.checked is None
        assert db.run(all_docs)[0].count == 3.0


# -- checked first -----------------------------------------------------------------------


def test_required_field_is_refused_with_ids_and_nothing_changes(tmp_path: Path) -> None:
    path = tmp_path / "a.db"
    ids = seed(path, V1, DOCS)
    before = sha256(path)

    class V2(fdb.Document):
        text: str
        user: str
        level: int

    with pytest.raises(fdb.SchemaMismatch) as err:
        fdb.open(path, schema_of(V2, by_level=["level"]))
    exc = err.value
    assert exc.table == "tasks" and exc.count == len(DOCS)
    assert exc.ids == ids[:10]
    assert all("level" in message and "required" in message for _, message in exc.failures)
    assert ids[0] in str(exc) and "nothing was changed" in str(exc)
    assert sha256(path) == before  # byte for byte
    assert not Path(f"{path}-wal").exists() or Path(f"{path}-wal").stat().st_size == 0
    with fdb.open(path, schema_of(V1)) as db:  # still the old schema, still usable
        assert db.schema_changes == []
        db.run(add, docs=[{"text": "more", "user": "u"}])
        assert len(db.run(all_docs)) == len(DOCS) + 1


def test_narrowed_type_counts_only_failing_documents(tmp_path: Path) -> None:
    path = tmp_path / "a.db"

    class Before(fdb.Document):
        status: str

    class After(fdb.Document):
        status: Literal["open", "done"]

    statuses = ["open", "done", "later", "open", "never"]
    ids = seed(path, Before, [{"status": s} for s in statuses])
    with pytest.raises(fdb.SchemaMismatch) as err:
        fdb.open(path, schema_of(After))
    assert err.value.count == 2
    assert err.value.ids == [ids[2], ids[4]]
    # Once the data fits, the same change applies (after checking every document).
    with fdb.open(path, schema_of(Before)) as db:
        db.run(patch, doc_id=ids[2], fields={"status": "open"})
        db.run(patch, doc_id=ids[4], fields={"status": "done"})
    with fdb.open(path, schema_of(After)) as db:
        (change,) = db.schema_changes
        assert change.checked == len(statuses)


def test_changed_id_target_is_checked(tmp_path: Path) -> None:
    path = tmp_path / "a.db"

    class A(fdb.Document):
        x: int = 0

    class RefA(fdb.Document):
        ref: IdOfA

    class RefB(fdb.Document):
        ref: IdOfB

    with fdb.open(path, fdb.Schema(a=fdb.table(A), b=fdb.table(A), refs=fdb.table(RefA))) as db:
        a_id = db.run(fdb.mutation(lambda db: db.insert("a", {})))
        ref_id = db.run(fdb.mutation(lambda db: db.insert("refs", {"ref": a_id})))
    with pytest.raises(fdb.SchemaMismatch) as err:
        fdb.open(path, fdb.Schema(a=fdb.table(A), b=fdb.table(A), refs=fdb.table(RefB)))
    assert err.value.table == "refs" and err.value.ids == [ref_id]
    assert "expected an id of table 'b'" in err.value.failures[0][1]


def test_validator_change_is_checked(tmp_path: Path) -> None:
    path = tmp_path / "a.db"
    ids = seed(path, V1, [{"text": "", "user": "u"}, {"text": "x", "user": "u"}])

    class Strict(fdb.Document):
        text: str
        user: str

        @pydantic.field_validator("text")
        @classmethod
        def not_empty(cls, v: str) -> str:
            if not v:
                raise ValueError("text must not be empty")
            return v

    with pytest.raises(fdb.SchemaMismatch) as err:
        fdb.open(path, schema_of(Strict))
    assert err.value.ids == [ids[0]]


def test_forbidding_extras_with_leftover_fields_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "a.db"
    seed(path, V1, DOCS[:3])

    class NoUser(fdb.Document):
        model_config = pydantic.ConfigDict(extra="forbid")
        text: str

    with pytest.raises(fdb.SchemaMismatch) as err:
        fdb.open(path, schema_of(NoUser))
    assert err.value.count == 3 and "user" in err.value.failures[0][1]


def test_search_index_added_to_a_populated_table_and_removed(tmp_path: Path) -> None:
    path = tmp_path / "a.db"
    seed(path, V1, [{"text": "buy milk", "user": "a"}, {"text": "walk dog", "user": "b"},
                    {"text": "buy bread", "user": "b"}])

    @fdb.query
    def search(db: fdb.Reader, words: str, user: str) -> list[str]:
        found = db.query("tasks").with_search_index(
            "search_text", lambda q: q.search("text", words).eq("user", user)
        )
        return [d.text for d in found.take(10)]

    searchable = fdb.Schema(
        tasks=fdb.table(V1).search_index("search_text", search_field="text", filter_fields=["user"])
    )
    with fdb.open(path, searchable) as db:
        assert kinds(db) == [("add_search_index", "tasks")]
        assert db.run(search, words="buy", user="b") == ["buy bread"]
        db.run(add, docs=[{"text": "buy eggs", "user": "b"}])  # kept in sync from now on
        assert sorted(db.run(search, words="buy", user="b")) == ["buy bread", "buy eggs"]
    fts_tables = {n for n in sql_tables(path) if "$fts$" in n}
    assert "tasks$fts$search_text" in fts_tables
    with fdb.open(path, schema_of(V1)) as db:
        assert kinds(db) == [("drop_search_index", "tasks")]
    assert not {n for n in sql_tables(path) if "$fts$" in n}


def sql_tables(path: Path) -> set[str]:
    conn = apsw.Connection(str(path))
    try:
        return {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    finally:
        conn.close()


# -- never loses data --------------------------------------------------------------------


def test_removed_table_keeps_its_documents_until_drop_table(tmp_path: Path) -> None:
    path = tmp_path / "a.db"
    ids = seed(path, V1, DOCS)

    class Note(fdb.Document):
        body: str

    notes_only = fdb.Schema(notes=fdb.table(Note))
    with fdb.open(path, notes_only) as db:
        assert ("remove_table", "tasks") in kinds(db)
        status = {t.name: t for t in db.system.tables()}
        assert status["tasks"].removed and status["tasks"].documents == len(DOCS)
        assert not status["notes"].removed
        rows = db.system.read("tasks")
        assert [r["id"] for r in rows] == ids and rows[0]["text"] == "t0"
        assert len(db.system.read("tasks", limit=5)) == 5
        with pytest.raises(fdb.SchemaError, match=r"removed from the schema.*db.system.read"):
            db.run(fdb.query(lambda db: db.query("tasks").collect()))
        with pytest.raises(fdb.SchemaError, match="in the current schema"):
            db.drop_table("notes")
        with pytest.raises(fdb.SchemaError, match="no table 'nope'"):
            db.drop_table("nope")
    # Declared again: the same documents, the same ids.
    with fdb.open(path, schema_of(V1)) as db:
        assert ("restore_table", "tasks") in kinds(db)
        assert [t.id for t in db.run(all_docs)] == ids
    with fdb.open(path, notes_only) as db:
        db.drop_table("tasks")
        assert "tasks" not in {t.name for t in db.system.tables()}
    with fdb.open(path, schema_of(V1)) as db:  # a new, empty table with a new number
        assert db.run(all_docs) == []
        new_id = db.run(add, docs=[{"text": "n", "user": "u"}])[0]
        assert new_id not in ids
        assert db.run(fdb.query(lambda db: db.normalize_id("tasks", ids[0]))) is None


def test_removed_field_stays_in_documents_patch_keeps_it_replace_drops_it(tmp_path: Path) -> None:
    path = tmp_path / "a.db"
    ids = seed(path, V1, DOCS[:3])

    class TextOnly(fdb.Document):
        text: str

    with fdb.open(path, schema_of(TextOnly)) as db:
        stored = {r["id"]: r for r in db.system.read("tasks")}
        assert stored[ids[0]]["user"] == "u0"
        db.run(patch, doc_id=ids[0], fields={"text": "patched"})
        db.run(replace, doc_id=ids[1], doc={"text": "replaced"})
        db.run(patch, doc_id=ids[2], fields={"user": None})
        stored = {r["id"]: r for r in db.system.read("tasks")}
        assert stored[ids[0]] == {**stored[ids[0]], "text": "patched", "user": "u0"}
        assert "user" not in stored[ids[1]] and stored[ids[1]]["text"] == "replaced"
        assert "user" not in stored[ids[2]]
    # The field comes back: documents that kept it still have their value.
    class UserBack(fdb.Document):
        text: str
        user: str | None = None

    with fdb.open(path, schema_of(UserBack)) as db:
        assert db.schema_changes[0].checked == 3  # a retired field's name: checked, not trusted
        assert [d.user for d in db.run(all_docs)] == ["u0", None, None]


# -- escape hatches ----------------------------------------------------------------------


class Renamed(fdb.Document):
    title: str
    user: str


def test_schema_validation_false_opens_and_the_next_checked_open_catches_up(tmp_path: Path) -> None:
    path = tmp_path / "a.db"
    ids = seed(path, V1, DOCS[:4])
    with fdb.open(path, schema_of(Renamed), schema_validation=False) as db:
        assert db.schema_changes[0].checked is None
        with pytest.raises(fdb.ValidationError, match="title"):
            db.run(all_docs)  # the documented risk: stored documents the model rejects
        assert [r["text"] for r in db.system.read("tasks")] == [d["text"] for d in DOCS[:4]]
    with pytest.raises(fdb.SchemaMismatch):  # the unchecked change is checked now
        fdb.open(path, schema_of(Renamed))
    with fdb.open(path, schema_of(Renamed), schema_validation=False) as db:
        result = db.migrate("tasks", lambda d: {"title": d["text"], "user": d["user"]}, name="r")
        assert (result.processed, result.changed, result.already_done) == (4, 4, False)
    with fdb.open(path, schema_of(Renamed)) as db:
        assert db.schema_changes[0].checked == 4
        assert [t.title for t in db.run(all_docs)] == ["t0", "t1", "t2", "t3"]
        assert [t.id for t in db.run(all_docs)] == ids


def test_migrate_rewrites_in_batches_and_notifies_subscribers(tmp_path: Path) -> None:
    path = tmp_path / "a.db"
    seed(path, V1, DOCS)

    class Both(fdb.Document):
        text: str | None = None
        title: str | None = None
        user: str

    @fdb.query
    def titles(db: fdb.Reader) -> list[str | None]:
        return [d.title for d in db.query("tasks").collect()]

    def to_title(doc: dict[str, Any]) -> dict[str, Any] | None:
        if doc["user"] == "u2":
            return None  # left alone
        return {"title": doc["text"], "user": doc["user"]}

    calls: list[tuple[str, int, int]] = []
    with fdb.open(path, schema_of(Both)) as db:
        sub = db.subscribe(titles)
        values: list[Any] = []
        sub.changed.connect(lambda _sender, value=None, **kw: values.append(value), weak=False)
        result = db.migrate("tasks", to_title, batch_size=7, progress=lambda *a: calls.append(a))
        assert result.name == f"tasks:{to_title.__module__}.{to_title.__qualname__}"
        assert (result.processed, result.changed) == (30, 20)
        assert db.wait_idle()
        expected = [d["text"] if d["user"] != "u2" else None for d in DOCS]
        assert sub.value == expected and values[-1] == expected
        assert [c[1] for c in calls] == [0, 7, 14, 21, 28, 30]
        assert db.migrate("tasks", to_title).already_done
        sub.close()


def test_migrate_stops_on_error_and_resumes_where_it_stopped(tmp_path: Path) -> None:
    path = tmp_path / "a.db"
    seed(path, V1, DOCS)
    seen: list[str] = []

    def upper(doc: dict[str, Any]) -> dict[str, Any]:
        if doc["text"] == "t12" and "t12" not in seen:
            seen.append("t12")
            raise RuntimeError("boom")
        seen.append(doc["text"])
        return {**doc, "text": doc["text"].upper()}

    with fdb.open(path, schema_of(V1)) as db:
        with pytest.raises(RuntimeError, match="boom"):
            db.migrate("tasks", upper, batch_size=5, name="upper")
        texts = [d.text for d in db.run(all_docs)]
        assert texts[:10] == [f"T{i}" for i in range(10)] and texts[10:] == [f"t{i}" for i in range(10, 30)]
        result = db.migrate("tasks", upper, batch_size=5, name="upper")
        assert result.resumed and result.processed == 30
        assert [d.text for d in db.run(all_docs)] == [f"T{i}" for i in range(30)]
        # Each document went through fn once per committed batch: t10, t11 ran twice only
        # because their batch was rolled back.
        assert seen.count("t0") == 1 and seen.count("t10") == 2


def test_migrate_rejects_what_it_cannot_resume(tmp_path: Path) -> None:
    with fdb.open(None, schema_of(V1)) as db:
        with pytest.raises(ValueError, match="name="):
            db.migrate("tasks", lambda d: d)
        with pytest.raises(fdb.SchemaError):
            db.migrate("nope", str.upper, name="x")
        db.run(add, docs=DOCS[:2])
        with pytest.raises(fdb.ValidationError):
            db.migrate("tasks", lambda d: {"text": 1}, name="bad")
        assert [d.text for d in db.run(all_docs)] == ["t0", "t1"]


# -- the proof of "relaxing" -------------------------------------------------------------


def _schema(model: type[pydantic.BaseModel]) -> dict[str, Any]:
    return model.model_json_schema(mode="validation")


class _Addr(pydantic.BaseModel):
    city: str


class _Addr2(pydantic.BaseModel):
    city: str
    zip: str | None = None


def _model(**fields: Any) -> dict[str, Any]:
    return _schema(pydantic.create_model("M", **fields))


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ({"a": (int, ...)}, {"a": (int, ...)}, True),
        ({"a": (int, ...)}, {"a": (int | None, None)}, True),
        ({"a": (int, ...)}, {"a": (float, ...)}, True),
        ({"a": (int, ...)}, {"a": (str, ...)}, False),
        ({"a": (int | None, None)}, {"a": (int, ...)}, False),
        ({"a": (int, ...)}, {"a": (int, ...), "b": (str | None, None)}, True),
        ({"a": (int, ...)}, {"a": (int, ...), "b": (str, ...)}, False),
        ({"a": (int, ...)}, {"a": (int, 0)}, True),
        ({"a": (int, 0)}, {"a": (int, ...)}, False),
        ({"a": (Literal["x"], ...)}, {"a": (Literal["x", "y"], ...)}, True),
        ({"a": (Literal["x", "y"], ...)}, {"a": (Literal["x"], ...)}, False),
        ({"a": (Literal["x", "y"], ...)}, {"a": (str, ...)}, True),
        ({"a": (str, ...)}, {"a": (Literal["x"], ...)}, False),
        ({"a": (list[int], ...)}, {"a": (list[int | None], ...)}, True),
        ({"a": (list[int | None], ...)}, {"a": (list[int], ...)}, False),
        ({"a": (_Addr, ...)}, {"a": (_Addr | None, None)}, True),
        ({"a": (_Addr, ...)}, {"a": (_Addr2, ...)}, False),  # nested new field: not tracked
        ({"a": (int, ...)}, {}, True),
    ],
)
def test_relaxes(old: dict[str, Any], new: dict[str, Any], expected: bool) -> None:
    assert relaxes(_model(**old), _model(**new)) is expected


def test_relaxes_distrusts_retired_fields_and_forbidden_extras() -> None:
    old, new = _model(a=(int, ...)), _model(a=(int, ...), b=(int | None, None))
    assert relaxes(old, new) and not relaxes(old, new, frozenset({"b"}))
    forbid = _schema(pydantic.create_model("F", __config__=pydantic.ConfigDict(extra="forbid"), a=(int, ...)))
    assert not relaxes(old, forbid)
    assert relaxes(forbid, forbid)


# -- concurrency and crashes -------------------------------------------------------------


def _spawn(target: Callable[..., Any], *args: Any) -> Any:
    proc = multiprocessing.get_context("spawn").Process(target=target, args=args)
    proc.start()
    return proc


def _wait_for(path: Path, proc: Any, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert proc.is_alive(), "the child died before reaching the marker"
        assert time.monotonic() < deadline, "the child never reached the marker"
        time.sleep(0.01)


def test_older_process_gets_schema_error_not_corruption(tmp_path: Path) -> None:
    path = tmp_path / "a.db"
    procs.populate(str(path), 20)
    old = fdb.open(path, procs.v1)
    try:
        old.run(procs.fill, count=1)
        # Another process adds a table: nothing this one declares changed, it carries on.
        proc = _spawn(procs.open_with, str(path), "v1_plus_table")
        proc.join(60)
        assert proc.exitcode == 0
        old.run(procs.fill, count=1)
        # Another process changes the items table: this one may not write (or read) it now.
        proc = _spawn(procs.open_with, str(path), "v2_index")
        proc.join(60)
        assert proc.exitcode == 0
        with pytest.raises(fdb.SchemaError, match=r"changed by another process.*items"):
            old.run(procs.fill, count=1)
        with pytest.raises(fdb.SchemaError, match="changed by another process"):
            old.run(fdb.query(lambda db: db.query("items").collect()))
    finally:
        old.close()
    with fdb.open(path, procs.v2_index) as db:
        assert len(db.run(fdb.query(lambda db: db.query("items").collect()))) == 22
    assert integrity(path) == "ok"


def test_live_query_survives_unrelated_changes_and_reports_a_stale_schema(tmp_path: Path) -> None:
    path = tmp_path / "a.db"
    procs.populate(str(path), 20)

    @fdb.query
    def count(db: fdb.Reader) -> int:
        return len(db.query("items").collect())

    with fdb.open(path, procs.v1) as db:
        sub = db.subscribe(count)
        assert sub.value == 20
        # Another process adds a table, then writes items: the live query follows.
        proc = _spawn(procs.open_and_fill, str(path), "v1_plus_table", 3)
        proc.join(60)
        assert proc.exitcode == 0
        deadline = time.monotonic() + 10
        while sub.value != 23 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert sub.value == 23 and sub.error is None
        # Another process changes the items table and writes: the re-run reports the change.
        proc = _spawn(procs.open_and_fill, str(path), "v2_index", 2)
        proc.join(60)
        assert proc.exitcode == 0
        while sub.error is None and time.monotonic() < deadline + 10:
            time.sleep(0.01)
        assert isinstance(sub.error, fdb.SchemaError)
        assert "changed by another process" in str(sub.error)
        assert sub.value == 23  # the last value computed with a schema that still held
        sub.close()


def test_evolution_racing_a_writer_is_serialized(tmp_path: Path) -> None:
    path = tmp_path / "a.db"
    procs.populate(str(path), 2000)
    stop = tmp_path / "stop"
    queue = multiprocessing.get_context("spawn").Queue()
    proc = _spawn(procs.write_until_stale, str(path), str(stop), queue)
    try:
        deadline = time.monotonic() + 30
        while _count(path) < 2050 and time.monotonic() < deadline:
            time.sleep(0.01)
        with fdb.open(path, procs.v2_index) as db:  # adds an index while the child writes
            assert [c.kind for c in db.schema_changes] == ["add_index"]
            written, outcome = queue.get(timeout=30)
            assert outcome.startswith("SchemaError") and written >= 50
            total = len(db.run(fdb.query(lambda db: db.query("items").collect())))
            by_user = sum(len(db.run(items_of_user, user=f"u{i}")) for i in range(7))
            assert total == 2000 + written == by_user
    finally:
        stop.touch()
        proc.join(30)
    assert integrity(path) == "ok"


@fdb.query
def items_of_user(db: fdb.Reader, user: str) -> list[Any]:
    return db.query("items").with_index("by_user", lambda q: q.eq("user", user)).collect()


def _count(path: Path) -> int:
    conn = apsw.Connection(str(path))
    try:
        return int(conn.execute("SELECT count(*) FROM items").fetchone()[0])  # type: ignore[index]
    finally:
        conn.close()


def test_kill_during_index_build_leaves_a_database_that_opens_and_finishes(tmp_path: Path) -> None:
    path = tmp_path / "a.db"
    ids = procs.populate(str(path), 5000)
    marker = tmp_path / "building"
    proc = _spawn(procs.build_index_then_hang, str(path), str(marker))
    _wait_for(marker, proc)
    os.kill(proc.pid, signal.SIGKILL)
    proc.join(10)
    assert proc.exitcode == -signal.SIGKILL
    assert integrity(path) == "ok"
    with fdb.open(path, procs.v1) as db:  # rolled back: the old schema, nothing to do
        assert db.schema_changes == []
    with fdb.open(path, procs.v2_index) as db:  # and the build runs again, to the end
        assert [c.kind for c in db.schema_changes] == ["add_index"]
        got = db.run(fdb.query(
            lambda db: db.query("items").with_index("by_user", lambda q: q.eq("user", "u3")).collect()
        ))
        assert [d.id for d in got] == ids[3::7]
    assert integrity(path) == "ok"


def test_kill_during_migrate_resumes_without_repeating_a_batch(tmp_path: Path) -> None:
    path = tmp_path / "a.db"
    ids = procs.populate(str(path), 400)
    marker = tmp_path / "migrating"
    proc = _spawn(procs.migrate_then_hang, str(path), str(marker), 175)
    _wait_for(marker, proc)
    os.kill(proc.pid, signal.SIGKILL)
    proc.join(10)
    assert proc.exitcode == -signal.SIGKILL
    assert integrity(path) == "ok"
    with fdb.open(path, procs.renamed) as db:
        rows = db.system.read("items")
        # Batches of 50: three committed, the fourth (with document 175) rolled back.
        assert [r.get("runs", 0) for r in rows] == [1] * 150 + [0] * 250
        result = db.migrate("items", procs.rename, batch_size=50, name="rename")
        assert result.resumed and result.processed == 400 and result.changed == 400
        docs = db.run(fdb.query(lambda db: db.query("items").collect()))
        assert [d.runs for d in docs] == [1] * 400  # no document migrated twice
        assert [d.title for d in docs] == [f"item{i}" for i in range(400)]
        assert [d.id for d in docs] == ids


VALIDATOR_SOURCE = '''
import pydantic
import fusiondb as fdb

class Checked(fdb.Document):
    text: str

    @pydantic.field_validator("text")
    @classmethod
    def known(cls, v):
        if v not in {"a", "b", "c", "d", "e"} or any(ch.isdigit() for ch in v):
            raise ValueError("unknown")
        return (lambda x: x)(v)
'''


def test_validator_fingerprint_is_the_same_in_every_process() -> None:
    script = VALIDATOR_SOURCE + (
        "\nfrom fusiondb.evolution.relax import validator_fingerprint\n"
        "print(validator_fingerprint(Checked))\n"
    )
    prints = {
        subprocess.run(
            [sys.executable, "-c", script], capture_output=True, text=True, check=True,
            env={**os.environ, "PYTHONHASHSEED": seed},
        ).stdout.strip()
        for seed in ("1", "2", "3")
    }
    assert len(prints) == 1 and len(next(iter(prints))) == 16
