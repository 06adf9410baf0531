"""Matching written documents against live full-text search reads.

A search read depends on its terms and filter values: a write can change its result only if
the written document's text (before or after) contains one of the terms (the last one as a
prefix), and its filter fields (before or after) equal the read's filter values. Tokens are
cut as FTS5's ``unicode61`` tokenizer does: case-folded runs of letters and digits.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from typing import Any

from .readset import SearchRead
from .writeset import WriteSet

_TOKEN = re.compile(r"[^\W_]+", re.UNICODE)


def _fold(text: str) -> str:
    # unicode61 removes diacritics by default; NFKD then dropping combining marks does too.
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def tokenize(text: str) -> list[str]:
    return _TOKEN.findall(_fold(text))


class SearchMatcher:
    def __init__(self) -> None:
        self._reads: dict[tuple[str, str], dict[Any, list[SearchRead]]] = {}

    def register(self, owner: Any, reads: Iterable[SearchRead]) -> None:
        for r in reads:
            self._reads.setdefault((r.table, r.index), {}).setdefault(owner, []).append(r)

    def unregister(self, owner: Any) -> None:
        for owners in self._reads.values():
            owners.pop(owner, None)

    def match(self, writes: WriteSet, out: set[Any]) -> None:
        if not self._reads:
            return
        for w in writes.writes:
            for texts in (w.old_text, w.new_text):
                if not texts:
                    continue
                for index, (text, filters) in texts.items():
                    owners = self._reads.get((w.table, index))
                    if not owners:
                        continue
                    tokens = set(tokenize(text))
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
