"""Hypothesis stateful test: after every quiescent point, each live value equals a fresh query.

Subscriptions and mutations are random; mutations come from this process and from a second
process (a long-lived child serving commands over a pipe) writing to the same file. Each
example gets its own file in a temporary directory; the example's teardown closes it in both
processes and deletes it, and the directory goes when the test ends, pass or fail.
"""

from __future__ import annotations

import multiprocessing
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

import fusiondb as fdb
from tests.models import Task, delete, get_doc, insert, patch, schema
from tests.procs import writer_server

USERS = st.sampled_from(["u1", "u2", "u3"])
PRIORITIES = st.integers(min_value=0, max_value=5)


@fdb.query
def by_user(db: fdb.Reader, user_id: str) -> list[Task]:
    return db.query("tasks").with_index("by_user", lambda q: q.eq("user_id", user_id)).collect()


@fdb.query
def by_priority_range(db: fdb.Reader, user_id: str, lo: int, hi: int) -> list[Task]:
    return (
        db.query("tasks")
        .with_index(
            "by_user_priority", lambda q: q.eq("user_id", user_id).gte("priority", lo).lte("priority", hi)
        )
        .order("desc")
        .collect()
    )


@fdb.query
def newest(db: fdb.Reader, n: int) -> list[Task]:
    return db.query("tasks").order("desc").take(n)


@fdb.query
def completed_count(db: fdb.Reader) -> int:
    return len(db.query("tasks").filter(lambda q: q.completed == True).collect())  # noqa: E712


@pytest.fixture(scope="module")
def child() -> Iterator[Any]:
    ctx = multiprocessing.get_context("spawn")
    parent_end, child_end = ctx.Pipe()
    proc = ctx.Process(target=writer_server, args=(child_end,), daemon=True)
    proc.start()

    def call(*cmd: Any) -> Any:
        parent_end.send(cmd)
        status, value = parent_end.recv()
        assert status == "ok", value
        return value

    yield call
    call("quit")
    proc.join(10)


def remove_database_files(path: Path) -> None:
    """Delete a closed database file and the journal files SQLite may leave next to it."""
    for name in (path.name, f"{path.name}-wal", f"{path.name}-shm", f"{path.name}-journal"):
        (path.parent / name).unlink(missing_ok=True)


@pytest.fixture
def tmp_dir() -> Iterator[Path]:
    """A directory in the system temp dir, removed after the test (a test that leaves its
    files behind fills the disk one run at a time)."""
    with tempfile.TemporaryDirectory(prefix="fdb-stateful-") as name:
        yield Path(name)


def test_live_values_equal_fresh_queries(child: Any, tmp_dir: Path) -> None:
    counter = iter(range(10**9))

    class Machine(RuleBasedStateMachine):
        @initialize()
        def open(self) -> None:
            self.ids: list[str] = []
            self.subs: list[tuple[fdb.Subscription, Any, dict[str, Any]]] = []
            self.path = tmp_dir / f"db{next(counter)}.db"
            self.db = fdb.open(self.path, schema)
            child("open", str(self.path))

        def _sub(self, fn: Any, **args: Any) -> None:
            self.subs.append((self.db.subscribe(fn, **args), fn, args))

        @rule(user=USERS)
        def subscribe_user(self, user: str) -> None:
            self._sub(by_user, user_id=user)

        @rule(user=USERS, lo=PRIORITIES, hi=PRIORITIES)
        def subscribe_range(self, user: str, lo: int, hi: int) -> None:
            self._sub(by_priority_range, user_id=user, lo=min(lo, hi), hi=max(lo, hi))

        @rule(n=st.integers(min_value=1, max_value=4))
        def subscribe_newest(self, n: int) -> None:
            self._sub(newest, n=n)

        @rule(data=st.data())
        def subscribe_one(self, data: st.DataObject) -> None:
            if self.ids:
                self._sub(get_doc, doc_id=data.draw(st.sampled_from(self.ids)))

        @rule()
        def subscribe_completed(self) -> None:
            self._sub(completed_count)

        @rule(data=st.data())
        def unsubscribe(self, data: st.DataObject) -> None:
            if self.subs:
                i = data.draw(st.integers(0, len(self.subs) - 1))
                self.subs.pop(i)[0].close()

        @rule(user=USERS, priority=PRIORITIES, remote=st.booleans(), text=st.text(max_size=5))
        def add(self, user: str, priority: int, remote: bool, text: str) -> None:
            doc = {"text": text, "user_id": user, "priority": priority}
            new_id = child("insert", doc) if remote else self.db.run(insert, table="tasks", doc=doc)
            self.ids.append(new_id)

        @rule(data=st.data(), remote=st.booleans())
        def change(self, data: st.DataObject, remote: bool) -> None:
            if not self.ids:
                return
            task_id = data.draw(st.sampled_from(self.ids))
            fields = data.draw(
                st.fixed_dictionaries(
                    {},
                    optional={
                        "priority": PRIORITIES,
                        "user_id": USERS,
                        "completed": st.booleans(),
                        "text": st.text(max_size=5),
                    },
                )
            )
            try:
                if remote:
                    child("patch", task_id, fields)
                else:
                    self.db.run(patch, doc_id=task_id, fields=fields)
            except (AssertionError, fdb.DocumentNotFound):
                pass  # already deleted

        @rule(data=st.data(), remote=st.booleans())
        def remove(self, data: st.DataObject, remote: bool) -> None:
            if not self.ids:
                return
            task_id = data.draw(st.sampled_from(self.ids))
            try:
                if remote:
                    child("delete", task_id)
                else:
                    self.db.run(delete, doc_id=task_id)
            except (AssertionError, fdb.DocumentNotFound):
                pass

        @invariant()
        def live_equals_fresh(self) -> None:
            if not hasattr(self, "db"):
                return
            assert self.db.wait_idle(30)
            for sub, fn, args in self.subs:
                assert sub.value == self.db.run(fn, **args), (fn, args)

        def teardown(self) -> None:
            if not hasattr(self, "path"):
                return
            try:
                if hasattr(self, "db"):
                    for sub, _, _ in self.subs:
                        sub.close()
                    self.db.close()
            finally:
                child("close")  # the child lets go of this example's file too
                remove_database_files(self.path)

    Machine.TestCase.settings = settings(
        max_examples=25,
        stateful_step_count=25,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )
    Machine.TestCase().runTest()
    assert list(tmp_dir.iterdir()) == []  # every example removed its file
