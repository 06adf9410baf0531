"""The catalog: the schema a file was last opened with, and bringing the file up to date.

The stored catalog lives in ``_fdb_catalog`` (key/value rows, values JSON). ``open_catalog``
runs inside the writer's transaction: it reads what is stored, compares it with the declared
schema, applies what is missing (tables, generated columns, indexes), and records the result.
The caller commits, so either the whole change applies or none of it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import apsw
import orjson

from . import ddl, search
from .errors import SchemaError
from .schema import CREATION_INDEX, IndexDef, Schema, TableDef, TableInfo

CATALOG_FORMAT = 1
FIRST_USER_TABLE_NUMBER = 16

CREATE_CATALOG = "CREATE TABLE IF NOT EXISTS _fdb_catalog (key TEXT PRIMARY KEY, value TEXT NOT NULL)"


@dataclass
class StoredTable:
    number: int
    indexes: dict[str, list[str]]
    search_indexes: dict[str, dict[str, Any]] = field(default_factory=dict)
    json_schema: dict[str, Any] = field(default_factory=dict)
    columns: list[str] = field(default_factory=list)
    system: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "number": self.number,
            "indexes": self.indexes,
            "search_indexes": self.search_indexes,
            "json_schema": self.json_schema,
            "columns": self.columns,
            "system": self.system,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> StoredTable:
        return cls(
            number=data["number"],
            indexes=data.get("indexes", {}),
            search_indexes=data.get("search_indexes", {}),
            json_schema=data.get("json_schema", {}),
            columns=data.get("columns", []),
            system=data.get("system", False),
        )


@dataclass
class StoredCatalog:
    version: int
    next_table_number: int
    tables: dict[str, StoredTable]


def read_catalog(conn: apsw.Connection) -> StoredCatalog:
    conn.execute(CREATE_CATALOG)
    rows = dict(conn.execute("SELECT key, value FROM _fdb_catalog"))
    if not rows:
        return StoredCatalog(0, FIRST_USER_TABLE_NUMBER, {})
    fmt = orjson.loads(rows["format"])
    if fmt > CATALOG_FORMAT:
        raise SchemaError(
            f"this file was written by a newer fusiondb (catalog format {fmt}); upgrade fusiondb"
        )
    tables = {
        name: StoredTable.from_json(data) for name, data in orjson.loads(rows["tables"]).items()
    }
    return StoredCatalog(
        orjson.loads(rows["version"]), orjson.loads(rows["next_table_number"]), tables
    )


def write_catalog(conn: apsw.Connection, catalog: StoredCatalog) -> None:
    values = {
        "format": CATALOG_FORMAT,
        "version": catalog.version,
        "next_table_number": catalog.next_table_number,
        "tables": {name: t.to_json() for name, t in sorted(catalog.tables.items())},
    }
    conn.executemany(
        "INSERT OR REPLACE INTO _fdb_catalog(key, value) VALUES (?, ?)",
        [(k, orjson.dumps(v, option=orjson.OPT_SORT_KEYS).decode()) for k, v in values.items()],
    )


def json_schema_of(tdef: TableDef) -> dict[str, Any]:
    return tdef.model.model_json_schema(mode="validation")


def _ensure_index(conn: apsw.Connection, name: str, stored: StoredTable, idx: IndexDef) -> None:
    for path in idx.fields:
        if path not in stored.columns:
            conn.execute(ddl.add_generated_column(name, path))
            stored.columns.append(path)
    conn.execute(ddl.create_index(name, idx.name, idx.fields))
    stored.indexes[idx.name] = list(idx.fields)


def apply_table(
    conn: apsw.Connection, name: str, tdef: TableDef, stored: StoredTable | None, number: int
) -> StoredTable:
    """Create or update one table so that it has exactly the declared indexes."""
    if stored is None:
        conn.execute(ddl.create_table(name))
        stored = StoredTable(number=number, indexes={}, system=name.startswith("_"))
        conn.execute(ddl.create_index(name, CREATION_INDEX, ()))
    for idx_name in list(stored.indexes):
        declared = tdef.indexes.get(idx_name)
        if declared is None or list(declared.fields) != stored.indexes[idx_name]:
            conn.execute(ddl.drop_index(name, idx_name))
            del stored.indexes[idx_name]
    for idx in tdef.indexes.values():
        if idx.name not in stored.indexes:
            _ensure_index(conn, name, stored, idx)
    # Full-text indexes: dropped when removed or changed, built (with progress) when new.
    search.apply_search_indexes(conn, name, tdef.search_indexes, stored.search_indexes)
    stored.json_schema = json_schema_of(tdef)
    return stored


def open_catalog(
    conn: apsw.Connection, schema: Schema, system_tables: dict[str, tuple[int, TableDef]]
) -> tuple[StoredCatalog, dict[str, TableInfo]]:
    """Bring the file's tables up to the declared schema; returns the catalog and live tables."""
    catalog = read_catalog(conn)
    before = orjson.dumps({n: t.to_json() for n, t in catalog.tables.items()})
    declared: dict[str, tuple[int | None, TableDef]] = {
        name: (number, tdef) for name, (number, tdef) in system_tables.items()
    }
    declared.update({name: (None, tdef) for name, tdef in schema.tables.items()})
    infos: dict[str, TableInfo] = {}
    for name, (fixed_number, tdef) in declared.items():
        stored = catalog.tables.get(name)
        if stored is None:
            number = fixed_number if fixed_number is not None else catalog.next_table_number
            if fixed_number is None:
                catalog.next_table_number += 1
        else:
            number = stored.number
        stored = apply_table(conn, name, tdef, stored, number)
        catalog.tables[name] = stored
        infos[name] = TableInfo(
            name=name,
            number=stored.number,
            model=tdef.model,
            indexes=dict(tdef.indexes),
            search_indexes=dict(tdef.search_indexes),
            system=name.startswith("_"),
        )
    if orjson.dumps({n: t.to_json() for n, t in catalog.tables.items()}) != before:
        catalog.version += 1
        write_catalog(conn, catalog)
    return catalog, infos
