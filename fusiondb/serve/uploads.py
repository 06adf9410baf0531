"""``POST /api/upload``: a browser uploads one file to a URL a mutation handed out.

As Convex's ``generateUploadUrl``: a mutation calls ``db.storage.generate_upload_url()`` and
returns the URL; the page ``POST``s the file to it (body: the bytes, ``Content-Type``: the
file's type) and gets ``{"storageId": ...}``, which it passes to another mutation to keep.

The URL carries its expiry and a token, the HMAC-SHA256 of ``upload:{expiry}:{nonce}`` with
the app's secret (the key of file URLs too), so only URLs this app made work, and only until
they expire (``ttl``, an hour by default). The body is read as it arrives into a spooled
temporary file (memory up to ``SPOOL`` bytes, then disk) counting bytes against
``max_upload``, and then stored from there: a slow upload never holds the database's write
lock, and a large one is never wholly in memory. Errors are JSON ``{"error": {status,
message}}``: 403 for a wrong or expired URL, 413 over the limit, 400 for what the store
refused; nothing is stored then.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import secrets
import tempfile
import time
from typing import IO

from starlette.requests import ClientDisconnect, Request

from ..core.errors import FusionError
from ..database import Database
from .calls import CallError

UPLOAD_TTL = 3600.0  # seconds an upload URL works
MAX_UPLOAD = 1 << 30  # bytes: the largest file accepted
SPOOL = 1 << 20  # bytes of an upload kept in memory before it spills to a temporary file


class UploadUrls:
    """Makes and checks upload URLs: ``base_url + /api/upload?expires=...&nonce=...&token=...``."""

    def __init__(self, secret: bytes, base_url: str, ttl: float = UPLOAD_TTL) -> None:
        self.secret = secret
        self.base = base_url.rstrip("/")
        self.ttl = ttl

    def token(self, expires: str, nonce: str) -> str:
        return hmac.new(self.secret, f"upload:{expires}:{nonce}".encode(), hashlib.sha256).hexdigest()

    def url(self) -> str:
        expires = str(int(time.time() + self.ttl))
        nonce = secrets.token_urlsafe(12)
        token = self.token(expires, nonce)
        return f"{self.base}/api/upload?expires={expires}&nonce={nonce}&token={token}"

    def check(self, expires: str | None, nonce: str | None, token: str | None) -> None:
        """``CallError`` 403 unless the three parts are a URL this app made, unexpired."""
        if not expires or not nonce or not token or not expires.isdigit():
            raise CallError(
                403, "not an upload URL: ask a mutation for one (db.storage.generate_upload_url())"
            )
        if not hmac.compare_digest(token, self.token(expires, nonce)):
            raise CallError(403, "upload URL not valid here: ask a mutation for a new one")
        if int(expires) < time.time():
            raise CallError(403, "upload URL expired: ask a mutation for a new one")


async def receive_upload(request: Request, db: Database, urls: UploadUrls, limit: int) -> str:
    """Check the URL, spool the body, store it; the new file's id (or ``CallError``)."""
    q = request.query_params
    urls.check(q.get("expires"), q.get("nonce"), q.get("token"))
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise CallError(413, f"file too large: {declared} bytes (limit {limit})")
    content_type = request.headers.get("content-type") or None
    with tempfile.SpooledTemporaryFile(max_size=SPOOL) as spool:
        size = 0
        try:
            async for piece in request.stream():
                size += len(piece)
                if size > limit:
                    raise CallError(413, f"file too large: over {limit} bytes")
                await _write(spool, piece)
        except ClientDisconnect:
            raise CallError(400, "the upload was cut short") from None
        spool.seek(0)
        try:
            return await asyncio.to_thread(db.storage.store, spool, content_type)
        except FusionError as exc:
            raise CallError(400, str(exc)) from None


async def _write(spool: IO[bytes], piece: bytes) -> None:
    if spool.tell() + len(piece) <= SPOOL:
        spool.write(piece)  # in memory: no need to leave the loop
    else:
        await asyncio.to_thread(spool.write, piece)
