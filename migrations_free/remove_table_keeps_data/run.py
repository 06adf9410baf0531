"""Remove a table from the schema: its documents stay in the file until db.drop_table."""

from __future__ import annotations

import tempfile
from pathlib import Path

import fusiondb as fdb


class Task(fdb.Document):
    text: str


class Comment(fdb.Document):
    body: str


with_comments = fdb.Schema(tasks=fdb.table(Task), comments=fdb.table(Comment))
without = fdb.Schema(tasks=fdb.table(Task))


@fdb.mutation
def seed(db: fdb.Writer) -> list[str]:
    db.insert("tasks", {"text": "buy milk"})
    return [db.insert("comments", {"body": f"comment {i}"}) for i in range(3)]


@fdb.query
def comments(db: fdb.Reader) -> list[str]:
    return [c.id for c in db.query("comments").collect()]


def main() -> None:
    path = Path(tempfile.mkdtemp()) / "app.db"
    with fdb.open(path, with_comments) as db:
        ids = db.run(seed)

    with fdb.open(path, without) as db:
        print("applied:", *db.schema_changes)
        for t in db.system.tables():
            if not t.system:
                print(f"    table {t.name}: {t.documents} documents{' (removed)' if t.removed else ''}")
        rows = db.system.read("comments")  # plain dicts, read-only
        assert [r["id"] for r in rows] == ids
        print("still readable:", [r["body"] for r in rows])
        try:
            db.run(comments)
        except fdb.SchemaError as err:
            print("queries cannot use it:", err)

    with fdb.open(path, with_comments) as db:  # declared again: same documents, same ids
        assert db.run(comments) == ids
        print("declared again: the same", len(ids), "comments")

    with fdb.open(path, without) as db:
        db.drop_table("comments")  # only this deletes
        assert "comments" not in {t.name for t in db.system.tables()}
        print("dropped")
    print("OK remove_table_keeps_data")


if __name__ == "__main__":
    main()
