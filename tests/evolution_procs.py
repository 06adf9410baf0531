"""Models of successive schema versions, and code that runs in child processes (spawned).

The crash tests kill a child with SIGKILL while it is inside an index build or a
``db.migrate`` batch: the child signals that it got there by creating a marker file, then
sleeps, so the kill lands in the middle of the work, not before or after it.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import fusiondb as fdb


class ItemV1(fdb.Document):
    name: str
    user: str


class ItemV2(fdb.Document):
    """V1 plus an index on ``user`` (same fields)."""

    name: str
    user: str


class ItemRenamed(fdb.Document):
    """``name`` renamed to ``title``; ``runs`` counts how often a migration touched it."""

    title: str | None = None
    name: str | None = None
    user: str
    runs: int = 0


v1 = fdb.Schema(items=fdb.table(ItemV1))
v2_index = fdb.Schema(items=fdb.table(ItemV2).index("by_user", ["user"]))
renamed = fdb.Schema(items=fdb.table(ItemRenamed))


@fdb.mutation
def fill(db: fdb.Writer, count: int, prefix: str = "item") -> list[str]:
    return [
        db.insert("items", {"name": f"{prefix}{i}", "user": f"u{i % 7}"}) for i in range(count)
    ]


def populate(path: str, count: int) -> list[str]:
    db = fdb.open(path, v1)
    try:
        ids: list[str] = db.run(fill, count=count)
        return ids
    finally:
        db.close()


def build_index_then_hang(path: str, marker: str) -> None:
    """Open with the new index; pause forever in the middle of building it."""

    def progress(task: str, done: int, total: int) -> None:
        if 0 < done < total:
            Path(marker).touch()
            time.sleep(120)

    fdb.open(path, v2_index, progress=progress)


def rename(doc: dict[str, Any]) -> dict[str, Any]:
    """The migration of the crash test: move ``name`` to ``title``, count the visit."""
    out = {k: v for k, v in doc.items() if k != "name"}
    out["title"] = doc["name"]
    out["runs"] = doc.get("runs", 0) + 1
    return out


def migrate_then_hang(path: str, marker: str, hang_after: int) -> None:
    """Run the rename migration; pause forever inside the batch that reaches ``hang_after``."""
    seen = 0

    def slow_rename(doc: dict[str, Any]) -> dict[str, Any]:
        nonlocal seen
        seen += 1
        if seen == hang_after:
            Path(marker).touch()
            time.sleep(120)
        return rename(doc)

    db = fdb.open(path, renamed)
    db.migrate("items", slow_rename, batch_size=50, name="rename")


def write_until_stale(path: str, stop: str, result: Any) -> None:
    """Insert documents one mutation at a time until stopped or refused; report what happened."""
    db = fdb.open(path, v1)
    written = 0
    outcome = "stopped"
    try:
        while not Path(stop).exists():
            try:
                db.run(fill, count=1, prefix="w")
            except fdb.SchemaError as exc:
                outcome = f"SchemaError: {exc}"
                break
            written += 1
    finally:
        db.close()
        result.put((written, outcome))


def open_with(path: str, schema_name: str) -> list[str]:
    """Open the file with one of this module's schemas in a separate process, then close it."""
    schemas = {"v1": v1, "v2_index": v2_index, "renamed": renamed, "v1_plus_table": v1_plus_table}
    db = fdb.open(path, schemas[schema_name])
    changes = [str(c) for c in db.schema_changes]
    db.close()
    return changes


class Extra(fdb.Document):
    value: int


v1_plus_table = fdb.Schema(items=fdb.table(ItemV1), extra=fdb.table(Extra))


def open_and_fill(path: str, schema_name: str, count: int) -> None:
    """Open with one of this module's schemas in another process and insert ``count`` items."""
    schemas = {"v1": v1, "v2_index": v2_index, "v1_plus_table": v1_plus_table}
    db = fdb.open(path, schemas[schema_name])
    try:
        db.run(fill, count=count, prefix="other")
    finally:
        db.close()
