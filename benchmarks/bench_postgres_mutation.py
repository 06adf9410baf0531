"""Where a single-document mutation's time goes on PostgreSQL: raw psycopg adding fusiondb's
pieces one at a time, then fusiondb, in one run.

    FUSIONDB_POSTGRES_URL=postgresql://... .venv/bin/python benchmarks/bench_postgres_mutation.py

Each line is one mutation inserting one task (bench_postgres.py's (d)), timed over ``N``
mutations, best of ``REPEAT`` alternating runs: wall time, the ratio to the first line (raw
psycopg's BEGIN / INSERT / COMMIT, bench_postgres.py's raw side), this process's CPU and the
server's (every process of the PostgreSQL server, read from /proc: only when it runs on this
machine; 10 ms ticks, so the figure is exact to ~10 ms / N). The raw ladder:

1. raw: ``BEGIN`` / ``INSERT`` / ``COMMIT`` (READ COMMITTED, an expression index on the field)
2. the same at ``SERIALIZABLE``
3. into fusiondb's table (the index as a ``bytea`` key column computed in Python + btree)
4. the catalog read and the clock floor (the table's newest creation time) riding the BEGIN
   in one simple-protocol string, as fusiondb sends them
5. the commit as ``SELECT <append>(...); COMMIT`` with an append function that writes the
   log row only (no ``LOCK``, no ``NOTIFY``)
6. ... the log row and ``NOTIFY`` (no ``LOCK``)
7. ... ``fdb_append`` itself (``LOCK``, log row, ``NOTIFY``): fusiondb's SQL until pg-mut, sent
   by psycopg as fusiondb sent it (ClientCursor strings, a prepared INSERT)
8. fusiondb's SQL since: two round trips, strings sent straight through libpq: the insert
   (``PREPARE``d once per connection; the clock floor and the catalog check in it) rides the
   BEGIN, then ``SELECT fdb_append(...); COMMIT``; what fusiondb's SQL costs without its Python
9. fusiondb's ``db.run(add_task, ...)``
"""

from __future__ import annotations

import gc
import os
import secrets
import sys
import time
from collections.abc import Callable
from typing import Any

import orjson
import psycopg
from bench_postgres import RAW_INSERT, add_task, open_fdb, raw_connect, scratch_schema, server_url
from benchutil import QUICK, fmt_time, repeats, size
from psycopg import generators, pq, sql

N = size(1000, 20)
REPEAT = repeats(5)
INSERT = 'INSERT INTO "tasks" (creation_time, doc, "k$by_user") VALUES (%s, %s, %s) RETURNING _id'
BEGIN = (
    "BEGIN ISOLATION LEVEL SERIALIZABLE; SELECT catalog_version, ddl, NULL FROM _fdb_meta; "
    'SELECT creation_time FROM "tasks" ORDER BY _id DESC LIMIT 1'
)
# Append functions without parts of fdb_append (changelog.py), to price each part.
APPEND_VARIANTS = {
    "bench_append_row": "",
    "bench_append_notify": "PERFORM pg_notify(a_channel, s::text);",
}


def make_append(name: str, extra: str) -> str:
    return (
        f"CREATE OR REPLACE FUNCTION {name}(a_origin text, a_writes bytea, a_channel text) "
        "RETURNS bigint LANGUAGE plpgsql AS $f$ DECLARE s bigint; BEGIN "
        "INSERT INTO _fdb_changelog VALUES (nextval('_fdb_changelog_seq'), a_origin, a_writes) "
        f"RETURNING seq INTO s; {extra} RETURN s; END $f$"
    )


