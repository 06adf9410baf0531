"""``make demo`` / ``python -m fusiondb.demo [path]``: the seed example, live.

Opens (or creates) ``fusiondb-demo.db``, adds tasks for two users, toggles one, writes a note,
and keeps a live query on user u1's tasks open the whole time; it prints each new value as the
mutations land, including one made by a second process on the same file.
"""

from __future__ import annotations

import multiprocessing
import sys
import threading
from typing import Annotated, Any

import fusiondb as fdb


class Task(fdb.Document):
    text: str
    completed: bool = False
    user_id: str


class Note(fdb.Document):
    title: str
    body: str
    # Annotated[str, fdb.Id[...]] rather than fdb.Id["_storage"]: type checkers read a string
    # inside an annotation as a forward reference.
    attachment: Annotated[str, fdb.Id["_storage"]] | None = None


schema = fdb.Schema(
    tasks=fdb.table(Task).index("by_user", ["user_id"]),
    notes=fdb.table(Note),
)


@fdb.query
def list_by_user(db: fdb.Reader, user_id: str) -> list[Task]:
    return (
        db.query("tasks")
        .with_index("by_user", lambda q: q.eq("user_id", user_id))
        .order("desc")
        .collect()
    )


@fdb.mutation
def add(db: fdb.Writer, text: str, user_id: str) -> str:
    return db.insert("tasks", Task(text=text, user_id=user_id))


@fdb.mutation
def toggle(db: fdb.Writer, task_id: str) -> None:
    task = db.get(task_id)
    if task is None:
        raise ValueError("Task not found")
    db.patch(task_id, {"completed": not task.completed})


@fdb.mutation
def add_note(db: fdb.Writer, title: str, body: str) -> str:
    return db.insert("notes", Note(title=title, body=body))


@fdb.query
def count_notes(db: fdb.Reader) -> int:
    return len(db.query("notes").collect())


def _other_process(path: str) -> None:
    db = fdb.open(path, schema)
    try:
        db.run(add, text="written by another process", user_id="u1")
    finally:
        db.close()


def _show(tasks: list[Task]) -> str:
    return ", ".join(f"{'[x]' if t.completed else '[ ]'} {t.text}" for t in tasks) or "(none)"


def _await_live_line(updates: threading.Semaphore) -> None:
    if not updates.acquire(timeout=10):
        raise RuntimeError("the live query did not print its new value within 10 s")


def main(argv: list[str]) -> None:
    path = argv[1] if len(argv) > 1 else "fusiondb-demo.db"
    db = fdb.open(path, schema)
    print(f"opened {path}")
    updates = threading.Semaphore(0)

    def on_change(sub: Any, value: list[Task]) -> None:
        print(f"  live u1 -> {_show(value)}")
        updates.release()

    with db.subscribe(list_by_user, user_id="u1") as sub:
        print(f"live query on u1's tasks starts at: {_show(sub.value)}")
        sub.changed.connect(on_change)

        # Each step prints what it does, then waits for the live query's line (printed on
        # fusiondb's subscription thread), so the two threads' lines never interleave.
        print("adding 'buy milk' for u1")
        milk = db.run(add, text="buy milk", user_id="u1")
        _await_live_line(updates)
        print(f"  its id: {milk}")
        db.run(add, text="walk the dog", user_id="u2")
        db.wait_idle()
        print("added 'walk the dog' for u2 (u1's live query does not re-run)")
        print("toggling 'buy milk'")
        db.run(toggle, task_id=milk)
        _await_live_line(updates)

        def from_child(tasks: list[Task]) -> int:
            return sum(t.text == "written by another process" for t in tasks)

        before = from_child(sub.value)
        print("a second process adds a task for u1 ...")
        ctx = multiprocessing.get_context("spawn")
        child = ctx.Process(target=_other_process, args=(path,))
        child.start()
        child.join()
        seen = sub.wait(lambda v: from_child(v) > before, timeout=10)
        _await_live_line(updates)
        print(f"live query saw the other process's write: {len(seen)} tasks for u1")

        db.run(add_note, title="groceries", body="milk, eggs")
        print(f"notes in the file: {db.run(count_notes)}")
        print(f"live query re-runs so far: {db.subscription_reruns}")
    db.close()
    print("closed")


if __name__ == "__main__":
    main(sys.argv)
