"""``GET /files/{id}``: a stored file, streamed from blob I/O.

The URL ``storage.get_url`` gives carries a token, the HMAC-SHA256 of the file id with the
app's secret, unless the app serves files publicly; a missing or wrong token is a 404, as a
missing file (which file ids exist is not disclosed). Responses have the file's content type,
its sha256 as the ``ETag`` (stored files never change: ``If-None-Match`` gets a 304), and
honour one ``Range`` (206, or 416 when it does not fit). The bytes are read in chunks of
``READ_SIZE`` on a worker thread, so a large file is never wholly in memory.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import re
from collections.abc import AsyncIterator
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from ..core.errors import DocumentNotFound, FusionError
from ..database import Database
from ..transaction.files import FileMetadata, FileStream

READ_SIZE = 256 * 1024
_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


class FileUrls:
    """Makes and checks file URLs: ``base_url + /files/{id}?token=...``."""

    def __init__(self, secret: bytes, base_url: str, public: bool) -> None:
        self.secret = secret
        self.base = base_url.rstrip("/")
        self.public = public

    def token(self, file_id: str) -> str:
        return hmac.new(self.secret, file_id.encode(), hashlib.sha256).hexdigest()

    def url(self, meta: FileMetadata) -> str:
        assert meta.id is not None
        path = f"{self.base}/files/{quote(meta.id, safe='')}"
        return path if self.public else f"{path}?token={self.token(meta.id)}"

    def allowed(self, file_id: str, token: str | None) -> bool:
        if self.public:
            return True
        return token is not None and hmac.compare_digest(token, self.token(file_id))


def byte_range(header: str | None, size: int) -> tuple[int, int] | str | None:
    """``(start, end)`` (end exclusive) for a single ``Range``; ``None`` for the whole file
    (no header, or one we do not do, e.g. several ranges: the whole file is a valid answer);
    ``"unsatisfiable"`` for a range outside the file."""
    if not header:
        return None
    m = _RANGE.match(header.strip())
    if m is None:
        return None
    first, last = m.group(1), m.group(2)
    if not first and not last:
        return None
    if not first:  # the last N bytes
        n = int(last)
        if n == 0:
            return "unsatisfiable"
        return max(0, size - n), size
    start = int(first)
    end = size if not last else min(int(last) + 1, size)
    if start >= size or end <= start:
        return "unsatisfiable"
    return start, end


async def serve_file(request: Request, db: Database, urls: FileUrls) -> Response:
    file_id = request.path_params["file_id"]
    missing = Response("no such file\n", status_code=404, media_type="text/plain")
    if not urls.allowed(file_id, request.query_params.get("token")):
        return missing
    try:
        meta = await asyncio.to_thread(db.storage.get_metadata, file_id)
    except FusionError:  # an id that is not a file id
        return missing
    if meta is None:
        return missing
    etag = f'"{meta.sha256}"'
    headers = {
        "ETag": etag,
        "Accept-Ranges": "bytes",
        # Stored files never change and ids are never reused.
        "Cache-Control": ("public" if urls.public else "private") + ", max-age=31536000, immutable",
    }
    media_type = meta.content_type or "application/octet-stream"
    if etag in [t.strip() for t in request.headers.get("if-none-match", "").split(",")]:
        return Response(status_code=304, headers=headers)
    wanted = byte_range(request.headers.get("range"), meta.size)
    if wanted == "unsatisfiable":
        return Response(
            status_code=416, headers={**headers, "Content-Range": f"bytes */{meta.size}"}
        )
    status = 200
    start, end = 0, meta.size
    if isinstance(wanted, tuple):
        start, end = wanted
        status = 206
        headers["Content-Range"] = f"bytes {start}-{end - 1}/{meta.size}"
    headers["Content-Length"] = str(end - start)
    if request.method == "HEAD":
        return Response(status_code=status, headers=headers, media_type=media_type)
    stream = await asyncio.to_thread(db.storage.open, file_id)
    return StreamingResponse(
        _chunks(stream, start, end), status_code=status, headers=headers, media_type=media_type
    )


async def _chunks(stream: FileStream, start: int, end: int) -> AsyncIterator[bytes]:
    try:
        stream.seek(start)
        left = end - start
        while left > 0:
            try:
                piece = await asyncio.to_thread(stream.read, min(READ_SIZE, left))
            except DocumentNotFound:  # deleted mid-way: the response is cut short
                return
            if not piece:
                return
            left -= len(piece)
            yield piece
    finally:
        stream.close()
