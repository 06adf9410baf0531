"""Schema evolution of fields: what applies by itself (new optional fields, relaxed types),
what is checked against every stored document first and refused with the failing ids (new
required fields, narrowed types, changed id targets and validators, forbidden extras), and
removed fields, which stay in the stored documents.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import pydantic
import pytest

import fusiondb as fdb
from tests.evolution_helpers import DOCS, V1, add, all_docs, schema_of, seed, sha256
from tests.models import patch, replace

IdOfA = fdb.Id["a"]
IdOfB = fdb.Id["b"]


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
