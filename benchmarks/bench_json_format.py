"""Storage format: documents as JSON TEXT (what fusiondb stores) against SQLite JSONB.

    .venv/bin/python benchmarks/bench_json_format.py     # BENCH_QUICK=1 for a smoke run

DESIGN.md says "JSON (SQLite JSONB where it measures faster)". This measures, with raw apsw on
fusiondb's table shape (a virtual generated column per indexed field, an index over it and
creation time), the operations fusiondb does:

- bulk insert (JSONB: ``jsonb(?)`` from the same text Python produces; Python has no JSONB
  encoder, so the text is always made first),
- an indexed query returning ~100 documents decoded with one pydantic ``validate_json``
  (JSONB: ``json(doc)`` back to text, since neither pydantic nor orjson reads JSONB),
- get by id,
- a filter over every document (``doc ->> '$.priority'`` in SQL, a full scan), and
- building an index on an existing table (the generated column read from every document).

Here ``ratio = TEXT time / JSONB time``: above 1.0 JSONB is faster, below 1.0 TEXT is.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

import apsw
import orjson
import pydantic
from benchutil import QUICK, fmt_time, repeats, size

PER_USER = 100


class Task(pydantic.BaseModel):
    text: str
    completed: bool = False
    user_id: str
    priority: int = 0
    tags: list[str] = []


tasks_adapter = pydantic.TypeAdapter(list[Task])


def connect(path: Path, fmt: str) -> apsw.Connection:
    conn = apsw.Connection(str(path), statementcachesize=256)
    conn.pragma("journal_mode", "wal")
    conn.pragma("synchronous", "normal")
    conn.pragma("cache_size", -32_000)
    kind = "BLOB" if fmt == "jsonb" else "TEXT"
    conn.execute(
        f"CREATE TABLE tasks (_id INTEGER PRIMARY KEY AUTOINCREMENT, creation_time REAL NOT NULL, "
        f"doc {kind} NOT NULL, \"$user_id\" GENERATED ALWAYS AS (doc ->> '$.user_id') VIRTUAL)"
    )
    conn.execute('CREATE INDEX tasks_by_user ON tasks("$user_id", creation_time)')
    conn.execute("CREATE INDEX tasks_by_ct ON tasks(creation_time)")
    return conn


def make_docs(n: int) -> list[str]:
    users = max(1, n // PER_USER)
    return [
        orjson.dumps(
            {"text": f"task number {i} with a few more words", "completed": i % 3 == 0,
             "user_id": f"user{i % users}", "priority": i % 5, "tags": ["a", "b"][: i % 3]}
        ).decode()
        for i in range(n)
    ]


def insert_sql(fmt: str) -> str:
    value = "jsonb(?)" if fmt == "jsonb" else "?"
    return f"INSERT INTO tasks(creation_time, doc) VALUES (?, {value})"


def doc_expr(fmt: str) -> str:
    return "json(doc)" if fmt == "jsonb" else "doc"


def bulk_insert(conn: apsw.Connection, fmt: str, docs: list[str]) -> None:
    now = time.time() * 1000
    conn.execute("BEGIN IMMEDIATE")
    conn.executemany(insert_sql(fmt), [(now + i * 1e-3, d) for i, d in enumerate(docs)])
    conn.execute("COMMIT")


def best_of(fn: Any, n: int) -> float:
    best = float("inf")
    for _ in range(n):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def line(name: str, text_s: float, jsonb_s: float, per: int, unit: str) -> None:
    ratio = text_s / jsonb_s
    faster = "JSONB faster" if ratio > 1.05 else "TEXT faster" if ratio < 0.95 else "even"
    print(
        f"{name:<44} TEXT {fmt_time(text_s / per):>9}/{unit}  JSONB {fmt_time(jsonb_s / per):>9}/{unit}"
        f"  ratio {ratio:.2f}x ({faster})",
        flush=True,
    )


def main() -> None:
    print("== bench_json_format: documents stored as JSON TEXT vs SQLite JSONB (raw apsw)"
          + ("  [BENCH_QUICK: sizes reduced, figures meaningless]" if QUICK else ""))
    print("   ratio = TEXT time / JSONB time for the same work (above 1.0: JSONB is faster)")
    n = size(100_000, 2_000)
    docs = make_docs(n)
    rounds = repeats(3)
    with tempfile.TemporaryDirectory(prefix="fdb-bench-") as d:
        tmp = Path(d)
        times: dict[str, list[float]] = {"text": [], "jsonb": []}
        conns: dict[str, apsw.Connection] = {}
        for r in range(rounds):
            for fmt in ("text", "jsonb"):
                conn = connect(tmp / f"{fmt}{r}.db", fmt)
                times[fmt].append(best_of(lambda c=conn, f=fmt: bulk_insert(c, f, docs), 1))
                if r == rounds - 1:
                    conns[fmt] = conn
                else:
                    conn.close()
        line(f"bulk insert {n} docs, one transaction", min(times["text"]), min(times["jsonb"]), n, "doc")

        users = [f"user{i}" for i in range(0, max(1, n // PER_USER), 7)][: size(200, 20)]

        def query(fmt: str, as_models: bool) -> None:
            conn = conns[fmt]
            sql = (f'SELECT _id, creation_time, {doc_expr(fmt)} FROM tasks WHERE "$user_id" = ? '
                   "ORDER BY creation_time")
            for u in users:
                rows = conn.execute(sql, (u,)).fetchall()
                blob = "[" + ",".join([r[2] for r in rows]) + "]"
                if as_models:
                    tasks_adapter.validate_json(blob)
                else:
                    orjson.loads(blob)

        for as_models, label in ((True, "models"), (False, "dicts")):
            t = best_of(lambda m=as_models: query("text", m), repeats(5))
            j = best_of(lambda m=as_models: query("jsonb", m), repeats(5))
            line(f"indexed query ~{PER_USER} docs as {label}", t, j, len(users), "query")

        rowids = list(range(1, n + 1, max(1, n // size(5000, 200))))

        def get(fmt: str) -> None:
            conn = conns[fmt]
            sql = f"SELECT creation_time, {doc_expr(fmt)} FROM tasks WHERE _id = ?"
            conn.execute("BEGIN")
            for rowid in rowids:
                orjson.loads(conn.execute(sql, (rowid,)).fetchone()[1])
            conn.execute("COMMIT")

        line("get by id + orjson.loads", best_of(lambda: get("text"), repeats(5)),
             best_of(lambda: get("jsonb"), repeats(5)), len(rowids), "get")

        def scan(fmt: str) -> None:
            conns[fmt].execute(
                "SELECT count(*) FROM tasks WHERE doc ->> '$.priority' > 2 AND doc ->> '$.completed'"
            ).fetchall()

        line("filter over every document (full scan)", best_of(lambda: scan("text"), repeats(3)),
             best_of(lambda: scan("jsonb"), repeats(3)), n, "doc")

        def build(fmt: str) -> None:
            conn = conns[fmt]
            conn.execute("BEGIN IMMEDIATE")
            conn.execute(
                "ALTER TABLE tasks ADD COLUMN \"$priority\" "
                "GENERATED ALWAYS AS (doc ->> '$.priority') VIRTUAL"
            )
            conn.execute('CREATE INDEX tasks_by_priority ON tasks("$priority", creation_time)')
            conn.execute("ROLLBACK")

        line("build an index over existing documents", best_of(lambda: build("text"), repeats(3)),
             best_of(lambda: build("jsonb"), repeats(3)), n, "doc")
        sizes = {fmt: conns[fmt].execute("SELECT sum(length(doc)) FROM tasks").fetchone()[0]
                 for fmt in conns}
        print(f"stored bytes per document: TEXT {sizes['text'] / n:.0f}, JSONB {sizes['jsonb'] / n:.0f}")
        for conn in conns.values():
            conn.close()


if __name__ == "__main__":
    main()
