"""Write sets: every document a transaction wrote, with its old and new values of indexed fields.

Recorded by the writer as it goes, encoded into the change log in the same transaction (for
other processes), and handed to the subscription manager (through the change feed) only
after the commit has succeeded.

A written document is one flat tuple of atomic values, a ``DocWrite``; its positions are
named by the constants below::

    (TABLE, ROWID, CREATION_TIME, OLD, NEW, OLD_TEXTS, NEW_TEXTS)

``OLD``/``NEW`` are the document's values of its table's indexed fields before and after
(``None``: inserted / deleted), in the order of the table's ``keys.KeyLayout``;
``OLD_TEXTS``/``NEW_TEXTS`` hold, per search index (in layout order), the searched text and
filter values (``None`` when the table has no search index, or the side is absent). Per-index
keys are rebuilt only where they are consumed (``keys_by_index``, for matching). Plain tuples
rather than named tuples or dicts of keys per index: a bulk mutation records one per document
and keeps them all until commit, and exact tuples of atomic values build several times faster
and drop out of the cyclic GC's sight after one collection instead of being re-scanned by
every later one (a tuple subclass never does).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import orjson

from ..core.keys import Key, KeyLayout, SearchEntry, normalize_key, search_entry
from ..core.schema import CREATION_INDEX, ID_INDEX
from ..core.tableinfo import TableInfo

SearchTexts = tuple[SearchEntry, ...]
# (table, rowid, creation_time, old values, new values, old search texts, new search texts)
DocWrite = tuple[
    str, int, float, tuple[Any, ...] | None, tuple[Any, ...] | None,
    SearchTexts | None, SearchTexts | None,
]
TABLE, ROWID, CREATION_TIME, OLD, NEW, OLD_TEXTS, NEW_TEXTS = range(7)

# The change log's payload format: a JSON object {"format", "layouts", "writes"}. Entries
# written before the format was numbered carry no "format" and are format 1.
LOG_FORMAT = 1


def search_texts(info: TableInfo, doc: dict[str, Any]) -> SearchTexts | None:
    """The document's entry in every search index of its table (layout order), or None."""
    if not info.search_indexes:
        return None
    return tuple([search_entry(s, doc) for s in info.search_indexes.values()])


class WriteSet:
    """The documents one transaction wrote (``writes``) and the layout of each table written."""

    __slots__ = ("layouts", "writes")

    def __init__(
        self, writes: list[DocWrite] | None = None, layouts: dict[str, KeyLayout] | None = None
    ) -> None:
        self.writes: list[DocWrite] = [] if writes is None else writes
        self.layouts: dict[str, KeyLayout] = {} if layouts is None else layouts

    def __bool__(self) -> bool:
        return bool(self.writes)

    def __len__(self) -> int:
        return len(self.writes)

    def __repr__(self) -> str:
        return f"WriteSet({self.writes!r}, tables={sorted(self.layouts)!r})"

    def record(
        self,
        info: TableInfo,
        rowid: int,
        creation_time: float,
        old: dict[str, Any] | None,
        new: dict[str, Any] | None,
        old_texts: SearchTexts | None = None,
        new_texts: SearchTexts | None = None,
    ) -> None:
        """Add one written document (``old``/``new``: the document before and after, or None)."""
        layout = info.layout
        if info.name not in self.layouts:
            self.layouts[info.name] = layout
        values = layout.values
        self.writes.append(
            (
                info.name,
                rowid,
                creation_time,
                None if old is None else values(old),
                None if new is None else values(new),
                old_texts,
                new_texts,
            )
        )

    def mark(self) -> tuple[int, int]:
        """Where the write set is now, for ``undo``."""
        return len(self.writes), len(self.layouts)

    def undo(self, mark: tuple[int, int]) -> None:
        """Forget every write recorded since ``mark`` (a savepoint rolled back)."""
        n_writes, n_layouts = mark
        del self.writes[n_writes:]
        for table in list(self.layouts)[n_layouts:]:  # insertion order: the newest last
            del self.layouts[table]

    def keys_by_index(self) -> dict[tuple[str, str], list[Key]]:
        """Every written key per (table, index); a key that did not change appears once.

        ``by_id`` is ``(rowid,)``, ``by_creation_time`` ``(creation_time, rowid)``, every
        other index ``(field values..., creation_time, rowid)``.
        """
        out: dict[tuple[str, str], list[Key]] = {}
        layouts = self.layouts
        for table, rowid, ct, old, new, _, _ in self.writes:
            # A write never changes a document's rowid or creation time: one key each.
            _bucket(out, table, ID_INDEX).append((rowid,))
            _bucket(out, table, CREATION_INDEX).append((ct, rowid))
            for name, positions in layouts[table].indexes:
                bucket = _bucket(out, table, name)
                a = None if old is None else (*[old[p] for p in positions], ct, rowid)
                b = None if new is None else (*[new[p] for p in positions], ct, rowid)
                if a is not None:
                    bucket.append(a)
                # Python's == takes True for 1 and [True] for [1]; in the value order they
                # are different keys, so an "equal" pair is compared as normalized keys too.
                if b is not None and (b != a or normalize_key(b) != normalize_key(a)):  # type: ignore[arg-type]
                    bucket.append(b)
        return out

    def search_entries(self) -> Iterator[tuple[str, str, SearchEntry]]:
        """(table, search index, entry) for every written search entry, before and after."""
        layouts = self.layouts
        for table, _, _, _, _, old_texts, new_texts in self.writes:
            for texts in (old_texts, new_texts):
                if texts:
                    yield from zip((table,) * len(texts), layouts[table].search, texts, strict=True)


def _bucket(out: dict[tuple[str, str], list[Key]], table: str, index: str) -> list[Key]:
    bucket = out.get((table, index))
    if bucket is None:
        bucket = out[(table, index)] = []
    return bucket


def encode(writes: WriteSet) -> bytes:
    """The write set as the change log stores it: each written table's layout, and the writes.

    The writes are flat tuples of atomic values, which orjson writes as arrays in one C call,
    with no Python loop over the documents.
    """
    return orjson.dumps(
        {
            "format": LOG_FORMAT,
            "layouts": {table: layout.wire for table, layout in writes.layouts.items()},
            "writes": writes.writes,
        }
    )


def _values(values: list[Any] | None) -> tuple[Any, ...] | None:
    return None if values is None else tuple(values)


def _texts(texts: list[Any] | None) -> SearchTexts | None:
    return None if texts is None else tuple([(t[0], tuple(t[1])) for t in texts])


def decode(payload: bytes) -> WriteSet | None:
    """The write set ``encode`` wrote; ``None`` for a payload this version cannot read (a
    newer format, or damage): the caller must then assume anything may have changed."""
    try:
        data = orjson.loads(payload)
        if type(data) is not dict or data.get("format", 1) != LOG_FORMAT:
            return None
        return WriteSet(
            [
                (table, rowid, ct, _values(old), _values(new), _texts(ot), _texts(nt))
                for table, rowid, ct, old, new, ot, nt in data["writes"]
            ],
            {table: KeyLayout.from_wire(wire) for table, wire in data["layouts"].items()},
        )
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
        return None
