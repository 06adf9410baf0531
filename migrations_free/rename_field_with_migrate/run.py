"""Rename a field: widen the model, db.migrate the documents in batches, then narrow it."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import fusiondb as fdb


class PersonV1(fdb.Document):
    name: str


class PersonBoth(fdb.Document):
    """While migrating: both fields optional, so old and new documents both fit."""

    name: str | None = None
    full_name: str | None = None


class PersonV2(fdb.Document):
    full_name: str


v1 = fdb.Schema(people=fdb.table(PersonV1))
both = fdb.Schema(people=fdb.table(PersonBoth))
v2 = fdb.Schema(people=fdb.table(PersonV2).index("by_full_name", ["full_name"]))


@fdb.mutation
def add(db: fdb.Writer, count: int) -> None:
    for i in range(count):
        db.insert("people", {"name": f"Person {i}"})


@fdb.query
def names(db: fdb.Reader) -> list[str | None]:
    return [p.full_name for p in db.query("people").collect()]


def rename(doc: dict[str, Any]) -> dict[str, Any] | None:
    """One document in, the new document out (None: leave it as it is)."""
    if "name" not in doc or doc["name"] is None:
        return None  # already migrated
    return {"full_name": doc["name"]}


def main() -> None:
    path = Path(tempfile.mkdtemp()) / "app.db"
    with fdb.open(path, v1) as db:
        db.run(add, count=2500)

    with fdb.open(path, both) as db:
        live = db.subscribe(names)  # a live query sees each batch commit
        result = db.migrate(
            "people", rename, batch_size=1000,
            progress=lambda task, done, total: print(f"    {task}: {done}/{total}"),
        )
        print(f"migrated {result.changed} of {result.processed} documents as {result.name!r}")
        db.wait_idle()
        assert live.value[:2] == ["Person 0", "Person 1"]
        live.close()
        # Running it again does nothing: the file records that it finished.
        assert db.migrate("people", rename).already_done

    with fdb.open(path, v2) as db:  # narrow: every document is checked, all pass
        print("applied:", *db.schema_changes, sep="\n    ")
        assert db.run(names)[:3] == ["Person 0", "Person 1", "Person 2"]
        stored = db.system.read("people", limit=1)[0]  # what the file holds, as a dict
        print("stored:", stored)
        assert stored["full_name"] == "Person 0" and stored.get("name") is None
    print("OK rename_field_with_migrate")


if __name__ == "__main__":
    main()
