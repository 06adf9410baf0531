"""Files inside a transaction: ``db.storage`` of a query or mutation, and ``FileStream``.

A file is a document of the system table ``_storage`` (its metadata, a ``FileMetadata``) plus
its bytes, which the engine keeps in chunks of ``CHUNK_SIZE`` bytes (SQLite: rows of
``_storage_chunks``, filled and read with incremental blob I/O). Storing streams the source
through one reused buffer, computing the sha256 and size on the way, and writes the metadata
last, all in the mutation's transaction (inside a savepoint), so a crash or an error mid-way
leaves no trace and memory stays bounded by the chunk size however large the file.

Stored files never change, and file ids are never reused. That is what lets a stream opened
outside a function (``Storage.open`` in ``storage.py``) read each chunk in its own short read
transaction rather than hold a snapshot open for as long as the stream lives: every read sees
the same bytes, or, once the file has been deleted, raises ``DocumentNotFound``.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

import orjson

from ..core.documents import encode
from ..core.errors import DocumentNotFound, ReadOnlyError, ValidationError
from ..core.ids import encode_id
from ..core.schema import Document
from ..engine.base import ReadTxn
from .context import TxnContext
from .urls import maker_for, upload_maker_for

STORAGE_TABLE = "_storage"
STORAGE_TABLE_NUMBER = 1
CHUNK_SIZE = 1 << 20  # bytes per chunk: the unit of memory use, of I/O and of seeking


class FileMetadata(Document):
    """A stored file's metadata: a document of the ``_storage`` table.

    ``id`` and ``creation_time`` as for every document; ``sha256`` is the hex digest of the
    bytes, ``size`` their count, ``content_type`` what ``store`` was given (or ``None``).
    """

    sha256: str
    size: int
    content_type: str | None = None
    chunk_size: int = CHUNK_SIZE


def _bad_input(message: str) -> ValidationError:
    return ValidationError(message, table=STORAGE_TABLE)


Fill = Callable[[memoryview], int]


def _source(data: Any) -> tuple[memoryview | None, Fill | None]:
    """Either the whole input as bytes (bytes-like data) or a function filling a buffer."""
    if isinstance(data, bytes | bytearray | memoryview):
        view = memoryview(data)
        if not view.contiguous:
            raise _bad_input("store() needs a contiguous buffer; pass bytes(view)")
        return view.cast("B") if view.format != "B" or view.ndim != 1 else view, None
    if isinstance(data, str):
        raise _bad_input(
            "store() takes bytes or a binary file, got a str; encode it first, e.g. "
            "db.storage.store(text.encode(), content_type='text/plain; charset=utf-8')"
        )
    if isinstance(data, io.TextIOBase):
        raise _bad_input(
            "store() got a file opened in text mode; open it in binary mode ('rb')"
        )
    read = getattr(data, "read", None)
    if not callable(read):
        raise _bad_input(
            f"store() takes bytes or a binary file object (with .read), got {type(data).__name__}"
        )
    if getattr(data, "closed", False):
        raise _bad_input("store() got a closed file; store it before closing it")
    readinto: Callable[[memoryview], int | None] | None = getattr(data, "readinto", None)

    def fill(buf: memoryview) -> int:
        """Fill ``buf`` as far as the source goes; fewer bytes than its size means the end."""
        got = 0
        while got < len(buf):
            try:
                if callable(readinto):
                    n = readinto(buf[got:])
                else:
                    piece = read(len(buf) - got)
                    if isinstance(piece, str):
                        raise _bad_input(
                            "store() read text (str) from the file; open it in binary mode ('rb')"
                        )
                    if piece is not None and not isinstance(piece, bytes | bytearray | memoryview):
                        raise _bad_input(
                            f"store(): the file's read() returned {type(piece).__name__}, not bytes"
                        )
                    n = None if piece is None else len(piece)
                    if piece is not None and n:
                        buf[got : got + n] = piece
            except ValueError as exc:
                if isinstance(exc, ValidationError):
                    raise
                # io raises ValueError for an operation on a closed file.
                raise _bad_input(f"store() could not read the file: {exc}") from exc
            except TypeError as exc:
                raise _bad_input(f"store() could not read the file as binary: {exc}") from exc
            if n is None:  # a non-blocking stream with nothing ready: not supported
                raise _bad_input("store() needs a blocking file; read() returned None")
            if n == 0:
                break
            got += n
        return got

    return None, fill


def store_in(ctx: TxnContext, data: Any, content_type: str | None = None) -> str:
    """Store ``data`` in the mutation ``ctx`` runs; returns the new ``_storage`` id.

    A savepoint wraps the work, so an error from the source (or a bad input found half way)
    undoes the partial file even if the caller catches it and the mutation goes on.
    """
    ctx.check()
    if content_type is not None and not isinstance(content_type, str):
        raise _bad_input(f"content_type must be a str, got {type(content_type).__name__}")
    whole, fill = _source(data)
    info = ctx.tables.get(STORAGE_TABLE)
    txn = ctx.write_txn()
    assert ctx.clock is not None
    ct = ctx.clock()
    with txn.savepoint():
        # Reserve the file's row (and so its id) first; its document is written at the end.
        file_rowid = txn.insert(STORAGE_TABLE, ct, "{}")
        digest = hashlib.sha256()
        size = 0
        seq = 0
        buf = memoryview(bytearray(CHUNK_SIZE)) if fill is not None else None
        while True:
            if whole is not None:
                piece = whole[size : size + CHUNK_SIZE]
            else:
                assert fill is not None and buf is not None
                piece = buf[: fill(buf)]
            n = len(piece)
            if n == 0:
                break
            digest.update(piece)
            txn.write_chunk(file_rowid, seq, piece)
            size += n
            seq += 1
            if n < CHUNK_SIZE:
                break
        meta = {
            "sha256": digest.hexdigest(),
            "size": size,
            "content_type": content_type,
            "chunk_size": CHUNK_SIZE,
        }
        raw, _ = encode(info, meta, ctx.tables.names)
        txn.update(STORAGE_TABLE, file_rowid, raw)
    ctx.record(info, file_rowid, ct, None, orjson.loads(raw))
    return encode_id(info.number, file_rowid)


def metadata_in(ctx: TxnContext, file_id: Any) -> FileMetadata | None:
    """The file's metadata as seen in ``ctx`` (a point read, so subscriptions follow it)."""
    ctx.check()
    info, rowid, file_id = ctx.resolve(STORAGE_TABLE, file_id)
    meta: FileMetadata | None = ctx.read(info, rowid, file_id)
    return meta


