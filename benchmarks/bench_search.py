"""Full-text search figures: fusiondb search queries against raw FTS5 queries, same run.

    .venv/bin/python benchmarks/bench_search.py        # BENCH_QUICK=1 for a smoke run

(a) search query rate on N documents (100k), top 10 by relevance, returned as models and as
    dicts. Raw: an ordinary FTS5 table (it stores its own copy of the text, with ``user_id``
    as an UNINDEXED column) queried with the same MATCH expression (terms OR-ed, the last one
    a prefix), ``ORDER BY rank, rowid LIMIT 10``, the documents read from the document table
    by rowid and decoded with orjson.loads. (Plain ``ORDER BY rank`` hands the sort to FTS5's
    own sorter, which measured ~1.4x slower here than SQLite's top-N sort; both sides use the
    faster form, which also breaks ties by rowid.)
(b) the same with an equality filter on ``user_id``. Raw filters the UNINDEXED column in the
    WHERE clause (the usual FTS5 recipe); fusiondb matches the filter token inside the index.
    A second line gives raw the same token trick, so it measures fusiondb's overhead only.
(c) how the FTS index is kept up to date: explicit upkeep from Python (what fusiondb does)
    against AFTER INSERT/UPDATE/DELETE triggers computing the same values in SQL, on raw
    apsw, per insert / text-changing update / delete. Here the ratio is
    trigger time / explicit time (higher: explicit is faster).
(d) the cost of a search index on fusiondb inserts: bulk insert with the index / without.
"""

from __future__ import annotations

import random
import tempfile
import time
from pathlib import Path
from typing import Any

import apsw
import orjson
from benchutil import compare, fmt_time, header, repeats, report, size

import fusiondb as fdb
from fusiondb.core.keys import search_entry
from fusiondb.core.schema import SearchIndexDef
from fusiondb.engine.sqlite import fts as search
from fusiondb.engine.sqlite.fts import tokenize


class Task(fdb.Document):
    text: str
    completed: bool = False
    user_id: str


schema = fdb.Schema(
    tasks=fdb.table(Task).search_index("search_text", search_field="text", filter_fields=["user_id"])
)
plain_schema = fdb.Schema(tasks=fdb.table(Task))

USERS = 100
WORDS_PER_DOC = (6, 18)
VOCABULARY = 5_000


def vocabulary(rng: random.Random) -> list[str]:
    letters = "abcdefghijklmnopqrstuvwxyz"
    words: set[str] = set()
    while len(words) < VOCABULARY:
        words.add("".join(rng.choice(letters) for _ in range(rng.randint(3, 9))))
    return sorted(words)


def make_docs(n: int, seed: int = 7) -> tuple[list[dict[str, Any]], list[str]]:
    rng = random.Random(seed)
    vocab = vocabulary(rng)
    # Zipf-like word frequencies: a few common words, a long tail of rare ones.
    weights = [1.0 / (rank + 1) for rank in range(len(vocab))]
    docs = [
        {
            "text": " ".join(rng.choices(vocab, weights, k=rng.randint(*WORDS_PER_DOC))),
            "completed": i % 3 == 0,
            "user_id": f"user{i % USERS}",
        }
        for i in range(n)
    ]
    return docs, vocab


def make_queries(vocab: list[str], count: int, seed: int = 11) -> list[str]:
    """Two words each, from the frequent-but-not-stopword band, the second cut to a prefix."""
    rng = random.Random(seed)
    band = vocab[20:400]
    queries = []
    for _ in range(count):
        a, b = rng.sample(band, 2)
        queries.append(f"{a} {b[: max(3, len(b) - 2)]}")
    return queries


def match_expression(query: str) -> str:
    *whole, prefix = tokenize(query)
    return " OR ".join([*(f'"{t}"' for t in whole), f'"{prefix}"*'])


