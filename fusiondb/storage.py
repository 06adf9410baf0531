"""File storage: ``db.storage`` keeps files in the database file, next to the documents.

A file is a document of the system table ``_storage`` (its metadata, a ``FileMetadata``)
plus its bytes in rows of ``_storage_chunks(file, seq, data)``, ``CHUNK_SIZE`` bytes each
(the last one shorter). Storing streams the source through one reused buffer: each chunk
row is inserted as a ``zeroblob`` and filled with apsw's incremental blob I/O, the sha256 and
size are computed on the way, and the metadata is written last, all in one transaction, so
a crash or an error mid-way leaves no trace and memory stays bounded by the chunk size (plus
SQLite's page cache) however large the file.

Stored files never change, and file ids are never reused (``_storage`` is AUTOINCREMENT).
That is what lets ``open(id)`` return a stream that reads each chunk in its own short read
transaction rather than holding a snapshot open for as long as the stream lives: every read
sees the same bytes, or, once the file has been deleted, raises ``DocumentNotFound``.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import apsw
import orjson

from .documents import encode
from .errors import DocumentNotFound, ReadOnlyError, ValidationError, translate
from .functions import MutationFunction, QueryFunction
from .ids import encode_id
from .schema import Document, TableDef, table

if TYPE_CHECKING:
    from .database import Database
    from .engine import Engine
    from .transaction import Reader, Writer

STORAGE_TABLE = "_storage"
STORAGE_TABLE_NUMBER = 1
CHUNK_TABLE = "_storage_chunks"
CHUNK_SIZE = 1 << 20  # bytes per chunk row: the unit of memory use, of I/O and of seeking

CREATE_CHUNKS = (
    f"CREATE TABLE IF NOT EXISTS {CHUNK_TABLE} ("
    "id INTEGER PRIMARY KEY, file INTEGER NOT NULL, seq INTEGER NOT NULL, data BLOB NOT NULL)"
)
CREATE_CHUNKS_INDEX = (
    f"CREATE UNIQUE INDEX IF NOT EXISTS {CHUNK_TABLE}_by_file ON {CHUNK_TABLE}(file, seq)"
)
_INSERT_CHUNK = f"INSERT INTO {CHUNK_TABLE}(file, seq, data) VALUES (?, ?, zeroblob(?))"
_CHUNK_ROWS = f"SELECT seq, id FROM {CHUNK_TABLE} WHERE file = ? AND seq BETWEEN ? AND ? ORDER BY seq"


class FileMetadata(Document):
    """A stored file's metadata: a document of the ``_storage`` table.

    ``id`` and ``creation_time`` as for every document; ``sha256`` is the hex digest of the
    bytes, ``size`` their count, ``content_type`` what ``store`` was given (or ``None``).
    """

    sha256: str
    size: int
    content_type: str | None = None
    chunk_size: int = CHUNK_SIZE


def system_tables() -> dict[str, tuple[int, TableDef]]:
    """The system tables storage needs (``Database`` declares them on every open)."""
    return {STORAGE_TABLE: (STORAGE_TABLE_NUMBER, table(FileMetadata))}


def ensure(conn: apsw.Connection) -> None:
    """Create the chunk table (inside the opening transaction)."""
    conn.execute(CREATE_CHUNKS)
    conn.execute(CREATE_CHUNKS_INDEX)


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
    readinto = getattr(data, "readinto", None)

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


def store_in(writer: Writer, data: Any, content_type: str | None = None) -> str:
    """Store ``data`` inside ``writer``'s transaction; returns the new ``_storage`` id.

    A savepoint wraps the work, so an error from the source (or a bad input found half way)
    undoes the partial file even if the caller catches it and the mutation goes on.
    """
    writer._check()
    if content_type is not None and not isinstance(content_type, str):
        raise _bad_input(f"content_type must be a str, got {type(content_type).__name__}")
    whole, fill = _source(data)
    info = writer._tables.get(STORAGE_TABLE)
    conn = writer._conn
    ct = writer._clock()
    conn.execute("SAVEPOINT fdb_store")
    try:
        # Reserve the file's row (and so its id) first; its document is written at the end.
        conn.execute(f"INSERT INTO {STORAGE_TABLE}(creation_time, doc) VALUES (?, '{{}}')", (ct,))
        file_rowid: int = conn.last_insert_rowid()
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
            conn.execute(_INSERT_CHUNK, (file_rowid, seq, n))
            with conn.blob_open("main", CHUNK_TABLE, "data", conn.last_insert_rowid(), True) as blob:
                blob.write(piece)
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
        raw, _ = encode(info, meta, writer._tables.names)
        conn.execute(f"UPDATE {STORAGE_TABLE} SET doc = ? WHERE _id = ?", (raw, file_rowid))
    except BaseException:
        with contextlib.suppress(apsw.Error):
            conn.execute("ROLLBACK TO fdb_store")
            conn.execute("RELEASE fdb_store")
        raise
    conn.execute("RELEASE fdb_store")
    writer._record(info, file_rowid, ct, None, orjson.loads(raw))
    return encode_id(info.number, file_rowid)


def _resolve(reader: Reader, file_id: Any) -> tuple[int, str]:
    _, rowid, file_id = reader._resolve(STORAGE_TABLE, file_id)
    return rowid, file_id


def metadata_in(reader: Reader, file_id: Any) -> FileMetadata | None:
    """The file's metadata as seen by ``reader`` (a point read, so subscriptions follow it)."""
    meta: FileMetadata | None = reader.get(STORAGE_TABLE, file_id)
    return meta


