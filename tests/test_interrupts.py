"""Ctrl-C at an unlucky moment: a KeyboardInterrupt anywhere between taking a lock or a
transaction and handing it back must leave the database usable: no writer left inside
BEGIN IMMEDIATE, no pooled reader mid-transaction, no thread marked busy, the file lock free
for another process."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

import fusiondb as fdb
from fusiondb.engine.sqlite import engine as sqlite_engine
from fusiondb.engine.sqlite.txn import SqliteTxn
from tests.models import add_task, all_tasks, read, write
from tests.stress_workers import SPAWN


@pytest.fixture(params=["memory", "file"])
def db_kind(request: pytest.FixtureRequest) -> str:
    """SQLite only: these tests interrupt the SQLite engine's own steps (its TRANSLATE, its
    lock). On PostgreSQL an interrupted transaction is the server's to end: the connection's
    rollback when it goes back to the pool (``engine/postgres/engine.py``)."""
    return str(request.param)


def _other_process_writes(path: str) -> int:
    from tests.models import add_task as add
    from tests.models import schema

    with fdb.open(path, schema) as db:
        db.run(add, text="from another process", user_id="p")
    return 1


def _interrupting(fn: Callable[..., Any], after: bool) -> Callable[..., Any]:
    """``fn`` that raises KeyboardInterrupt once, before or after doing its work."""
    fired = []

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if fired:
            return fn(*args, **kwargs)
        fired.append(1)
        if not after:
            raise KeyboardInterrupt
        fn(*args, **kwargs)
        raise KeyboardInterrupt

    return wrapper


def _still_usable(db: fdb.Database) -> None:
    before = len(db.run(all_tasks))
    db.run(add_task, text="after", user_id="u")
    assert len(db.run(all_tasks)) == before + 1
    assert read(db, lambda r: r.query("tasks").take(1))
    if db.path is not None:  # the SQLite write lock is free for another process
        with SPAWN.Pool(1) as pool:
            assert pool.apply(_other_process_writes, (db.path,)) == 1
        assert len(db.run(all_tasks)) == before + 2


class _InterruptingTranslate:
    """Stands in for the engine's ``TRANSLATE`` (the ``with`` around each BEGIN and COMMIT):
    raises KeyboardInterrupt on its ``nth`` use, before or after the statement ran."""

    def __init__(self, nth: int, after: bool) -> None:
        self.left = nth
        self.after = after

    def __enter__(self) -> None:
        self.left -= 1
        if self.left == 0 and not self.after:
            raise KeyboardInterrupt

    def __exit__(self, *exc: object) -> bool:
        if self.left == 0 and self.after and exc[0] is None:
            self.left = -1
            raise KeyboardInterrupt
        return False


@pytest.mark.parametrize("after", [False, True], ids=["before", "after"])
def test_interrupt_while_taking_the_write_lock(
    db: fdb.Database, monkeypatch: pytest.MonkeyPatch, after: bool
) -> None:
    if db.path is not None:
        monkeypatch.setattr(
            sqlite_engine, "begin_immediate", _interrupting(sqlite_engine.begin_immediate, after)
        )
    else:
        monkeypatch.setattr(sqlite_engine, "TRANSLATE", _InterruptingTranslate(1, after))
    with pytest.raises(KeyboardInterrupt):
        db.run(add_task, text="x", user_id="u")
    monkeypatch.undo()
    _still_usable(db)


def test_interrupt_inside_a_mutation(db: fdb.Database) -> None:
    def body(w: fdb.Writer) -> None:
        w.insert("tasks", {"text": "half", "user_id": "u"})
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        write(db, body)
    assert [t.text for t in db.run(all_tasks)] == []
    _still_usable(db)


@pytest.mark.parametrize("after", [False, True], ids=["before", "after"])
def test_interrupt_at_commit(db: fdb.Database, monkeypatch: pytest.MonkeyPatch, after: bool) -> None:
    monkeypatch.setattr(SqliteTxn, "commit", _interrupting(SqliteTxn.commit, after))
    with pytest.raises(KeyboardInterrupt):
        db.run(add_task, text="x", user_id="u")
    monkeypatch.undo()
    texts = [t.text for t in db.run(all_tasks)]
    assert texts == (["x"] if after else [])
    _still_usable(db)


def test_interrupt_inside_a_query(db: fdb.Database) -> None:
    db.run(add_task, text="x", user_id="u")

    def body(r: fdb.Reader) -> None:
        r.query("tasks").collect()
        raise KeyboardInterrupt

    for _ in range(3):  # each pooled reader in turn
        with pytest.raises(KeyboardInterrupt):
            read(db, body)
    _still_usable(db)


@pytest.mark.parametrize(
    ("nth", "after"), [(1, False), (1, True), (2, False)], ids=["begin", "after-begin", "commit"]
)
def test_interrupt_while_a_read_begins_or_commits(
    db: fdb.Database, monkeypatch: pytest.MonkeyPatch, nth: int, after: bool
) -> None:
    db.run(add_task, text="x", user_id="u")
    monkeypatch.setattr(sqlite_engine, "TRANSLATE", _InterruptingTranslate(nth, after))
    with pytest.raises(KeyboardInterrupt):
        db.run(all_tasks)
    monkeypatch.undo()
    for _ in range(3):
        assert len(db.run(all_tasks)) == 1
    _still_usable(db)


def test_interrupt_while_a_file_reader_begins(file_db: fdb.Database, monkeypatch: pytest.MonkeyPatch) -> None:
    """The reader began its transaction, then the interrupt: it must not go back to the pool
    still inside it (the next query on it would fail with "cannot start a transaction")."""
    db = file_db
    db.run(add_task, text="x", user_id="u")
    real = sqlite_engine._FileRead.__enter__

    def enter_then_interrupt(self: Any) -> Any:
        real(self)
        raise KeyboardInterrupt

    monkeypatch.setattr(sqlite_engine._FileRead, "__enter__", enter_then_interrupt)
    with pytest.raises(KeyboardInterrupt):
        db.run(all_tasks)
    monkeypatch.undo()
    for _ in range(3):
        assert len(db.run(all_tasks)) == 1
    _still_usable(db)


def test_interrupt_while_the_guard_checks(file_db: fdb.Database, monkeypatch: pytest.MonkeyPatch) -> None:
    db = file_db
    with SPAWN.Pool(1) as pool:  # another process commits: the next write checks the guard
        pool.apply(_other_process_writes, (db.path,))
    monkeypatch.setattr(
        sqlite_engine.FileEngine,
        "check_guard",
        _interrupting(sqlite_engine.FileEngine.check_guard, after=False),
    )
    with pytest.raises(KeyboardInterrupt):
        db.run(add_task, text="x", user_id="u")
    monkeypatch.undo()
    _still_usable(db)