def require(ctx: TxnContext, file_id: Any, op: str) -> tuple[FileMetadata, int]:
    """The file's metadata and row number; ``DocumentNotFound`` if there is no such file."""
    meta = metadata_in(ctx, file_id)
    if meta is None:
        raise DocumentNotFound(
            f"storage.{op}(): no file {file_id} (deleted or never stored)",
            id=file_id,
            table=STORAGE_TABLE,
        )
    return meta, ctx.resolve(STORAGE_TABLE, file_id)[1]


def delete_in(ctx: TxnContext, file_id: Any) -> None:
    """Delete the file and its bytes in the mutation ``ctx`` runs."""
    ctx.check()
    info, rowid, file_id = ctx.resolve(STORAGE_TABLE, file_id)
    txn = ctx.write_txn()
    found = txn.get(STORAGE_TABLE, rowid)
    if found is None:
        raise DocumentNotFound(
            f"storage.delete(): no file {file_id} (deleted or never stored)",
            id=file_id,
            table=STORAGE_TABLE,
        )
    txn.delete_chunks(rowid)
    txn.delete(STORAGE_TABLE, rowid)
    ctx.record(info, rowid, found[1], orjson.loads(found[2]), None)


Connect = Callable[[], AbstractContextManager[ReadTxn]]
"""Where a stream reads: a context manager giving a transaction (a short read of its own,
or the running function's)."""


