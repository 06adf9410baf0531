"""Pure functions that build DDL from validated names.

Names reaching this module have passed ``core.schema.check_name`` / ``FIELD_RE``; they are
still always double-quoted, and no value is ever spliced into SQL except the JSON paths of
generated columns, which SQLite cannot take as parameters and which are built only from
validated field names.
"""

from __future__ import annotations

from ...core.schema import FIELD_RE, NAME_RE


def quote(name: str) -> str:
    """Quote an identifier that has already been validated."""
    if '"' in name or "\x00" in name:
        raise ValueError(f"unsafe identifier {name!r}")
    return f'"{name}"'


def column_of(path: str) -> str:
    """Name of the virtual generated column holding the value at ``path`` ("a.b" -> "$a.b")."""
    return f"${path}"


def json_path(path: str) -> str:
    parts = path.split(".")
    if not all(FIELD_RE.match(p) for p in parts):
        raise ValueError(f"invalid field path {path!r}")
    return "$." + ".".join(parts)


def index_sql_name(table: str, index: str) -> str:
    return f"{table}${index}"


def check_table_name(table: str) -> str:
    bare = table[1:] if table.startswith("_") else table
    if not NAME_RE.match(bare):
        raise ValueError(f"invalid table name {table!r}")
    return table


def create_table(table: str) -> str:
    check_table_name(table)
    # AUTOINCREMENT: row numbers, hence ids, are never reused after a delete.
    return (
        f"CREATE TABLE IF NOT EXISTS {quote(table)} ("
        "_id INTEGER PRIMARY KEY AUTOINCREMENT, "
        "creation_time REAL NOT NULL, "
        "doc TEXT NOT NULL)"
    )


def add_generated_column(table: str, path: str) -> str:
    check_table_name(table)
    # No declared type: BLOB affinity keeps each value's own type (a text "12" stays text).
    return (
        f"ALTER TABLE {quote(table)} ADD COLUMN {quote(column_of(path))} "
        f"GENERATED ALWAYS AS (doc ->> '{json_path(path)}') VIRTUAL"
    )


def create_index(table: str, index: str, fields: tuple[str, ...]) -> str:
    check_table_name(table)
    cols = ", ".join([*(quote(column_of(f)) for f in fields), "creation_time"])
    return (
        f"CREATE INDEX IF NOT EXISTS {quote(index_sql_name(table, index))} "
        f"ON {quote(table)}({cols})"
    )


def drop_index(table: str, index: str) -> str:
    check_table_name(table)
    return f"DROP INDEX IF EXISTS {quote(index_sql_name(table, index))}"


def drop_table(table: str) -> str:
    check_table_name(table)
    return f"DROP TABLE IF EXISTS {quote(table)}"
