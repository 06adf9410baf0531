"""``db.system``: read-only inspection of everything the file holds, declared or not.

The schema decides which tables queries and mutations see; the file may hold more: tables
removed from the schema keep their documents until ``db.drop_table``. ``db.system`` lists every
table with its status and reads any of them as plain dicts, whatever the current models say,
which is how the data of a removed table (or a document a model rejects) can still be reached.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .core.documents import stored_dicts
from .core.errors import InvalidArgument, SchemaError
from .core.keys import INT64_MAX
from .engine.base import Engine
from .evolution.catalog import StoredCatalog, read_catalog


@dataclass(frozen=True)
class TableStatus:
    """One table of the file, as ``db.system.tables()`` reports it."""

    name: str
    number: int
    documents: int
    indexes: tuple[str, ...]
    search_indexes: tuple[str, ...]
    removed: bool  # no longer in the schema; documents kept until db.drop_table(name)
    system: bool  # maintained by fusiondb (names starting with "_")


class System:
    """``db.system``: ``tables()``, ``read(table)``, ``stored_schema(table)``, ``catalog_version()``."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def _catalog(self) -> StoredCatalog:
        with self._engine.read() as txn:
            return read_catalog(txn)

    def tables(self) -> list[TableStatus]:
        """Every table in the file, declared, removed or system, with its document count."""
        out = []
        with self._engine.read() as txn:
            catalog = read_catalog(txn)
            for name, t in sorted(catalog.tables.items()):
                out.append(
                    TableStatus(
                        name=name,
                        number=t.number,
                        documents=txn.count(name),
                        indexes=tuple(t.indexes),
                        search_indexes=tuple(t.search_indexes),
                        removed=t.removed,
                        system=t.system,
                    )
                )
        return out

    def read(self, table: str, *, limit: int | None = None) -> list[dict[str, Any]]:
        """The documents of any table in the file as dicts (with ``id``, ``creation_time``).

        No model is applied: you get what is stored, including fields removed from the model
        and tables removed from the schema. Read-only; in creation order; ``limit`` caps it.
        """
        if limit is not None and (
            not isinstance(limit, int) or isinstance(limit, bool) or not 0 <= limit <= INT64_MAX
        ):
            raise InvalidArgument(
                f"db.system.read(limit=...) takes None or an int from 0 to 2**63-1, got {limit!r}"
            )
        with self._engine.read() as txn:
            stored = read_catalog(txn).tables.get(table) if isinstance(table, str) else None
            if stored is None:
                raise SchemaError(f"this file has no table {table!r}", table=str(table))
            rows: list[Any] = txn.rows_after(table, 0, -1 if limit is None else limit)
        return stored_dicts(table, stored.number, rows)

    def stored_schema(self, table: str) -> dict[str, Any]:
        """The JSON Schema of the model ``table`` was last opened with, as the file records it."""
        stored = self._catalog().tables.get(table) if isinstance(table, str) else None
        if stored is None:
            raise SchemaError(f"this file has no table {table!r}", table=str(table))
        return stored.json_schema

    def catalog_version(self) -> int:
        """The file's schema version: it changes whenever a schema change is applied."""
        return self._catalog().version
