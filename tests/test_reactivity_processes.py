"""Writes from another process invalidate exactly the same subscriptions as local ones."""

from __future__ import annotations

import multiprocessing
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

import fusiondb as fdb
from fusiondb.engine.sqlite import changelog
from tests.helpers import raw_sql
from tests.models import add_task, schema
from tests.procs import add_tasks


def by_user_counting() -> tuple[Counter[str], Any]:
    runs: Counter[str] = Counter()

    @fdb.query
    def by_user(db: fdb.Reader, user_id: str) -> list[str]:
        runs[user_id] += 1
        q = db.query("tasks").with_index("by_user", lambda q: q.eq("user_id", user_id))
        return [t.text for t in q.collect()]

    return runs, by_user


def run_child(target: Any, *args: Any) -> None:
    ctx = multiprocessing.get_context("spawn")
    proc = ctx.Process(target=target, args=args)
    proc.start()
    proc.join(60)
    assert proc.exitcode == 0


def test_other_process_write_reruns_exactly_the_matching_subscription(tmp_path: Path) -> None:
    path = str(tmp_path / "x.db")
    db = fdb.open(path, schema)
    try:
        runs, by_user = by_user_counting()
        subs = {u: db.subscribe(by_user, user_id=u) for u in ("a", "b", "c")}
        runs.clear()
        run_child(add_tasks, path, "b", 3)
        assert db.wait_idle()
        assert set(runs) == {"b"}
        assert 1 <= runs["b"] <= 3  # three commits may coalesce into fewer re-runs
        assert subs["b"].value == ["b-0", "b-1", "b-2"]
        assert subs["a"].value == [] and subs["c"].value == []
    finally:
        db.close()


def test_subscriber_behind_the_trimmed_log_reruns_everything(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(changelog, "KEEP", 3)
    monkeypatch.setattr(changelog, "TRIM_EVERY", 1)
    path = str(tmp_path / "x.db")
    watcher = fdb.open(path, schema)
    other = fdb.open(path, schema)  # another connection with its own origin: a "process"
    try:
        runs, by_user = by_user_counting()
        subs = {u: watcher.subscribe(by_user, user_id=u) for u in ("a", "b")}
        runs.clear()
        # Hold the watcher's worker so it cannot poll while the log is trimmed past it.
        with watcher._subs._lock:
            for i in range(10):
                other.run(add_task, text=f"a{i}", user_id="a")
        assert watcher.wait_idle()
        # It cannot know which commits it missed, so every subscription re-ran once.
        assert runs == Counter({"a": 1, "b": 1})
        assert subs["a"].value == [f"a{i}" for i in range(10)]
    finally:
        other.close()
        watcher.close()


def test_log_is_trimmed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(changelog, "KEEP", 5)
    monkeypatch.setattr(changelog, "TRIM_EVERY", 2)
    db = fdb.open(tmp_path / "x.db", schema)
    try:
        for i in range(40):
            db.run(add_task, text=str(i), user_id="u")
        count = raw_sql(db, "SELECT count(*) FROM _fdb_changelog")[0][0]
        assert count <= 5 + 2
    finally:
        db.close()
