"""Child-process workers for the crash, concurrency and convergence suites, and their checks.

Everything here is importable by a spawned process (``multiprocessing``): workers are plain
module-level functions taking picklable arguments. ``STRESS`` (the environment variable
``FUSIONDB_STRESS=1``, set by ``make stress``) selects the long runs; ``record`` keeps the
figures that ``make stress`` prints at the end (see conftest.py).
"""

from __future__ import annotations

import hashlib
import multiprocessing as mp
import os
import random
import signal
import time
from collections import Counter
from typing import Any

import apsw

import fusiondb as fdb

STRESS = os.environ.get("FUSIONDB_STRESS") == "1"
FIGURES: dict[str, dict[str, Any]] = {}


def scale(short: int, long: int) -> int:
    """``short`` in the normal suite, ``long`` under ``make stress``."""
    return long if STRESS else short


def record(suite: str, **figures: Any) -> None:
    """Add to the figures ``make stress`` prints (counts add up over calls)."""
    mine = FIGURES.setdefault(suite, {})
    for key, value in figures.items():
        if isinstance(value, int | float) and not isinstance(value, bool) and key in mine:
            mine[key] += value
        else:
            mine[key] = value


# A fork server with fusiondb preloaded: each child is a fresh process (not a fork of the
# test runner and its threads) that starts in milliseconds rather than a spawn's ~0.5 s.
SPAWN = mp.get_context("forkserver")
SPAWN.set_forkserver_preload(["fusiondb", "tests.stress_workers"])


# -- the crash suite's file ------------------------------------------------------------------


class Entry(fdb.Document):
    batch: int  # the numbered mutation that wrote it (-1: the preloaded big table)
    part: int
    payload: str = ""


PARTS = 3  # entries per numbered mutation
ROUND_SPAN = 1_000_000  # batch numbers of one crash round: first_batch + [0, ROUND_SPAN)
crash_schema = fdb.Schema(entries=fdb.table(Entry).index("by_batch", ["batch"]))
# Opening with this one builds an index over the whole (big) table.
crash_schema_indexed = fdb.Schema(
    entries=fdb.table(Entry).index("by_batch", ["batch"]).index("by_payload", ["payload", "part"])
)


@fdb.mutation
def put_batch(db: fdb.Writer, batch: int) -> None:
    for part in range(PARTS):
        db.insert("entries", Entry(batch=batch, part=part, payload=f"b{batch}"))


@fdb.mutation
def preload(db: fdb.Writer, n: int, start: int) -> None:
    for i in range(start, start + n):
        db.insert("entries", Entry(batch=-1, part=i, payload=f"p{i % 97}"))


@fdb.query
def batch_counts(db: fdb.Reader, lo: int, hi: int) -> dict[int, int]:
    """Entries per numbered mutation in [lo, hi): one round's (earlier rounds were checked)."""
    rows = db.query("entries").with_index("by_batch", lambda q: q.gte("batch", lo).lt("batch", hi)).collect()
    return dict(Counter(e.batch for e in rows))


def prepare_crash_file(path: str, big: int) -> None:
    """A file with ``big`` preloaded entries, so index builds and migrations take a while."""
    with fdb.open(path, crash_schema) as db:
        for start in range(0, big, 5_000):
            db.run(preload, n=min(5_000, big - start), start=start)


def _blob(seed: int, size: int) -> bytes:
    return random.Random(seed).randbytes(size)


def crash_child(path: str, scenario: str, first_batch: int, seed: int, conn: Any) -> None:
    """Run ``scenario`` until killed, sending ("batch", n) after each acknowledged mutation
    and ("file", id, sha256) after each stored file. "ready" once the database is open."""
    from fusiondb.engine.sqlite import changelog

    if scenario == "trim":  # trim the change log on almost every commit
        changelog.KEEP, changelog.TRIM_EVERY = 3, 2
    schema = crash_schema
    if scenario == "index_build":
        fdb.open(path, crash_schema).close()  # drops by_payload if a former run built it
        schema = crash_schema_indexed
    conn.send(("ready",))
    db = fdb.open(path, schema)  # index_build: the kill may land in here
    batch = first_batch
    n = 0
    while True:
        if scenario == "storage" and n % 2 == 0:
            data = _blob(seed + n, 3_000_000)
            file_id = db.storage.store(data)
            conn.send(("file", file_id, hashlib.sha256(data).hexdigest()))
        elif scenario == "migrate" and n % 5 == 0:
            db.migrate(
                "entries", lambda d: {**d, "payload": d["payload"] + "m"}, name=f"m{seed}-{n}", batch_size=300
            )
        db.run(put_batch, batch=batch)
        conn.send(("batch", batch))
        batch += 1
        n += 1


SCENARIOS = ("mutations", "index_build", "storage", "migrate", "trim")