def _require(reader: Reader, file_id: Any, op: str) -> FileMetadata:
    meta = metadata_in(reader, file_id)
    if meta is None:
        raise DocumentNotFound(
            f"storage.{op}(): no file {file_id} (deleted or never stored)",
            id=file_id,
            table=STORAGE_TABLE,
        )
    return meta


def delete_in(writer: Writer, file_id: Any) -> None:
    """Delete the file and its bytes inside ``writer``'s transaction."""
    writer._check()
    rowid, file_id = _resolve(writer, file_id)
    info = writer._tables.get(STORAGE_TABLE)
    found = writer._fetch(info, rowid)
    if found is None:
        raise DocumentNotFound(
            f"storage.delete(): no file {file_id} (deleted or never stored)",
            id=file_id,
            table=STORAGE_TABLE,
        )
    conn = writer._conn
    conn.execute(f"DELETE FROM {CHUNK_TABLE} WHERE file = ?", (rowid,))
    conn.execute(f"DELETE FROM {STORAGE_TABLE} WHERE _id = ?", (rowid,))
    writer._record(info, rowid, found[0], orjson.loads(found[1]), None)


Connect = Callable[[], contextlib.AbstractContextManager[apsw.Connection]]


class FileStream(io.RawIOBase):
    """A readable, seekable binary stream over a stored file (from ``storage.open``).

    ``id``, ``size``, ``sha256`` and ``content_type`` describe the file. Reads go straight
    from SQLite into the caller's buffer; nothing is held open between reads, so an unclosed
    stream pins no snapshot and no connection.
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

    def _read_span(self, n: int, take_piece: Callable[[apsw.Blob, int], None]) -> None:
        """Call ``take_piece(blob, length)`` for each chunk covering ``n`` bytes from the
        current position, the blob positioned at the first byte; one read transaction."""
        first = self._pos // self._chunk
        last = (self._pos + n - 1) // self._chunk
        with translate(), self._connect() as conn:
            rows = [(int(r[0]), int(r[1])) for r in conn.execute(  # type: ignore[arg-type]
                _CHUNK_ROWS, (self._rowid, first, last)
            )]
            if len(rows) != last - first + 1:
                raise DocumentNotFound(
                    f"file {self.id} was deleted while a stream was reading it",
                    id=self.id,
                    table=STORAGE_TABLE,
                )
            pos, end = self._pos, self._pos + n
            with conn.blob_open("main", CHUNK_TABLE, "data", rows[0][1], False) as blob:
                for i, (seq, chunk_rowid) in enumerate(rows):
                    if i:
                        blob.reopen(chunk_rowid)
                    start = pos - seq * self._chunk
                    take = min(self._chunk - start, end - pos)
                    blob.seek(start)
                    take_piece(blob, take)
                    pos += take

    def readinto(self, buffer: Any) -> int:
        """Read into ``buffer`` as many bytes as fit (fewer only at the end of the file)."""
        self._check_open()
        view = memoryview(buffer).cast("B")
        n = min(len(view), self.size - self._pos)
        if n <= 0:
            return 0
        done = 0

        def into(blob: apsw.Blob, take: int) -> None:
            nonlocal done
            blob.read_into(view, done, take)
            done += take

        self._read_span(n, into)
        self._pos += n
        return n

    def read(self, size: int | None = -1) -> bytes:
        """Up to ``size`` bytes (all the rest if ``size`` is negative or None)."""
        self._check_open()
        remaining = self.size - self._pos
        n = remaining if size is None or size < 0 else min(size, remaining)
        if n <= 0:
            return b""
        parts: list[bytes] = []
        self._read_span(n, lambda blob, take: parts.append(blob.read(take)))
        self._pos += n
        return parts[0] if len(parts) == 1 else b"".join(parts)

    def readall(self) -> bytes:
        return self.read(-1)

    def __repr__(self) -> str:
        state = "closed" if self.closed else f"at {self._pos}"
        return f"<fdb.FileStream {self.id} {self.size} bytes {state}>"


def _in_function(reader: Reader) -> Connect:
    """Reads through the function's own transaction, while the function runs."""

    @contextlib.contextmanager
    def connect() -> Iterator[apsw.Connection]:
        reader._check()
        yield reader._conn

    return connect


