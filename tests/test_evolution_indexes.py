"""Schema evolution of indexes: new ones are built (with progress) over the stored documents,
removed or changed ones are dropped or rebuilt, and search indexes are added to a populated
table and removed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import fusiondb as fdb
from tests.evolution_helpers import DOCS, V1, add, kinds, schema_of, seed, sql_indexes, sql_tables


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