def crash_round(path: str, scenario: str, first_batch: int, rng: random.Random) -> dict[str, Any]:
    """Start a child on ``path``, SIGKILL it at a random moment, reopen and check the file.

    Returns the acknowledged batches and files and what the check found."""
    parent, child = SPAWN.Pipe(duplex=False)
    proc = SPAWN.Process(
        target=crash_child, args=(path, scenario, first_batch, rng.randrange(1 << 30), child)
    )
    proc.start()
    child.close()
    acked: list[int] = []
    files: list[tuple[str, str]] = []
    ready = parent.poll(60)
    assert ready, "the crash child did not start"
    parent.recv()
    deadline = time.monotonic() + rng.uniform(0.01, 0.4)
    while True:
        left = deadline - time.monotonic()
        if left <= 0 or not proc.is_alive():
            break
        if parent.poll(left):
            try:
                msg = parent.recv()
            except EOFError:
                break
            if msg[0] == "batch":
                acked.append(msg[1])
            elif msg[0] == "file":
                files.append((msg[1], msg[2]))
    alive = proc.is_alive()
    if alive:
        os.kill(proc.pid, signal.SIGKILL)
    proc.join()
    while parent.poll():  # acknowledgements sent before the kill landed
        try:
            msg = parent.recv()
        except EOFError:
            break
        if msg[0] == "batch":
            acked.append(msg[1])
        elif msg[0] == "file":
            files.append((msg[1], msg[2]))
    parent.close()
    assert alive, f"the crash child ({scenario}) died by itself with exit code {proc.exitcode}"
    return {"acked": acked, "files": files, **check_crashed_file(path, first_batch, acked, files)}


def integrity(path: str) -> str:
    conn = apsw.Connection(path)
    try:
        return str(conn.execute("PRAGMA integrity_check").get)
    finally:
        conn.close()


def check_crashed_file(
    path: str, first_batch: int, acked: list[int], files: list[tuple[str, str]]
) -> dict[str, Any]:
    """Reopen after a kill: integrity, lost and partial mutations of the round (its batches
    start at ``first_batch``), files, a fresh subscription."""
    status = integrity(path)
    span = {"lo": first_batch, "hi": first_batch + ROUND_SPAN}
    with fdb.open(path, crash_schema) as db:
        counts = db.run(batch_counts, **span)
        lost = [b for b in acked if b not in counts]
        partial = [b for b, c in counts.items() if c != PARTS]
        bad_files = []
        for file_id, sha in files:
            stream = db.storage.open(file_id)
            with stream:
                if hashlib.sha256(stream.read()).hexdigest() != sha:
                    bad_files.append(file_id)
            db.storage.delete(file_id)  # checked: keep the file small for the next rounds
        with db.subscribe(batch_counts, **span) as sub:
            assert db.wait_idle(30)
            consistent = sub.value == db.run(batch_counts, **span)
    return {
        "integrity": status,
        "lost": lost,
        "partial": partial,
        "bad_files": bad_files,
        "consistent": consistent,
    }


# -- concurrent writers ----------------------------------------------------------------------


class Counter_(fdb.Document):
    name: str
    value: int = 0


counter_schema = fdb.Schema(counters=fdb.table(Counter_).index("by_name", ["name"]))


@fdb.mutation
def increment(db: fdb.Writer, counter_id: str) -> None:
    doc = db.get(counter_id)
    db.patch(counter_id, {"value": doc.value + 1})


@fdb.query
def counter_values(db: fdb.Reader) -> dict[str, int]:
    return {c.name: c.value for c in db.query("counters").collect()}


def increment_worker(path: str, ids: list[str], threads: int, per_thread: int, seed: int) -> int:
    """In a child process: ``threads`` threads each increment random counters ``per_thread``
    times. Returns how many errors reached the caller (must be 0)."""
    import threading

    errors: list[BaseException] = []
    with fdb.open(path, counter_schema) as db:

        def work(k: int) -> None:
            rng = random.Random(seed * 100 + k)
            for _ in range(per_thread):
                try:
                    db.run(increment, counter_id=rng.choice(ids))
                except BaseException as exc:  # any error reaching the caller is a failure
                    errors.append(exc)

        workers = [threading.Thread(target=work, args=(k,)) for k in range(threads)]
        for t in workers:
            t.start()
        for t in workers:
            t.join()
    for exc in errors[:3]:
        print("increment_worker error:", type(exc).__name__, exc, flush=True)
    return len(errors)


def increment_plan(ids: list[str], threads: int, per_thread: int, seed: int) -> Counter[str]:
    """How many increments ``increment_worker`` with these arguments makes per counter."""
    out: Counter[str] = Counter()
    for k in range(threads):
        rng = random.Random(seed * 100 + k)
        for _ in range(per_thread):
            out[rng.choice(ids)] += 1
    return out


def watch_worker(path: str, expected: dict[str, int], timeout: float) -> dict[str, int]:
    """In a child process: subscribe to the counters; return the value it ends on once it
    equals ``expected`` (or the last value after ``timeout``)."""
    with fdb.open(path, counter_schema) as db, db.subscribe(counter_values) as sub:
        try:
            return dict(sub.wait(lambda v: v == expected, timeout=timeout))
        except TimeoutError:
            return dict(sub.value)
