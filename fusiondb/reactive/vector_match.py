"""Matching written documents against live vector searches.

A vector search's result (the nearest documents and their scores) can change only when a
document enters or leaves its index or moves in it: its vector changes, or a filter field
does. So a live vector search re-runs when a committed write changes a document's entry in
the same vector index (``WriteSet.vectors``: the document's filter values before and after,
``None`` for a side not in the index) and, when the search had a filter, the document's
filter values before or after hold one of the search's values. A write that changes neither
the vector nor a filter field of a document does not re-run it (the ids and scores it returns
cannot change); nor does a write to a document of another user when the search filtered on
the user.
"""

from __future__ import annotations

from typing import Any

from ..core.vectors import eq_key
from ..transaction.readset import VectorRead
from ..transaction.writeset import WriteSet
from .reads_by_index import ReadsByIndex


class VectorMatcher(ReadsByIndex[VectorRead]):
    def match(self, writes: WriteSet, out: set[Any]) -> None:
        if not self._reads:
            return
        for name in writes.vectored:  # a huge commit's summary: only that it was written
            out.update(self._reads.get(name, ()))
        for table, index, old, new in writes.vectors:
            owners = self._reads.get((table, index))
            if not owners:
                continue
            for owner, reads in owners.items():
                if owner not in out and any(_hits(r, old, new) for r in reads):
                    out.add(owner)


def _hits(read: VectorRead, old: tuple[Any, ...] | None, new: tuple[Any, ...] | None) -> bool:
    if not read.filters:
        return True
    for values in (old, new):
        if values is not None and any(
            position < len(values) and (position, eq_key(values[position])) in read.filters
            for position, _ in read.filters
        ):
            return True
    return False
