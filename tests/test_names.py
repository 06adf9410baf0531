"""Field names: system fields cannot be shadowed, and the name rules of core/limits.py hold
for declared fields (checked with the schema) and for undeclared keys (checked per write),
while documents stored before the rules still read."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import apsw
import pydantic
import pytest

import fusiondb as fdb
from fusiondb.core.ids import decode_id
from tests.models import Task, insert, patch, read, replace, write


class Loose(fdb.Document):
    model_config = pydantic.ConfigDict(extra="allow")
    name: str = ""


class Bag(fdb.Document):
    meta: dict[str, Any] = {}
    items: list[Any] = []
    data: Any = None


names_schema = fdb.Schema(loose=fdb.table(Loose), bags=fdb.table(Bag), tasks=fdb.table(Task))


@pytest.fixture
def ndb(make_db: Callable[..., fdb.Database]) -> fdb.Database:
    return make_db(names_schema)


def stored(db: fdb.Database, table: str) -> list[dict[str, Any]]:
    return list(read(db, lambda r: r.query(table).as_dicts().collect()))


# -- trap 1: a declared field named like a system field ----------------------------------


class ShadowsCreationTime(fdb.Document):
    creation_time: str = "x"  # type: ignore[assignment]


class ShadowsId(fdb.Document):
    id: int = 5  # type: ignore[assignment]


class InheritsShadow(ShadowsId):
    text: str = ""


@pytest.mark.parametrize(
    ("model", "field"),
    [(ShadowsCreationTime, "creation_time"), (ShadowsId, "id"), (InheritsShadow, "id")],
)
def test_a_model_redeclaring_a_system_field_is_refused(model: type[fdb.Document], field: str) -> None:
    with pytest.raises(fdb.SchemaError) as info:
        fdb.Schema(t=fdb.table(model))
    err = info.value
    assert err.name == field and err.table == model.__name__
    message = str(err)
    assert model.__name__ in message and repr(field) in message
    assert "'id' and 'creation_time'" in message


def test_a_model_inheriting_the_system_fields_unchanged_is_accepted() -> None:
    class Plain(fdb.Document):
        text: str = ""
        identity: int = 0  # a name merely starting like a system field is fine

    assert fdb.Schema(t=fdb.table(Plain)).tables["t"].model is Plain


# -- declared names the rules refuse (pydantic.create_model allows any string) ------------


@pytest.mark.parametrize("name", ["$x", "a\x00b", "new\nline", "del\x7f"])
def test_a_declared_field_name_the_rules_refuse_is_a_schema_error(name: str) -> None:
    model = pydantic.create_model("Odd", __base__=fdb.Document, **{name: (int, 0)})  # type: ignore[call-overload]
    with pytest.raises(fdb.SchemaError, match="is refused") as info:
        fdb.table(model)
    assert info.value.name == name and info.value.table == "Odd"


def test_a_refused_name_in_a_nested_model_is_named_by_its_path() -> None:
    inner = pydantic.create_model("Inner", **{"$v": (int, 0)})  # type: ignore[call-overload]
    outer = pydantic.create_model("Outer", __base__=fdb.Document, parts=(list[inner], []))  # type: ignore[valid-type]
    with pytest.raises(fdb.SchemaError, match=r"'parts.\$v' is refused") as info:
        fdb.table(outer)
    assert info.value.name == "parts.$v"


def test_declared_names_that_are_fine() -> None:
    # '$' past the start and non-ASCII letters are allowed, top level and nested.
    odd: dict[str, Any] = {"a$": (int, 0), "caf\u00e9": (int, 0)}
    nested = pydantic.create_model("Nested", **odd)
    model = pydantic.create_model(
        "Fine", __base__=fdb.Document, inner=(nested, None), **{"caf\u00e9": (int, 0)}
    )
    assert fdb.table(model).model is model


# -- undeclared keys, checked per write ---------------------------------------------------


def test_a_top_level_underscore_name_through_extra_allow_is_refused(ndb: fdb.Database) -> None:
    with pytest.raises(fdb.ValidationError, match="'_secret' is refused: top-level names") as info:
        ndb.run(insert, table="loose", doc={"name": "a", "_secret": 1})
    err = info.value
    assert (err.table, err.field, err.id) == ("loose", "_secret", None)
    assert stored(ndb, "loose") == []
    # Just inside the rule: an extra name not starting with '_', or '_' below the top level.
    doc_id = ndb.run(insert, table="loose", doc={"name": "a", "secret_": 1, "more": {"_inner": 2}})
    assert [(d["id"], d["secret_"], d["more"]) for d in stored(ndb, "loose")] == [
        (doc_id, 1, {"_inner": 2})
    ]


@pytest.mark.parametrize(
    ("doc", "field", "reason"),
    [
        ({"meta": {"": 1}}, "meta.", "must not be empty"),
        ({"meta": {"a\x00b": 1}}, "meta.a\x00b", "control characters"),
        ({"meta": {"tab\there": 1}}, "meta.tab\there", "control characters"),
        ({"meta": {"del\x7f": 1}}, "meta.del\x7f", "control characters"),
        ({"meta": {"$ref": 1}}, "meta.$ref", "starting with '\\$'"),
        ({"items": [1, {"ok": {"": 2}}]}, "items.1.ok.", "must not be empty"),
        ({"data": {"deep": [{"$x": None}]}}, "data.deep.0.$x", "starting with '\\$'"),
    ],
)
def test_a_refused_name_in_a_dynamic_part_is_refused_and_nothing_written(
    ndb: fdb.Database, doc: dict[str, Any], field: str, reason: str
) -> None:
    def both(w: fdb.Writer) -> None:
        w.insert("bags", {"meta": {"fine": 1}})
        w.insert("bags", doc)

    with pytest.raises(fdb.ValidationError, match=reason) as info:
        write(ndb, both)
    assert (info.value.table, info.value.field) == ("bags", field)
    assert stored(ndb, "bags") == []


def test_names_just_inside_the_rules_are_stored(ndb: fdb.Database) -> None:
    meta = {"Z\u00fcrich": 1, "a.b": 2, "_under": 3, "a$": 4, " ": 5, "x" * 500: 6}
    doc_id = ndb.run(insert, table="bags", doc={"meta": meta})
    assert read(ndb, lambda r: r.get(doc_id)).meta == meta


def test_values_that_look_like_refused_names_are_values(ndb: fdb.Database) -> None:
    # The cheap pre-check on the encoded text also fires on such values; the walk clears them.
    values = ["", "$5", "_x", "a\\b", "line\nbreak", '"":', "\x7f"]
    doc_id = ndb.run(insert, table="bags", doc={"meta": {"v": values}, "items": values})
    got = read(ndb, lambda r: r.get(doc_id))
    assert got.meta == {"v": values} and got.items == values


def test_patch_and_replace_are_checked_too(ndb: fdb.Database) -> None:
    doc_id = ndb.run(insert, table="bags", doc={"meta": {"k": 1}})
    with pytest.raises(fdb.ValidationError, match="must not be empty") as info:
        ndb.run(patch, doc_id=doc_id, fields={"meta": {"": 1}})
    assert (info.value.field, info.value.id) == ("meta.", doc_id)
    with pytest.raises(fdb.ValidationError, match="starting with '\\$'"):
        ndb.run(replace, doc_id=doc_id, doc={"items": [{"$x": 1}]})
    loose = ndb.run(insert, table="loose", doc={"name": "a"})
    with pytest.raises(fdb.ValidationError, match="top-level names"):
        ndb.run(patch, doc_id=loose, fields={"_secret": 1})
    assert read(ndb, lambda r: r.get(doc_id)).meta == {"k": 1}
    assert stored(ndb, "loose")[0].keys() == {"id", "creation_time", "name"}


def test_only_models_with_undeclared_keys_pay_the_per_write_check(ndb: fdb.Database) -> None:
    tables = ndb._tables  # type: ignore[attr-defined]
    flags = {name: tables.get(name).may_hold_dynamic_names for name in ("tasks", "bags", "loose")}
    assert flags == {"tasks": False, "bags": True, "loose": True}


# -- documents stored before the rules ----------------------------------------------------


def _store_raw(path: Path, table: str, doc_id: str, body: str) -> None:
    conn = apsw.Connection(str(path))
    try:
        conn.execute(f"UPDATE {table} SET doc = ? WHERE _id = ?", (body, decode_id(doc_id)[1]))  # type: ignore[index]
    finally:
        conn.close()


def test_old_documents_with_refused_names_still_read(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    with fdb.open(path, names_schema) as db:
        loose = db.run(insert, table="loose", doc={"name": "old"})
        bag = db.run(insert, table="bags", doc={"meta": {}})
    _store_raw(path, "loose", loose, '{"name":"old","_secret":1,"":2}')
    _store_raw(path, "bags", bag, '{"meta":{"$ref":"x","":1}}')
    with fdb.open(path, names_schema) as db:
        assert read(db, lambda r: r.get(bag)).meta == {"$ref": "x", "": 1}
        assert read(db, lambda r: r.get(loose)).model_dump(exclude={"id", "creation_time"}) == {
            "name": "old", "_secret": 1, "": 2,
        }
        # A write of the document as it stands is a new write, and is refused...
        with pytest.raises(fdb.ValidationError, match="'_secret' is refused"):
            db.run(patch, doc_id=loose, fields={"name": "new"})
        # ...until the refused names are patched away (None removes a field).
        db.run(patch, doc_id=loose, fields={"name": "new", "_secret": None, "": None})
        [doc] = stored(db, "loose")
        assert (doc["id"], doc.keys()) == (loose, {"id", "creation_time", "name"})
        db.run(patch, doc_id=bag, fields={"meta": {"ref": "x"}})
        assert read(db, lambda r: r.get(bag)).meta == {"ref": "x"}
