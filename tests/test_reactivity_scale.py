"""Issue 19: live queries at scale, counted (no timing here; see benchmarks/bench_reactivity.py).

- A huge commit is summarized as key ranges per (table, index), in memory and in the change
  log, and still re-runs exactly the live queries whose ranges it touched: a bulk insert into
  one user re-runs none of another user's queries, here or in another process.
- Live queries hold few objects the cyclic GC must scan; at scale the manager freezes them if
  asked to (``FREEZE_FROM``), and by default leaves the process's GC alone.
"""

from __future__ import annotations

import gc
from collections import Counter
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import fusiondb as fdb
from fusiondb.core.keys import normalize_key
from fusiondb.reactive import manager as manager_module
from fusiondb.transaction import writeset
from tests.helpers import raw_sql
from tests.models import add_task, schema

BULK = 50_000  # the benchmark does 1M; the summary is the same, only smaller


@fdb.mutation
def bulk(db: fdb.Writer, user_id: str, count: int) -> None:
    for i in range(count):
        db.insert("tasks", {"text": f"bulk-{i}", "user_id": user_id, "priority": i % 3})


@fdb.mutation
def move_all(db: fdb.Writer, from_user: str, to_user: str) -> None:
    for task in db.query("tasks").with_index("by_user", lambda q: q.eq("user_id", from_user)).collect():
        db.patch(task.id, {"user_id": to_user})


def counting_queries() -> tuple[Counter[str], Any, Any]:
    runs: Counter[str] = Counter()

    @fdb.query
    def count_of(db: fdb.Reader, user_id: str) -> int:
        runs[user_id] += 1
        return len(db.query("tasks").with_index("by_user", lambda q: q.eq("user_id", user_id)).collect())

    @fdb.query
    def first_three(db: fdb.Reader) -> list[str]:
        runs["first_three"] += 1
        return [t.text for t in db.query("tasks").take(3)]

    return runs, count_of, first_three


