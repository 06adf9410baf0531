"""Document ids: opaque, table-naming, never reused; malformed or foreign ids are refused."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import fusiondb as fdb
from fusiondb.core.ids import ID_LENGTH, MAX_ROWID, MAX_TABLE_NUMBER, decode_id, encode_id
from tests.models import Note, Task, add_task, delete, read, schema, write

ID_RE = re.compile(r"^[a-z2-7]{16}$")


@fdb.mutation
def add_note(db: fdb.Writer, title: str) -> str:
    return db.insert("notes", Note(title=title))


def test_ids_are_opaque_16_char_strings(db: fdb.Database) -> None:
    ids = [db.run(add_task, text=str(i), user_id="u") for i in range(20)]
    for doc_id in ids:
        assert type(doc_id) is str and ID_RE.match(doc_id), doc_id
    assert len(set(ids)) == 20
    # Opaque: consecutive documents do not get visibly consecutive ids.
    assert len({doc_id[:8] for doc_id in ids}) > 1
    assert ids != sorted(ids)


def test_ids_of_different_tables_differ(db: fdb.Database) -> None:
    task_id = db.run(add_task, text="a", user_id="u")
    note_id = db.run(add_note, title="a")
    assert task_id != note_id
    assert decode_id(task_id)[1] == decode_id(note_id)[1] == 1  # type: ignore[index]


def test_ids_are_never_reused_after_delete(db: fdb.Database) -> None:
    first = db.run(add_task, text="a", user_id="u")
    last = db.run(add_task, text="b", user_id="u")
    db.run(delete, doc_id=last)
    again = db.run(add_task, text="c", user_id="u")
    assert again not in (first, last)
    db.run(delete, doc_id=first)
    db.run(delete, doc_id=again)
    # Even with the table empty, numbering goes on.
    newest = db.run(add_task, text="d", user_id="u")
    assert newest not in (first, last, again)
    assert read(db, lambda r: r.get(last)) is None


def test_ids_are_never_reused_across_reopen(tmp_path: Path) -> None:
    path = tmp_path / "ids.db"
    with fdb.open(path, schema) as db:
        gone = db.run(add_task, text="a", user_id="u")
        db.run(delete, doc_id=gone)
    with fdb.open(path, schema) as db:
        fresh = db.run(add_task, text="b", user_id="u")
        assert fresh != gone
        assert read(db, lambda r: r.get(gone)) is None


def test_normalize_id_returns_the_id_or_none(db: fdb.Database) -> None:
    task_id = db.run(add_task, text="a", user_id="u")
    note_id = db.run(add_note, title="n")
    got = read(
        db,
        lambda r: (
            r.normalize_id("tasks", task_id),
            r.normalize_id("notes", note_id),
            r.normalize_id("notes", task_id),
            r.normalize_id("tasks", note_id),
            r.normalize_id("tasks", "garbage"),
            r.normalize_id("tasks", ""),
            r.normalize_id("tasks", 12),
            r.normalize_id("tasks", None),
            r.normalize_id("tasks", task_id.upper()),
            r.normalize_id("tasks", task_id[:-1] + ("a" if task_id[-1] != "a" else "b")),
            r.normalize_id("tasks", encode_id(999, 1)),
        ),
    )
    assert got[0] == task_id and got[1] == note_id
    assert got[2:] == (None,) * 9


def test_normalize_id_of_unknown_table_is_a_schema_error(db: fdb.Database) -> None:
    with pytest.raises(fdb.SchemaError):
        read(db, lambda r: r.normalize_id("nope", "x"))


def test_normalize_id_of_a_deleted_document_still_returns_it(db: fdb.Database) -> None:
    # As in Convex: normalize_id checks the id's shape and table, not existence.
    task_id = db.run(add_task, text="a", user_id="u")
    db.run(delete, doc_id=task_id)
    assert read(db, lambda r: r.normalize_id("tasks", task_id)) == task_id


def test_get_with_table_and_id(db: fdb.Database) -> None:
    task_id = db.run(add_task, text="a", user_id="u")
    note_id = db.run(add_note, title="n")
    assert read(db, lambda r: r.get("tasks", task_id)).text == "a"
    assert read(db, lambda r: r.get(task_id)).text == "a"
    assert read(db, lambda r: r.get("notes", note_id)).title == "n"
    with pytest.raises(fdb.InvalidId, match="is an id of table 'notes', not 'tasks'") as info:
        read(db, lambda r: r.get("tasks", note_id))
    assert info.value.id == note_id and info.value.table == "tasks"


def test_get_of_missing_document_is_none(db: fdb.Database) -> None:
    task_id = db.run(add_task, text="a", user_id="u")
    db.run(delete, doc_id=task_id)
    assert read(db, lambda r: r.get(task_id)) is None
    assert read(db, lambda r: r.get("tasks", task_id)) is None


def _bad_ids(task_id: str) -> list[object]:
    return [
        "garbage",
        "",
        "x" * ID_LENGTH,
        task_id.upper(),
        task_id + "a",
        task_id[:-1],
        12,
        None,
        b"bytes",
        encode_id(999, 1),  # a well-formed id of a table this database does not have
    ]


@pytest.mark.parametrize("op", ["get", "patch", "replace", "delete"])
def test_malformed_ids_raise_invalid_id(db: fdb.Database, op: str) -> None:
    task_id = db.run(add_task, text="a", user_id="u")
    calls: dict[str, Callable[[fdb.Writer, Any], Any]] = {
        "get": lambda w, i: w.get(i),
        "patch": lambda w, i: w.patch(i, {"text": "x"}),
        "replace": lambda w, i: w.replace(i, {"text": "x", "user_id": "u"}),
        "delete": lambda w, i: w.delete(i),
    }
    call = calls[op]
    for bad in _bad_ids(task_id):
        with pytest.raises(fdb.InvalidId) as info:
            write(db, lambda w, bad=bad: call(w, bad))
        assert info.value.id == bad
        assert isinstance(info.value, fdb.FusionError)
    # Nothing was changed by the failed writes.
    assert read(db, lambda r: r.get(task_id)).text == "a"


def test_ids_of_another_table_raise_invalid_id_in_typed_reads(db: fdb.Database) -> None:
    note_id = db.run(add_note, title="n")
    for bad in [*_bad_ids(note_id), note_id]:
        with pytest.raises(fdb.InvalidId):
            read(db, lambda r, bad=bad: r.get("tasks", bad))


def test_id_fields_validate_their_table(db: fdb.Database) -> None:
    task_id = db.run(add_task, text="a", user_id="u")
    note_id = db.run(add_note, title="n")
    ok = write(db, lambda w: w.insert("notes", {"title": "t", "task": task_id}))
    assert read(db, lambda r: r.get(ok)).task == task_id
    with pytest.raises(fdb.ValidationError) as info:
        write(db, lambda w: w.insert("notes", {"title": "t", "task": note_id}))
    assert info.value.field == "task" and info.value.table == "notes"
    with pytest.raises(fdb.ValidationError):
        write(db, lambda w: w.insert("notes", {"title": "t", "task": "garbage"}))


def test_id_type_checks_shape_outside_the_database() -> None:
    with pytest.raises(Exception, match="not a document id"):
        Note(title="t", task="garbage")
    assert Note(title="t", task=encode_id(16, 1)).task == encode_id(16, 1)


@settings(max_examples=50, deadline=None)
@given(st.integers(0, MAX_TABLE_NUMBER), st.integers(0, MAX_ROWID))
def test_encode_decode_round_trip(table_number: int, rowid: int) -> None:
    doc_id = encode_id(table_number, rowid)
    assert ID_RE.match(doc_id)
    assert decode_id(doc_id) == (table_number, rowid)
    assert decode_id(doc_id.upper()) is None


@settings(max_examples=50, deadline=None)
@given(
    st.tuples(st.integers(0, MAX_TABLE_NUMBER), st.integers(0, MAX_ROWID)),
    st.tuples(st.integers(0, MAX_TABLE_NUMBER), st.integers(0, MAX_ROWID)),
)
def test_distinct_keys_give_distinct_ids(a: tuple[int, int], b: tuple[int, int]) -> None:
    assert (encode_id(*a) == encode_id(*b)) == (a == b)


@settings(max_examples=50, deadline=None)
@given(st.text(max_size=20) | st.binary(max_size=20) | st.integers() | st.none())
def test_decode_never_raises(value: object) -> None:
    out = decode_id(value)
    if out is not None:
        assert isinstance(value, str) and encode_id(*out) == value


def test_reader_get_is_consistent_with_task_model(db: fdb.Database) -> None:
    task_id = db.run(add_task, text="a", user_id="u", priority=3)
    got = read(db, lambda r: r.get(task_id))
    assert isinstance(got, Task) and got.priority == 3 and got.id == task_id