def raw_connect(path: str) -> apsw.Connection:
    conn = apsw.Connection(path, statementcachesize=256)
    conn.pragma("journal_mode", "wal")
    conn.pragma("synchronous", "normal")
    conn.pragma("temp_store", "memory")
    conn.pragma("cache_size", -32_000)
    return conn


def build_raw(path: str, docs: list[dict[str, Any]]) -> apsw.Connection:
    conn = raw_connect(path)
    conn.execute(
        "CREATE TABLE tasks (_id INTEGER PRIMARY KEY AUTOINCREMENT, creation_time REAL NOT NULL, "
        "doc TEXT NOT NULL)"
    )
    conn.execute(
        "CREATE VIRTUAL TABLE fts USING fts5(text, user_id UNINDEXED, "
        "tokenize='unicode61 remove_diacritics 2')"
    )
    # The token variant: user_id as an indexed token column with weight 0 in bm25.
    conn.execute(
        "CREATE VIRTUAL TABLE ftok USING fts5(text, filters, content='', contentless_delete=1, "
        "tokenize='unicode61 remove_diacritics 2')"
    )
    conn.execute("INSERT INTO ftok(ftok, rank) VALUES ('rank', 'bm25(1.0, 0.0)')")
    conn.execute("BEGIN")
    for d in docs:
        conn.execute(
            "INSERT INTO tasks(creation_time, doc) VALUES (?, ?)", (time.time() * 1e3, orjson.dumps(d))
        )
        rowid = conn.last_insert_rowid()
        conn.execute(
            "INSERT INTO fts(rowid, text, user_id) VALUES (?, ?, ?)", (rowid, d["text"], d["user_id"])
        )
        conn.execute(
            "INSERT INTO ftok(rowid, text, filters) VALUES (?, ?, ?)",
            (rowid, d["text"], search.filter_token(0, d["user_id"])),
        )
    conn.execute("COMMIT")
    return conn


RAW_SEARCH = (
    "SELECT t._id, t.creation_time, t.doc FROM (SELECT rowid AS r, rank FROM fts WHERE fts MATCH ? "
    "ORDER BY rank, rowid LIMIT 10) AS m JOIN tasks AS t ON t._id = m.r ORDER BY m.rank, m.r"
)
RAW_SEARCH_FILTERED = (
    "SELECT t._id, t.creation_time, t.doc FROM (SELECT rowid AS r, rank FROM fts WHERE fts MATCH ? "
    "AND user_id = ? ORDER BY rank, rowid LIMIT 10) AS m JOIN tasks AS t ON t._id = m.r "
    "ORDER BY m.rank, m.r"
)
RAW_SEARCH_TOKENS = (
    "SELECT t._id, t.creation_time, t.doc FROM (SELECT rowid AS r, rank FROM ftok WHERE ftok MATCH ? "
    "ORDER BY rank, rowid LIMIT 10) AS m JOIN tasks AS t ON t._id = m.r ORDER BY m.rank, m.r"
)


