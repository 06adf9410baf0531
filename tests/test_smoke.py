"""Smoke test: the seed example end to end (insert, toggle, an indexed query, newest first)."""

from __future__ import annotations

import fusiondb as fdb
from tests.models import Task, add_task, list_by_user, toggle


def test_seed_example_round_trip(db: fdb.Database) -> None:
    first = db.run(add_task, text="milk", user_id="u1")
    db.run(add_task, text="eggs", user_id="u1")
    db.run(add_task, text="other", user_id="u2")
    db.run(toggle, task_id=first)
    tasks = db.run(list_by_user, user_id="u1")
    assert [t.text for t in tasks] == ["eggs", "milk"]
    assert isinstance(tasks[0], Task)
    assert tasks[1].id == first and tasks[1].completed is True
    assert tasks[0].creation_time > tasks[1].creation_time
