"""Add an index to a table of 100,000 documents: open with the new schema; a bar shows progress.

    FDB_EXAMPLE_N=5000 python migrations_free/add_index_100k/run.py   # a smaller table
"""

from __future__ import annotations

import logging
import os
import tempfile
import time
from pathlib import Path

import fusiondb as fdb


class Task(fdb.Document):
    text: str
    user_id: str
    priority: int = 0


v1 = fdb.Schema(tasks=fdb.table(Task))
v2 = fdb.Schema(tasks=fdb.table(Task).index("by_user", ["user_id"]))


@fdb.mutation
def fill(db: fdb.Writer, start: int, count: int) -> None:
    for i in range(start, start + count):
        db.insert("tasks", {"text": f"task {i}", "user_id": f"user{i % 1000}", "priority": i % 5})


@fdb.query
def tasks_of(db: fdb.Reader, user_id: str) -> list[Task]:
    return db.query("tasks").with_index("by_user", lambda q: q.eq("user_id", user_id)).collect()


def main() -> None:
    # Without a terminal the progress goes to the "fusiondb" logger (tables over 50,000 rows).
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
    n = int(os.environ.get("FDB_EXAMPLE_N", "100000"))
    path = Path(tempfile.mkdtemp()) / "app.db"
    with fdb.open(path, v1) as db:
        for start in range(0, n, 10_000):
            db.run(fill, start=start, count=min(10_000, n - start))
    print(f"{n:,} tasks stored without an index")

    started = time.perf_counter()
    with fdb.open(path, v2) as db:  # builds the index, with a progress bar on a terminal
        took = time.perf_counter() - started
        print("applied:", *db.schema_changes)
        assert [c.kind for c in db.schema_changes] == ["add_index"]
        found = db.run(tasks_of, user_id="user7")
        assert [t.text for t in found] == [f"task {i}" for i in range(7, n, 1000)]
        print(f"opened and indexed in {took:.2f} s; user7 has {len(found)} tasks")
    print("OK add_index_100k")


if __name__ == "__main__":
    main()
