"""Adding an index to a populated table: ``fdb.open`` with the new schema vs raw ``CREATE INDEX``.

    .venv/bin/python benchmarks/bench_add_index.py      # BENCH_QUICK=1 for a smoke run

A file holds N documents (100k) in a table without an index. Each timed run starts from a
fresh copy of it:
- raw: connect with apsw, ``BEGIN IMMEDIATE``, add the virtual generated column,
  ``CREATE INDEX`` over it and creation time, ``COMMIT``, close;
- fusiondb: ``fdb.open(path, schema_with_the_index)`` then ``close()``, which does the same
  DDL plus reading and comparing the catalog, writing it, and progress reporting.
Also printed: fusiondb opening the same file when nothing changed (the fixed cost of open).
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import apsw
from benchutil import compare, header, repeats, report, size, timed

import fusiondb as fdb
from fusiondb.engine.sqlite import ddl


class Task(fdb.Document):
    text: str
    completed: bool = False
    user_id: str
    priority: int = 0


before = fdb.Schema(tasks=fdb.table(Task))
after = fdb.Schema(tasks=fdb.table(Task).index("by_user", ["user_id"]))


@fdb.mutation
def fill(db: fdb.Writer, start: int, count: int, users: int) -> None:
    for i in range(start, start + count):
        db.insert("tasks", {"text": f"task number {i}", "user_id": f"user{i % users}",
                            "priority": i % 5})


def populate(path: Path, n: int) -> None:
    db = fdb.open(path, before)
    step = 10_000
    for start in range(0, n, step):
        db.run(fill, start=start, count=min(step, n - start), users=max(1, n // 100))
    db.close()


def main() -> None:
    n = size(100_000, 5_000)
    header(f"add an index to {n:,} documents")
    work = Path(tempfile.mkdtemp(prefix="fdb-bench-index-"))
    template = work / "template.db"
    populate(template, n)
    raw_path, fdb_path = work / "raw.db", work / "fdb.db"

    def setup() -> None:
        for p in (raw_path, fdb_path):
            shutil.copyfile(template, p)

    def raw() -> None:
        conn = apsw.Connection(str(raw_path))
        conn.pragma("journal_mode", "wal")
        conn.pragma("synchronous", "normal")
        conn.execute("BEGIN IMMEDIATE")
        conn.execute(ddl.add_tag_column("tasks", "user_id"))
        conn.execute(ddl.add_value_column("tasks", "user_id", False))
        conn.execute(ddl.create_index("tasks", "by_user", ("user_id",), frozenset()))
        conn.execute("COMMIT")
        conn.close()

    def fusion() -> None:
        db = fdb.open(fdb_path, after, progress=lambda *_: None)
        assert [c.kind for c in db.schema_changes] == ["add_index"], db.schema_changes
        db.close()

    raw_times, fdb_times = compare(raw, fusion, repeats(5), setup)
    report("add index by_user (open with the new schema)", raw_times, fdb_times)

    shutil.copyfile(template, fdb_path)
    fdb.open(fdb_path, after).close()
    reopen = min(timed(lambda: fdb.open(fdb_path, after).close()) for _ in range(repeats(5)))
    print(f"   for scale: fdb.open of this file with nothing to change takes {reopen * 1e3:.1f} ms")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
