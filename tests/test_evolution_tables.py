"""Schema evolution of tables: a new table applies by itself; a removed one keeps its documents
(readable through ``db.system``, back with the same ids when declared again) until
``drop_table``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import fusiondb as fdb
from tests.evolution_helpers import DOCS, V1, add, all_docs, kinds, schema_of, seed


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
