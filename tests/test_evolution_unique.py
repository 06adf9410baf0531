"""Schema evolution of unique indexes: a new unique index, or an index made unique, over stored
duplicates is refused with the groups of offending ids and changes nothing; over distinct keys
it applies; dropping uniqueness applies by itself; the catalog (and ``open_stored``) keeps it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import fusiondb as fdb
from tests.evolution_helpers import kinds, sha256, sql_indexes


class Member(fdb.Document):
    email: str | None = None
    n: Any = None


def members(*, unique: bool = True, index: bool = True, field: str = "email") -> fdb.Schema:
    tdef = fdb.table(Member)
    if index:
        tdef = tdef.index("by_key", [field], unique=unique)
    return fdb.Schema(members=tdef)


@fdb.mutation
def add(db: fdb.Writer, docs: list[dict[str, Any]]) -> list[str]:
    return [db.insert("members", d) for d in docs]


def seed(path: Path, schema: fdb.Schema, docs: list[dict[str, Any]]) -> list[str]:
    with fdb.open(path, schema) as db:
        ids: list[str] = db.run(add, docs=docs)
    return ids


DOCS = [
    {"email": "a"},
    {"email": "b"},
    {"email": "a"},
    {"email": None},
    {},
    {"email": None},
    {"email": "c"},
    {"email": "b"},
    {"email": "a"},
]


@pytest.mark.parametrize("before", ["no index", "plain index"])
def test_unique_index_over_duplicates_is_refused_with_the_groups(tmp_path: Path, before: str) -> None:
    path = tmp_path / "m.db"
    ids = seed(path, members(unique=False, index=before == "plain index"), DOCS)
    indexes_before, file_before = sql_indexes(path), sha256(path)
    with pytest.raises(fdb.SchemaMismatch) as info:
        fdb.open(path, members())
    err = info.value
    assert (err.table, err.index, err.count) == ("members", "by_key", 2)
    # One group per shared key, ids in creation order; the null and missing keys are exempt.
    assert err.duplicates == [[ids[0], ids[2], ids[8]], [ids[1], ids[7]]]
    assert sorted(err.ids) == sorted([ids[0], ids[2], ids[8], ids[1], ids[7]])
    assert f"{ids[0]}, {ids[2]}, {ids[8]}" in str(err) and "by_key" in str(err)
    assert sql_indexes(path) == indexes_before and sha256(path) == file_before  # nothing changed


def test_fixing_the_duplicates_then_makes_the_index_unique(tmp_path: Path) -> None:
    path = tmp_path / "m.db"
    ids = seed(path, members(unique=False), DOCS)
    with fdb.open(path, members(unique=False)) as db:
        db.run(fdb.mutation(lambda w: [w.delete(i) for i in (ids[2], ids[8], ids[7])]))
    with fdb.open(path, members()) as db:
        assert [(c.kind, c.detail) for c in db.schema_changes if c.table == "members"] == [
            ("change_index", "by_key, made unique")
        ]
        with pytest.raises(fdb.DuplicateKey) as info:
            db.run(add, docs=[{"email": "a"}])
        assert info.value.existing_id == ids[0]
        db.run(add, docs=[{"email": None}, {}])  # still exempt
    assert "members$by_key$unique" in sql_indexes(path)


def test_a_new_unique_index_over_distinct_keys_applies(tmp_path: Path) -> None:
    path = tmp_path / "m.db"
    seed(path, members(index=False), [{"email": "a"}, {"email": "b"}, {}, {}])
    with fdb.open(path, members()) as db:
        assert [(c.kind, c.detail) for c in db.schema_changes if c.table == "members"] == [
            ("add_index", "by_key (unique), 4 documents")
        ]
        with pytest.raises(fdb.DuplicateKey):
            db.run(add, docs=[{"email": "b"}])
    with fdb.open(path, members()) as db:  # the same schema again: nothing to do
        assert kinds(db) == []


def test_numbers_equal_by_value_are_duplicates(tmp_path: Path) -> None:
    path = tmp_path / "m.db"
    ids = seed(path, members(index=False), [{"n": 1}, {"n": 1.0}, {"n": True}, {"n": [2]}, {"n": [2.0]}])
    with pytest.raises(fdb.SchemaMismatch) as info:
        fdb.open(path, members(field="n"))
    assert info.value.duplicates == [[ids[0], ids[1]], [ids[3], ids[4]]]


def test_dropping_uniqueness_applies_by_itself_and_keeps_the_index(tmp_path: Path) -> None:
    path = tmp_path / "m.db"
    seed(path, members(), [{"email": "a"}])
    assert {"members$by_key", "members$by_key$unique"} <= sql_indexes(path)
    with fdb.open(path, members(unique=False)) as db:
        assert [(c.kind, c.detail) for c in db.schema_changes if c.table == "members"] == [
            ("change_index", "by_key, no longer unique")
        ]
        db.run(add, docs=[{"email": "a"}])
        found = db.run(
            fdb.query(
                lambda r: len(r.query("members").with_index("by_key", lambda q: q.eq("email", "a")).collect())
            )
        )
        assert found == 2
    assert "members$by_key" in sql_indexes(path)
    assert "members$by_key$unique" not in sql_indexes(path)
    with pytest.raises(fdb.SchemaMismatch):  # and back: refused, there is a duplicate now
        fdb.open(path, members())


def test_dropping_the_index_drops_its_uniqueness(tmp_path: Path) -> None:
    path = tmp_path / "m.db"
    seed(path, members(), [{"email": "a"}])
    with fdb.open(path, members(index=False)) as db:
        assert kinds(db) == [("drop_index", "members")]
        db.run(add, docs=[{"email": "a"}])
    assert not any(name.startswith("members$") for name in sql_indexes(path))


def test_a_default_filled_in_counts(tmp_path: Path) -> None:
    path = tmp_path / "m.db"
    seed(path, members(index=False), [{"email": "a"}, {"email": "b"}])

    class WithCode(fdb.Document):
        email: str | None = None
        n: Any = None
        code: str = "same"

    with pytest.raises(fdb.SchemaMismatch) as info:
        fdb.open(path, fdb.Schema(members=fdb.table(WithCode).index("by_code", ["code"], unique=True)))
    assert info.value.index == "by_code" and len(info.value.duplicates) == 1


def test_the_catalog_records_uniqueness_for_open_stored(tmp_path: Path) -> None:
    path = tmp_path / "m.db"
    first = seed(path, members(), [{"email": "a"}])
    with fdb.open_stored(path) as db:
        with pytest.raises(fdb.DuplicateKey) as info:
            db.run(fdb.mutation(lambda w: w.insert("members", {"email": "a"})))
        assert info.value.existing_id == first[0]
        assert db.schema_changes == []


def test_another_process_sees_the_index_made_unique(tmp_path: Path) -> None:
    path = tmp_path / "m.db"
    seed(path, members(unique=False), [{"email": "a"}])
    old = fdb.open(path, members(unique=False))
    try:
        with fdb.open(path, members()):
            pass
        # The old schema's database learns that the catalog changed before it writes.
        with pytest.raises(fdb.SchemaError, match="changed by another process"):
            old.run(add, docs=[{"email": "a"}])
    finally:
        old.close()
    with fdb.open(path, members()) as db:
        assert len(db.run(fdb.query(lambda r: r.query("members").collect()))) == 1


def test_a_default_that_would_duplicate_a_unique_key_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "m.db"
    seed(path, members(index=False), [{"email": "a"}, {"email": "b"}])  # no `code` yet

    class Optional(fdb.Document):
        email: str | None = None
        n: Any = None
        code: str | None = None

    class Defaulted(fdb.Document):
        email: str | None = None
        n: Any = None
        code: str = "same"

    # The unique index over `code` holds no key yet: the stored documents lack the field.
    with fdb.open(path, fdb.Schema(members=fdb.table(Optional).index("by_code", ["code"], unique=True))):
        pass
    before = sha256(path)
    # Another index over `code` fills the default in first: both documents would get "same".
    again = fdb.table(Defaulted).index("by_code", ["code"], unique=True).index("by_code_n", ["code", "n"])
    with pytest.raises(fdb.SchemaMismatch, match="filling in the default 'same'"):
        fdb.open(path, fdb.Schema(members=again))
    assert sha256(path) == before
