"""File URLs: what ``storage.get_url(id)`` asks for a stored file's address, and
``storage.generate_upload_url()`` for an address a browser can upload a file to.

A database has no address of its own; a server that serves its files (``fusiondb.serve``)
registers URL makers for the database's tables when it is created, and ``get_url`` /
``generate_upload_url`` (on ``db.storage`` and inside functions) ask them. Outside a served
app there are none, and both say so.
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

UploadUrlMaker = Callable[[], str]
"""Gives a new short-lived URL to upload one file to."""

_upload_makers: dict[int, tuple[weakref.ref[Tables], UploadUrlMaker]] = {}


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


def register_upload(tables: Tables, maker: UploadUrlMaker | None) -> None:
    """Make ``maker`` give this database's upload URLs (``None``: forget it)."""
    key = id(tables)
    if maker is None:
        _upload_makers.pop(key, None)
        return
    _upload_makers[key] = (weakref.ref(tables, lambda _: _upload_makers.pop(key, None)), maker)


def upload_maker_for(tables: Tables) -> UploadUrlMaker:
    """The registered upload URL maker; a ``FusionError`` that says what to do if none."""
    entry = _upload_makers.get(id(tables))
    maker = entry[1] if entry is not None and entry[0]() is tables else None
    if maker is None:
        raise FusionError(
            "storage.generate_upload_url(): upload URLs exist only under a served app; create "
            "one with fusiondb.serve.app(db, functions=[...]) (it takes uploads at "
            "/api/upload), or store the bytes with storage.store(data)"
        )
    return maker