class FileStream(io.RawIOBase):
    """A readable, seekable binary stream over a stored file (from ``storage.open``).

    ``id``, ``size``, ``sha256`` and ``content_type`` describe the file. Reads go straight
    from the database into the caller's buffer; nothing is held open between reads, so an
    unclosed stream pins no snapshot and no connection.
    """

    def __init__(self, meta: FileMetadata, rowid: int, connect: Connect) -> None:
        super().__init__()
        assert meta.id is not None
        self.id: str = meta.id
        self.size = meta.size
        self.sha256 = meta.sha256
        self.content_type = meta.content_type
        self._chunk = meta.chunk_size
        self._rowid = rowid
        self._connect = connect
        self._pos = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        self._check_open()
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        self._check_open()
        if whence == io.SEEK_SET:
            pos = offset
        elif whence == io.SEEK_CUR:
            pos = self._pos + offset
        elif whence == io.SEEK_END:
            pos = self.size + offset
        else:
            raise ValueError(f"invalid whence ({whence!r}; should be 0, 1 or 2)")
        if pos < 0:
            raise ValueError(f"negative seek position {pos}")
        self._pos = pos
        return pos

    def _check_open(self) -> None:
        if self.closed:
            raise ValueError("I/O operation on a closed file stream")

    def _read(self, n: int, into: memoryview | None) -> list[bytes]:
        """``n`` bytes from the current position, in one read transaction."""
        with self._connect() as txn:
            parts = txn.read_file(self._rowid, self._chunk, self._pos, n, into)
        if parts is None:
            raise DocumentNotFound(
                f"file {self.id} was deleted while a stream was reading it",
                id=self.id,
                table=STORAGE_TABLE,
            )
        self._pos += n
        return parts

    def readinto(self, buffer: Any) -> int:
        """Read into ``buffer`` as many bytes as fit (fewer only at the end of the file)."""
        self._check_open()
        view = memoryview(buffer).cast("B")
        n = min(len(view), self.size - self._pos)
        if n <= 0:
            return 0
        self._read(n, view)
        return n

    def read(self, size: int | None = -1) -> bytes:
        """Up to ``size`` bytes (all the rest if ``size`` is negative or None)."""
        self._check_open()
        remaining = self.size - self._pos
        n = remaining if size is None or size < 0 else min(size, remaining)
        if n <= 0:
            return b""
        parts = self._read(n, None)
        return parts[0] if len(parts) == 1 else b"".join(parts)

    def readall(self) -> bytes:
        return self.read(-1)

    def __repr__(self) -> str:
        state = "closed" if self.closed else f"at {self._pos}"
        return f"<fdb.FileStream {self.id} {self.size} bytes {state}>"


class _InFunction:
    """A stream's reads inside the function that opened it: in that function's transaction."""

    __slots__ = ("_ctx",)

    def __init__(self, ctx: TxnContext) -> None:
        self._ctx = ctx

    def __call__(self) -> _InFunction:
        return self

    def __enter__(self) -> ReadTxn:
        self._ctx.check()
        return self._ctx.txn

    def __exit__(self, *exc: object) -> None:
        return None


class ReaderStorage:
    """``db.storage`` inside a query: ``open`` and ``get_metadata`` (read-only)."""

    def __init__(self, ctx: TxnContext) -> None:
        self._ctx = ctx

    def get_metadata(self, file_id: str) -> FileMetadata | None:
        """The file's metadata (``size``, ``sha256``, ``content_type``, ``creation_time``),
        or ``None`` if there is no such file (as ``db.get``)."""
        return metadata_in(self._ctx, file_id)

    def open(self, file_id: str) -> FileStream:
        """A stream over the file's bytes, readable while this function runs."""
        meta, rowid = require(self._ctx, file_id, "open")
        return FileStream(meta, rowid, _InFunction(self._ctx))

    def get_url(self, file_id: str) -> str | None:
        """A URL serving the file (under the app ``fusiondb.serve`` made), or ``None`` if
        there is no such file; ``FusionError`` outside a served app."""
        maker = maker_for(self._ctx.tables)
        meta = metadata_in(self._ctx, file_id)
        return None if meta is None else maker(meta)

    def store(self, data: Any, content_type: str | None = None) -> str:
        raise ReadOnlyError("storage.store() inside a query: store files in a @fdb.mutation")

    def generate_upload_url(self) -> str:
        raise ReadOnlyError(
            "storage.generate_upload_url() inside a query: hand out upload URLs from a @fdb.mutation"
        )

    def delete(self, file_id: str) -> None:
        raise ReadOnlyError("storage.delete() inside a query: delete files in a @fdb.mutation")


class WriterStorage(ReaderStorage):
    """``db.storage`` inside a mutation: stores and deletes commit or roll back with it."""

    def store(self, data: Any, content_type: str | None = None) -> str:
        """Store bytes or a binary file; returns its id (an ``fdb.Id["_storage"]``)."""
        return store_in(self._ctx, data, content_type)

    def delete(self, file_id: str) -> None:
        """Delete the file; ``DocumentNotFound`` if there is none."""
        delete_in(self._ctx, file_id)

    def generate_upload_url(self) -> str:
        """A short-lived URL a browser can ``POST`` one file to (under the app
        ``fusiondb.serve`` made); the answer is the new file's id. ``FusionError`` outside
        a served app."""
        self._ctx.check()
        return upload_maker_for(self._ctx.tables)()
