"""fusiondb on PostgreSQL against raw psycopg doing the same work in the same run.

    FUSIONDB_POSTGRES_URL=postgresql://... .venv/bin/python benchmarks/bench_postgres.py
    make bench        # starts a throwaway server (.ci/postgres) unless the URL is set

The bench_core work, on one server, each side in a schema of its own (dropped at the end):

(b) an indexed query returning ~100 documents, as models and as dicts; raw: the same range
    in SQL on an expression index over ``doc ->> 'user_id'`` of a ``json`` column, as the
    engine stores documents (autocommit: one statement, one round trip), each row's JSON
    decoded with orjson (against fusiondb's dicts) or validated into a plain pydantic model
    of the same fields (``RawTask.model_validate_json``, against fusiondb's models: the same
    work, as an application on raw psycopg with pydantic does it). The models are also shown
    against the raw dicts, for the price of validation.
(c) get by id: many gets inside one query function (raw: one transaction of SELECTs by
    primary key), and one db.run per get (raw: one autocommit SELECT each).
(d) single-document mutations; raw: a transaction of one INSERT (BEGIN / INSERT / COMMIT),
    without the change log and NOTIFY fusiondb's mutations add for live queries.
(e) cross-process live-query latency: two app processes on the same database, a mutation in
    one, the subscription's callback in the other; the wall-clock stamp is taken inside the
    mutation, so the figure includes the commit. p50 / p99, next to the floor (raw psycopg: a
    transaction with a NOTIFY in one process, received by a LISTENing connection in the
    other) and the same fusiondb measurement on a SQLite file (bench_reactivity's (b)).

Ratios are raw time / fusiondb time (1.0 = as fast as raw psycopg; higher is better).
Targets: >= 0.6x on (b) and (d); (e) p50 <= 5 ms. Needs psycopg (the ``postgres`` extra).
"""

from __future__ import annotations

import importlib.util
import multiprocessing as mp
import os
import random
import secrets
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson
import psycopg
import pydantic
from benchutil import QUICK, compare, fmt_time, repeats, report, size
from psycopg import sql

import fusiondb as fdb

URL_ENV = "FUSIONDB_POSTGRES_URL"
PER_USER = 100  # documents per user, so an indexed query returns ~100
ENGINE = importlib.util.find_spec("fusiondb.engine.postgres") is not None


class Task(fdb.Document):
    text: str
    completed: bool = False
    user_id: str
    priority: int = 0


class RawTask(pydantic.BaseModel):
    """What an application on raw psycopg validates a task's JSON into."""

    text: str
    completed: bool = False
    user_id: str
    priority: int = 0


class Ping(fdb.Document):
    seq: int
    stamp: float


schema = fdb.Schema(
    tasks=fdb.table(Task).index("by_user", ["user_id"]),
    pings=fdb.table(Ping),
)


def make_docs(n: int) -> list[dict[str, Any]]:
    users = max(1, n // PER_USER)
    return [
        {
            "text": f"task number {i}",
            "completed": i % 3 == 0,
            "user_id": f"user{i % users}",
            "priority": i % 5,
        }
        for i in range(n)
    ]


@fdb.mutation
def insert_all_ids(db: fdb.Writer, docs: list[Any]) -> list[str]:
    return [db.insert("tasks", d) for d in docs]


@fdb.mutation
def add_task(db: fdb.Writer, text: str, user_id: str) -> str:
    return db.insert("tasks", Task(text=text, user_id=user_id))


@fdb.query
def by_user(db: fdb.Reader, user_id: str) -> list[Task]:
    return db.query("tasks").with_index("by_user", lambda q: q.eq("user_id", user_id)).collect()


@fdb.query
def by_user_dicts(db: fdb.Reader, user_id: str) -> list[dict[str, Any]]:
    return db.query("tasks").with_index("by_user", lambda q: q.eq("user_id", user_id)).as_dicts().collect()


@fdb.query
def get_many(db: fdb.Reader, ids: list[str]) -> list[Any]:
    return [db.get(i) for i in ids]


@fdb.query
def get_one(db: fdb.Reader, doc_id: str) -> Any:
    return db.get(doc_id)


@fdb.mutation
def ping(db: fdb.Writer, seq: int) -> None:
    db.insert("pings", Ping(seq=seq, stamp=time.time()))


@fdb.query
def latest_ping(db: fdb.Reader) -> Ping | None:
    return db.query("pings").order("desc").first()


# -- the server ------------------------------------------------------------------------------


def server_url() -> str:
    url = os.environ.get(URL_ENV)
    if not url:
        sys.exit(f"bench_postgres: set {URL_ENV} to a PostgreSQL server (make bench starts one)")
    return url


def with_schema(url: str, name: str) -> str:
    return f"{url}{'&' if '?' in url else '?'}schema={name}"


@contextmanager
def scratch_schema(url: str, label: str) -> Iterator[str]:
    """A schema of its own for one side of one benchmark, dropped after it."""
    name = f"bench_{label}_{secrets.token_hex(4)}"
    try:
        yield name
    finally:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(name)))