def _outside(engine: Engine) -> Connect:
    """Reads in a short read transaction of their own (see the module docstring)."""

    @contextlib.contextmanager
    def connect() -> Iterator[apsw.Connection]:
        if engine.ephemeral:
            with engine.write_lock:
                engine.check_open()
                if engine.writer.in_transaction:
                    # This thread is inside a running function: read in its transaction.
                    yield engine.writer
                    return
        with engine.read() as conn:
            yield conn

    return connect


class ReaderStorage:
    """``db.storage`` inside a query: ``open`` and ``get_metadata`` (read-only)."""

    def __init__(self, reader: Reader) -> None:
        self._reader = reader

    def get_metadata(self, file_id: str) -> FileMetadata | None:
        """The file's metadata (``size``, ``sha256``, ``content_type``, ``creation_time``),
        or ``None`` if there is no such file (as ``db.get``)."""
        return metadata_in(self._reader, file_id)

    def open(self, file_id: str) -> FileStream:
        """A stream over the file's bytes, readable while this function runs."""
        meta = _require(self._reader, file_id, "open")
        rowid, _ = _resolve(self._reader, file_id)
        return FileStream(meta, rowid, _in_function(self._reader))

    def store(self, data: Any, content_type: str | None = None) -> str:
        raise ReadOnlyError("storage.store() inside a query: store files in a @fdb.mutation")

    def delete(self, file_id: str) -> None:
        raise ReadOnlyError("storage.delete() inside a query: delete files in a @fdb.mutation")


class WriterStorage(ReaderStorage):
    """``db.storage`` inside a mutation: stores and deletes commit or roll back with it."""

    _reader: Writer

    def store(self, data: Any, content_type: str | None = None) -> str:
        """Store bytes or a binary file; returns its id (an ``fdb.Id["_storage"]``)."""
        return store_in(self._reader, data, content_type)

    def delete(self, file_id: str) -> None:
        """Delete the file; ``DocumentNotFound`` if there is none."""
        delete_in(self._reader, file_id)


class Storage:
    """``db.storage`` on an open database: each call is its own transaction.

    Inside a query or mutation use the ``db.storage`` of the function's ``db`` instead, so
    the file operation is part of that transaction.
    """

    def __init__(self, db: Database) -> None:
        self._db = db

    def store(self, data: bytes | Any, content_type: str | None = None) -> str:
        """Store bytes or a binary file object, streamed in chunks; returns the file's id."""
        def store(w: Writer) -> str:
            return store_in(w, data, content_type)

        result: str = self._db.run(MutationFunction(store))
        return result

    def get_metadata(self, file_id: str) -> FileMetadata | None:
        """The file's metadata, or ``None`` if there is no such file."""
        def get(r: Reader) -> FileMetadata | None:
            return metadata_in(r, file_id)

        result: FileMetadata | None = self._db.run(QueryFunction(get))
        return result

    def open(self, file_id: str) -> FileStream:
        """A readable, seekable binary stream over the file; close it when done.

        It stays usable after this call returns (until the database closes); each read is a
        short read transaction of its own.
        """

        def find(r: Reader) -> tuple[FileMetadata, int]:
            return _require(r, file_id, "open"), _resolve(r, file_id)[0]

        meta, rowid = self._db.run(QueryFunction(find))
        return FileStream(meta, rowid, _outside(self._db._engine))

    def delete(self, file_id: str) -> None:
        """Delete the file and its bytes; ``DocumentNotFound`` if there is none."""
        def delete(w: Writer) -> None:
            delete_in(w, file_id)

        self._db.run(MutationFunction(delete))
