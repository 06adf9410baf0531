"""Unique indexes: what uniqueness costs an insert, against raw apsw doing the same in the same run.

    .venv/bin/python benchmarks/bench_unique.py          # BENCH_QUICK=1 for a smoke run

Two fusiondb tables of users alike but for one index on ``email``: plain, or ``unique=True``
(enforced by a partial SQLite UNIQUE index beside the range index, so an insert writes one
more B-tree). Raw apsw: a table with a virtual generated column ``doc ->> '$.email'`` and a
plain index, or a UNIQUE index, on it.

(a) N inserts in one mutation (a loop of db.insert) / one raw transaction (an INSERT per row):
    raw UNIQUE vs fusiondb unique, raw plain vs raw UNIQUE, fusiondb plain vs fusiondb unique.
(b) single-document mutations on a file database (one commit each), the same three ratios.
(c) a refused duplicate: fusiondb's DuplicateKey (the lookup naming the holder included) vs
    raw's ConstraintError.
"""

from __future__ import annotations

import contextlib
import itertools
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import apsw
import orjson
from benchutil import compare, header, repeats, report, size

import fusiondb as fdb


class User(fdb.Document):
    email: str
    name: str
    age: int = 0


def schema(unique: bool) -> fdb.Schema:
    return fdb.Schema(users=fdb.table(User).index("by_email", ["email"], unique=unique))


@fdb.mutation
def add_many(db: fdb.Writer, docs: list[dict[str, Any]]) -> None:
    for d in docs:
        db.insert("users", d)


@fdb.mutation
def add_one(db: fdb.Writer, doc: dict[str, Any]) -> None:
    db.insert("users", doc)


def raw_connect(path: str, unique: bool) -> apsw.Connection:
    # fusiondb's settings for a file database (engine.FILE_SETTINGS).
    conn = apsw.Connection(path, statementcachesize=256)
    conn.set_busy_timeout(5000)
    conn.pragma("journal_mode", "wal")
    conn.pragma("synchronous", "normal")
    conn.pragma("temp_store", "memory")
    conn.pragma("cache_size", -32_000)
    conn.execute(
        "CREATE TABLE users (_id INTEGER PRIMARY KEY AUTOINCREMENT, creation_time REAL NOT NULL, "
        "doc TEXT NOT NULL, email GENERATED ALWAYS AS (doc ->> '$.email') VIRTUAL)"
    )
    conn.execute(f"CREATE {'UNIQUE ' if unique else ''}INDEX users_email ON users(email)")
    return conn


_RAW_INSERT = "INSERT INTO users(creation_time, doc) VALUES (?, ?)"


def main() -> None:
    header("bench_unique: inserts into a table with a unique index (file databases, WAL)")
    counter = itertools.count()

    def docs(n: int) -> list[dict[str, Any]]:
        return [{"email": f"user{i}@example.org", "name": f"user {i}", "age": i % 90}
                for i in (next(counter) for _ in range(n))]

    with tempfile.TemporaryDirectory(prefix="fdb-bench-") as d:
        tmp = Path(d)
        raws = {u: raw_connect(str(tmp / f"raw-{u}.db"), u) for u in (False, True)}
        dbs = {u: fdb.open(tmp / f"fdb-{u}.db", schema(u)) for u in (False, True)}

        def raw_batch(unique: bool, batch: list[dict[str, Any]]) -> Callable[[], None]:
            def run() -> None:
                conn = raws[unique]
                with conn:
                    for doc in batch:
                        conn.execute(_RAW_INSERT, (time.time() * 1000.0, orjson.dumps(doc).decode()))
            return run

        def fdb_batch(unique: bool, batch: list[dict[str, Any]]) -> Callable[[], None]:
            return lambda: dbs[unique].run(add_many, docs=batch)

        n = size(20_000, 500)
        kinds = ("raw plain", "raw unique", "fdb plain", "fdb unique")
        times: dict[str, list[float]] = {k: [] for k in kinds}
        for _ in range(repeats(7)):
            batches = {k: docs(n) for k in times}
            for key, fn in (
                ("raw plain", raw_batch(False, batches["raw plain"])),
                ("raw unique", raw_batch(True, batches["raw unique"])),
                ("fdb plain", fdb_batch(False, batches["fdb plain"])),
                ("fdb unique", fdb_batch(True, batches["fdb unique"])),
            ):
                start = time.perf_counter()
                fn()
                times[key].append(time.perf_counter() - start)
        print(f"(a) {n:,} inserts in one transaction")
        report("    raw UNIQUE index vs fusiondb unique index", times["raw unique"], times["fdb unique"],
               per=n, unit="doc")
        report("    [raw plain index vs raw UNIQUE index]", times["raw plain"], times["raw unique"],
               per=n, unit="doc")
        report("    [fusiondb plain index vs fusiondb unique]", times["fdb plain"], times["fdb unique"],
               per=n, unit="doc")
        report("    raw plain index vs fusiondb plain index", times["raw plain"], times["fdb plain"],
               per=n, unit="doc")

        m = size(1_000, 30)
        single: dict[str, list[float]] = {k: [] for k in times}
        for _ in range(repeats(5)):
            for key in single:
                batch = docs(m)
                unique = key.endswith("unique")
                start = time.perf_counter()
                if key.startswith("raw"):
                    conn = raws[unique]
                    for doc in batch:
                        conn.execute("BEGIN IMMEDIATE")
                        conn.execute(_RAW_INSERT, (time.time() * 1000.0, orjson.dumps(doc).decode()))
                        conn.execute("COMMIT")
                else:
                    for doc in batch:
                        dbs[unique].run(add_one, doc=doc)
                single[key].append(time.perf_counter() - start)
        print(f"(b) {m:,} single-document mutations (one commit each)")
        report("    raw UNIQUE index vs fusiondb unique index", single["raw unique"], single["fdb unique"],
               per=m, unit="txn")
        report("    [raw plain index vs raw UNIQUE index]", single["raw plain"], single["raw unique"],
               per=m, unit="txn")
        report("    [fusiondb plain index vs fusiondb unique]", single["fdb plain"], single["fdb unique"],
               per=m, unit="txn")

        taken = {"email": "user0@example.org", "name": "again"}
        k = size(2_000, 50)

        def raw_refused() -> None:
            conn = raws[True]
            for _ in range(k):
                conn.execute("BEGIN IMMEDIATE")
                with contextlib.suppress(apsw.ConstraintError):
                    conn.execute(_RAW_INSERT, (time.time() * 1000.0, orjson.dumps(taken).decode()))
                conn.execute("ROLLBACK")

        def fdb_refused() -> None:
            for _ in range(k):
                with contextlib.suppress(fdb.DuplicateKey):
                    dbs[True].run(add_one, doc=taken)

        r, f = compare(raw_refused, fdb_refused, repeats(5))
        print(f"(c) {k:,} refused duplicate inserts (each its own transaction, rolled back)")
        report("    raw ConstraintError vs fusiondb DuplicateKey", r, f, per=k, unit="txn")
        for db in dbs.values():
            db.close()
        for conn in raws.values():
            conn.close()


if __name__ == "__main__":
    main()