def bench_queries(tmp: Path, n: int) -> None:
    docs, vocab = make_docs(n)
    raw = build_raw(str(tmp / "raw.db"), docs)
    db = fdb.open(tmp / "fdb.db", schema)

    @fdb.mutation
    def load(w: fdb.Writer, batch: list[dict[str, Any]]) -> None:
        for d in batch:
            w.insert("tasks", d)

    for i in range(0, n, 10_000):
        db.run(load, batch=docs[i : i + 10_000])

    queries = make_queries(vocab, size(200, 20))
    matches = [match_expression(q) for q in queries]
    users = [f"user{i % USERS}" for i in range(len(queries))]

    def raw_run(filtered: bool, tokens: bool = False) -> None:
        raw.execute("BEGIN")
        for m, u in zip(matches, users, strict=True):
            if tokens:
                expr = f'text : ({m}) AND filters : "{search.filter_token(0, u)}"'
                rows = raw.execute(RAW_SEARCH_TOKENS, (expr,)).fetchall()
            elif filtered:
                rows = raw.execute(RAW_SEARCH_FILTERED, (m, u)).fetchall()
            else:
                rows = raw.execute(RAW_SEARCH, (m,)).fetchall()
            [orjson.loads(r[2]) for r in rows]  # type: ignore[arg-type]
        raw.execute("COMMIT")

    def fdb_run(filtered: bool, dicts: bool) -> None:
        @fdb.query
        def run_all(r: fdb.Reader) -> None:
            for q, u in zip(queries, users, strict=True):

                def build(s: Any, q: str = q, u: str = u) -> Any:
                    s = s.search("text", q)
                    return s.eq("user_id", u) if filtered else s

                query = r.query("tasks").with_search_index("search_text", build)
                (query.as_dicts() if dicts else query).take(10)

        db.run(run_all)

    # Same documents, and the same order (with the token variant, whose document lengths match).
    @fdb.query
    def first(r: fdb.Reader) -> list[str]:
        q = r.query("tasks").with_search_index(
            "search_text", lambda s: s.search("text", queries[0]).eq("user_id", users[0])
        )
        return [d.text for d in q.take(10)]

    expr = f'text : ({matches[0]}) AND filters : "{search.filter_token(0, users[0])}"'
    raw_first = [orjson.loads(row[2])["text"] for row in raw.execute(RAW_SEARCH_TOKENS, (expr,))]  # type: ignore[arg-type]
    assert db.run(first) == raw_first, "fusiondb and raw FTS5 disagree"

    rep = repeats(7)
    total = sum(len(raw.execute("SELECT rowid FROM fts WHERE fts MATCH ?", (m,)).fetchall()) for m in matches)
    print(f"   {n:,} documents, {len(queries)} queries, {total / len(queries):,.0f} matches per query")
    r, f = compare(lambda: raw_run(False), lambda: fdb_run(False, False), rep)
    report(f"(a) search top 10 of {n:,} docs, as models", r, f, per=len(queries), unit="query")
    r, f = compare(lambda: raw_run(False), lambda: fdb_run(False, True), rep)
    report(f"(a) search top 10 of {n:,} docs, as dicts", r, f, per=len(queries), unit="query")
    r, f = compare(lambda: raw_run(True), lambda: fdb_run(True, False), rep)
    report("(b) search + eq(user_id) top 10 (raw: UNINDEXED column)", r, f, per=len(queries), unit="query")
    r, f = compare(lambda: raw_run(True, tokens=True), lambda: fdb_run(True, False), rep)
    report("(b) search + eq(user_id) top 10 (raw: same tokens)", r, f, per=len(queries), unit="query")
    db.close()
    raw.close()


def _token_sql(value: str) -> str:
    # The same token search.filter_token makes, computed in SQL (text values only here).
    return f"'f0t' || lower(hex({value}))"


