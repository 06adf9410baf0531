"""fusiondb against its Python peers on the same documents: raw apsw, sqlite-utils, TinyDB.

    .venv/bin/python benchmarks/bench_peers.py        # BENCH_QUICK=1 for a smoke run

The peers need the ``bench`` extra (``pip install -e '.[bench]'``; ``make bench`` and
``make test`` install it). A peer that is not installed is left out of the table.

Rows (the same Task documents as bench_core.py, 100k of them, 1,000 users):

- bulk insert of every document in one transaction (fusiondb: one mutation calling
  ``db.insert_many``, validating each document; raw apsw: executemany of orjson text;
  sqlite-utils: ``insert_all``, no validation; TinyDB: ``insert_multiple``);
- indexed query of one user's ~100 documents (fusiondb as models and as dicts; raw: the SQL
  range plus ``orjson.loads``; sqlite-utils: ``rows_where`` on an indexed column; TinyDB: a
  ``Query`` (it has no indexes: a scan));
- get by id, one call per get (fusiondb: ``db.run`` of a query per get);
- single-document mutation: insert one document in its own transaction, file database.

sqlite-utils gets fusiondb's settings (WAL, ``synchronous=NORMAL``). TinyDB uses its
``CachingMiddleware`` over its JSON file for the reads (else every read re-parses the file)
and plain ``JSONStorage`` for the single-document inserts (what a durable TinyDB write is;
it rewrites the whole file, so that row runs on a 1,000-document file).

Figures: time per operation of each, and ``ratio`` = peer time / fusiondb time (higher is
better for fusiondb; above 1.0, fusiondb is faster). Best of several alternating runs.
"""

from __future__ import annotations

import importlib.util
import random
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
from bench_core import (
    RAW_GET,
    RAW_RANGE,
    Task,
    add_task,
    by_user,
    by_user_dicts,
    get_one,
    insert_all_ids,
    insert_many,
    make_docs,
    now_ms,
    raw_connect,
    raw_insert_all,
    schema,
)
from benchutil import QUICK, fmt_time, repeats, size, timed

import fusiondb as fdb

HAVE_SQLITE_UTILS = importlib.util.find_spec("sqlite_utils") is not None
HAVE_TINYDB = importlib.util.find_spec("tinydb") is not None
Op = Callable[[], object]


def best_of(
    fns: dict[str, Op], n: int, setup: Callable[[str], object] | None = None,
    scale: dict[str, float] | None = None,
) -> dict[str, float]:
    """Best time of each function over ``n`` alternating rounds; ``scale``: a factor for a
    function that does only a part of the work (a slow peer run on fewer operations)."""
    best = {name: float("inf") for name in fns}
    for _ in range(n):
        for name, fn in fns.items():
            if setup is not None:
                setup(name)
            best[name] = min(best[name], timed(fn) * (scale or {}).get(name, 1.0))
    return best


def row(name: str, times: dict[str, float], per: int, unit: str) -> None:
    """One table row: each side's time per op, and peer/fusiondb ratios."""
    base = times["fusiondb"] / per
    parts = [f"{k} {fmt_time(v / per)}/{unit}" for k, v in times.items()]
    ratios = [f"vs {k} {(v / per) / base:.2f}x" for k, v in times.items() if k != "fusiondb"]
    print(f"{name:<40} " + "  ".join(parts))
    print(f"{'':<40} ratio (peer time / fusiondb time): " + ", ".join(ratios), flush=True)


# -- sqlite-utils and TinyDB ------------------------------------------------------------


def su_open(path: Path) -> Any:
    import sqlite_utils

    db = sqlite_utils.Database(path)
    db.enable_wal()
    db.execute("PRAGMA synchronous=NORMAL")
    if "tasks" not in db.table_names():
        db["tasks"].create(
            {"id": int, "text": str, "completed": int, "user_id": str, "priority": int}, pk="id"
        )
        db["tasks"].create_index(["user_id"])
    return db


def tiny_open(path: Path, cached: bool) -> Any:
    from tinydb import TinyDB
    from tinydb.middlewares import CachingMiddleware
    from tinydb.storages import JSONStorage

    if cached:
        return TinyDB(path, storage=CachingMiddleware(JSONStorage))
    return TinyDB(path)


