"""Schema evolution's escape hatches: ``schema_validation=False`` (checked at the next checked
open) and ``db.migrate`` (batches, progress, subscribers notified, resumable after an error).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import fusiondb as fdb
from tests.evolution_helpers import DOCS, V1, add, all_docs, schema_of, seed


class Renamed(fdb.Document):
    title: str
    user: str


def test_schema_validation_false_opens_and_the_next_checked_open_catches_up(tmp_path: Path) -> None:
    path = tmp_path / "a.db"
    ids = seed(path, V1, DOCS[:4])
    with fdb.open(path, schema_of(Renamed), schema_validation=False) as db:
        assert db.schema_changes[0].checked is None
        with pytest.raises(fdb.ValidationError, match="title"):
            db.run(all_docs)  # the documented risk: stored documents the model rejects
        assert [r["text"] for r in db.system.read("tasks")] == [d["text"] for d in DOCS[:4]]
    with pytest.raises(fdb.SchemaMismatch):  # the unchecked change is checked now
        fdb.open(path, schema_of(Renamed))
    with fdb.open(path, schema_of(Renamed), schema_validation=False) as db:
        result = db.migrate("tasks", lambda d: {"title": d["text"], "user": d["user"]}, name="r")
        assert (result.processed, result.changed, result.already_done) == (4, 4, False)
    with fdb.open(path, schema_of(Renamed)) as db:
        assert db.schema_changes[0].checked == 4
        assert [t.title for t in db.run(all_docs)] == ["t0", "t1", "t2", "t3"]
        assert [t.id for t in db.run(all_docs)] == ids


def test_migrate_rewrites_in_batches_and_notifies_subscribers(tmp_path: Path) -> None:
    path = tmp_path / "a.db"
    seed(path, V1, DOCS)

    class Both(fdb.Document):
        text: str | None = None
        title: str | None = None
        user: str

    @fdb.query
    def titles(db: fdb.Reader) -> list[str | None]:
        return [d.title for d in db.query("tasks").collect()]

    def to_title(doc: dict[str, Any]) -> dict[str, Any] | None:
        if doc["user"] == "u2":
            return None  # left alone
        return {"title": doc["text"], "user": doc["user"]}

    calls: list[tuple[str, int, int]] = []
    with fdb.open(path, schema_of(Both)) as db:
        sub = db.subscribe(titles)
        values: list[Any] = []
        sub.changed.connect(lambda _sender, value=None, **kw: values.append(value), weak=False)
        result = db.migrate("tasks", to_title, batch_size=7, progress=lambda *a: calls.append(a))
        assert result.name == f"tasks:{to_title.__module__}.{to_title.__qualname__}"
        assert (result.processed, result.changed) == (30, 20)
        assert db.wait_idle()
        expected = [d["text"] if d["user"] != "u2" else None for d in DOCS]
        assert sub.value == expected and values[-1] == expected
        assert [c[1] for c in calls] == [0, 7, 14, 21, 28, 30]
        assert db.migrate("tasks", to_title).already_done
        sub.close()


def test_migrate_stops_on_error_and_resumes_where_it_stopped(tmp_path: Path) -> None:
    path = tmp_path / "a.db"
    seed(path, V1, DOCS)
    seen: list[str] = []

    def upper(doc: dict[str, Any]) -> dict[str, Any]:
        if doc["text"] == "t12" and "t12" not in seen:
            seen.append("t12")
            raise RuntimeError("boom")
        seen.append(doc["text"])
        return {**doc, "text": doc["text"].upper()}

    with fdb.open(path, schema_of(V1)) as db:
        with pytest.raises(RuntimeError, match="boom"):
            db.migrate("tasks", upper, batch_size=5, name="upper")
        texts = [d.text for d in db.run(all_docs)]
        assert texts[:10] == [f"T{i}" for i in range(10)] and texts[10:] == [f"t{i}" for i in range(10, 30)]
        result = db.migrate("tasks", upper, batch_size=5, name="upper")
        assert result.resumed and result.processed == 30
        assert [d.text for d in db.run(all_docs)] == [f"T{i}" for i in range(30)]
        # Each document went through fn once per committed batch: t10, t11 ran twice only
        # because their batch was rolled back.
        assert seen.count("t0") == 1 and seen.count("t10") == 2


def test_migrate_rejects_what_it_cannot_resume(make_db: Callable[..., fdb.Database]) -> None:
    db = make_db(schema_of(V1))
    with pytest.raises(ValueError, match="name="):
        db.migrate("tasks", lambda d: d)
    with pytest.raises(fdb.SchemaError):
        db.migrate("nope", str.upper, name="x")
    db.run(add, docs=DOCS[:2])
    with pytest.raises(fdb.ValidationError):
        db.migrate("tasks", lambda d: {"text": 1}, name="bad")
    assert [d.text for d in db.run(all_docs)] == ["t0", "t1"]
