"""``db.check()``: whether the file is sound, and whether every search and vector index
matches its table.

fusiondb keeps derived data next to the documents: search and vector indexes, updated by each of its
writes. Another tool writing to the file (the ``sqlite3`` shell, Python's ``sqlite3`` module)
changes documents without them, so searches go on finding the old words (or vectors).
Live queries notice such a write and re-run (``docs/reactivity.md``); an index cannot notice
anything.
``check`` compares each one with its table's documents and rebuilds those that differ; it
also runs the engine's own consistency check (SQLite's ``PRAGMA integrity_check``). It reads
on one snapshot, so the database stays usable meanwhile, and writes only to repair.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from .core.progress import ProgressCallback
from .core.schema import SearchIndexDef
from .core.tableinfo import TableInfo
from .core.vectordef import VectorIndexDef
from .engine.base import Engine


@dataclass(frozen=True)
class CheckReport:
    """What ``db.check()`` checked, found and repaired. Search and vector indexes are named
    ``"table.index"``; ``out_of_date`` and ``rebuilt`` list both kinds."""

    # what the engine's consistency check reported, and tables whose creation times do not
    # increase with row order; empty: sound
    integrity: tuple[str, ...]
    search_indexes: tuple[str, ...]  # every search index compared with its table
    out_of_date: tuple[str, ...]  # those that did not match their table's documents
    rebuilt: tuple[str, ...]  # those rebuilt from the documents (repair=True)
    vector_indexes: tuple[str, ...] = ()  # every vector index compared with its table

    @property
    def ok(self) -> bool:
        """Whether the file is sound and every search index now matches its table."""
        return not self.integrity and set(self.out_of_date) <= set(self.rebuilt)


def check(
    engine: Engine, tables: Iterable[TableInfo], repair: bool, progress: ProgressCallback | None
) -> CheckReport:
    """Check the file and the search indexes of ``tables``; rebuild the stale ones if asked
    to, unless the file itself is damaged (then nothing is written)."""
    checked: list[str] = []
    stale: list[tuple[str, SearchIndexDef | VectorIndexDef]] = []
    vector_checked: list[str] = []
    with engine.read() as txn:
        problems = txn.integrity_problems()
        for info in tables:
            # Creation-time ranges seek by row number (docs/file-format.md): rows another
            # tool inserted with an older creation time than the row before break that.
            breaks = txn.creation_order_breaks(info.name)
            if breaks:
                problems.append(
                    f"table {info.name!r}: {breaks} row(s) have a creation time below the row "
                    "before them (inserted by another tool?); creation-time ranges may miss them"
                )
        integrity = tuple(problems)
        for info in tables:
            for index in info.search_indexes.values():
                checked.append(f"{info.name}.{index.name}")
                if not txn.search_index_matches(info.name, index):
                    stale.append((info.name, index))
            for vindex in info.vector_indexes.values():
                vector_checked.append(f"{info.name}.{vindex.name}")
                if not txn.vector_index_matches(info.name, vindex):
                    stale.append((info.name, vindex))
    rebuilt: list[str] = []
    if repair and stale and not integrity:
        with engine.write() as wtxn:
            for table, stale_index in stale:
                if isinstance(stale_index, VectorIndexDef):
                    # Documents written by fusiondb were checked: none is refused here.
                    wtxn.drop_vector_index(table, stale_index.name)
                    wtxn.create_vector_index(table, stale_index, progress)
                else:
                    wtxn.rebuild_search_index(table, stale_index, progress)
                rebuilt.append(f"{table}.{stale_index.name}")
            # No change-log entry: every process's live queries re-run once, as after any
            # write they cannot see (searches may now find other documents).
            wtxn.commit()
    return CheckReport(
        integrity=integrity,
        search_indexes=tuple(checked),
        out_of_date=tuple(f"{t}.{i.name}" for t, i in stale),
        rebuilt=tuple(rebuilt),
        vector_indexes=tuple(vector_checked),
    )
