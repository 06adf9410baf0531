"""``CatalogGuard``: notices that another process changed the schema, before it matters.

The engine asks it at the start of each write and the end of each read, and only after
another connection has committed (SQLite: ``data_version`` moved, a file-control call well
under a microsecond). The guard then reads the stored catalog version (the file header's
``user_version``), and only when that differs from the one this database opened does it
compare the stored shapes of the tables this database declares. Changes that leave them alone
(another process added a table) are accepted; any other raises ``SchemaError``, so a process
with an outdated model can never write documents the file's schema no longer allows.
"""

from __future__ import annotations

from typing import Any

from ..core.errors import SchemaError
from ..engine.base import ReadTxn
from .catalog import read_catalog


class CatalogGuard:
    """Refuses to go on with a schema another process changed (see the module docstring)."""

    def __init__(self, version: int, shapes: dict[str, Any], path: str | None) -> None:
        self.version = version
        self._shapes = shapes
        self._path = path

    def check(self, txn: ReadTxn) -> None:
        """Called by the engine after another connection committed."""
        version = txn.catalog_version()
        if version != self.version:
            self._recheck(txn, version)

    def accept(self, version: int, shapes: dict[str, Any] | None = None) -> None:
        """This process changed the catalog itself (``db.drop_table``)."""
        self.version = version
        if shapes is not None:
            self._shapes = shapes

    def _recheck(self, txn: ReadTxn, version: int) -> None:
        current = read_catalog(txn)
        changed = sorted(
            name
            for name, shape in self._shapes.items()
            if name not in current.tables or current.tables[name].shape() != shape
        )
        if not changed:
            self.version = version
            return
        raise SchemaError(
            f"the schema of {self._path or 'this database'} was changed by another process "
            f"(catalog version {version}; this database opened version {self.version}); "
            f"tables changed: {', '.join(changed)}. Close this database and open it again "
            "with the current models.",
            table=changed[0],
        )
