"""Core figures: fusiondb against raw apsw doing the same work in the same run.

    .venv/bin/python benchmarks/bench_core.py          # BENCH_QUICK=1 for a smoke run

(a) validated bulk insert of N documents in one mutation (a loop of db.insert, and one
    db.insert_many); raw: one transaction, executemany
    of orjson-encoded documents into an equivalent table (same virtual generated column and
    index on user_id).
(b) an indexed query returning ~100 documents, as models and as dicts; raw: the same index
    range in SQL plus orjson.loads per row.
(c) get by id: many gets inside one query function, and one db.run per get; raw: SELECT by
    rowid plus orjson.loads.
(d) single-document mutations on a file database; raw: BEGIN IMMEDIATE / INSERT / COMMIT in
    WAL with synchronous=NORMAL (fusiondb's settings).
"""

from __future__ import annotations

import gc
import random
import tempfile
import time
from pathlib import Path
from typing import Any

import apsw
import orjson
from benchutil import compare, header, repeats, report, size

import fusiondb as fdb


class Task(fdb.Document):
    text: str
    completed: bool = False
    user_id: str
    priority: int = 0


schema = fdb.Schema(tasks=fdb.table(Task).index("by_user", ["user_id"]))

PER_USER = 100  # documents per user, so an indexed query returns ~100


