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
    """Name of format 1's virtual generated column (``doc ->> '$.a.b'``) for ``path``; format 2
    files have none (the upgrade drops them)."""
    return f"${path}"


def tag_column(path: str) -> str:
    """Name of the generated column holding the type tag of the value at ``path``."""
    return f"${path}$t"


def value_column(path: str, composite: bool) -> str:
    """Name of the generated column holding the comparable value at ``path``: ``$a.b$v``, or
    ``$a.b$c`` where arrays and objects are encoded with ``fdb_sort_bytes`` (see ``value_sql``)."""
    return f"${path}${'c' if composite else 'v'}"


# The SQL function that encodes a JSON array or object as its sort bytes (core.keys.sort_bytes);
# every fusiondb connection registers it (connection.py).
SORT_BYTES_FUNCTION = "fdb_sort_bytes"


def tag_sql(path: str, doc: str = "doc") -> str:
    """SQL for the type tag (core.keys.TAG_*) of the value at ``path`` of JSON ``doc``."""
    jp = json_path(path)
    return (
        f"(CASE json_type({doc}, '{jp}') WHEN 'integer' THEN 1 WHEN 'real' THEN 1 "
        "WHEN 'true' THEN 2 WHEN 'false' THEN 2 WHEN 'text' THEN 3 WHEN 'array' THEN 5 "
        f"WHEN 'object' THEN (CASE WHEN json_type({doc}, '{jp}.\"$bytes\"') = 'text' "
        "THEN 4 ELSE 6 END) ELSE 0 END)"
    )


def value_sql(path: str, composite: bool, tag: str, doc: str = "doc") -> str:
    """SQL for the comparable value at ``path`` (core.keys.sql_key), given the SQL of its tag:
    0 for null, numbers, 0/1 for booleans, text, the hex text of bytes, and for arrays and
    objects their sort bytes when ``composite`` (the field's type may hold them; this calls
    fusiondb's SQL function, which other tools lack), else their JSON text (such a field
    never holds one in a valid document)."""
    jp = json_path(path)
    nested = f"{SORT_BYTES_FUNCTION}({doc} -> '{jp}')" if composite else f"({doc} ->> '{jp}')"
    return (
        f"(CASE {tag} WHEN 0 THEN 0 WHEN 4 THEN ({doc} ->> '{jp}.\"$bytes\"') "
        f"WHEN 5 THEN {nested} WHEN 6 THEN {nested} ELSE ({doc} ->> '{jp}') END)"
    )


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


def add_tag_column(table: str, path: str) -> str:
    check_table_name(table)
    return (
        f"ALTER TABLE {quote(table)} ADD COLUMN {quote(tag_column(path))} "
        f"GENERATED ALWAYS AS {tag_sql(path)} VIRTUAL"
    )


def add_value_column(table: str, path: str, composite: bool) -> str:
    check_table_name(table)
    # No declared type: BLOB affinity keeps each value's own type (a text "12" stays text).
    tag = quote(tag_column(path))
    return (
        f"ALTER TABLE {quote(table)} ADD COLUMN {quote(value_column(path, composite))} "
        f"GENERATED ALWAYS AS {value_sql(path, composite, tag)} VIRTUAL"
    )


def drop_column(table: str, column: str) -> str:
    check_table_name(table)
    return f"ALTER TABLE {quote(table)} DROP COLUMN {quote(column)}"


def index_columns(fields: tuple[str, ...], composite: frozenset[str]) -> list[str]:
    """The quoted key columns of an index over ``fields``: a (tag, value) pair per field. The
    rowid, which every SQLite index ends with, orders creation (no creation_time column)."""
    cols: list[str] = []
    for f in fields:
        cols.append(quote(tag_column(f)))
        cols.append(quote(value_column(f, f in composite)))
    return cols


def create_index(table: str, index: str, fields: tuple[str, ...], composite: frozenset[str]) -> str:
    check_table_name(table)
    cols = ", ".join(index_columns(fields, composite))
    return (
        f"CREATE INDEX IF NOT EXISTS {quote(index_sql_name(table, index))} "
        f"ON {quote(table)}({cols})"
    )


def unique_sql_name(table: str, index: str) -> str:
    """Name of the SQLite index that enforces index ``index``'s uniqueness."""
    return f"{table}${index}$unique"


def create_unique_index(
    table: str, index: str, fields: tuple[str, ...], composite: frozenset[str]
) -> str:
    """The ``UNIQUE`` index that enforces a unique index: over the same key columns, so SQLite
    compares keys as the index orders them (``1`` = ``1.0``, text exactly, arrays and objects
    by their sort bytes), partial on every type tag being non-null, so keys holding null are
    exempt. It sits beside the range index (which scans use): a partial index cannot serve
    scans of null keys."""
    check_table_name(table)
    cols = index_columns(fields, composite)
    not_null = " AND ".join(f"{quote(tag_column(f))} <> 0" for f in fields)
    return (
        f"CREATE UNIQUE INDEX IF NOT EXISTS {quote(unique_sql_name(table, index))} "
        f"ON {quote(table)}({', '.join(cols)}) WHERE {not_null}"
    )


def drop_unique_index(table: str, index: str) -> str:
    check_table_name(table)
    return f"DROP INDEX IF EXISTS {quote(unique_sql_name(table, index))}"


def duplicate_keys(
    table: str, index: str, fields: tuple[str, ...], composite: frozenset[str]
) -> str:
    """Groups of row numbers sharing a non-null key of ``index`` (a query over its range
    index, in key order): one row per shared key, ``(row numbers joined by ',')``;
    parameters: none."""
    check_table_name(table)
    cols = ", ".join(index_columns(fields, composite))
    not_null = " AND ".join(f"{quote(tag_column(f))} <> 0" for f in fields)
    return (
        f"SELECT group_concat(_id) FROM {quote(table)} "
        f"INDEXED BY {quote(index_sql_name(table, index))} WHERE {not_null} "
        f"GROUP BY {cols} HAVING count(*) > 1"
    )


def drop_index(table: str, index: str) -> str:
    check_table_name(table)
    return f"DROP INDEX IF EXISTS {quote(index_sql_name(table, index))}"


def drop_table(table: str) -> str:
    check_table_name(table)
    return f"DROP TABLE IF EXISTS {quote(table)}"
