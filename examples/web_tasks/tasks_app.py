"""The web task list's functions: tasks by user, toggle, an attachment shown through get_url.

Served by `fusiondb serve tasks.db --functions tasks_app --static dist` (see README.md).
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel

import fusiondb as fdb


class Task(fdb.Document):
    text: str
    completed: bool = False
    user_id: str
    attachment: Annotated[str, fdb.Id["_storage"]] | None = None


class TaskView(BaseModel):
    """A task as the page shows it: its attachment as a URL the browser can load."""

    id: str
    text: str
    completed: bool
    attachment_url: str | None = None


schema = fdb.Schema(tasks=fdb.table(Task).index("by_user", ["user_id"]))


@fdb.query
def list_by_user(db: fdb.Reader, user_id: str) -> list[TaskView]:
    tasks = db.query("tasks").with_index("by_user", lambda q: q.eq("user_id", user_id)).collect()
    return [
        TaskView(
            id=t.id,
            text=t.text,
            completed=t.completed,
            attachment_url=db.storage.get_url(t.attachment) if t.attachment else None,
        )
        for t in tasks
    ]


@fdb.mutation
def add(db: fdb.Writer, text: str, user_id: str) -> str:
    return db.insert("tasks", Task(text=text, user_id=user_id))


@fdb.mutation
def toggle(db: fdb.Writer, task_id: str) -> None:
    task = db.get(task_id)
    if task is None:
        raise fdb.FusionError(f"no task {task_id}")
    db.patch(task_id, {"completed": not task.completed})


@fdb.mutation
def attach(db: fdb.Writer, task_id: str, data: bytes, content_type: str) -> None:
    """Store ``data`` and attach it to the task (used from Python: bytes are not JSON)."""
    db.patch(task_id, {"attachment": db.storage.store(data, content_type)})


@fdb.mutation
def upload_url(db: fdb.Writer) -> str:
    """A URL the page uploads a file to (``client.upload``), answering the file's id."""
    return db.storage.generate_upload_url()


@fdb.mutation
def attach_upload(db: fdb.Writer, task_id: str, file_id: Annotated[str, fdb.Id["_storage"]]) -> None:
    """Attach a file the page uploaded to the task."""
    if db.get(task_id) is None:
        raise fdb.FusionError(f"no task {task_id}")
    db.patch(task_id, {"attachment": file_id})
