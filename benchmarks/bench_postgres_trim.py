"""What trimming the PostgreSQL change log to its live readers costs, against raw psycopg doing
the work the former fixed-window trim did, in the same run.

    FUSIONDB_POSTGRES_URL=postgresql://... .venv/bin/python benchmarks/bench_postgres_trim.py

(t1) one trim of TRIM_EVERY new entries (what a writer runs after every TRIM_EVERY-th commit),
     with 0 and with 8 live readers that have read them all: ``changelog.trim`` (dead readers
     dropped, ``pg_locks`` read, the lowest live position, the delete, the trim mark) vs raw
     psycopg deleting the same entries and moving the trim mark (the former trim's work, then
     inside the append statement). Also what it adds to a mutation, spread over TRIM_EVERY.
(t2) a reader's read of one new entry: ``PgLogReader.read_since`` (the entries, the trim mark,
     and, every REPORT_EVERY entries or REPORT_SECONDS, the reader's own row moved on: one
     statement) vs raw psycopg's SELECT of the entries and the trim mark alone (the former
     read); a read that does not move the row, and one that does (a write).
(t3) how long after a following process is killed with SIGKILL its reader stops holding the
     log (its advisory lock gone from ``pg_locks``): what liveness by lock costs in time,
     where a heartbeat would take its timeout.

Ratios are raw time / fusiondb time (1.0 = as fast as raw psycopg; higher is better).
"""

from __future__ import annotations

import multiprocessing as mp
import os
import secrets
import signal
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from benchutil import compare, fmt_time, header, repeats, report, size

import fusiondb as fdb
from fusiondb.engine.postgres import changelog

URL_ENV = "FUSIONDB_POSTGRES_URL"


class Task(fdb.Document):
    text: str
    user_id: str


schema = fdb.Schema(tasks=fdb.table(Task).index("by_user", ["user_id"]))


@fdb.mutation
def add_task(db: fdb.Writer, text: str, user_id: str) -> str:
    return db.insert("tasks", {"text": text, "user_id": user_id})


@fdb.query
def by_user(db: fdb.Reader, user_id: str) -> list[str]:
    return [t.text for t in db.query("tasks").with_index("by_user", lambda q: q.eq("user_id", user_id))]


def server_url() -> str:
    url = os.environ.get(URL_ENV, "")
    if not url:
        sys.exit(f"bench_postgres_trim: set {URL_ENV} (make bench starts a throwaway server)")
    return url.split("?", 1)[0]


@contextmanager
def scratch(url: str) -> Iterator[tuple[str, str]]:
    """A fresh schema: (its name, the fusiondb URL naming it); dropped after."""
    name = f"bench_trim_{secrets.token_hex(4)}"
    try:
        yield name, f"{url}?schema={name}"
    finally:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')  # type: ignore[arg-type]


FILL = (
    "INSERT INTO _fdb_changelog SELECT nextval('_fdb_changelog_seq'), 'bench', "
    "'\\x00'::bytea FROM generate_series(1, %s)"
)
RAW_TRIM = (
    "WITH d AS (DELETE FROM _fdb_changelog WHERE seq <= %(upto)s), "
    "u AS (UPDATE _fdb_log_trim SET upto = greatest(upto, %(upto)s)) SELECT 1"
)
RAW_READ = (
    "SELECT t.upto, l.seq, l.origin, CASE WHEN l.origin = %s THEN NULL ELSE l.writes END "
    "FROM _fdb_log_trim t LEFT JOIN _fdb_changelog l ON l.seq > %s ORDER BY l.seq"
)


