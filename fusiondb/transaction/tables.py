"""``Tables``: the open database's tables, by name and by number (ids carry the number)."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..core.errors import SchemaError
from ..core.schema import TableDef
from ..core.tableinfo import TableInfo


@dataclass
class Tables:
    """The open database's tables, by name and by number."""

    by_name: dict[str, TableInfo]
    # Tables the file still holds but the schema no longer declares (see db.system).
    removed: frozenset[str] = frozenset()
    by_number: dict[int, TableInfo] = field(init=False)
    names: dict[int, str] = field(init=False)

    def __post_init__(self) -> None:
        self.by_number = {t.number: t for t in self.by_name.values()}
        self.names = {t.number: t.name for t in self.by_name.values()}

    def get(self, name: object) -> TableInfo:
        """The table named ``name`` (or declared by the handle ``fdb.table(Model)``);
        ``SchemaError`` saying what exists when there is none."""
        if isinstance(name, TableDef):
            return self.of_model(name.model)
        info = self.by_name.get(name) if isinstance(name, str) else None
        if info is None:
            if isinstance(name, str) and name in self.removed:
                raise SchemaError(
                    f"table {name!r} was removed from the schema; its documents are kept: read "
                    f"them with db.system.read({name!r}), or delete them with "
                    f"db.drop_table({name!r})",
                    table=str(name),
                )
            known = ", ".join(n for n in self.by_name if not n.startswith("_")) or "none"
            raise SchemaError(
                f"no table named {name!r} in the schema (tables: {known})",
                table=str(name),
            )
        return info

    def of_model(self, model: type) -> TableInfo:
        """The one table whose model is ``model`` (what a typed handle ``fdb.table(Model)``
        names; the schema may declare tables under any name)."""
        found = [t for t in self.by_name.values() if t.model is model and not t.system]
        if len(found) != 1:
            which = "no table" if not found else f"tables {sorted(t.name for t in found)}"
            raise SchemaError(
                f"fdb.table({model.__name__}): {which} of this database has model "
                f"{model.__name__}; pass the table's name instead",
                table=model.__name__,
            )
        return found[0]

    def forget_removed(self, name: str) -> None:
        """``name`` was dropped from the file (``db.drop_table``)."""
        self.removed = self.removed - {name}
