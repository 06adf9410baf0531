"""``db.storage`` on an open database: files stored in the database, next to the documents.

Each call here is its own transaction, run through the ``Runner`` it is given; inside a query
or mutation, ``db.storage`` of the function's ``db`` does the same work in that transaction
(``transaction/files.py``, which also describes how files are kept).
"""

from __future__ import annotations

from typing import Any

from .core.schema import TableDef, table
from .engine.base import Engine
from .transaction.files import (
    STORAGE_TABLE,
    STORAGE_TABLE_NUMBER,
    FileMetadata,
    FileStream,
    delete_in,
    metadata_in,
    require,
    store_in,
)
from .transaction.runner import Runner
from .transaction.urls import UploadUrlMaker, UrlMaker, maker_for, register, register_upload, upload_maker_for


def system_tables() -> dict[str, tuple[int, TableDef[Any]]]:
    """The system tables storage needs (``Database`` declares them on every open)."""
    return {STORAGE_TABLE: (STORAGE_TABLE_NUMBER, table(FileMetadata))}


class Storage:
    """``db.storage`` on an open database: each call is its own transaction.

    Inside a query or mutation use the ``db.storage`` of the function's ``db`` instead, so
    the file operation is part of that transaction.
    """

    def __init__(self, runner: Runner, engine: Engine) -> None:
        self._runner = runner
        self._engine = engine

    def store(self, data: bytes | Any, content_type: str | None = None) -> str:
        """Store bytes or a binary file object, streamed in chunks; returns the file's id."""
        return self._runner.write_in(lambda ctx: store_in(ctx, data, content_type))

    def get_metadata(self, file_id: str) -> FileMetadata | None:
        """The file's metadata, or ``None`` if there is no such file."""
        return self._runner.read_in(lambda ctx: metadata_in(ctx, file_id))

    def get_url(self, file_id: str) -> str | None:
        """A URL serving the file (under the app ``fusiondb.serve`` made), or ``None`` if
        there is no such file; ``FusionError`` outside a served app."""
        maker = maker_for(self._runner.tables)
        meta = self.get_metadata(file_id)
        return None if meta is None else maker(meta)

    def set_url_maker(self, maker: UrlMaker | None) -> None:
        """What ``get_url`` asks for a file's URL (``fusiondb.serve.app`` sets it)."""
        register(self._runner.tables, maker)

    def generate_upload_url(self) -> str:
        """A short-lived URL a browser can ``POST`` one file to (under the app
        ``fusiondb.serve`` made); the answer is the new file's id. ``FusionError`` outside
        a served app."""
        return upload_maker_for(self._runner.tables)()

    def set_upload_url_maker(self, maker: UploadUrlMaker | None) -> None:
        """What ``generate_upload_url`` asks for a URL (``fusiondb.serve.app`` sets it)."""
        register_upload(self._runner.tables, maker)

    def open(self, file_id: str) -> FileStream:
        """A readable, seekable binary stream over the file; close it when done.

        It stays usable after this call returns (until the database closes); each read is a
        short read transaction of its own (stored files never change).
        """
        meta, rowid = self._runner.read_in(lambda ctx: require(ctx, file_id, "open"))
        return FileStream(meta, rowid, self._engine.read)

    def delete(self, file_id: str) -> None:
        """Delete the file and its bytes; ``DocumentNotFound`` if there is none."""
        self._runner.write_in(lambda ctx: delete_in(ctx, file_id))
