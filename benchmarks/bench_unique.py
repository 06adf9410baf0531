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
(d) deterministic: SQLite VM steps of one INSERT into a table built with fusiondb's own DDL
    (engine/sqlite/ddl.py), plain vs unique index, and raw plain vs UNIQUE.
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
from fusiondb.core.keys import sort_bytes_of_json
from fusiondb.engine.sqlite import ddl


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


def vm_steps(conn: apsw.Connection, sql: str, params: tuple[Any, ...]) -> int:
    """How many SQLite VM instructions running ``sql`` once takes (deterministic)."""
    steps = 0

    def tick() -> bool:
        nonlocal steps
        steps += 1
        return False

    conn.set_progress_handler(tick, 1)
    try:
        conn.execute(sql, params)
    finally:
        conn.set_progress_handler(None)
    return steps


def steps_per_insert(unique: bool | None) -> int:
    """VM steps of one INSERT: a fusiondb table (its DDL) with a plain (``False``) or unique
    (``True``) index on ``email``; ``None``: the raw table with a UNIQUE index."""
    conn = apsw.Connection(":memory:")
    conn.create_scalar_function(ddl.SORT_BYTES_FUNCTION, sort_bytes_of_json, 1, deterministic=True)
    if unique is None:
        conn.execute(
            "CREATE TABLE users (_id INTEGER PRIMARY KEY AUTOINCREMENT, creation_time REAL NOT NULL, "
            "doc TEXT NOT NULL, email GENERATED ALWAYS AS (doc ->> '$.email') VIRTUAL)"
        )
        conn.execute("CREATE UNIQUE INDEX users_email ON users(email)")
    else:
        conn.execute(ddl.create_table("users"))
        conn.execute(ddl.add_tag_column("users", "email"))
        conn.execute(ddl.add_value_column("users", "email", False))
        conn.execute(ddl.create_index("users", "by_email", ("email",), frozenset()))
        if unique:
            conn.execute(ddl.create_unique_index("users", "by_email", ("email",), frozenset()))
    for i in range(100):  # a few rows first: the steps of a B-tree insert, not of an empty one
        conn.execute(_RAW_INSERT, (float(i), orjson.dumps({"email": f"e{i}", "name": "x"}).decode()))
    doc = orjson.dumps({"email": "new@example.org", "name": "x"}).decode()
    steps = vm_steps(conn, _RAW_INSERT, (1.0, doc))
    conn.close()
    return steps


def main() -> None:
    header("bench_unique: inserts into a table with a unique index (file databases, WAL)")
    counter = itertools.count()

    def docs(n: int) -> list[dict[str, Any]]:
        return [
            {"email": f"user{i}@example.org", "name": f"user {i}", "age": i % 90}
            for i in (next(counter) for _ in range(n))
        ]

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
        report(
            "    raw UNIQUE index vs fusiondb unique index",
            times["raw unique"],
            times["fdb unique"],
            per=n,
            unit="doc",
        )
        report(
            "    [raw plain index vs raw UNIQUE index]",
            times["raw plain"],
            times["raw unique"],
            per=n,
            unit="doc",
        )
        report(
            "    [fusiondb plain index vs fusiondb unique]",
            times["fdb plain"],
            times["fdb unique"],
            per=n,
            unit="doc",
        )
        report(
            "    raw plain index vs fusiondb plain index",
            times["raw plain"],
            times["fdb plain"],
            per=n,
            unit="doc",
        )

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
        report(
            "    raw UNIQUE index vs fusiondb unique index",
            single["raw unique"],
            single["fdb unique"],
            per=m,
            unit="txn",
        )
        report(
            "    [raw plain index vs raw UNIQUE index]",
            single["raw plain"],
            single["raw unique"],
            per=m,
            unit="txn",
        )
        report(
            "    [fusiondb plain index vs fusiondb unique]",
            single["fdb plain"],
            single["fdb unique"],
            per=m,
            unit="txn",
        )

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
        plain, unique, raw_unique = steps_per_insert(False), steps_per_insert(True), steps_per_insert(None)
        print(
            "(d) SQLite VM steps of one INSERT (deterministic): fusiondb plain index "
            f"{plain}, unique {unique} ({unique / plain:.2f}x); raw UNIQUE index {raw_unique}"
        )
        for db in dbs.values():
            db.close()
        for conn in raws.values():
            conn.close()


if __name__ == "__main__":
    main()
