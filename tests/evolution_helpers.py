"""What the schema-evolution tests share: a first model, a schema builder, seeding, and looks
at the file below the API (its SQLite indexes and tables, its bytes, its integrity check).

Every evolution case opens a file with one model, writes, closes, and opens it again with
another. The models of the multi-process tests, importable by spawned children, are in
``tests/evolution_procs.py``.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import apsw

import fusiondb as fdb


class V1(fdb.Document):
    text: str
    user: str


def schema_of(model: type[fdb.Document], **indexes: list[str]) -> fdb.Schema:
    tdef = fdb.table(model)
    for name, fields in indexes.items():
        tdef = tdef.index(name, fields)
    return fdb.Schema(tasks=tdef)


@fdb.mutation
def add(db: fdb.Writer, docs: list[dict[str, Any]]) -> list[str]:
    return [db.insert("tasks", d) for d in docs]


@fdb.query
def all_docs(db: fdb.Reader) -> list[Any]:
    return db.query("tasks").collect()


def seed(
    path: Path, model: type[fdb.Document], docs: list[dict[str, Any]], **indexes: list[str]
) -> list[str]:
    db = fdb.open(path, schema_of(model, **indexes))
    try:
        ids: list[str] = db.run(add, docs=docs)
        return ids
    finally:
        db.close()


def kinds(db: fdb.Database) -> list[tuple[str, str]]:
    return [(c.kind, c.table) for c in db.schema_changes if not c.table.startswith("_")]


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def sql_indexes(path: Path) -> set[str]:
    conn = apsw.Connection(str(path))
    try:
        return {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
    finally:
        conn.close()


def sql_tables(path: Path) -> set[str]:
    conn = apsw.Connection(str(path))
    try:
        return {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    finally:
        conn.close()


def integrity(path: Path) -> str:
    conn = apsw.Connection(str(path))
    try:
        return str(conn.execute("PRAGMA integrity_check").fetchone()[0])  # type: ignore[index]
    finally:
        conn.close()


DOCS = [{"text": f"t{i}", "user": f"u{i % 3}"} for i in range(30)]
