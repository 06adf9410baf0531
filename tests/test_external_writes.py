"""Writes that bypass fusiondb: another tool's UPDATE reaches live queries; ``db.check()``.

Other tools are Python's own ``sqlite3`` module here, on the same file: their commits leave no
change-log entry, so a watcher sees the data version move with no new entry and re-runs every
live query once. fusiondb's own commits always leave one, so they stay exact.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

import fusiondb as fdb
from tests.models import add_task, schema

ROOT = Path(__file__).resolve().parent.parent


def counting_by_user() -> tuple[Counter[str], Any]:
    runs: Counter[str] = Counter()

    @fdb.query
    def by_user(db: fdb.Reader, user_id: str) -> list[str]:
        runs[user_id] += 1
        tasks = db.query("tasks").with_index("by_user", lambda q: q.eq("user_id", user_id))
        return sorted(t.text for t in tasks.collect())

    return runs, by_user


# Another tool is another process: two copies of the SQLite library in one process (apsw's
# and the sqlite3 module's) do not see each other's POSIX locks, and closing one connection
# drops the other's locks, which can corrupt the file (sqlite.org/howtocorrupt.html, 2.2).
TOOL = r"""
import json, sqlite3, sys
path, sql, params, hold = sys.argv[1], sys.argv[2], json.loads(sys.argv[3]), sys.argv[4]
conn = sqlite3.connect(path)
with conn:
    print(conn.execute(sql, params).rowcount, flush=True)
    if hold == "hold":
        sys.stdin.readline()  # commit when told to
conn.close()
"""


def tool(path: Path, sql: str, params: tuple[Any, ...], hold: bool) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", TOOL, str(path), sql, json.dumps(params), "hold" if hold else ""],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )


def external(path: Path, sql: str, params: tuple[Any, ...] = ()) -> int:
    """Run one statement with Python's sqlite3 module in another process; rows changed."""
    proc = tool(path, sql, params, hold=False)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0
    return int(out)


@contextmanager
def external_transaction(path: Path, sql: str) -> Iterator[int]:
    """Run ``sql`` in another process's transaction, which commits when the block ends."""
    proc = tool(path, sql, (), hold=True)
    try:
        assert proc.stdout is not None
        yield int(proc.stdout.readline())
        proc.communicate("commit\n", timeout=60)
        assert proc.returncode == 0
    finally:
        if proc.poll() is None:
            proc.kill()


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "app.db"


@pytest.fixture
def db(path: Path) -> Iterator[fdb.Database]:
    database = fdb.open(path, schema)
    yield database
    database.close()


def test_an_external_update_reaches_live_queries_once_then_matching_is_exact_again(
    db: fdb.Database, path: Path
) -> None:
    runs, by_user = counting_by_user()
    db.run(add_task, text="milk", user_id="u1")
    db.run(add_task, text="tea", user_id="u2")
    u1 = db.subscribe(by_user, user_id="u1")
    u2 = db.subscribe(by_user, user_id="u2")
    u2_changes: list[Any] = []
    u2.changed.connect(lambda value: u2_changes.append(value))
    assert db.wait_idle()
    runs.clear()

    with external_transaction(
        path,
        "UPDATE tasks SET doc = json_set(doc, '$.text', 'oat milk') "
        "WHERE json_extract(doc, '$.text') = 'milk'",
    ) as changed:
        # Not committed yet, so not seen. (Its first write may restart the WAL, which moves
        # the data version like a commit; the watcher waits for the write to end instead.)
        assert db.wait_idle()
        assert u1.value == ["milk"] and u2_changes == []
        assert runs == Counter()
    assert changed == 1
    assert db.wait_idle()
    assert u1.value == ["oat milk"]
    # What the unknown write touched is unknown: every live query re-ran once; u2's value
    # did not change, so its subscribers heard nothing.
    assert runs == {"u1": 1, "u2": 1}
    assert u2.value == ["tea"] and u2_changes == []

    # fusiondb's own commits are matched exactly again.
    runs.clear()
    db.run(add_task, text="eggs", user_id="u1")
    assert db.wait_idle()
    assert runs == {"u1": 1}
    assert u1.value == ["eggs", "oat milk"]

    # An external delete, likewise.
    external(path, "DELETE FROM tasks WHERE json_extract(doc, '$.text') = 'tea'")
    assert db.wait_idle()
    assert u2.value == [] and u2_changes == [[]]


def test_quiet_database_reruns_nothing(db: fdb.Database) -> None:
    runs, by_user = counting_by_user()
    db.subscribe(by_user, user_id="u1")
    db.subscribe(by_user, user_id="u2")
    assert db.wait_idle()
    runs.clear()
    time.sleep(0.2)  # a hundred poll rounds
    assert db.wait_idle()
    assert runs == {}


