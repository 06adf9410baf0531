"""Opening a file of format 1 (``tests/fixtures/format1.fdb``, made by the code of the time with
``tests/make_format1_fixture.py``) upgrades it to format 2 in place, in one transaction."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import apsw
import orjson
import pytest

import fusiondb as fdb
from tests.make_format1_fixture import FIXTURE, ROWS, Item, schema
from tests.models import read


def copy(tmp_path: Path) -> Path:
    path = tmp_path / "old.fdb"
    shutil.copyfile(FIXTURE, path)
    return path


def sqlite_state(path: Path) -> tuple[int, set[str], set[str]]:
    """(catalog format, index names, generated column names of table items)."""
    conn = apsw.Connection(str(path))
    try:
        fmt = orjson.loads(conn.execute("SELECT value FROM _fdb_catalog WHERE key = 'format'").get)
        indexes = {str(r[0]) for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'index' AND name LIKE 'items$%'")}
        cols = {str(r[1]) for r in conn.execute("PRAGMA table_xinfo(items)") if str(r[1]).startswith("$")}
    finally:
        conn.close()
    return fmt, indexes, cols


def test_fixture_is_format_1() -> None:
    fmt, indexes, cols = sqlite_state(FIXTURE)
    assert fmt == 1
    assert "items$by_creation_time" in indexes and "$v" in cols


def test_a_format_1_file_upgrades_in_place(tmp_path: Path) -> None:
    path = copy(tmp_path)
    seen: list[tuple[str, int, int]] = []
    db = fdb.open(path, schema, progress=lambda task, done, total: seen.append((task, done, total)))
    try:
        kinds = [c.kind for c in db.schema_changes]
        assert kinds.count("upgrade_format") == 2  # items and _storage
        assert {"building index items.by_v", "building index items.by_n_name"} <= {t for t, _, _ in seen}
        by_v = read(db, lambda r: r.query("items").with_index("by_v").collect())
        # Convex's order now: null (and missing) < numbers < bool < str < list < dict.
        assert [d.v for d in by_v] == [None, None, -1, 2.5, 3, 1000, False, True, "a", "b", [1], {"k": 1}]
        assert [d.name for d in by_v][:2] == ["none", "no v"]  # ties in creation order
        got = read(db, lambda r: r.query("items").with_index(
            "by_n_name", lambda q: q.eq("n", 2).gt("name", "list")).collect())
        assert [d.name for d in got] == ["thousand", "two and a half"]
        assert [d.name for d in read(db, lambda r: r.query("items").collect())] == [
            *[r[0] for r in ROWS], "no v"]
        found = read(db, lambda r: r.query("items").with_search_index(
            "search_name", lambda q: q.search("name", "half")).collect())
        assert [d.name for d in found] == ["two and a half"]
        tags = read(db, lambda r: r.query("items").with_index(
            "by_tags", lambda q: q.gte("tags", ["b"])).collect())
        assert [d.tags for d in tags] == [["b"], ["b", "a"], ["c"], ["z"]]
        # Writes after the upgrade go to the new indexes.
        db.run(fdb.mutation(lambda w: w.insert("items", {"name": "new", "v": True})))
        got = read(db, lambda r: r.query("items").with_index("by_v", lambda q: q.eq("v", True)).collect())
        assert [d.name for d in got] == ["true", "new"]
    finally:
        db.close()
    fmt, indexes, cols = sqlite_state(path)
    assert fmt == 2
    assert indexes == {"items$by_v", "items$by_n_name", "items$by_tags"}
    assert "$v" not in cols and {"$v$t", "$v$c", "$n$t", "$n$v", "$name$t", "$name$v"} <= cols
    again = fdb.open(path, schema)  # upgraded once: nothing more to do
    assert again.schema_changes == []
    again.close()


class Strict(fdb.Document):
    name: str
    v: int | None = None  # the fixture holds strings and lists in v: refused
    n: int = 0
    tags: list[str] = []


def test_a_failed_open_leaves_the_file_in_format_1(tmp_path: Path) -> None:
    path = copy(tmp_path)
    strict = fdb.Schema(items=fdb.table(Strict).index("by_v", ["v"]))
    with pytest.raises(fdb.SchemaMismatch):
        fdb.open(path, strict)
    fmt, indexes, cols = sqlite_state(path)
    assert fmt == 1 and "items$by_creation_time" in indexes and "$v" in cols
    fdb.open(path, schema).close()  # and it still upgrades later
    assert sqlite_state(path)[0] == 2


def test_a_file_of_a_newer_format_is_refused(tmp_path: Path) -> None:
    path = copy(tmp_path)
    conn = apsw.Connection(str(path))
    conn.execute("UPDATE _fdb_catalog SET value = '3' WHERE key = 'format'")
    conn.close()
    with pytest.raises(fdb.SchemaError, match="newer fusiondb"):
        fdb.open(path, schema)


def test_upgrading_a_big_table_reports_progress(tmp_path: Path) -> None:
    path = copy(tmp_path)
    conn = apsw.Connection(str(path))
    with conn:  # format 1's generated columns and indexes keep up by themselves
        conn.executemany(
            "INSERT INTO items(creation_time, doc) VALUES (?, ?)",
            [(2e12 + i, orjson.dumps({"name": f"x{i}", "v": i % 7, "n": i % 3, "tags": []}).decode())
             for i in range(20_000)],
        )
    conn.close()
    seen: dict[str, list[int]] = {}

    def progress(task: str, done: int, total: int) -> None:
        seen.setdefault(task, []).append(done)
        assert total == 20_000 + len(ROWS) + 1

    db = fdb.open(path, schema, progress=progress)
    try:
        steps = seen["building index items.by_v"]
        assert len(steps) > 2 and steps == sorted(steps) and steps[-1] == 20_000 + len(ROWS) + 1
        got: list[Any] = read(db, lambda r: r.query("items").with_index(
            "by_v", lambda q: q.eq("v", 6)).take(2))
        assert [d.name for d in got] == ["x6", "x13"]
    finally:
        db.close()


def test_item_model_is_the_fixtures() -> None:
    assert set(Item.model_fields) >= {"name", "v", "n", "tags"}


def test_opening_a_format_1_file_without_its_schema_is_refused_and_changes_nothing(
    tmp_path: Path,
) -> None:
    # fdb.open_stored (the fusiondb command) cannot rebuild format-1 indexes without the
    # application's schema; reading them as format 2 would give keys in the wrong order.
    path = copy(tmp_path)
    before = sqlite_state(path)
    with pytest.raises(fdb.SchemaError, match="format 1"):
        fdb.open_stored(path)
    assert sqlite_state(path) == before and before[0] == 1
    with fdb.open(path, schema):  # the application's open upgrades it; then tools read it
        pass
    with fdb.open_stored(path) as db:
        first = read(db, lambda r: r.query("items").with_index("by_v").as_dicts().first())
    with fdb.open(path, schema) as app:
        expected = read(app, lambda r: r.query("items").with_index("by_v").as_dicts().first())
    assert first == expected