def main() -> None:
    n = size(100_000, 2_000)
    peers = ["raw apsw"]
    peers += ["sqlite-utils"] if HAVE_SQLITE_UTILS else []
    peers += ["TinyDB"] if HAVE_TINYDB else []
    print("== bench_peers: fusiondb vs " + ", ".join(peers)
          + ("  [BENCH_QUICK: sizes reduced, figures meaningless]" if QUICK else ""))
    print("   ratio = peer time / fusiondb time (above 1.0: fusiondb is faster)", flush=True)
    docs = make_docs(n)
    with tempfile.TemporaryDirectory(prefix="fdb-bench-peers-") as d:
        tmp = Path(d)
        counter = iter(range(10**9))
        state: dict[str, Any] = {}

        # -- bulk insert ------------------------------------------------------------
        def fresh(name: str) -> None:
            old = state.pop(name, None)
            if old is not None and hasattr(old, "close"):
                old.close()
            i = next(counter)
            if name == "fusiondb":
                state[name] = fdb.open(tmp / f"bulk{i}.fdb", schema)
            elif name == "raw apsw":
                state[name] = raw_connect(str(tmp / f"bulk{i}.raw"))
            elif name == "sqlite-utils":
                state[name] = su_open(tmp / f"bulk{i}.su")
            else:
                state[name] = tiny_open(tmp / f"bulk{i}.json", cached=False)

        bulk: dict[str, Op] = {
            "fusiondb": lambda: state["fusiondb"].run(insert_many, docs=docs),
            "raw apsw": lambda: raw_insert_all(state["raw apsw"], docs),
        }
        if HAVE_SQLITE_UTILS:
            bulk["sqlite-utils"] = lambda: state["sqlite-utils"]["tasks"].insert_all(
                docs, batch_size=1000
            )
        if HAVE_TINYDB:
            bulk["TinyDB"] = lambda: state["TinyDB"].insert_multiple(docs)
        row(f"bulk insert {n} documents", best_of(bulk, repeats(3), fresh), n, "doc")
        for db in state.values():
            db.close()
        state.clear()

        # -- reads on one populated store each --------------------------------------
        fdb_db = fdb.open(tmp / "read.fdb", schema)
        ids: list[str] = fdb_db.run(insert_all_ids, docs=docs)
        raw = raw_connect(str(tmp / "read.raw"))
        raw_insert_all(raw, docs)
        su = tiny = None
        if HAVE_SQLITE_UTILS:
            su = su_open(tmp / "read.su")
            su["tasks"].insert_all(docs, batch_size=1000)
        if HAVE_TINYDB:
            tiny = tiny_open(tmp / "read.json", cached=True)
            tiny.insert_multiple(docs)
        rng = random.Random(7)
        users = sorted({doc["user_id"] for doc in docs})
        sample = [rng.choice(users) for _ in range(size(200, 20))]

        queries: dict[str, Op] = {
            "fusiondb": lambda: [fdb_db.run(by_user, user_id=u) for u in sample],
            "raw apsw": lambda: [
                [orjson.loads(r[2]) for r in raw.execute(RAW_RANGE, (u,))] for u in sample
            ],
        }
        if su is not None:
            queries["sqlite-utils"] = lambda: [
                list(su["tasks"].rows_where("user_id = ?", [u])) for u in sample
            ]
        if tiny is not None:
            from tinydb import Query

            t = Query()
            few = sample[: max(2, len(sample) // 20)]  # a full scan per query: slow
            def tiny_search(u: str) -> Any:
                tiny.clear_cache()  # TinyDB caches query results; measure the search itself
                return tiny.search(t.user_id == u)

            queries["TinyDB"] = lambda: [tiny_search(u) for u in few]
        q_scale = {"TinyDB": len(sample) / len(few)} if tiny is not None else None
        assert len(fdb_db.run(by_user, user_id=sample[0])) == len(list(raw.execute(RAW_RANGE, (sample[0],))))
        per_user = n // len(users)
        row(f"indexed query, ~{per_user} docs as models", best_of(queries, repeats(5), scale=q_scale),
            len(sample), "query")
        queries["fusiondb"] = lambda: [fdb_db.run(by_user_dicts, user_id=u) for u in sample]
        row(f"indexed query, ~{per_user} docs as dicts", best_of(queries, repeats(5), scale=q_scale),
            len(sample), "query")

        picks = [rng.randrange(n) for _ in range(size(2000, 100))]
        gets: dict[str, Op] = {
            "fusiondb": lambda: [fdb_db.run(get_one, doc_id=ids[i]) for i in picks],
            "raw apsw": lambda: [orjson.loads(raw.execute(RAW_GET, (i + 1,)).fetchone()[1]) for i in picks],
        }
        if su is not None:
            gets["sqlite-utils"] = lambda: [su["tasks"].get(i + 1) for i in picks]
        if tiny is not None:
            gets["TinyDB"] = lambda: [tiny.get(doc_id=i + 1) for i in picks]
        row("get by id, one call per get", best_of(gets, repeats(5)), len(picks), "get")
        fdb_db.close()
        raw.close()
        if su is not None:
            su.close()

        # -- single-document mutations --------------------------------------------
        m = size(500, 30)
        fdb_db = fdb.open(tmp / "single.fdb", schema)
        raw = raw_connect(str(tmp / "single.raw"))
        singles: dict[str, Op] = {}
        s_scale: dict[str, float] = {}

        def one_doc() -> dict[str, Any]:
            i = next(counter)
            return {"text": f"t{i}", "completed": False, "user_id": f"user{i % 100}", "priority": 0}

        def raw_one() -> None:
            for _ in range(m):
                raw.execute("BEGIN IMMEDIATE")
                raw.execute("INSERT INTO tasks(creation_time, doc) VALUES (?, ?)",
                            (now_ms(), orjson.dumps(one_doc()).decode()))
                raw.execute("COMMIT")

        singles["fusiondb"] = lambda: [
            fdb_db.run(add_task, text=d["text"], user_id=d["user_id"]) for d in (one_doc() for _ in range(m))
        ]
        singles["raw apsw"] = raw_one
        if HAVE_SQLITE_UTILS:
            su = su_open(tmp / "single.su")
            singles["sqlite-utils"] = lambda: [su["tasks"].insert(one_doc()) for _ in range(m)]
        if HAVE_TINYDB:
            tiny_single = tiny_open(tmp / "single.json", cached=False)
            tiny_single.insert_multiple(make_docs(1000))
            few_m = max(2, m // 10)  # each insert rewrites the whole file
            singles["TinyDB"] = lambda: [tiny_single.insert(one_doc()) for _ in range(few_m)]
            s_scale["TinyDB"] = m / few_m
        row("single-document mutation (insert), file db", best_of(singles, repeats(5), scale=s_scale), m,
            "txn")
        fdb_db.close()
        raw.close()
        if su is not None:
            su.close()
        assert Task  # the model every fusiondb row validates


if __name__ == "__main__":
    main()
