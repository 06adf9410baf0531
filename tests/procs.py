"""Code that runs in child processes (spawned, so it must be importable)."""

from __future__ import annotations

from multiprocessing.connection import Connection
from typing import Any

import fusiondb as fdb
from tests.models import Task, add_task, delete, patch, schema


def add_tasks(path: str, user_id: str, count: int) -> None:
    db = fdb.open(path, schema)
    try:
        for i in range(count):
            db.run(add_task, text=f"{user_id}-{i}", user_id=user_id)
    finally:
        db.close()


@fdb.mutation
def _insert(db: fdb.Writer, doc: dict[str, Any]) -> str:
    # A model, where the parent process inserts dicts: both paths get exercised.
    return db.insert("tasks", Task(**doc))


def writer_server(conn: Connection) -> None:
    """Serve write commands over a pipe: ("open", path), ("insert", doc), ("patch", id, fields),
    ("delete", id), ("close",) and ("quit",); each is answered with ("ok", value) or ("error", repr).
    """
    db: fdb.Database | None = None
    while True:
        cmd, *args = conn.recv()
        try:
            if cmd in ("quit", "close"):
                if db is not None:
                    db.close()
                    db = None
                conn.send(("ok", None))
                if cmd == "quit":
                    return
            elif cmd == "open":
                if db is not None:
                    db.close()
                db = fdb.open(args[0], schema)
                conn.send(("ok", None))
            elif cmd == "insert":
                assert db is not None
                conn.send(("ok", db.run(_insert, doc=args[0])))
            elif cmd == "patch":
                assert db is not None
                conn.send(("ok", db.run(patch, doc_id=args[0], fields=args[1])))
            elif cmd == "delete":
                assert db is not None
                conn.send(("ok", db.run(delete, doc_id=args[0])))
            else:
                conn.send(("error", f"unknown command {cmd}"))
        except Exception as exc:
            conn.send(("error", repr(exc)))