def open_fdb(url: str, name: str) -> fdb.Database:
    """fusiondb on the server, in schema ``name``: the one piece the PostgreSQL engine gives."""
    return fdb.open(with_schema(url, name), schema)


# -- raw psycopg -------------------------------------------------------------------------------

RAW_RANGE = "SELECT _id, creation_time, doc::text FROM tasks WHERE doc ->> 'user_id' = %s ORDER BY _id"
RAW_GET = "SELECT creation_time, doc::text FROM tasks WHERE _id = %s"
RAW_INSERT = "INSERT INTO tasks (creation_time, doc) VALUES (%s, %s::json) RETURNING _id"


def raw_connect(url: str, name: str) -> psycopg.Connection[Any]:
    """A psycopg connection to schema ``name`` with the engine's table shape (documents as
    ``json`` text, read back without conversion) and an expression index on the queried
    field, ties in insert order: what a developer would write, minus fusiondb's key column."""
    conn = psycopg.connect(url, autocommit=True, prepare_threshold=0)
    conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(name)))
    conn.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(name)))
    conn.execute(
        "CREATE TABLE IF NOT EXISTS tasks (_id bigserial PRIMARY KEY, "
        "creation_time double precision NOT NULL, doc json NOT NULL)"
    )
    conn.execute("CREATE INDEX IF NOT EXISTS tasks_by_user ON tasks ((doc ->> 'user_id'), _id)")
    return conn


def raw_insert_all(conn: psycopg.Connection[Any], docs: list[dict[str, Any]]) -> list[int]:
    with conn.transaction(), conn.cursor() as cur:
        cur.executemany(
            RAW_INSERT,
            [(time.time() * 1000.0, orjson.dumps(d).decode()) for d in docs],
            returning=True,
        )
        ids: list[int] = []
        while True:
            row = cur.fetchone()
            assert row is not None
            ids.append(int(row[0]))
            if not cur.nextset():
                break
    return ids


# -- (b), (c): reads ---------------------------------------------------------------------------


