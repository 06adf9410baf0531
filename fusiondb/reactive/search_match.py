"""Matching written documents against live full-text search reads.

A search read depends on its terms and filter values: a write can change its result only if
the written document's text (before or after) contains one of the terms (the last one as a
prefix), and its filter fields (before or after) equal the read's filter values. Texts are cut
into tokens by the engine's own tokenizer (the one its search indexes use, given to the
matcher), so a term matches here exactly when it matches in the index.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..transaction.readset import SearchRead
from ..transaction.writeset import WriteSet
from .reads_by_index import ReadsByIndex


class SearchMatcher(ReadsByIndex[SearchRead]):
    def __init__(self, tokenize: Callable[[str], list[str]]) -> None:
        self._tokenize = tokenize
        super().__init__()

    def match(self, writes: WriteSet, out: set[Any]) -> None:
        if not self._reads:
            return
        for name in writes.searched:  # a huge commit's summary: only that it was written
            out.update(self._reads.get(name, ()))
        for table, index, (text, filters) in writes.search_entries():
            owners = self._reads.get((table, index))
            if not owners:
                continue
            tokens = set(self._tokenize(text))
            for owner, reads in owners.items():
                if owner not in out and any(_hits(r, tokens, filters) for r in reads):
                    out.add(owner)


def _hits(read: SearchRead, tokens: set[str], filters: tuple[Any, ...]) -> bool:
    for position, value in read.filters:
        if position >= len(filters) or filters[position] != value:
            return False
    if any(t in tokens for t in read.terms):
        return True
    prefix = read.prefix
    return prefix is not None and any(tok.startswith(prefix) for tok in tokens)
