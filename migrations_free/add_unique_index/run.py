"""Add a unique index: refused while stored documents share a key (with their ids); merge
them, then it applies, and from then on a duplicate write raises fdb.DuplicateKey."""

from __future__ import annotations

import hashlib
import tempfile
from pathlib import Path

import fusiondb as fdb


class User(fdb.Document):
    email: str
    name: str
    phone: str | None = None


v1 = fdb.Schema(users=fdb.table(User).index("by_email", ["email"]))
v2 = fdb.Schema(
    users=fdb.table(User)
    .index("by_email", ["email"], unique=True)  # the same index, made unique
    .index("by_phone", ["phone"], unique=True)  # a new one: users without a phone are exempt
)


@fdb.mutation
def add(db: fdb.Writer, email: str, name: str) -> str:
    return db.insert("users", {"email": email, "name": name})


@fdb.mutation
def merge(db: fdb.Writer, keep: str, drop: list[str]) -> None:
    """Keep one user of a group sharing an email; fold the others' names into it."""
    names = [u.name for u in (db.get(i) for i in [keep, *drop]) if u is not None]
    db.patch(keep, {"name": " / ".join(names)})
    for doc_id in drop:
        db.delete(doc_id)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def main() -> None:
    path = Path(tempfile.mkdtemp()) / "app.db"
    with fdb.open(path, v1) as db:
        ids = [db.run(add, email=f"user{i % 8}@example.org", name=f"user {i}") for i in range(10)]
    before = sha256(path)
    groups: list[list[str]] = []

    # 1. Two emails are held by two users each: refused, with the groups; nothing changes.
    try:
        fdb.open(path, v2)
        raise AssertionError("the change should have been refused")
    except fdb.SchemaMismatch as err:
        print(f"refused: {err.count} emails of {err.table!r} are shared ({err.index}):")
        for group in err.duplicates:
            print("   ", ", ".join(group))
        assert err.duplicates == [[ids[0], ids[8]], [ids[1], ids[9]]]
        groups = err.duplicates
    assert sha256(path) == before
    print("the file is byte for byte what it was")

    # 2. Fix the data with the old schema: merge each group into its first user.
    with fdb.open(path, v1) as db:
        for group in groups:
            db.run(merge, keep=group[0], drop=group[1:])

    # 3. The same change now applies; the index is enforced from then on.
    with fdb.open(path, v2) as db:
        print("applied:", *db.schema_changes, sep="\n    ")
        assert [c.kind for c in db.schema_changes] == ["change_index", "add_index"]
        try:
            db.run(add, email="user0@example.org", name="again")
            raise AssertionError("the duplicate should have been refused")
        except fdb.DuplicateKey as dup:
            print(f"refused: {dup.key!r} of {dup.index!r} is held by {dup.existing_id}")
            assert dup.existing_id == ids[0]
    print("OK add_unique_index")


if __name__ == "__main__":
    main()
