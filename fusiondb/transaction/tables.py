"""``Tables``: the open database's tables, by name and by number (ids carry the number)."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..core.errors import SchemaError
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
        """The table named ``name``; ``SchemaError`` saying what exists when there is none."""
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

    def forget_removed(self, name: str) -> None:
        """``name`` was dropped from the file (``db.drop_table``)."""
        self.removed = self.removed - {name}