def test_commits_that_change_rows_but_no_documents_are_not_taken_for_another_tool(
    db: fdb.Database,
) -> None:
    runs, by_user = counting_by_user()
    for i in range(4):
        db.run(add_task, text=f"t{i}", user_id="u1")
    db.subscribe(by_user, user_id="u1")
    db.subscribe(by_user, user_id="u2")
    assert db.wait_idle()
    runs.clear()
    # A migration that changes nothing still saves its progress after every batch.
    result = db.migrate("tasks", lambda doc: None, batch_size=1, name="nothing")
    assert result.processed == 4 and result.changed == 0
    assert db.wait_idle()
    assert runs == {}


CHILD = """
import sys
import fusiondb as fdb
from tests.models import schema

class Extra(fdb.Document):
    x: int

with fdb.open(sys.argv[1], fdb.Schema(**schema.tables, extra=fdb.table(Extra))) as db:
    assert [c.kind for c in db.schema_changes] == ["add_table"], db.schema_changes
"""


def test_another_process_evolving_the_schema_reruns_everything_at_most_once(
    db: fdb.Database, path: Path
) -> None:
    runs, by_user = counting_by_user()
    db.run(add_task, text="milk", user_id="u1")
    u1 = db.subscribe(by_user, user_id="u1")
    db.subscribe(by_user, user_id="u2")
    assert db.wait_idle()
    runs.clear()
    child = subprocess.run(
        [sys.executable, "-c", CHILD, str(path)], cwd=ROOT, capture_output=True, text=True,
        timeout=60,
    )
    assert child.returncode == 0, child.stderr
    assert db.wait_idle()
    assert set(runs) <= {"u1", "u2"} and max(runs.values(), default=0) <= 1
    settled = dict(runs)
    time.sleep(0.2)
    assert db.wait_idle()
    assert runs == settled  # no endless re-runs
    db.run(add_task, text="eggs", user_id="u1")
    assert db.wait_idle()
    assert u1.value == ["eggs", "milk"]


# -- db.check() ------------------------------------------------------------------------------


class Post(fdb.Document):
    text: str
    user_id: str


search_schema = fdb.Schema(
    posts=fdb.table(Post).search_index("search_text", search_field="text", filter_fields=["user_id"])
)


@fdb.mutation
def add_post(db: fdb.Writer, text: str, user_id: str = "u1") -> str:
    return db.insert("posts", Post(text=text, user_id=user_id))


@fdb.query
def search(db: fdb.Reader, words: str) -> list[str]:
    found = db.query("posts").with_search_index("search_text", lambda q: q.search("text", words))
    return sorted(p.text for p in found.collect())


def test_check_rebuilds_a_search_index_another_tool_left_behind(path: Path) -> None:
    with fdb.open(path, search_schema) as db:
        db.run(add_post, text="red apples")
        db.run(add_post, text="green pears", user_id="u2")
        live = db.subscribe(search, words="bananas")
        assert live.value == []
        assert db.check().ok

        external(
            path,
            "UPDATE posts SET doc = json_set(doc, '$.text', 'yellow bananas') "
            "WHERE json_extract(doc, '$.text') = 'red apples'",
        )
        # The document changed, its search entry did not.
        assert db.run(search, words="apples") == ["yellow bananas"]
        assert db.run(search, words="bananas") == []

        report = db.check(repair=False)
        assert report.integrity == ()
        assert report.search_indexes == ("posts.search_text",)
        assert report.out_of_date == ("posts.search_text",)
        assert report.rebuilt == () and not report.ok
        assert db.run(search, words="bananas") == []  # nothing was written

        report = db.check()
        assert report.out_of_date == report.rebuilt == ("posts.search_text",) and report.ok
        assert db.run(search, words="bananas") == ["yellow bananas"]
        assert db.run(search, words="apples") == []
        assert db.wait_idle()
        assert live.value == ["yellow bananas"]  # the rebuild reached live searches too

        again = db.check()
        assert again.out_of_date == () and again.rebuilt == () and again.ok


def test_check_sees_an_external_insert_and_delete(path: Path) -> None:
    with fdb.open(path, search_schema) as db:
        db.run(add_post, text="one")
        db.run(add_post, text="two")
        external(path, "DELETE FROM posts WHERE json_extract(doc, '$.text') = 'one'")
        assert db.check(repair=False).out_of_date == ("posts.search_text",)
        assert db.check().ok
        external(
            path,
            "INSERT INTO posts(creation_time, doc) VALUES (?, ?)",
            (time.time() * 1000, '{"text": "three", "user_id": "u1"}'),
        )
        assert db.check(repair=False).out_of_date == ("posts.search_text",)
        assert db.check().ok
        assert db.run(search, words="one two three") == ["three", "two"]


@pytest.mark.parametrize("where", ["memory", "file"])
def test_check_of_a_sound_database(where: str, path: Path) -> None:
    with fdb.open(None if where == "memory" else path, search_schema) as db:
        db.run(add_post, text="hello world")
        report = db.check()
        assert report == fdb.CheckReport(
            integrity=(), search_indexes=("posts.search_text",), out_of_date=(), rebuilt=()
        )
        assert report.ok
    with pytest.raises(fdb.DatabaseClosed):
        db.check()
