"""Vector search figures: recall@10 and latency against brute force in numpy, same run.

    .venv/bin/python benchmarks/bench_vector.py        # BENCH_QUICK=1 for a smoke run

N documents (100k) with a random 384-d vector each (normal, float32 values rounded to 4
decimals, so the JSON stays small) and a ``user_id`` among 100 users, in a file database with
``vector_index("by_embedding", vector_field="embedding", dimensions=384,
filter_fields=["user_id"])``.

(a) recall@10: the share of the exact top 10 (numpy: cosine similarity of every vector,
    float32, ``argpartition``) that ``db.vector_search(..., limit=10)`` returns, over Q random
    query vectors; without a filter, and with ``eq("user_id", u)`` (1% of the documents).
    sqlite-vec's KNN is a brute-force scan too, so this is an exactness check: 1.000 expected.
(b) latency per search: brute-force numpy over an in-memory matrix of normalized vectors
    (ratio = numpy time / fusiondb time), and raw sqlite-vec (the same ``vec0`` table queried
    with apsw, no fusiondb: ratio = raw time / fusiondb time, fusiondb's own overhead).
(c) inserts: ``insert_many`` of the same documents into a table with the vector index, against
    raw apsw storing the same JSON documents and their vec0 rows (``executemany``, same
    transaction size), and against fusiondb without the index (ratio = without / with).
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

import apsw
import numpy as np
import orjson
from benchutil import compare, fmt_time, header, repeats, report, size

import fusiondb as fdb
from fusiondb.core.ids import decode_id
from fusiondb.engine.sqlite.fts import filter_token
from fusiondb.engine.sqlite.vectors import blob, ensure_loaded, vec_table

DIMS = 384
USERS = 100
BATCH = 5_000


class Doc(fdb.Document):
    embedding: list[float] | None = None
    user_id: str


schema = fdb.Schema(
    docs=fdb.table(Doc).vector_index(
        "by_embedding", vector_field="embedding", dimensions=DIMS, filter_fields=["user_id"]
    )
)
plain_schema = fdb.Schema(docs=fdb.table(Doc))


def vectors(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.round(rng.standard_normal((n, DIMS)).astype(np.float32), 4)


def batches(matrix: np.ndarray, start: int = 0) -> Any:
    for i in range(0, len(matrix), BATCH):
        rows = matrix[i : i + BATCH].tolist()
        yield [{"embedding": v, "user_id": f"user{(start + i + j) % USERS}"} for j, v in enumerate(rows)]


@fdb.mutation
def load(db: fdb.Writer, docs: list[dict[str, Any]]) -> None:
    db.insert_many("docs", docs)


def exact_top(normed: np.ndarray, q: np.ndarray, k: int, mask: np.ndarray | None = None) -> np.ndarray:
    """Row numbers (0-based) of the ``k`` vectors most cosine-similar to ``q``."""
    scores = normed @ (q / np.linalg.norm(q))
    if mask is not None:
        scores = np.where(mask, scores, -np.inf)
    top = np.argpartition(-scores, k)[:k]
    return top[np.argsort(-scores[top])]


def bench_search(tmp: Path, n: int) -> None:
    matrix = vectors(n, seed=1)
    db = fdb.open(tmp / "vec.db", schema)
    start = time.perf_counter()
    for docs in batches(matrix):
        db.run(load, docs=docs)
    took = time.perf_counter() - start
    print(f"loaded {n} documents of {DIMS} floats in {fmt_time(took)} ({fmt_time(took / n)}/doc)")
    normed = matrix / np.linalg.norm(matrix, axis=1, keepdims=True)
    users = np.array([i % USERS for i in range(n)])
    queries = vectors(size(100, 10), seed=2)
    qlists = queries.tolist()

    def rows_of(results: list[fdb.VectorResult]) -> list[int]:
        return [decode_id(r.id)[1] - 1 for r in results]  # type: ignore[index]  # rowid 1 = row 0

    for label, filtered in (("no filter", False), ("eq(user_id), 1% of documents", True)):
        hits = total = 0
        for i, q in enumerate(queries):
            user = i % USERS
            flt = (lambda s, u=user: s.eq("user_id", f"user{u}")) if filtered else None
            found = rows_of(db.vector_search("docs", "by_embedding", qlists[i], limit=10, filter=flt))
            exact = exact_top(normed, q, 10, users == user if filtered else None)
            hits += len(set(found) & set(exact.tolist()))
            total += 10
        print(f"recall@10, {label:<40} {hits / total:.3f} ({hits}/{total}, {len(queries)} queries)")

    raw = apsw.Connection(str(tmp / "vec.db"))
    ensure_loaded(raw)
    vec = f'"{vec_table("docs", "by_embedding")}"'
    knn = f"SELECT rowid, distance FROM {vec} WHERE embedding MATCH ? AND k = 10"
    knn_user = knn + " AND f0 IN (?)"

    def raw_run(filtered: bool) -> None:
        for i, q in enumerate(qlists):
            if filtered:
                raw.execute(knn_user, (blob(q), filter_token(0, f"user{i % USERS}"))).fetchall()
            else:
                raw.execute(knn, (blob(q),)).fetchall()

    def numpy_run(filtered: bool) -> None:
        for i, q in enumerate(queries):
            exact_top(normed, q, 10, users == i % USERS if filtered else None)

    def fdb_run(filtered: bool) -> None:
        @fdb.query
        def run_all(r: fdb.Reader) -> None:
            for i, q in enumerate(qlists):
                flt = (lambda s, u=i % USERS: s.eq("user_id", f"user{u}")) if filtered else None
                r.vector_search("docs", "by_embedding", q, limit=10, filter=flt)

        db.run(run_all)

    per = len(queries)
    for filtered, label in ((False, "top 10"), (True, "top 10, eq(user_id)")):
        r, f = compare(lambda fl=filtered: numpy_run(fl), lambda fl=filtered: fdb_run(fl), repeats(5))
        report(f"(b) {label}: numpy brute force vs vector_search", r, f, per=per, unit="query")
        r, f = compare(lambda fl=filtered: raw_run(fl), lambda fl=filtered: fdb_run(fl), repeats(5))
        report(f"(b) {label}: raw sqlite-vec vs vector_search", r, f, per=per, unit="query")
    raw.close()
    db.close()


def bench_insert_cost(tmp: Path, n: int) -> None:
    matrix = vectors(n, seed=3)
    docs = list(batches(matrix))
    count = [0]

    def fresh(which: fdb.Schema) -> fdb.Database:
        count[0] += 1
        return fdb.open(tmp / f"ins{count[0]}.db", which)

    def run(which: fdb.Schema) -> None:
        with fresh(which) as db:
            for batch in docs:
                db.run(load, docs=batch)

    def raw_run() -> None:
        count[0] += 1
        conn = apsw.Connection(str(tmp / f"raw{count[0]}.db"))
        conn.pragma("journal_mode", "wal")
        conn.pragma("synchronous", "normal")
        ensure_loaded(conn)
        conn.execute(
            "CREATE TABLE docs (_id INTEGER PRIMARY KEY AUTOINCREMENT, creation_time REAL NOT NULL, "
            "doc TEXT NOT NULL)"
        )
        conn.execute(
            f"CREATE VIRTUAL TABLE vec USING vec0(embedding float[{DIMS}] distance_metric=cosine, f0 text)"
        )
        rowid = 0
        for batch in docs:
            with conn:
                conn.executemany(
                    "INSERT INTO docs(creation_time, doc) VALUES (?, ?)",
                    [(time.time() * 1e3, orjson.dumps(d).decode()) for d in batch],
                )
                conn.executemany(
                    "INSERT INTO vec(rowid, embedding, f0) VALUES (?, ?, ?)",
                    [
                        (rowid + i + 1, blob(d["embedding"]), filter_token(0, d["user_id"]))
                        for i, d in enumerate(batch)
                    ],
                )
            rowid += len(batch)
        conn.close()

    r, f = compare(raw_run, lambda: run(schema), repeats(3))
    report("(c) insert_many with a vector index vs raw apsw", r, f, per=n, unit="doc")
    r, f = compare(lambda: run(plain_schema), lambda: run(schema), repeats(3))
    report("(c) insert_many: no vector index vs with one", r, f, per=n, unit="doc")


def main() -> None:
    header("vector search: recall@10 and latency against brute force (numpy) and raw sqlite-vec")
    with tempfile.TemporaryDirectory() as d:
        bench_search(Path(d), size(100_000, 2_000))
    with tempfile.TemporaryDirectory() as d:
        bench_insert_cost(Path(d), size(20_000, 1_000))


if __name__ == "__main__":
    main()
