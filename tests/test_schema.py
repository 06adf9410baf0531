"""Schema declaration: names, indexes (compound, nested paths), Id references, tables."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import apsw
import pydantic
import pytest

import fusiondb as fdb
from tests.models import Person, Task, schema


class Plain(fdb.Document):
    x: int = 0


PlainId = fdb.Id["plain"]
MissingId = fdb.Id["missing"]


class Ref(fdb.Document):
    other: PlainId | None = None


@pytest.mark.parametrize("name", ["_tasks", "_storage", "__x", "_"], ids=["_tasks", "_storage", "__x", "_"])
def test_table_names_starting_with_underscore_are_reserved(name: str) -> None:
    with pytest.raises(fdb.SchemaError, match="reserved") as info:
        fdb.Schema(**{name: fdb.table(Plain)})
    assert info.value.name == name


@pytest.mark.parametrize("name", ["sqlite_master", "sqlite_x", "SQLite_stat1", "sqliteish"])
def test_table_names_starting_with_sqlite_are_reserved(name: str) -> None:
    with pytest.raises(fdb.SchemaError, match="reserved"):
        fdb.Schema(**{name: fdb.table(Plain)})


@pytest.mark.parametrize(
    "name",
    ["1abc", "has space", "a-b", "dot.ted", 'quo"te', "x" * 64, "", "é"],
)
def test_bad_table_identifiers_are_refused(name: str) -> None:
    with pytest.raises(fdb.SchemaError, match="invalid table name"):
        fdb.Schema(**{name: fdb.table(Plain)})


def test_longest_valid_name_is_accepted(make_db: Callable[..., fdb.Database]) -> None:
    name = "t" + "x" * 62
    db = make_db(fdb.Schema(**{name: fdb.table(Plain)}))
    assert db.run(fdb.mutation(lambda w: w.insert(name, {"x": 1})))


@pytest.mark.parametrize("name", ["_idx", "1x", "a b", "sqlite_idx", "by_creation_time", "by_id"])
def test_bad_or_reserved_index_names_are_refused(name: str) -> None:
    with pytest.raises(fdb.SchemaError):
        fdb.table(Task).index(name, ["user_id"])


def test_non_string_names_are_refused() -> None:
    with pytest.raises(fdb.SchemaError, match="must be a string"):
        fdb.table(Task).index(3, ["user_id"])  # type: ignore[arg-type]


def test_duplicate_index_name_is_refused() -> None:
    t = fdb.table(Task).index("by_user", ["user_id"])
    with pytest.raises(fdb.SchemaError, match="already defined"):
        t.index("by_user", ["text"])


def test_index_on_missing_field_names_the_field() -> None:
    with pytest.raises(fdb.SchemaError, match="'nope'") as info:
        fdb.table(Task).index("by_nope", ["nope"])
    assert info.value.name == "nope"


@pytest.mark.parametrize("path", ["address.nope", "name.first", "tags.x", "address.city.x"])
def test_index_on_missing_nested_path_is_refused(path: str) -> None:
    with pytest.raises(fdb.SchemaError, match="does not exist") as info:
        fdb.table(Person).index("bad", [path])
    assert info.value.name == path


@pytest.mark.parametrize("fields", [[], "user_id", ["user_id", "user_id"], ["id"], ["creation_time"]])
def test_bad_index_field_lists_are_refused(fields: object) -> None:
    with pytest.raises(fdb.SchemaError):
        fdb.table(Task).index("bad", fields)  # type: ignore[arg-type]


@pytest.mark.parametrize("path", ["a b", "address..city", "address.", "1x"])
def test_malformed_field_paths_are_refused(path: str) -> None:
    with pytest.raises(fdb.SchemaError):
        fdb.table(Person).index("bad", [path])


def test_nested_path_and_compound_indexes_are_accepted() -> None:
    t = (
        fdb.table(Person)
        .index("by_city", ["address.city"])
        .index("by_city_street_name", ["address.city", "address.street", "name"])
    )
    assert t.indexes["by_city"].fields == ("address.city",)
    assert t.indexes["by_city_street_name"].fields == ("address.city", "address.street", "name")


def test_indexes_are_sqlite_indexes_over_generated_columns(tmp_path: Path) -> None:
    path = tmp_path / "x.db"
    fdb.open(path, schema).close()
    conn = apsw.Connection(str(path))
    try:
        sql = {
            name: text
            for name, text in conn.execute(
                "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL"
            )
        }
        cols = [r[1] for r in conn.execute("PRAGMA table_xinfo(people)")]
    finally:
        conn.close()
    # A (type tag, value) pair per field; the rowid every SQLite index ends with orders creation.
    assert sql["tasks$by_user_priority"].endswith(
        '("$user_id$t", "$user_id$v", "$priority$t", "$priority$v")'
    )
    assert sql["people$by_city"].endswith('("$address.city$t", "$address.city$v")')
    # No creation-time index: by_creation_time is the table's rowid order.
    assert not any("by_creation_time" in name for name in sql)
    assert {"$address.city$t", "$address.city$v", "$age$t", "$age$v"} <= set(cols)


def test_id_referencing_an_undeclared_table_is_refused() -> None:
    with pytest.raises(fdb.SchemaError, match="references table 'plain'") as info:
        fdb.Schema(refs=fdb.table(Ref))
    assert info.value.table == "refs" and info.value.name == "other"
    # Declaring the referenced table makes the same model acceptable.
    assert "refs" in fdb.Schema(refs=fdb.table(Ref), plain=fdb.table(Plain)).tables


def test_id_references_inside_containers_and_nested_models_are_checked() -> None:
    class Inner(fdb.Document):
        ref: MissingId

    class InList(fdb.Document):
        refs: list[MissingId] = []

    class InDict(fdb.Document):
        refs: dict[str, MissingId] = {}

    class InModel(fdb.Document):
        inner: Inner | None = None

    for model in (InList, InDict, InModel):
        with pytest.raises(fdb.SchemaError, match="'missing'"):
            fdb.Schema(t=fdb.table(model))


def test_id_of_system_table_needs_no_declaration() -> None:
    # tests.models.Note references "_storage", which fusiondb maintains itself.
    assert "notes" in schema.tables


@pytest.mark.parametrize(
    "bad", [pydantic.BaseModel, fdb.Document, dict, "tasks", None, Task(text="a", user_id="u")]
)
def test_table_needs_a_document_subclass(bad: object) -> None:
    with pytest.raises(fdb.SchemaError, match=r"subclass of fdb\.Document"):
        fdb.table(bad)  # type: ignore[arg-type]


def test_table_refuses_a_plain_pydantic_model() -> None:
    class P(pydantic.BaseModel):
        x: int

    with pytest.raises(fdb.SchemaError):
        fdb.table(P)  # type: ignore[arg-type]


def test_schema_values_must_be_table_defs() -> None:
    with pytest.raises(fdb.SchemaError, match=r"expected fdb\.table"):
        fdb.Schema(tasks=Task)  # type: ignore[arg-type]


def test_open_needs_a_schema() -> None:
    with pytest.raises(fdb.SchemaError, match=r"fdb\.Schema"):
        fdb.open(None, {"tasks": fdb.table(Task)})  # type: ignore[arg-type]


def test_id_type_needs_a_table_name() -> None:
    with pytest.raises(TypeError):
        fdb.Id[3]


def test_unknown_table_is_a_schema_error(db: fdb.Database) -> None:
    @fdb.query
    def q(r: fdb.Reader) -> object:
        return r.query("nope").collect()

    with pytest.raises(fdb.SchemaError, match="no table named 'nope'") as info:
        db.run(q)
    assert info.value.table == "nope"


def test_documents_gain_id_and_creation_time(db: fdb.Database) -> None:
    t = Task(text="a", user_id="u")
    assert t.id is None and t.creation_time is None
    # id and creation_time are not part of the stored body.
    assert "id" not in t.model_dump() and "creation_time" not in t.model_dump()
    new_id = db.run(fdb.mutation(lambda w: w.insert("tasks", t)))
    got = db.run(fdb.query(lambda r: r.get(new_id)))
    assert got.id == new_id
    assert isinstance(got.creation_time, float)


class AliasedV1(fdb.Document):
    x: int = pydantic.Field(alias="y")
    other: str | None = None


class AliasedV2(fdb.Document):
    x: int = pydantic.Field(alias="y")
    other: str


def test_stored_documents_with_aliased_fields_pass_evolution_checks(tmp_path: Path) -> None:
    # Making `other` required makes fusiondb check the stored documents; they are stored under
    # field names ("x"), which must count as valid even though the model's alias is "y".
    path = tmp_path / "aliased.db"
    with fdb.open(path, fdb.Schema(a=fdb.table(AliasedV1))) as db:
        doc_id = db.run(fdb.mutation(lambda w: w.insert("a", {"y": 1, "other": "o"})))
    with fdb.open(path, fdb.Schema(a=fdb.table(AliasedV2))) as db:
        got = db.run(fdb.query(lambda r: r.get(doc_id)))
        assert (got.x, got.other) == (1, "o")
