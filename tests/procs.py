"""Code that runs in child processes (spawned, so it must be importable)."""

from __future__ import annotations

from multiprocessing.connection import Connection
from typing import Any

import fusiondb as fdb
from tests.models import Task, add_task, schema


def add_tasks(path: str, user_id: str, count: int) -> None:
    db = fdb.open(path, schema)
    try:
        for i in range(count):
            db.run(add_task, text=f"{user_id}-{i}", user_id=user_id)
    finally:
        db.close()


@fdb.mutation
def _patch(db: fdb.Writer, task_id: str, fields: dict[str, Any]) -> None:
    db.patch(task_id, fields)


@fdb.mutation
def _delete(db: fdb.Writer, task_id: str) -> None:
    db.delete(task_id)


@fdb.mutation
def _insert(db: fdb.Writer, doc: dict[str, Any]) -> str:
    return db.insert("tasks", Task(**doc))


def writer_server(conn: Connection) -> None:
    """Serve write commands over a pipe: ("open", path), ("insert", doc), ... ("quit",)."""
    db: fdb.Database | None = None
    while True:
        cmd, *args = conn.recv()
        try:
            if cmd == "quit":
                conn.send(("ok", None))
                return
            if cmd == "open":
                if db is not None:
                    db.close()
                db = fdb.open(args[0], schema)
                conn.send(("ok", None))
            elif cmd == "insert":
                assert db is not None
                conn.send(("ok", db.run(_insert, doc=args[0])))
            elif cmd == "patch":
                assert db is not None
                conn.send(("ok", db.run(_patch, task_id=args[0], fields=args[1])))
            elif cmd == "delete":
                assert db is not None
                conn.send(("ok", db.run(_delete, task_id=args[0])))
            else:
                conn.send(("error", f"unknown command {cmd}"))
        except Exception as exc:
            conn.send(("error", repr(exc)))