def bench_reads(url: str, n: int) -> None:
    docs = make_docs(n)
    with scratch_schema(url, "raw") as raw_name, scratch_schema(url, "fdb") as fdb_name:
        raw = raw_connect(url, raw_name)
        rowids = raw_insert_all(raw, docs)
        raw.execute("ANALYZE tasks")
        users = sorted({d["user_id"] for d in docs})
        rng = random.Random(7)
        sample = [rng.choice(users) for _ in range(size(300, 20))]
        picks = [rng.randrange(n) for _ in range(size(3000, 100))]
        single = picks[: size(1000, 50)]

        def raw_query() -> None:
            for u in sample:
                [orjson.loads(row[2]) for row in raw.execute(RAW_RANGE, (u,))]

        def raw_query_models() -> None:
            for u in sample:
                [RawTask.model_validate_json(row[2]) for row in raw.execute(RAW_RANGE, (u,))]

        def raw_get_many() -> None:
            with raw.transaction(), raw.cursor() as cur:
                for i in picks:
                    row = cur.execute(RAW_GET, (rowids[i],)).fetchone()
                    assert row is not None
                    orjson.loads(row[1])

        def raw_get_single() -> None:
            for i in single:
                row = raw.execute(RAW_GET, (rowids[i],)).fetchone()
                assert row is not None
                orjson.loads(row[1])

        if not ENGINE:
            for name, fn, per, unit in (
                (f"(b) indexed query, ~{PER_USER} docs", raw_query, len(sample), "query"),
                (f"(c) get by id, {len(picks)} gets in one transaction", raw_get_many, len(picks), "get"),
                ("(c) get by id, one statement per get", raw_get_single, len(single), "get"),
            ):
                raw_only(name, fn, per, unit)
            raw.close()
            return

        db = open_fdb(url, fdb_name)
        ids: list[str] = db.run(insert_all_ids, docs=docs)

        def fdb_query() -> None:
            for u in sample:
                db.run(by_user, user_id=u)

        def fdb_query_dicts() -> None:
            for u in sample:
                db.run(by_user_dicts, user_id=u)

        pick_ids = [ids[i] for i in picks]
        single_ids = [ids[i] for i in single]

        def fdb_get_single() -> None:
            for i in single_ids:
                db.run(get_one, doc_id=i)

        got = [t.text for t in db.run(by_user, user_id=sample[0])]
        assert got == [orjson.loads(r[2])["text"] for r in raw.execute(RAW_RANGE, (sample[0],))]
        r, f = compare(raw_query_models, fdb_query, repeats(7))
        report(
            f"(b) indexed query, ~{PER_USER} docs as models (raw: pydantic models)",
            r,
            f,
            per=len(sample),
            unit="query",
            target=0.6,
        )
        r, f = compare(raw_query, fdb_query, repeats(7))
        report(
            f"(b) indexed query, ~{PER_USER} docs as models (raw: orjson dicts)",
            r,
            f,
            per=len(sample),
            unit="query",
        )
        r, f = compare(raw_query, fdb_query_dicts, repeats(7))
        report(
            f"(b) indexed query, ~{PER_USER} docs as dicts", r, f, per=len(sample), unit="query", target=0.6
        )
        r, f = compare(raw_get_many, lambda: db.run(get_many, ids=pick_ids), repeats(7))
        report(f"(c) get by id, {len(picks)} gets in one query", r, f, per=len(picks), unit="get")
        r, f = compare(raw_get_single, fdb_get_single, repeats(7))
        report("(c) get by id, one db.run per get", r, f, per=len(single), unit="run")
        db.close()
        raw.close()


# -- (d): single mutations ---------------------------------------------------------------------


def bench_single(url: str, n: int) -> None:
    counter = iter(range(10**9))
    with scratch_schema(url, "raw") as raw_name, scratch_schema(url, "fdb") as fdb_name:
        raw = raw_connect(url, raw_name)

        def raw_one() -> None:
            for _ in range(n):
                i = next(counter)
                doc = {"text": f"t{i}", "completed": False, "user_id": f"user{i % 100}", "priority": 0}
                with raw.transaction():
                    raw.execute(RAW_INSERT, (time.time() * 1000.0, orjson.dumps(doc).decode()))

        if not ENGINE:
            raw_only("(d) single-document mutation", raw_one, n, "txn")
            raw.close()
            return
        db = open_fdb(url, fdb_name)

        def fdb_one() -> None:
            for _ in range(n):
                i = next(counter)
                db.run(add_task, text=f"t{i}", user_id=f"user{i % 100}")

        r, f = compare(raw_one, fdb_one, repeats(7))
        report(f"(d) single-document mutation ({n / min(f):,.0f}/s)", r, f, per=n, unit="txn", target=0.6)
        db.close()
        raw.close()


def raw_only(name: str, fn: Any, per: int, unit: str) -> None:
    best = min(timed_runs(fn, repeats(7))) / per
    print(f"{name:<52} raw {fmt_time(best):>9}/{unit}  fusiondb: no PostgreSQL engine in this tree")
    sys.stdout.flush()


def timed_runs(fn: Any, n: int) -> list[float]:
    out = []
    for _ in range(n):
        start = time.perf_counter()
        fn()
        out.append(time.perf_counter() - start)
    return out


# -- (e): cross-process live-query latency ---------------------------------------------------


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def child_writer(where: str, n: int, conn: Any) -> None:
    """The second app process: one mutation, then wait for the first process to have seen it."""
    rng = random.Random(11)
    db = fdb.open(where, schema)
    try:
        conn.send("ready")
        for seq in range(n):
            db.run(ping, seq=seq)
            if not conn.poll(10):
                raise RuntimeError(f"ping {seq} was not delivered within 10 s")
            conn.recv()
            time.sleep(rng.uniform(0, 0.004))  # land at every phase of the listener's cycle
    finally:
        db.close()
        conn.close()


