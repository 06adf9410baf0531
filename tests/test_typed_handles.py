"""Typed handles at run time: ``fdb.table(Model)`` as a table argument and ``fdb.IdOf[Model]``."""

from __future__ import annotations

import pydantic
import pytest

import fusiondb as fdb


class Item(fdb.Document):
    name: str


class Tag(fdb.Document):
    item: fdb.IdOf[Item]
    label: str


items = fdb.table(Item)
tags = fdb.table(Tag).index("by_item", ["item"])
schema = fdb.Schema(items=items, tags=tags)


@fdb.mutation
def add_item(db: fdb.Writer, name: str) -> fdb.IdOf[Item]:
    return db.insert(items, Item(name=name))


@fdb.mutation
def tag(db: fdb.Writer, item: str, label: str) -> fdb.IdOf[Tag]:
    return db.insert(tags, {"item": item, "label": label})


def test_a_handle_names_its_table_in_every_call() -> None:
    with fdb.open(None, schema) as db:
        item = db.run(add_item, name="lamp")
        label = db.run(tag, item=item, label="blue")
        assert db.run(fdb.query(lambda db: db.get(items, item))).name == "lamp"
        assert db.run(fdb.query(lambda db: db.get(label))).item == item
        assert [t.label for t in db.run(fdb.query(lambda db: db.query(tags).collect()))] == ["blue"]
        assert db.run(fdb.query(lambda db: db.normalize_id(items, label))) is None
        with pytest.raises(fdb.InvalidId, match="not 'items'"):
            db.run(fdb.query(lambda db: db.get(items, label)))


def test_an_idof_field_holds_ids_of_its_models_table_only() -> None:
    with fdb.open(None, schema) as db:
        item = db.run(add_item, name="lamp")
        label = db.run(tag, item=item, label="blue")
        with pytest.raises(fdb.ValidationError, match="id of table 'tags', expected an id of table 'items'"):
            db.run(tag, item=label, label="oops")
        with pytest.raises(pydantic.ValidationError, match="not a document id"):  # outside a db: pydantic's
            Tag(item="nope", label="x")


def test_a_handle_or_idof_whose_model_has_no_single_table_is_refused() -> None:
    class Other(fdb.Document):
        name: str

    class Ref(fdb.Document):
        other: fdb.IdOf[Other]

    with pytest.raises(fdb.SchemaError, match=r"IdOf\[Other\], but no table"):
        fdb.Schema(refs=fdb.table(Ref))
    with pytest.raises(fdb.SchemaError, match=r"tables \['a', 'b'\]"):
        fdb.Schema(refs=fdb.table(Ref), a=fdb.table(Other), b=fdb.table(Other))
    fdb.Schema(refs=fdb.table(Ref), a=fdb.table(Other))
    with pytest.raises(fdb.SchemaError, match="already names table 'a'"):
        fdb.Schema(refs=fdb.table(Ref), b=fdb.table(Other))
    with fdb.open(None, schema) as db, pytest.raises(fdb.SchemaError, match="no table of this database"):
        db.run(fdb.query(lambda db: db.query(fdb.table(Other)).collect()))
