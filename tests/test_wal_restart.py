"""A WAL restart is not another tool's write: live queries stay exact across it.

After a checkpoint has copied the whole WAL into the database file, the next writer restarts
the WAL as it writes its first page, and every other connection's ``PRAGMA data_version``
moves then, before that writer's commit (and its change-log entry) lands. A watcher that read
the log in that window took it for a commit without an entry (another tool's) and re-ran every
live query once. Counted with real connections and run counts; another tool's write (no log
entry) must still re-run everything (``test_external_writes.py`` covers that across processes).
"""

from __future__ import annotations

import random
from collections import Counter
from pathlib import Path
from typing import Any

import apsw

import fusiondb as fdb
from fusiondb.transaction import writeset
from tests.models import add_task, schema

USERS = 20


@fdb.mutation
def bulk(db: fdb.Writer, user_id: str, count: int) -> None:
    for i in range(count):
        db.insert("tasks", {"text": f"bulk-{i}", "user_id": user_id})


def counting(db: fdb.Database) -> tuple[Counter[str], list[Any]]:
    runs: Counter[str] = Counter()

    @fdb.query
    def count_of(r: fdb.Reader, user_id: str) -> int:
        runs[user_id] += 1
        return len(r.query("tasks").with_index("by_user", lambda q: q.eq("user_id", user_id)).collect())

    subs = [db.subscribe(count_of, user_id=f"u{i}") for i in range(USERS)]
    assert db.wait_idle()
    runs.clear()
    return runs, subs


def checkpointed(path: str) -> apsw.Connection:
    """A connection of another fusiondb-like writer, after a checkpoint emptied the WAL."""
    raw = apsw.Connection(path)
    raw.set_busy_timeout(5_000)
    ((busy, frames, copied),) = raw.execute("PRAGMA wal_checkpoint").fetchall()
    assert busy == 0 and frames == copied > 0  # the whole WAL is in the file: the next write restarts it
    return raw


def test_a_wal_restart_under_an_open_write_reruns_nothing(tmp_path: Path) -> None:
    path = str(tmp_path / "x.db")
    db = fdb.open(path, schema)
    runs, subs = counting(db)
    db.run(bulk, user_id="a", count=500)
    assert db.wait_idle()
    raw = checkpointed(path)
    watcher = apsw.Connection(path)
    version = watcher.pragma("data_version")
    # A logged write whose pages spill from a 2-page cache: the WAL restarts at the first spill,
    # long before the commit.
    raw.pragma("cache_size", 2)
    raw.execute("BEGIN IMMEDIATE")
    payload = writeset.encode(writeset.WriteSet()) + b" " * 300_000
    raw.execute("INSERT INTO _fdb_changelog(origin, writes) VALUES ('other', ?)", (payload,))
    assert watcher.pragma("data_version") != version  # what the watcher sees: "something moved"
    assert db.wait_idle()  # a round reads the log while the restart is under way
    assert runs == Counter()
    raw.execute("COMMIT")
    assert db.wait_idle()
    assert runs == Counter()  # the commit came with its entry, which wrote no document
    db.run(add_task, text="x", user_id="u3")
    assert db.wait_idle()
    assert runs == Counter({"u3": 1})  # exact as ever
    assert subs[3].value == 1
    raw.close()
    watcher.close()
    db.close()


def test_another_tools_write_after_a_restart_still_reruns_everything(tmp_path: Path) -> None:
    path = str(tmp_path / "x.db")
    db = fdb.open(path, schema)
    runs, _ = counting(db)
    db.run(bulk, user_id="a", count=500)
    assert db.wait_idle()
    raw = checkpointed(path)
    with raw:  # no log entry: the watcher cannot know what it touched
        raw.execute("UPDATE tasks SET doc = json_set(doc, '$.text', 'tool') WHERE _id = 1")
    assert db.wait_idle()
    assert runs == Counter({f"u{i}": 1 for i in range(USERS)})
    raw.close()
    db.close()


def test_bursts_after_big_commits_rerun_only_the_queries_written_to(tmp_path: Path) -> None:
    """This process's own commits, with the WAL filled, checkpointed and restarted under the
    worker again and again: every re-run is of a query a commit touched."""
    db = fdb.open(tmp_path / "x.db", schema)
    runs, _ = counting(db)
    rng = random.Random(7)
    written: set[str] = set()
    for _ in range(3):
        db.run(bulk, user_id="a", count=3_000)  # more than the 1,000-page autocheckpoint
        for _ in range(300):
            user = f"u{rng.randrange(USERS // 2)}"
            written.add(user)
            db.run(add_task, text="s", user_id=user)
    assert db.wait_idle(30)
    assert set(runs) == written  # u10..u19 never written: never re-run
    db.close()