def bench_trim(url: str, readers: int) -> None:
    with scratch(url) as (name, where), fdb.open(where, schema) as db:
        raw = psycopg.connect(url, autocommit=True)
        raw.execute(f'SET search_path TO "{name}"')  # type: ignore[arg-type]
        engine: Any = db._engine  # type: ignore[attr-defined]
        live = [engine.log_reader() for _ in range(readers)]
        cur = raw.cursor()
        n = changelog.TRIM_EVERY

        def fill() -> None:
            raw.execute(FILL, (n,))
            head = changelog.position(cur)
            for reader in live:
                reader.read_since(head - 1, "")  # each has read them all

        def raw_trim() -> None:
            cur.execute(RAW_TRIM, {"upto": changelog.position(cur)})

        def fdb_trim() -> None:
            changelog.trim(cur, name)

        r, f = compare(raw_trim, fdb_trim, repeats(15), setup=fill)
        report(f"(t1) trim {n} entries, {readers} live readers", r, f, unit="trim")
        one = min(timed_mutations(db, size(200, 10)))
        print(f"     spread over {n} commits: {fmt_time(min(f) / n)}/commit, "
              f"{min(f) / n / one:.1%} of a mutation ({fmt_time(one)})")
        for reader in live:
            reader.close()
        raw.close()
    sys.stdout.flush()


def timed_mutations(db: fdb.Database, n: int) -> list[float]:
    out = []
    for i in range(n):
        start = time.perf_counter()
        db.run(add_task, text=f"t{i}", user_id="u")
        out.append(time.perf_counter() - start)
    return out


def bench_read(url: str, reporting: bool) -> None:
    changelog.REPORT_EVERY = 0 if reporting else 10**9  # (REPORT_SECONDS: 1 s; a run is shorter)
    with scratch(url) as (name, where), fdb.open(where, schema) as db:
        raw = psycopg.connect(url, autocommit=True)
        raw.execute(f'SET search_path TO "{name}"')  # type: ignore[arg-type]
        raw.execute(FILL, (1,))
        reader = db._engine.log_reader()  # type: ignore[attr-defined]
        seq = reader.position() - 1
        n = size(2_000, 50)

        def raw_read() -> None:
            for _ in range(n):
                raw.execute(RAW_READ, ("me", seq)).fetchall()

        def fdb_read() -> None:
            for _ in range(n):
                reader.read_since(seq, "me")

        r, f = compare(raw_read, fdb_read, repeats(7))
        what = "that moves its row on" if reporting else "(row not due to move)"
        report(f"(t2) a read of one new entry {what}", r, f, per=n, unit="read")
        reader.close()
        raw.close()


def follower(where: str, conn: Any) -> None:
    db = fdb.open(where, schema)
    db.subscribe(by_user, user_id="a")
    conn.send("ready")
    time.sleep(300)  # until killed


def held(conn: psycopg.Connection[Any], name: str) -> int:
    row = conn.execute(
        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objsubid = 2 "
        "AND classid = hashtext(%s)::oid AND granted",
        (changelog.lock_name(name),),
    ).fetchone()
    return int(row[0]) if row else 0


def bench_kill(url: str) -> None:
    waits = []
    with psycopg.connect(url, autocommit=True) as conn:
        for _ in range(size(5, 1)):
            with scratch(url) as (name, where):
                fdb.open(where, schema).close()
                parent, child = mp.Pipe()
                proc = mp.get_context("spawn").Process(target=follower, args=(where, child))
                proc.start()
                if not parent.poll(60):
                    raise RuntimeError("the follower did not start")
                parent.recv()
                if held(conn, name) != 1:
                    raise RuntimeError("the follower holds no reader lock")
                assert proc.pid is not None
                start = time.perf_counter()
                os.kill(proc.pid, signal.SIGKILL)
                while held(conn, name):
                    if time.perf_counter() - start > 60:
                        raise RuntimeError("the killed follower's lock outlived it by a minute")
                waits.append(time.perf_counter() - start)
                proc.join()
    waits.sort()
    print(f"(t3) SIGKILL -> the reader's lock gone: median {fmt_time(waits[len(waits) // 2])}, "
          f"worst {fmt_time(waits[-1])} (n={len(waits)}; pg_locks polled back to back)")
    sys.stdout.flush()


def main() -> None:
    url = server_url()
    header("bench_postgres_trim: trimming the change log to its live readers vs raw psycopg")
    print("   (raw here: psycopg, not apsw)")
    for readers in (0, 8):
        bench_trim(url, readers)
    every = changelog.REPORT_EVERY
    bench_read(url, reporting=False)
    bench_read(url, reporting=True)
    changelog.REPORT_EVERY = every
    bench_kill(url)


if __name__ == "__main__":
    main()
