"""File URLs: what ``storage.get_url(id)`` asks for a stored file's address.

A database has no address of its own; a server that serves its files (``fusiondb.serve``)
registers a URL maker for the database's tables when it is created, and ``get_url`` (on
``db.storage`` and inside functions) asks it. Outside a served app there is none, and
``get_url`` says so.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..core.errors import FusionError

if TYPE_CHECKING:
    from .tables import Tables

UrlMaker = Callable[[Any], str]
"""Gives the URL of a stored file from its metadata, a ``files.FileMetadata`` (its ``id``,
``sha256``, ...); ``Any`` here as files.py imports this module."""

# By id of the database's Tables (a dataclass, so not hashable), with a weak reference to
# check the id is still that object's; an entry goes when its Tables does.
_makers: dict[int, tuple[weakref.ref[Tables], UrlMaker]] = {}


def register(tables: Tables, maker: UrlMaker | None) -> None:
    """Make ``maker`` give the URLs of this database's files (``None``: forget it)."""
    key = id(tables)
    if maker is None:
        _makers.pop(key, None)
        return
    _makers[key] = (weakref.ref(tables, lambda _: _makers.pop(key, None)), maker)


def maker_for(tables: Tables) -> UrlMaker:
    """The registered URL maker; a ``FusionError`` that says what to do if there is none."""
    entry = _makers.get(id(tables))
    maker = entry[1] if entry is not None and entry[0]() is tables else None
    if maker is None:
        raise FusionError(
            "storage.get_url(): file URLs exist only under a served app; create one with "
            "fusiondb.serve.app(db, functions=[...]) (it serves the files at /files/...), "
            "or use storage.open(id) to read the bytes"
        )
    return maker