def bench_upkeep(tmp: Path, n: int) -> None:
    docs, _ = make_docs(n, seed=3)
    raws = [orjson.dumps(d).decode() for d in docs]
    create_fts = search.create_fts_sql("t", "s").replace('"t$fts$s"', "f")

    def fresh(name: str, triggers: bool) -> apsw.Connection:
        conn = raw_connect(str(tmp / f"{name}.db"))
        conn.execute(
            "CREATE TABLE t(_id INTEGER PRIMARY KEY AUTOINCREMENT, creation_time REAL, doc TEXT)"
        )
        conn.execute(create_fts)
        if triggers:
            def text(row: str) -> str:
                return f"iif(typeof({row}.doc ->> '$.text') = 'text', {row}.doc ->> '$.text', '')"

            def tok(row: str) -> str:
                return _token_sql(f"{row}.doc ->> '$.user_id'")

            conn.execute(
                f"CREATE TRIGGER ti AFTER INSERT ON t BEGIN INSERT INTO f(rowid, text, filters) "
                f"VALUES (new._id, {text('new')}, {tok('new')}); END"
            )
            conn.execute("CREATE TRIGGER td AFTER DELETE ON t BEGIN DELETE FROM f WHERE rowid = old._id; END")
            conn.execute(
                f"CREATE TRIGGER tu AFTER UPDATE OF doc ON t WHEN {text('old')} IS NOT {text('new')} "
                f"OR {tok('old')} IS NOT {tok('new')} BEGIN DELETE FROM f WHERE rowid = old._id; "
                f"INSERT INTO f(rowid, text, filters) VALUES (new._id, {text('new')}, {tok('new')}); END"
            )
        return conn

    entry = SearchIndexDef("s", "text", ("user_id",))
    insert_fts = "INSERT INTO f(rowid, text, filters) VALUES (?, ?, ?)"

    runs = iter(range(1_000_000))

    def run(triggers: bool, phase: str) -> float:
        conn = fresh(f"upkeep-{next(runs)}", triggers)
        conn.execute("BEGIN")
        start = time.perf_counter()
        for raw in raws:
            conn.execute("INSERT INTO t(creation_time, doc) VALUES (1.0, ?)", (raw,))
            if not triggers:
                text, values = search_entry(entry, orjson.loads(raw))
                conn.execute(insert_fts, (conn.last_insert_rowid(), text, search.filter_tokens(values)))
        took = {"insert": time.perf_counter() - start}
        start = time.perf_counter()
        for rowid, raw in enumerate(raws, 1):
            new = orjson.loads(raw)
            new["text"] += " edited"
            conn.execute("UPDATE t SET doc = ? WHERE _id = ?", (orjson.dumps(new).decode(), rowid))
            if not triggers:
                text, values = search_entry(entry, new)
                conn.execute("DELETE FROM f WHERE rowid = ?", (rowid,))
                conn.execute(insert_fts, (rowid, text, search.filter_tokens(values)))
        took["update"] = time.perf_counter() - start
        start = time.perf_counter()
        for rowid in range(1, len(raws) + 1):
            conn.execute("DELETE FROM t WHERE _id = ?", (rowid,))
            if not triggers:
                conn.execute("DELETE FROM f WHERE rowid = ?", (rowid,))
        took["delete"] = time.perf_counter() - start
        conn.execute("COMMIT")
        conn.close()
        return took[phase]

    for phase in ("insert", "update", "delete"):
        best_trigger = min(run(True, phase) for _ in range(repeats(3))) / n
        best_explicit = min(run(False, phase) for _ in range(repeats(3))) / n
        print(
            f"{'(c) FTS upkeep per ' + phase:<52} triggers {fmt_time(best_trigger):>9}/doc  "
            f"explicit {fmt_time(best_explicit):>9}/doc  ratio {best_trigger / best_explicit:.2f}x "
            "(triggers / explicit)"
        )


def bench_insert_cost(tmp: Path, n: int) -> None:
    docs, _ = make_docs(n, seed=5)

    @fdb.mutation
    def load(w: fdb.Writer) -> None:
        for d in docs:
            w.insert("tasks", d)

    counter = iter(range(1_000_000))

    def run(s: fdb.Schema) -> None:
        with fdb.open(tmp / f"ins-{next(counter)}.db", s) as db:
            db.run(load)

    r, f = compare(lambda: run(plain_schema), lambda: run(schema), repeats(3))
    report(f"(d) insert {n:,} docs: no search index vs with one", r, f, per=n, unit="doc")


def main() -> None:
    header("bench_search: fusiondb search vs raw FTS5 (file databases, WAL, synchronous=NORMAL)")
    with tempfile.TemporaryDirectory(prefix="fdb-bench-") as d:
        tmp = Path(d)
        bench_queries(tmp, size(100_000, 2_000))
        bench_upkeep(tmp, size(20_000, 500))
        bench_insert_cost(tmp, size(20_000, 500))


if __name__ == "__main__":
    main()
