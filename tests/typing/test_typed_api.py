"""Every public call as a type checker sees it: ``make test`` runs mypy and pyright on this file.

``assert_type`` lines hold what each call returns (were ``db.run`` to return ``Any`` again,
they would fail). Lines ending in ``# type: ignore[code]`` (mypy, with warn_unused_ignores for
this folder) and ``# pyright: ignore[rule]`` (pyright, with mypy's comments ignored and
reportUnnecessaryTypeIgnoreComment on) are mistakes the checkers must refuse: were one
accepted, its comment would be unused and the check would fail (pyright checks this folder
a second time with tests/typing/pyrightconfig.json, which turns that on). Mistakes that also fail at
run time run under ``pytest.raises``; the others sit under ``if TYPE_CHECKING:``. pytest runs
the file too, so the types asserted are the values the calls return.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Annotated, Any, assert_type

import pytest

import fusiondb as fdb
from fusiondb.transaction.query import Query


class Task(fdb.Document):
    text: str
    completed: bool = False
    user_id: str


class Comment(fdb.Document):
    task: fdb.IdOf[Task]  # typed: no Annotated, no string for a checker to misread
    body: str


class Note(fdb.Document):
    task: Annotated[str, fdb.Id["tasks"]]  # the spelling by table name still works
    text: str


tasks = fdb.table(Task).index("by_user", ["user_id"])
comments = fdb.table(Comment).index("by_task", ["task"])
schema = fdb.Schema(tasks=tasks, comments=comments, notes=fdb.table(Note))
assert_type(tasks, fdb.TableDef[Task])


@fdb.mutation
def add_task(db: fdb.Writer, text: str, user_id: str = "u1") -> fdb.IdOf[Task]:
    return db.insert(tasks, Task(text=text, user_id=user_id))


@fdb.mutation
def add_comment(db: fdb.Writer, task: fdb.IdOf[Task], body: str) -> fdb.IdOf[Comment]:
    assert_type(db.insert("comments", {"task": task, "body": body}), str)  # by name: a str
    if TYPE_CHECKING:
        db.insert(tasks, Comment(task=task, body=body))  # type: ignore[misc]  # pyright: ignore[reportCallIssue, reportArgumentType]
    return db.insert(comments, Comment(task=task, body=body))


@fdb.mutation
def complete(db: fdb.Writer, task: fdb.IdOf[Task]) -> None:
    db.patch(task, {"completed": True})


@fdb.query
def list_by_user(db: fdb.Reader, user_id: str) -> list[Task]:
    query = db.query(tasks).with_index("by_user", lambda q: q.eq("user_id", user_id))
    assert_type(query, Query[Task])
    assert_type(query.first(), Task | None)
    assert_type(query.take(1), list[Task])
    assert_type(query.paginate(None, 10), fdb.PaginationResult[Task])
    assert_type(query.as_dicts().collect(), list[dict[str, Any]])
    assert_type(query.count(), int)
    assert_type(db.query("tasks"), Query[Any])  # by name: Any, as before
    for task in query:
        assert_type(task, Task)
    return query.order("desc").collect()


@fdb.query
def task_of(db: fdb.Reader, comment: fdb.IdOf[Comment]) -> Task | None:
    found = db.get(comment)
    assert_type(found, Comment | None)
    assert found is not None
    assert_type(db.get(tasks, found.task), Task | None)
    assert_type(db.get("tasks", found.task), Any)
    assert_type(db.normalize_id(tasks, found.task), fdb.IdOf[Task] | None)
    if TYPE_CHECKING:
        _wrong: Comment | None = db.get(found.task)  # type: ignore[assignment]  # pyright: ignore[reportAssignmentType]
    return db.get(found.task)


def test_run_returns_the_declared_type_and_checks_arguments() -> None:
    with fdb.open(None, schema) as db:
        task = db.run(add_task, text="milk")
        assert_type(task, fdb.IdOf[Task])
        note = db.run(add_comment, task=task, body="oat")
        assert_type(note, fdb.IdOf[Comment])
        assert_type(db.run(complete, task=task), None)
        found = db.run(list_by_user, user_id="u1")
        assert_type(found, list[Task])
        assert [t.completed for t in found] == [True]
        assert_type(db.run(task_of, comment=note), Task | None)
        with pytest.raises(TypeError, match="unknown argument 'txt'"):
            db.run(add_task, txt="milk")  # type: ignore[call-arg]  # pyright: ignore[reportCallIssue]
        with pytest.raises(TypeError, match="missing argument 'user_id'"):
            db.run(list_by_user)  # type: ignore[call-arg]  # pyright: ignore[reportCallIssue]
        with pytest.raises(TypeError, match="by keyword"):
            db.run(list_by_user, "u1")  # checkers cannot see it: positional are refused at run time
        with pytest.raises(TypeError, match=r"@fdb\.query"):
            db.subscribe(add_task, text="x")  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType, reportCallIssue]
        if TYPE_CHECKING:
            db.run(add_task, text=3)  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
            _wrong: int = db.run(list_by_user, user_id="u1")  # type: ignore[assignment]  # pyright: ignore[reportAssignmentType]
            Comment(task="a plain str", body="x")  # pyright: ignore[reportArgumentType]  (mypy's pydantic plugin: untyped __init__)


def test_a_subscription_gives_the_query_type() -> None:
    with fdb.open(None, schema) as db:
        sub = db.subscribe(list_by_user, user_id="u1")
        assert_type(sub, fdb.Subscription[list[Task]])
        assert_type(sub.value, list[Task])
        seen: list[list[str]] = []

        def on_change(value: list[Task]) -> None:
            seen.append([t.text for t in value])

        def on_change_from(sender: Any, value: list[Task]) -> None:
            pass

        def on_numbers(value: list[int]) -> None:
            pass

        sub.changed.connect(on_change)
        sub.changed.connect(on_change_from)
        sub.changed.connect(lambda value: seen.append([t.text for t in value]))
        sub.failed.connect(lambda error: print(error.args))
        if TYPE_CHECKING:
            sub.changed.connect(on_numbers)  # type: ignore[arg-type]  # pyright: ignore[reportCallIssue, reportArgumentType]
            sub.changed.connect(lambda value: value.upper())  # type: ignore[attr-defined]  # pyright: ignore[reportAttributeAccessIssue]
        db.run(add_task, text="milk")
        assert_type(sub.wait(lambda v: len(v) == 1, timeout=10), list[Task])
        for value in sub:
            assert_type(value, list[Task])
            break
        assert db.wait_idle()
        assert seen[-1] == ["milk"]
        if TYPE_CHECKING:
            sub.value.append(3)  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]


def test_the_async_calls_give_the_same_types() -> None:
    async def main() -> list[str]:
        async with fdb.open_async(None, schema) as db:
            assert_type(db, fdb.Database)
            task = await db.run_async(add_task, text="milk")
            assert_type(task, fdb.IdOf[Task])
            sub = await db.subscribe_async(list_by_user, user_id="u1")
            assert_type(sub, fdb.Subscription[list[Task]])
            values = aiter(sub)
            assert_type(values, AsyncIterator[list[Task]])
            first = await anext(values)
            assert_type(first, list[Task])
            await db.run_async(add_task, text="eggs")
            newer = await sub.next()
            assert_type(newer, list[Task])
            if TYPE_CHECKING:
                await db.run_async(add_task, txt="x")  # type: ignore[call-arg]  # pyright: ignore[reportCallIssue]
            return sorted(t.text for t in newer)

    assert asyncio.run(asyncio.wait_for(main(), 30)) == ["eggs", "milk"]
