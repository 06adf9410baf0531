"""Unique indexes and counts on PostgreSQL, against raw psycopg doing the same work in the same run.

    FUSIONDB_POSTGRES_URL=postgresql://... .venv/bin/python benchmarks/bench_postgres_unique.py

(f) single-document mutations into a table with one index on ``email``: plain, or
    ``unique=True`` (a second key column with a PostgreSQL UNIQUE index, and a savepoint
    around the write). Raw psycopg: a transaction of one INSERT into a ``json`` table with an
    expression index on ``doc ->> 'email'``, plain or UNIQUE. Ratios: raw UNIQUE / fusiondb
    unique, fusiondb plain / fusiondb unique (what uniqueness costs fusiondb), raw plain /
    raw UNIQUE (what it costs PostgreSQL).
(g) a refused duplicate: fusiondb's DuplicateKey (the lookup naming the holder included) vs
    raw psycopg's UniqueViolation.
(h) counting the documents of one index range (~1/10 of the table): ``count()`` of a
    ``with_index`` query vs raw ``SELECT count(*)`` on the expression index.

Ratios are raw time / fusiondb time (1.0 = as fast as raw psycopg; higher is better).
"""

from __future__ import annotations

import itertools
import os
import secrets
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import Any

import orjson
import psycopg
from benchutil import compare, header, repeats, report, size
from psycopg import sql

import fusiondb as fdb

URL_ENV = "FUSIONDB_POSTGRES_URL"


class User(fdb.Document):
    email: str
    group: str


def schema(unique: bool) -> fdb.Schema:
    return fdb.Schema(
        users=fdb.table(User).index("by_email", ["email"], unique=unique).index("by_group", ["group"])
    )


@fdb.mutation
def add_one(db: fdb.Writer, email: str, group: str) -> str:
    return db.insert("users", {"email": email, "group": group})


@fdb.mutation
def add_many(db: fdb.Writer, docs: list[dict[str, Any]]) -> None:
    db.insert_many("users", docs)


@fdb.query
def count_group(db: fdb.Reader, group: str) -> int:
    return db.query("users").with_index("by_group", lambda q: q.eq("group", group)).count()


@contextmanager
def scratch_schema(url: str, label: str) -> Iterator[str]:
    name = f"bench_{label}_{secrets.token_hex(4)}"
    try:
        yield name
    finally:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(name)))


def with_schema(url: str, name: str) -> str:
    return f"{url}{'&' if '?' in url else '?'}schema={name}"


def raw_connect(url: str, name: str, unique: bool) -> psycopg.Connection[Any]:
    conn = psycopg.connect(url, autocommit=True, prepare_threshold=0)
    conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(name)))
    conn.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(name)))
    conn.execute(
        "CREATE TABLE users (_id bigserial PRIMARY KEY, creation_time double precision NOT NULL, "
        "doc json NOT NULL)"
    )
    kind = "UNIQUE INDEX" if unique else "INDEX"
    conn.execute(f"CREATE {kind} users_email ON users ((doc ->> 'email'))")  # type: ignore[arg-type]
    conn.execute("CREATE INDEX users_group ON users ((doc ->> 'group'), _id)")
    return conn


RAW_INSERT = "INSERT INTO users (creation_time, doc) VALUES (%s, %s::json) RETURNING _id"


def main() -> None:
    url = os.environ.get(URL_ENV)
    if not url:
        sys.exit(f"bench_postgres_unique: set {URL_ENV} to a PostgreSQL server (make bench starts one)")
    header("PostgreSQL: unique indexes and counts (bench_postgres_unique.py)")
    print("   (here raw is psycopg on the same server, not apsw)")
    n = size(300, 10)
    counter = itertools.count()
    with (
        scratch_schema(url, "raw_plain") as rp,
        scratch_schema(url, "raw_uniq") as ru,
        scratch_schema(url, "fdb_plain") as fp,
        scratch_schema(url, "fdb_uniq") as fu,
    ):
        raws = {False: raw_connect(url, rp, False), True: raw_connect(url, ru, True)}
        dbs = {
            False: fdb.open(with_schema(url, fp), schema(False)),
            True: fdb.open(with_schema(url, fu), schema(True)),
        }

        def raw_inserts(unique: bool) -> None:
            conn = raws[unique]
            for _ in range(n):
                i = next(counter)
                doc = orjson.dumps({"email": f"u{i}@example.com", "group": f"g{i % 10}"}).decode()
                with conn.transaction():
                    conn.execute(RAW_INSERT, (time.time(), doc))

        def fdb_inserts(unique: bool) -> None:
            db = dbs[unique]
            for _ in range(n):
                i = next(counter)
                db.run(add_one, email=f"u{i}@example.com", group=f"g{i % 10}")

        rounds = repeats(7)
        r, f = compare(lambda: raw_inserts(True), lambda: fdb_inserts(True), rounds)
        report("(f) insert, unique index: raw UNIQUE / fusiondb", r, f, per=n, unit="txn")
        r, f = compare(lambda: fdb_inserts(False), lambda: fdb_inserts(True), rounds)
        report("(f) fusiondb plain / fusiondb unique", r, f, per=n, unit="txn")
        r, f = compare(lambda: raw_inserts(False), lambda: raw_inserts(True), rounds)
        report("(f) raw plain / raw UNIQUE", r, f, per=n, unit="txn")

        taken = "u0@example.com"
        tries = size(100, 5)

        def raw_refused() -> None:
            conn = raws[True]
            doc = orjson.dumps({"email": taken, "group": "g0"}).decode()
            for _ in range(tries):
                try:
                    with conn.transaction():
                        conn.execute(RAW_INSERT, (time.time(), doc))
                except psycopg.errors.UniqueViolation:
                    pass

        def fdb_refused() -> None:
            for _ in range(tries):
                with suppress(fdb.DuplicateKey):
                    dbs[True].run(add_one, email=taken, group="g0")

        r, f = compare(raw_refused, fdb_refused, rounds)
        report("(g) a refused duplicate", r, f, per=tries, unit="try")

        # (h): a table of `rows` documents, ten groups; count one group.
        rows = size(50_000, 500)
        more = [{"email": f"c{i}@example.com", "group": f"g{i % 10}"} for i in range(rows)]
        dbs[True].run(add_many, docs=more)
        with raws[True].transaction(), raws[True].cursor() as cur:
            cur.executemany(
                "INSERT INTO users (creation_time, doc) VALUES (%s, %s::json)",
                [(time.time(), orjson.dumps(d).decode()) for d in more],
            )
        raws[True].execute("ANALYZE users")
        expected = raws[True].execute("SELECT count(*) FROM users WHERE doc ->> 'group' = 'g3'").fetchone()
        assert expected is not None and dbs[True].run(count_group, group="g3") == expected[0]
        counts = size(50, 3)

        def raw_count() -> None:
            for _ in range(counts):
                raws[True].execute("SELECT count(*) FROM users WHERE doc ->> 'group' = %s", ("g3",))

        def fdb_count() -> None:
            for _ in range(counts):
                dbs[True].run(count_group, group="g3")

        r, f = compare(raw_count, fdb_count, rounds)
        report(f"(h) count one range of {expected[0]:,} of {rows:,}+ docs", r, f, per=counts, unit="count")
        for db in dbs.values():
            db.close()
        for conn in raws.values():
            conn.close()


if __name__ == "__main__":
    main()
