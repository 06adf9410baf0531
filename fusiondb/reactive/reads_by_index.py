"""Live queries' search-like reads (full-text and vector), kept per (table, index) and owner:
what ``SearchMatcher`` and ``VectorMatcher`` share; each matches writes its own way."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Generic, Protocol, TypeVar


class _Read(Protocol):
    @property
    def table(self) -> str: ...
    @property
    def index(self) -> str: ...


R = TypeVar("R", bound=_Read)


class ReadsByIndex(Generic[R]):
    def __init__(self) -> None:
        self._reads: dict[tuple[str, str], dict[Any, list[R]]] = {}

    def register(self, owner: Any, reads: Iterable[R]) -> None:
        for r in reads:
            self._reads.setdefault((r.table, r.index), {}).setdefault(owner, []).append(r)

    def unregister(self, owner: Any) -> None:
        for owners in self._reads.values():
            owners.pop(owner, None)