@pytest.fixture
def low_threshold(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(writeset, "SUMMARIZE_AT", 1_000)


@pytest.mark.usefixtures("low_threshold")
def test_a_huge_commit_reruns_only_the_queries_it_touched_here_and_in_another_process(
    tmp_path: Path,
) -> None:
    path = str(tmp_path / "x.db")
    db = fdb.open(path, schema)
    other = fdb.open(path, schema)  # another origin: sees the commit through the change log
    for user in ("a", "b", "c"):
        db.run(add_task, text=f"{user}-0", user_id=user)
    watched = []
    for database in (db, other):
        runs, count_of, first_three = counting_queries()
        subs = {u: database.subscribe(count_of, user_id=u) for u in ("a", "b", "c")}
        subs["first"] = database.subscribe(first_three)
        watched.append((database, runs, subs))
    for _, runs, _ in watched:
        runs.clear()
    db.run(bulk, user_id="a", count=BULK)
    for database, runs, subs in watched:
        assert database.wait_idle(30)
        assert runs == Counter({"a": 1})  # not b, not c, not the first three by creation time
        assert subs["a"].value == BULK + 1
    # The log entry holds the summary, not 50k keys.
    (payload,) = raw_sql(db, "SELECT writes FROM _fdb_changelog ORDER BY seq DESC LIMIT 1")[0]
    entry = orjson.loads(payload)
    assert entry["format"] == writeset.LOG_FORMAT == 2
    assert entry["folded"] + len(entry["writes"]) == BULK
    assert len(payload) < 200_000
    # The next commit restarts the WAL the huge one filled, which moves data_version before
    # the commit's log entry lands: not taken for another tool's write (test_wal_restart.py).
    for _, runs, _ in watched:
        runs.clear()
    db.run(add_task, text="settle", user_id="z")
    for database, runs, _ in watched:
        assert database.wait_idle(30)
        assert runs == Counter()
    db.run(move_all, from_user="b", to_user="c")
    for database, runs, _ in watched:
        assert database.wait_idle(30)
        assert runs == Counter({"b": 1, "c": 1, "first_three": 1})  # b-0 is among the first three
    other.close()
    db.close()


def test_a_write_set_past_the_threshold_holds_a_bounded_summary() -> None:
    layouts = {"t": fdb.core.keys.KeyLayout.build([("by_user", ("user",))], ())}  # type: ignore[attr-defined]
    writes = writeset.WriteSet(summarize_at=100)
    writes.layouts.update(layouts)
    for rowid in range(1, 10_001):
        user = ("a", "b")[rowid % 2]
        writes.writes.append(("t", rowid, float(rowid), None, (user,), None, None))
        if len(writes.writes) >= writes.summarize_at:
            writes.fold()
    assert len(writes) == 10_000 and len(writes.writes) == 0
    assert all(len(r) <= writeset.RANGES_PER_INDEX for r in writes.ranges.values())
    # Interleaved users never share a range: a common prefix is closer than any gap.
    by_user = writes.ranges[("t", "by_user")]
    assert all(lo[0] == hi[0] for lo, hi in by_user) and {lo[0] for lo, _ in by_user} == {"a", "b"}
    assert writes.ranges[("t", "by_id")] == [((1,), (10_000,))]
    decoded = writeset.decode(writeset.encode(writes))
    assert decoded is not None and decoded.ranges == writes.ranges and len(decoded) == 10_000


def test_a_format_1_entry_still_decodes() -> None:
    old = orjson.dumps({"layouts": {"t": [[["by_user", [0]]], []]},
                        "writes": [["t", 1, 1.0, None, ["a"], None, None]]})
    decoded = writeset.decode(old)
    assert decoded is not None and decoded.keys_by_index()[("t", "by_user")] == [("a", 1.0, 1)]
    assert decoded.ranges == {}


values = st.one_of(st.none(), st.integers(-50, 50), st.floats(-50, 50), st.sampled_from(["a", "b", "ab", ""]))
keys = st.tuples(values, st.integers(0, 100))


@settings(max_examples=200, deadline=None)
@given(st.lists(keys, min_size=1, max_size=60), st.integers(1, 8))
def test_cover_covers_every_key_with_at_most_limit_ranges(points: list[tuple[Any, ...]], limit: int) -> None:
    ranges = writeset.cover([(k, k) for k in points], limit)
    assert len(ranges) <= limit
    spans = [(normalize_key(lo), normalize_key(hi)) for lo, hi in ranges]
    assert all(lo <= hi for lo, hi in spans)
    for k in points:
        n = normalize_key(k)
        assert any(lo <= n <= hi for lo, hi in spans), k


def test_a_live_query_holds_few_gc_tracked_objects(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(manager_module, "FREEZE_FROM", None)
    db = fdb.open(tmp_path / "x.db", schema)
    _, count_of, _ = counting_queries()
    n = 500
    gc.collect()
    before = len(gc.get_objects())
    subs = [db.subscribe(count_of, user_id=f"u{i}") for i in range(n)]
    gc.collect()
    per_query = (len(gc.get_objects()) - before) / n
    # The Live and its handle; the key, range entries and bytes keys are atomic containers
    # the GC stops tracking, a single handle is held without a container.
    assert per_query <= 2.2, per_query
    assert len(subs) == n
    db.close()


def test_at_scale_the_manager_freezes_what_is_alive_and_unfreezes_on_close(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(manager_module, "FREEZE_FROM", 50)
    gc.unfreeze()
    _freezes_at_100_live_queries_until_closed(fdb.open(tmp_path / "x.db", schema))


def _freezes_at_100_live_queries_until_closed(db: fdb.Database) -> None:
    """100 live queries freeze (the threshold is 50); they stay exact; closing unfreezes."""
    _, count_of, _ = counting_queries()
    subs = [db.subscribe(count_of, user_id=f"u{i}") for i in range(100)]
    assert gc.get_freeze_count() > 0
    db.run(add_task, text="x", user_id="u1")
    assert db.wait_idle()
    assert subs[1].value == 1
    db.close()
    assert gc.get_freeze_count() == 0


def test_gc_freeze_from_opts_one_database_in(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(manager_module, "FREEZE_FROM", None)
    gc.unfreeze()
    _, count_of, _ = counting_queries()
    plain = fdb.open(tmp_path / "plain.db", schema)
    plain_subs = [plain.subscribe(count_of, user_id=f"u{i}") for i in range(100)]
    assert gc.get_freeze_count() == 0  # not asked: the process's GC is left alone
    _freezes_at_100_live_queries_until_closed(fdb.open(tmp_path / "x.db", schema, gc_freeze_from=50))
    assert plain_subs[1].value == 0
    plain.close()


@pytest.mark.parametrize("bad", [0, -5, 2.5, "10", True])
def test_gc_freeze_from_refuses_what_is_not_a_positive_count(tmp_path: Path, bad: Any) -> None:
    with pytest.raises(fdb.InvalidArgument, match="gc_freeze_from"):
        fdb.open(tmp_path / "x.db", schema, gc_freeze_from=bad)
    assert not (tmp_path / "x.db").exists()  # refused before anything was created


def test_opted_in_close_leaves_a_freeze_the_application_made_first(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(manager_module, "FREEZE_FROM", 50)
    db = fdb.open(tmp_path / "x.db", schema)
    _, count_of, _ = counting_queries()
    gc.freeze()  # the application's own, before fusiondb's
    frozen = gc.get_freeze_count()
    try:
        subs = [db.subscribe(count_of, user_id=f"u{i}") for i in range(100)]
        assert gc.get_freeze_count() > frozen  # fusiondb froze the live queries too
        assert subs[1].value == 0
        db.close()
        assert gc.get_freeze_count() > frozen // 2  # not unfrozen
    finally:
        gc.unfreeze()


def test_by_default_no_number_of_live_queries_freezes_or_unfreezes_the_process(tmp_path: Path) -> None:
    """gc.freeze() is the whole process's: fusiondb neither freezes the application's objects
    nor, on close, undoes a freeze the application made (a pre-fork server's)."""
    db = fdb.open(tmp_path / "x.db", schema)
    _, count_of, _ = counting_queries()
    gc.freeze()  # the application's own
    frozen = gc.get_freeze_count()
    try:
        subs = [db.subscribe(count_of, user_id=f"u{i}") for i in range(10_050)]  # past 10,000
        db.run(add_task, text="x", user_id="u1")
        assert db.wait_idle()
        assert subs[1].value == 1
        # (Frozen objects freed by reference counting leave the count: it may only shrink.)
        assert gc.get_freeze_count() <= frozen  # a freeze would add the 10k live queries
        db.close()
        assert frozen // 2 < gc.get_freeze_count() <= frozen  # not unfrozen
    finally:
        gc.unfreeze()
