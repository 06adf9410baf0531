"""Matching written documents against live full-text search reads.

A search read depends on its terms and filter values: a write can change its result only if
the written document's text (before or after) contains one of the terms (the last one as a
prefix), and its filter fields (before or after) equal the read's filter values. Tokens are
cut by FTS5's own tokenizer (the one the search tables use), called through apsw, so a term
matches here exactly when it matches in the FTS index (``Straße``, ligatures, full-width
letters: a Python imitation of ``unicode61`` disagrees with it on each of these).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import Any

import apsw

from .readset import SearchRead
from .writeset import WriteSet

# The FTS5 tokenizer of every search table: name and arguments (search.py builds the DDL).
TOKENIZER = ("unicode61", ("remove_diacritics", "2"))

_local = threading.local()


def _tokenizer() -> Any:
    tok = getattr(_local, "tokenizer", None)
    if tok is None:
        # A private in-memory connection per thread only lends its tokenizer (~1 us a call).
        _local.conn = apsw.Connection(":memory:")
        tok = _local.tokenizer = _local.conn.fts5_tokenizer(TOKENIZER[0], list(TOKENIZER[1]))
    return tok


def tokenize(text: str) -> list[str]:
    """The tokens FTS5 indexes for ``text`` (case-folded, diacritics removed), in order."""
    if not text:
        return []
    out = _tokenizer()(
        text.encode("utf-8", "surrogatepass"),
        apsw.FTS5_TOKENIZE_DOCUMENT,
        None,
        include_offsets=False,
        include_colocated=False,
    )
    return list(out)


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
        for table, index, (text, filters) in writes.search_entries():
            owners = self._reads.get((table, index))
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