def cross_process(where: str, n: int) -> list[float]:
    """Seconds from the mutation (stamped inside it) to the callback in this process."""
    db = fdb.open(where, schema)
    sub = db.subscribe(latest_ping)
    latencies: list[float] = []
    parent, child = mp.Pipe()
    lock = threading.Lock()

    def on_change(_sender: Any, value: Any) -> None:
        if value is not None:
            with lock:
                latencies.append(time.time() - value.stamp)
            parent.send(value.seq)

    sub.changed.connect(on_change)
    proc = mp.get_context("spawn").Process(target=child_writer, args=(where, n, child))
    proc.start()
    proc.join(300)
    if proc.exitcode != 0:
        raise RuntimeError(f"the writer process failed (exit {proc.exitcode})")
    sub.close()
    db.close()
    return latencies


def raw_notifier(url: str, channel: str, n: int, conn: Any) -> None:
    """The raw floor's second process: a transaction with one NOTIFY carrying a wall-clock
    stamp, then wait for the first process to have received it."""
    rng = random.Random(11)
    with psycopg.connect(url, autocommit=True) as pg:
        for _ in range(n):
            with pg.transaction():
                pg.execute("SELECT pg_notify(%s, %s)", (channel, repr(time.time())))
            if not conn.poll(10):
                raise RuntimeError("a notification was not received within 10 s")
            conn.recv()
            time.sleep(rng.uniform(0, 0.004))
    conn.close()


def raw_notify_latency(url: str, n: int) -> list[float]:
    """Seconds from a NOTIFY committed in one process to psycopg receiving it in this one."""
    channel = f"bench_{secrets.token_hex(4)}"
    latencies: list[float] = []
    parent, child = mp.Pipe()
    with psycopg.connect(url, autocommit=True) as listener:
        listener.execute(sql.SQL("LISTEN {}").format(sql.Identifier(channel)))
        proc = mp.get_context("spawn").Process(target=raw_notifier, args=(url, channel, n, child))
        proc.start()
        for note in listener.notifies(timeout=60, stop_after=n):
            latencies.append(time.time() - float(note.payload))
            parent.send(None)
        proc.join(60)
    if proc.exitcode != 0 or len(latencies) != n:
        raise RuntimeError(f"the notifying process failed (exit {proc.exitcode})")
    return latencies


def bench_latency(url: str, n: int) -> None:
    with tempfile.TemporaryDirectory(prefix="fdb-bench-pg-") as tmp:
        sqlite = cross_process(str(Path(tmp) / "latency.db"), n)
    raw = raw_notify_latency(url, n)

    def spread(values: list[float]) -> str:
        return f"p50 {percentile(values, 0.5) * 1e3:.2f} ms, p99 {percentile(values, 0.99) * 1e3:.2f} ms"

    if ENGINE:
        with scratch_schema(url, "live") as name:
            pg = cross_process(with_schema(url, name), n)
        p50 = percentile(pg, 0.5)
        print(
            f"(e) cross-process commit -> callback, PostgreSQL: {spread(pg)} (n={len(pg)})  "
            f"target p50 <= 5 ms: {'met' if p50 <= 0.005 else 'SHORT'}"
        )
    else:
        print("(e) cross-process commit -> callback, PostgreSQL: no PostgreSQL engine in this tree")
    print(f"    raw psycopg, NOTIFY committed -> received in another process: {spread(raw)}")
    print(f"    fusiondb on a SQLite file, two processes: {spread(sqlite)}")
    sys.stdout.flush()


def main() -> None:
    url = server_url()
    quick = "  [BENCH_QUICK: sizes reduced, figures meaningless]" if QUICK else ""
    print(f"== bench_postgres: fusiondb on PostgreSQL vs raw psycopg (same server, same run){quick}")
    print(
        "   ratio = raw psycopg time / fusiondb time for the same work "
        "(1.0 = as fast as raw; higher is better)"
    )
    with psycopg.connect(url, autocommit=True) as conn:
        version = conn.execute("SHOW server_version").fetchone()
    print(f"   PostgreSQL {version[0] if version else '?'}, psycopg {psycopg.__version__}")
    bench_reads(url, size(20_000, 1_000))
    bench_single(url, size(500, 20))
    bench_latency(url, size(200, 10))


if __name__ == "__main__":
    main()
