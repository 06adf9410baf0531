"""Add a required field: refused with the offending ids; fill it in, then it applies."""

from __future__ import annotations

import hashlib
import tempfile
from pathlib import Path

import fusiondb as fdb


class TaskV1(fdb.Document):
    text: str


class TaskWide(fdb.Document):
    """The step in between: the new field exists but may be missing."""

    text: str
    owner: str | None = None


class TaskV2(fdb.Document):
    text: str
    owner: str  # required, no default


v1 = fdb.Schema(tasks=fdb.table(TaskV1))
wide = fdb.Schema(tasks=fdb.table(TaskWide))
v2 = fdb.Schema(tasks=fdb.table(TaskV2).index("by_owner", ["owner"]))


@fdb.mutation
def add(db: fdb.Writer, text: str) -> str:
    return db.insert("tasks", {"text": text})


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def main() -> None:
    path = Path(tempfile.mkdtemp()) / "app.db"
    with fdb.open(path, v1) as db:
        ids = [db.run(add, text=f"task {i}") for i in range(25)]
    before = sha256(path)

    # 1. The new model requires `owner`, which no stored task has: refused, nothing changes.
    try:
        fdb.open(path, v2)
        raise AssertionError("the change should have been refused")
    except fdb.SchemaMismatch as err:
        print(f"refused: {err.count} documents of {err.table!r} lack the field; first ones:")
        for doc_id, reason in err.failures[:3]:
            print("   ", doc_id, reason)
        assert err.count == 25 and err.ids == ids[:10]
    assert sha256(path) == before
    print("the file is byte for byte what it was")

    # 2. Fix the data: open with the field optional (applies by itself), fill it in.
    with fdb.open(path, wide) as db:
        result = db.migrate("tasks", lambda doc: {**doc, "owner": "alice"}, name="set-owner")
        print(f"filled in owner on {result.changed} documents")

    # 3. The same change as in step 1 now applies, after checking every document.
    with fdb.open(path, v2) as db:
        print("applied:", *db.schema_changes, sep="\n    ")
        checked = [c.checked for c in db.schema_changes if c.kind == "change_fields"]
        assert checked == [25]
    print("OK add_required_field_refused_then_fixed")


if __name__ == "__main__":
    main()
