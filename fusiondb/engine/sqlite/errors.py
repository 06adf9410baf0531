"""The one place apsw errors become fusiondb errors (the original kept as ``.orig``)."""

from __future__ import annotations

from types import TracebackType
from typing import Literal, NoReturn

import apsw

from ...core.errors import DatabaseClosed, DatabaseError, ReadOnlyError


def translated(exc: apsw.Error) -> NoReturn:
    """Raise the fusiondb error for ``exc``."""
    if isinstance(exc, apsw.ReadOnlyError):
        raise ReadOnlyError(f"the database is read-only: {exc}", orig=exc) from exc
    if isinstance(exc, apsw.TooBigError):
        raise DatabaseError(f"value too large for SQLite: {exc}", orig=exc) from exc
    if isinstance(exc, apsw.FullError):
        raise DatabaseError(
            f"the disk, or the database's size limit, is full ({exc}): the transaction was "
            "rolled back and nothing of it was written; free some space and retry",
            orig=exc,
        ) from exc
    if isinstance(exc, apsw.ConnectionClosedError):
        raise DatabaseClosed("the database is closed", orig=exc) from exc
    raise DatabaseError(f"SQLite error: {exc}", orig=exc) from exc


class _Translate:
    # A class rather than a @contextmanager generator: it wraps statement batches, and a
    # generator-based manager costs several times more to enter.
    __slots__ = ()

    def __enter__(self) -> None:
        return None

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> Literal[False]:
        if isinstance(exc, apsw.Error):
            translated(exc)
        return False


TRANSLATE = _Translate()
"""``with TRANSLATE:`` maps apsw exceptions raised inside the block to fusiondb errors."""