class ServerCpu:
    """CPU seconds of every process of the server a connection is on, if it runs here."""

    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        row = conn.execute("SELECT pg_backend_pid()").fetchone()
        assert row is not None
        self.root: int | None = None
        try:
            with open(f"/proc/{row[0]}/stat") as f:
                self.root = int(f.read().rsplit(")", 1)[1].split()[1])  # the postmaster
        except (OSError, ValueError):
            pass

    def __call__(self) -> float | None:
        if self.root is None:
            return None
        pids = [self.root]
        try:
            with open(f"/proc/{self.root}/task/{self.root}/children") as f:
                pids += [int(p) for p in f.read().split()]
        except OSError:
            return None
        ticks = 0
        for pid in pids:
            try:
                with open(f"/proc/{pid}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
                ticks += int(fields[11]) + int(fields[12])
            except (OSError, IndexError):
                pass  # a backend that ended meanwhile
        return ticks / os.sysconf("SC_CLK_TCK")


def main() -> None:
    url = server_url()
    quick = "  [BENCH_QUICK: sizes reduced, figures meaningless]" if QUICK else ""
    print(f"== bench_postgres_mutation: one single-document mutation, piece by piece{quick}")
    print("   ratio = line 1's time / this line's time (line 1: raw psycopg BEGIN / INSERT / COMMIT)")
    with scratch_schema(url, "raw") as raw_name, scratch_schema(url, "fdb") as fdb_name:
        db = open_fdb(url, fdb_name)
        db.run(add_task, text="first", user_id="user0")  # makes the table and its index
        raw = raw_connect(url, raw_name)
        conn = psycopg.connect(url, autocommit=True, prepare_threshold=0)
        conn.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(fdb_name)))
        for name, extra in APPEND_VARIANTS.items():
            conn.execute(make_append(name, extra))  # type: ignore[arg-type]
        client = psycopg.ClientCursor(conn)
        server_cpu = ServerCpu(conn)
        from fusiondb.engine.postgres import changelog
        from fusiondb.engine.postgres.keys import key_function

        key = key_function(("user_id",))
        params: dict[str, Any] = {"origin": secrets.token_hex(16), "channel": changelog.channel(fdb_name)}
        params["payload"] = orjson.dumps(
            {"format": 2, "layouts": {"tasks": [[["by_user", [0]]], []]},
             "writes": [["tasks", 2, time.time() * 1000.0, None, ["user1"], None, None]],
             "ranges": [], "searched": [], "folded": 0, "vectors": [], "vectored": []}
        )
        counter = iter(range(10**9))

        def doc() -> dict[str, Any]:
            i = next(counter)
            return {"text": f"t{i}", "completed": False, "user_id": f"user{i % 100}", "priority": 0}

        def raw_plain() -> None:
            for _ in range(N):
                with raw.transaction():
                    raw.execute(RAW_INSERT, (time.time() * 1000.0, orjson.dumps(doc()).decode()))

        def raw_serializable() -> None:
            for _ in range(N):
                raw.execute("BEGIN ISOLATION LEVEL SERIALIZABLE")
                raw.execute(RAW_INSERT, (time.time() * 1000.0, orjson.dumps(doc()).decode()))
                raw.execute("COMMIT")

        def insert(d: dict[str, Any]) -> None:
            conn.execute(INSERT, (time.time() * 1000.0, orjson.dumps(d).decode(), key(d)))

        def key_column() -> None:
            for _ in range(N):
                d = doc()
                conn.execute("BEGIN ISOLATION LEVEL SERIALIZABLE")
                insert(d)
                conn.execute("COMMIT")

        def begin_reads() -> None:
            client.execute(BEGIN)
            client.nextset()
            client.fetchone()
            client.nextset()
            client.fetchone()

        def riding_begin() -> None:
            for _ in range(N):
                d = doc()
                begin_reads()
                insert(d)
                conn.execute("COMMIT")

        def appending(function: str) -> Callable[[], None]:
            commit = f"SELECT {function}(%(origin)s, %(payload)s, %(channel)s); COMMIT"

            def run() -> None:
                for _ in range(N):
                    d = doc()
                    begin_reads()
                    insert(d)
                    client.execute(commit, params)  # type: ignore[arg-type]
                    client.fetchone()

            return run

        version, token = conn.execute("SELECT catalog_version, ddl FROM _fdb_meta").fetchone() or (0, "")
        conn.execute(
            'PREPARE bench_first (float8, json, bytea, bigint, text) AS INSERT INTO "tasks" '
            '(creation_time, doc, "k$by_user") SELECT greatest($1, (SELECT creation_time FROM "tasks" '
            "ORDER BY _id DESC LIMIT 1) + 0.001), $2, $3 FROM _fdb_meta WHERE catalog_version = $4 "
            "AND ddl = $5 RETURNING _id, creation_time"
        )

        def libpq(query: bytes) -> list[Any]:
            conn.pgconn.send_query(query)
            results = conn.wait(generators.execute(conn.pgconn))
            assert all(r.status != pq.ExecStatus.FATAL_ERROR for r in results)
            return results

        def literal(value: str) -> bytes:
            return bytes(pq.Escaping(conn.pgconn).escape_literal(value.encode()))

        def two_round_trips() -> None:
            for _ in range(N):
                d = doc()
                args = [
                    repr(time.time() * 1000.0).encode(), literal(orjson.dumps(d).decode()),
                    b"decode('%s', 'hex')" % key(d).hex().encode(), str(version).encode(), literal(token),
                ]
                begin = BEGIN.rsplit(";", 1)[0].encode()  # without the floor read: in the insert
                first = libpq(begin + b"; EXECUTE bench_first(" + b", ".join(args) + b")")
                int(first[-1].get_value(0, 0))
                commit = b"SELECT %s(%s, decode('%s', 'hex'), %s); COMMIT" % (
                    changelog.APPEND_FUNCTION.encode(), literal(params["origin"]),
                    params["payload"].hex().encode(), literal(params["channel"]),
                )
                int(libpq(commit)[0].get_value(0, 0))

        def fusiondb() -> None:
            for _ in range(N):
                i = next(counter)
                db.run(add_task, text=f"t{i}", user_id=f"user{i % 100}")

        lines: list[tuple[str, Callable[[], None]]] = [
            ("1 raw BEGIN / INSERT / COMMIT", raw_plain),
            ("2 ... at SERIALIZABLE", raw_serializable),
            ("3 ... into fusiondb's table (key column)", key_column),
            ("4 ... catalog read + clock floor ride the BEGIN", riding_begin),
            ("5 ... commit string: log row", appending("bench_append_row")),
            ("6 ... commit string: log row + NOTIFY", appending("bench_append_notify")),
            ("7 ... commit string: fdb_append (+ LOCK)", appending(changelog.APPEND_FUNCTION)),
            ("8 ... in two round trips, through libpq", two_round_trips),
            ("9 fusiondb db.run(add_task)", fusiondb),
        ]
        measured: dict[str, list[tuple[float, float, float | None]]] = {name: [] for name, _ in lines}
        for _ in range(REPEAT):
            for name, fn in lines:
                gc.collect()
                s0, c0, t0 = server_cpu(), time.process_time(), time.perf_counter()
                fn()
                t1, c1, s1 = time.perf_counter(), time.process_time(), server_cpu()
                server = None if s0 is None or s1 is None else (s1 - s0) / N
                measured[name].append(((t1 - t0) / N, (c1 - c0) / N, server))
        base = min(m[0] for m in measured[lines[0][0]])
        print(f"   {N} mutations per run, best of {REPEAT}; load average {os.getloadavg()[0]:.1f}")
        for name, _ in lines:
            runs = measured[name]
            wall = min(m[0] for m in runs)
            cpu = min(m[1] for m in runs)
            servers = [m[2] for m in runs if m[2] is not None]
            server = f"{fmt_time(min(servers)):>9}" if servers else "      n/a"
            print(
                f"{name:<50} {fmt_time(wall):>9}  ratio {base / wall:.2f}x  "
                f"client CPU {fmt_time(cpu):>9}  server CPU {server}"
            )
        sys.stdout.flush()
        db.close()
        raw.close()
        conn.close()


if __name__ == "__main__":
    main()