def make_docs(n: int) -> list[dict[str, Any]]:
    users = max(1, n // PER_USER)
    return [
        {"text": f"task number {i}", "completed": i % 3 == 0, "user_id": f"user{i % users}",
         "priority": i % 5}
        for i in range(n)
    ]


def raw_connect(path: str) -> apsw.Connection:
    # The settings fusiondb applies to a file database (engine.FILE_SETTINGS).
    conn = apsw.Connection(path, statementcachesize=256)
    conn.set_busy_timeout(5000)
    conn.pragma("journal_mode", "wal")
    conn.pragma("synchronous", "normal")
    conn.pragma("temp_store", "memory")
    conn.pragma("cache_size", -32_000)
    conn.execute(
        "CREATE TABLE IF NOT EXISTS tasks (_id INTEGER PRIMARY KEY AUTOINCREMENT, "
        "creation_time REAL NOT NULL, doc TEXT NOT NULL)"
    )
    if not conn.execute("SELECT 1 FROM pragma_table_xinfo('tasks') WHERE name = '$user_id'").fetchall():
        conn.execute(
            "ALTER TABLE tasks ADD COLUMN \"$user_id\" GENERATED ALWAYS AS (doc ->> '$.user_id') VIRTUAL"
        )
    conn.execute('CREATE INDEX IF NOT EXISTS tasks_by_user ON tasks("$user_id", creation_time)')
    return conn


def now_ms() -> float:
    return time.time() * 1000.0


def raw_insert_all(conn: apsw.Connection, docs: list[dict[str, Any]]) -> None:
    conn.execute("BEGIN IMMEDIATE")
    conn.executemany(
        "INSERT INTO tasks(creation_time, doc) VALUES (?, ?)",
        [(now_ms(), orjson.dumps(d).decode()) for d in docs],
    )
    conn.execute("COMMIT")


@fdb.mutation
def insert_all(db: fdb.Writer, docs: list[Any]) -> None:
    for d in docs:
        db.insert("tasks", d)


@fdb.mutation
def insert_many(db: fdb.Writer, docs: list[Any]) -> list[str]:
    return db.insert_many("tasks", docs)


@fdb.mutation
def add_task(db: fdb.Writer, text: str, user_id: str) -> str:
    return db.insert("tasks", Task(text=text, user_id=user_id))


@fdb.query
def by_user(db: fdb.Reader, user_id: str) -> list[Task]:
    return db.query("tasks").with_index("by_user", lambda q: q.eq("user_id", user_id)).collect()


@fdb.query
def by_user_dicts(db: fdb.Reader, user_id: str) -> list[dict[str, Any]]:
    return (
        db.query("tasks")
        .with_index("by_user", lambda q: q.eq("user_id", user_id))
        .as_dicts()
        .collect()
    )


@fdb.query
def get_many(db: fdb.Reader, ids: list[str]) -> list[Any]:
    return [db.get(i) for i in ids]


@fdb.query
def get_one(db: fdb.Reader, doc_id: str) -> Any:
    return db.get(doc_id)


RAW_RANGE = (
    'SELECT _id, creation_time, doc FROM tasks WHERE "$user_id" = ? ORDER BY creation_time'
)
RAW_GET = "SELECT creation_time, doc FROM tasks WHERE _id = ?"


def bench_bulk(tmp: Path, n: int) -> None:
    docs = make_docs(n)
    models = [Task(**d) for d in docs]
    counter = iter(range(1_000_000))
    state: dict[str, Any] = {}

    def setup() -> None:
        for key in ("raw", "db"):
            if key in state:
                state[key].close()
        i = next(counter)
        state["raw"] = raw_connect(str(tmp / f"bulk_raw_{i}.db"))
        state["db"] = fdb.open(tmp / f"bulk_fdb_{i}.db", schema)

    r, f = compare(
        lambda: raw_insert_all(state["raw"], docs),
        lambda: state["db"].run(insert_all, docs=docs),
        repeats(3),
        setup,
    )
    report(f"(a) bulk insert {n} dicts, one mutation", r, f, per=n, unit="doc", target=0.5)
    r, f = compare(
        lambda: raw_insert_all(state["raw"], docs),
        lambda: state["db"].run(insert_many, docs=docs),
        repeats(3),
        setup,
    )
    report(f"(a) bulk insert {n} dicts, db.insert_many", r, f, per=n, unit="doc", target=0.5)
    r, f = compare(
        lambda: raw_insert_all(state["raw"], docs),
        lambda: state["db"].run(insert_all, docs=models),
        repeats(3),
        setup,
    )
    report(f"(a) bulk insert {n} models, one mutation", r, f, per=n, unit="doc", target=0.5)

    def without_gc(fn: Any) -> Any:
        def run() -> None:
            gc.disable()
            try:
                fn()
            finally:
                gc.enable()

        return run

    # Informational: how much CPython's cyclic GC costs a bulk load (the write set is kept
    # until commit, as tuples of atomic values the GC stops tracking; see writeset.py).
    r, f = compare(
        without_gc(lambda: raw_insert_all(state["raw"], docs)),
        without_gc(lambda: state["db"].run(insert_all, docs=docs)),
        repeats(3),
        setup,
    )
    report(f"(a) bulk insert {n} dicts, gc.disable() around both", r, f, per=n, unit="doc")
    state["raw"].close()
    state["db"].close()


def bench_reads(tmp: Path, n: int) -> None:
    docs = make_docs(n)
    raw = raw_connect(str(tmp / "read_raw.db"))
    raw_insert_all(raw, docs)
    db = fdb.open(tmp / "read_fdb.db", schema)
    ids: list[str] = db.run(insert_all_ids, docs=docs)
    users = sorted({d["user_id"] for d in docs})
    rng = random.Random(7)
    sample = [rng.choice(users) for _ in range(size(300, 30))]

    def raw_query() -> None:
        for u in sample:
            [orjson.loads(row[2]) for row in raw.execute(RAW_RANGE, (u,))]

    def fdb_query() -> None:
        for u in sample:
            db.run(by_user, user_id=u)

    def fdb_query_dicts() -> None:
        for u in sample:
            db.run(by_user_dicts, user_id=u)

    assert len(db.run(by_user, user_id=sample[0])) == len(list(raw.execute(RAW_RANGE, (sample[0],))))
    r, f = compare(raw_query, fdb_query, repeats(7))
    report(f"(b) indexed query, ~{PER_USER} docs as models", r, f, per=len(sample), unit="query",
           target=0.5)
    r, f = compare(raw_query, fdb_query_dicts, repeats(7))
    report(f"(b) indexed query, ~{PER_USER} docs as dicts", r, f, per=len(sample), unit="query",
           target=0.5)

    picks = [rng.randrange(len(ids)) for _ in range(size(5000, 200))]
    pick_ids = [ids[i] for i in picks]
    pick_rowids = [i + 1 for i in picks]  # a fresh table numbers rows from 1, in insert order

    def raw_get_many() -> None:
        raw.execute("BEGIN")
        for rowid in pick_rowids:
            row = raw.execute(RAW_GET, (rowid,)).fetchone()
            orjson.loads(row[1])
        raw.execute("COMMIT")

    assert db.run(get_one, doc_id=pick_ids[0]).text == orjson.loads(
        raw.execute(RAW_GET, (pick_rowids[0],)).fetchone()[1]
    )["text"]
    r, f = compare(raw_get_many, lambda: db.run(get_many, ids=pick_ids), repeats(7))
    report(f"(c) get by id, {len(picks)} gets in one query", r, f, per=len(picks), unit="get",
           target=0.5)

    single = pick_ids[: size(2000, 100)]
    single_rowids = pick_rowids[: len(single)]

    def raw_get_single() -> None:
        for rowid in single_rowids:
            row = raw.execute(RAW_GET, (rowid,)).fetchone()  # autocommit: its own read txn
            orjson.loads(row[1])

    def fdb_get_single() -> None:
        for i in single:
            db.run(get_one, doc_id=i)

    r, f = compare(raw_get_single, fdb_get_single, repeats(7))
    report("(c) get by id, one db.run per get", r, f, per=len(single), unit="run")
    raw.close()
    db.close()


@fdb.mutation
def insert_all_ids(db: fdb.Writer, docs: list[Any]) -> list[str]:
    return [db.insert("tasks", d) for d in docs]


def bench_single(tmp: Path, n: int) -> None:
    raw = raw_connect(str(tmp / "single_raw.db"))
    db = fdb.open(tmp / "single_fdb.db", schema)
    counter = iter(range(10**9))

    def raw_one() -> None:
        for _ in range(n):
            i = next(counter)
            raw.execute("BEGIN IMMEDIATE")
            raw.execute(
                "INSERT INTO tasks(creation_time, doc) VALUES (?, ?)",
                (now_ms(), orjson.dumps({"text": f"t{i}", "completed": False,
                                         "user_id": f"user{i % 100}", "priority": 0}).decode()),
            )
            raw.execute("COMMIT")

    def fdb_one() -> None:
        for _ in range(n):
            i = next(counter)
            db.run(add_task, text=f"t{i}", user_id=f"user{i % 100}")

    r, f = compare(raw_one, fdb_one, repeats(7))
    best = min(f) / n
    report(f"(d) single-document mutation, file db ({1 / best:,.0f}/s)", r, f, per=n,
           unit="txn", target=0.8)
    raw.close()
    db.close()


def main() -> None:
    header("bench_core: fusiondb vs raw apsw (file databases, WAL, synchronous=NORMAL)")
    with tempfile.TemporaryDirectory(prefix="fdb-bench-") as d:
        tmp = Path(d)
        bench_bulk(tmp, size(100_000, 2_000))
        bench_reads(tmp, size(100_000, 2_000))
        bench_single(tmp, size(1_000, 50))


if __name__ == "__main__":
    main()
