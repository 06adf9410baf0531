"""Write sets: for every document a transaction wrote, its old and new key in every index.

Recorded by the writer as it goes, handed to the subscription manager only after the commit
has succeeded, and appended to the change log (in the same transaction) for other processes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, NamedTuple

from .keys import Key, extract, index_key
from .schema import CREATION_INDEX, ID_INDEX, SearchIndexDef, TableInfo


class DocWrite(NamedTuple):
    """One document's change: keys per index before (None: inserted) and after (None: deleted).

    ``old_text``/``new_text`` hold, per search index, the searched text and filter values.
    A named tuple (immutable, like a frozen dataclass) because one is built per written
    document, and it builds in half the time.
    """

    table: str
    rowid: int
    old: dict[str, Key] | None
    new: dict[str, Key] | None
    old_text: dict[str, tuple[str, tuple[Any, ...]]] | None = None
    new_text: dict[str, tuple[str, tuple[Any, ...]]] | None = None


def doc_keys(
    info: TableInfo, doc: dict[str, Any], creation_time: float, rowid: int
) -> dict[str, Key]:
    """The document's key in every index of its table, ``by_id`` and ``by_creation_time`` too."""
    keys: dict[str, Key] = {
        ID_INDEX: (rowid,),
        CREATION_INDEX: (creation_time, rowid),
    }
    for idx in info.indexes.values():
        keys[idx.name] = index_key(doc, idx.fields, creation_time, rowid)
    return keys


SearchTexts = dict[str, tuple[str, tuple[Any, ...]]]


def search_entry(s: SearchIndexDef, doc: dict[str, Any]) -> tuple[str, tuple[Any, ...]]:
    """What search index ``s`` holds for ``doc``: its text ('' unless a string) and filter values.

    The one definition used by the write path, index builds (search.py) and the matcher.
    """
    text = extract(doc, s.search_field)
    return (
        text if isinstance(text, str) else "",
        tuple(extract(doc, f) for f in s.filter_fields),
    )


def search_texts(info: TableInfo, doc: dict[str, Any]) -> SearchTexts | None:
    if not info.search_indexes:
        return None
    return {s.name: search_entry(s, doc) for s in info.search_indexes.values()}


@dataclass
class WriteSet:
    writes: list[DocWrite] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.writes)

    def __len__(self) -> int:
        return len(self.writes)

    def add(self, write: DocWrite) -> None:
        self.writes.append(write)

    def keys_by_index(self) -> dict[tuple[str, str], list[Key]]:
        """Every written key per (table, index); a key that did not change appears once."""
        out: dict[tuple[str, str], list[Key]] = {}
        for w in self.writes:
            old, new = w.old, w.new
            names = (new or old or {}).keys()
            for name in names:
                bucket = out.setdefault((w.table, name), [])
                a = old.get(name) if old else None
                b = new.get(name) if new else None
                if a is not None:
                    bucket.append(a)
                if b is not None and b != a:
                    bucket.append(b)
        return out

    def tables(self) -> set[str]:
        return {w.table for w in self.writes}
