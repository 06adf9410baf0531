"""JSON lines in and out: fusiondb's export_jsonl / import_jsonl against sqlite-utils.

The same documents (N tasks, one index on ``user_id``) are exported to JSON lines and imported
from them, by fusiondb and by sqlite-utils (``rows`` written as JSON lines, as ``sqlite-utils
rows --nl`` does; ``insert_all`` of the parsed lines, as ``sqlite-utils insert --nl`` does,
into a table with the same index). fusiondb's import validates every document with the
table's model, records the write set and commits once; sqlite-utils checks nothing.

    ratio = sqlite-utils time / fusiondb time (1.0 = as fast as sqlite-utils; higher is better)

The round trip is checked too: export, import with kept ids into an empty file, export again:
the same lines.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import sqlite_utils
from benchutil import QUICK, compare, repeats, report, size

import fusiondb as fdb


class Task(fdb.Document):
    text: str
    user_id: str
    priority: int = 0
    done: bool = False
    tags: list[str] = []


SCHEMA = fdb.Schema(tasks=fdb.table(Task).index("by_user", ["user_id"]))


def write_source(path: Path, n: int) -> None:
    with path.open("w") as f:
        for i in range(n):
            f.write(json.dumps({"text": f"task number {i}", "user_id": f"u{i % 97}", "priority": i % 5,
                                "done": i % 3 == 0, "tags": ["a", "b"] if i % 2 else []}) + "\n")


def main() -> None:
    n = size(100_000, 2_000)
    print(
        f"== bench_jsonl: {n:,} documents, JSON lines out and in, fusiondb vs sqlite-utils"
        + ("  [BENCH_QUICK: sizes reduced, figures meaningless]" if QUICK else "")
    )
    print("   ratio = sqlite-utils time / fusiondb time (1.0 = as fast as sqlite-utils; higher is better)")
    rep = repeats(3)
    with tempfile.TemporaryDirectory(prefix="fdb-bench-") as d:
        tmp = Path(d)
        source = tmp / "source.jsonl"
        write_source(source, n)

        def fresh(name: str) -> Path:
            path = tmp / name
            for suffix in ("", "-wal", "-shm"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)
            return path

        def su_import() -> None:
            db = sqlite_utils.Database(fresh("su.db"))
            db.execute("PRAGMA journal_mode = wal")
            table = db.table("tasks")
            table.create({"text": str, "user_id": str, "priority": int, "done": int, "tags": str})
            table.create_index(["user_id"])
            with source.open() as f:
                table.insert_all((json.loads(line) for line in f), batch_size=1000)
            db.close()

        def fdb_import() -> None:
            with fdb.open(fresh("fdb.db"), SCHEMA) as db:
                assert db.import_jsonl("tasks", source).imported == n

        report("import JSON lines (fdb validates, one txn)", *compare(su_import, fdb_import, rep),
               per=n, unit="doc")

        def su_export() -> None:
            db = sqlite_utils.Database(tmp / "su.db")
            with (tmp / "su-out.jsonl").open("w") as f:
                for row in db.table("tasks").rows:
                    f.write(json.dumps(row) + "\n")
            db.close()

        def fdb_export() -> None:
            with fdb.open(tmp / "fdb.db", SCHEMA) as db:
                assert db.export_jsonl(tmp / "fdb-out.jsonl").total == n

        report("export JSON lines", *compare(su_export, fdb_export, rep), per=n, unit="doc")

        # Round trip with kept ids: the same lines come back.
        with fdb.open(fresh("copy.db"), SCHEMA) as copy:
            copy.import_jsonl("tasks", tmp / "fdb-out.jsonl", keep_ids=True)
            copy.export_jsonl(tmp / "again.jsonl")
        same = (tmp / "again.jsonl").read_bytes() == (tmp / "fdb-out.jsonl").read_bytes()
        print(f"round trip export -> import(keep_ids) -> export: {'identical' if same else 'DIFFERENT'}"
              f" ({os.path.getsize(tmp / 'fdb-out.jsonl'):,} bytes)")
        assert same


if __name__ == "__main__":
    main()
