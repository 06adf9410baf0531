"""``Writer.insert_many``: the same as a loop of ``insert`` (the reference), stored in batches."""

from __future__ import annotations

from typing import Any

import pytest

import fusiondb as fdb
from fusiondb.transaction import writer
from tests.models import Task, read, schema


@fdb.mutation
def loop(db: fdb.Writer, docs: list[Any]) -> list[str]:
    return [db.insert("tasks", d) for d in docs]


@fdb.mutation
def many(db: fdb.Writer, docs: list[Any]) -> list[str]:
    return db.insert_many("tasks", docs)


def stored(db: fdb.Database) -> list[tuple[str, dict[str, Any]]]:
    return [(d.pop("id"), {k: v for k, v in d.items() if k != "creation_time"})
            for d in read(db, lambda r: r.query("tasks").as_dicts().collect())]


@pytest.mark.parametrize("n", [0, 1, 7, 25])
def test_insert_many_stores_what_a_loop_of_insert_stores(n: int, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(writer, "INSERT_BATCH", 4)  # several batches and a partial one
    docs: list[Any] = [
        {"text": f"t{i}", "user_id": f"u{i % 3}", "priority": i % 4} if i % 2 else
        Task(text=f"t{i}", user_id=f"u{i % 3}", priority=i % 4)
        for i in range(n)
    ]
    a, b = fdb.open(None, schema), fdb.open(None, schema)
    try:
        ids_a, ids_b = a.run(loop, docs=docs), b.run(many, docs=docs)
        assert ids_a == ids_b and stored(a) == stored(b)
        times = [d.creation_time for d in read(b, lambda r: r.query("tasks").collect())]
        assert times == sorted(times) and len(set(times)) == n  # creation order is insertion order
        for db in (a, b):
            got = read(db, lambda r: r.query("tasks").with_index(
                "by_user_priority", lambda q: q.eq("user_id", "u1").gte("priority", 2)).collect())
            want = sorted((i % 4, i) for i in range(n) if i % 3 == 1 and i % 4 >= 2)
            assert [t.text for t in got] == [f"t{i}" for _, i in want]
    finally:
        a.close()
        b.close()


def test_insert_many_write_set_reaches_subscriptions(tmp_path: Any) -> None:
    db = fdb.open(tmp_path / "x.db", schema)
    runs: list[int] = []

    @fdb.query
    def u1(r: fdb.Reader) -> list[str]:
        runs.append(1)
        tasks = r.query("tasks").with_index("by_user", lambda q: q.eq("user_id", "u1"))
        return [t.text for t in tasks.collect()]

    try:
        sub = db.subscribe(u1)
        assert db.wait_idle()
        db.run(many, docs=[{"text": "x", "user_id": "u2"}])
        assert db.wait_idle() and len(runs) == 1  # not its range
        db.run(many, docs=[{"text": "y", "user_id": "u2"}, {"text": "z", "user_id": "u1"}])
        assert db.wait_idle() and len(runs) == 2 and sub.value == ["z"]
    finally:
        db.close()


def test_an_invalid_document_is_named_and_those_before_it_are_stored(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(writer, "INSERT_BATCH", 2)
    docs: list[Any] = [{"text": f"t{i}", "user_id": "u"} for i in range(5)]
    docs[3] = {"text": "bad", "user_id": 12}

    @fdb.mutation
    def catch(db: fdb.Writer) -> str:
        try:
            db.insert_many("tasks", docs)
        except fdb.ValidationError as exc:
            assert exc.field == "user_id" and exc.table == "tasks"
            return str(exc)
        return ""

    db = fdb.open(None, schema)
    try:
        message = db.run(catch)
        assert message.startswith("insert_many(): document 3: a document for table 'tasks' is invalid")
        assert [t.text for t in read(db, lambda r: r.query("tasks").collect())] == ["t0", "t1", "t2"]
        with pytest.raises(fdb.ValidationError, match="document 3"):
            db.run(many, docs=docs)  # uncaught: the whole mutation rolls back
        assert len(read(db, lambda r: r.query("tasks").collect())) == 3
    finally:
        db.close()


def test_a_too_large_document_is_named_too() -> None:
    docs: list[Any] = [{"text": f"t{i}", "user_id": "u"} for i in range(4)]
    docs[2] = {"text": "x" * (1 << 20), "user_id": "u"}

    @fdb.mutation
    def catch(db: fdb.Writer) -> str:
        try:
            db.insert_many("tasks", docs)
        except fdb.DocumentTooLarge as exc:
            return str(exc)
        return ""

    db = fdb.open(None, schema)
    try:
        assert db.run(catch).startswith("insert_many(): document 2: a document for table 'tasks' is")
        assert [t.text for t in read(db, lambda r: r.query("tasks").collect())] == ["t0", "t1"]
    finally:
        db.close()


def test_encode_many_is_encode_of_each() -> None:
    # The batch path against its reference, encode() per document.
    from fusiondb.core.documents import encode, encode_many
    from fusiondb.core.tableinfo import TableInfo

    t = schema.tables["tasks"]
    info = TableInfo("tasks", 16, t.model, t.indexes, t.search_indexes)
    datas = [{"text": f"t{i}", "user_id": f"u{i}", "priority": i, "completed": i % 2 == 0} for i in range(50)]
    assert encode_many(info, datas, {16: "tasks"}) == [encode(info, d, {16: "tasks"})[0] for d in datas]
