"""``fusiondb.serve.app(db, functions=[...])``: the ASGI app (Starlette) serving a database.

Routes: ``POST /api/run/{name}`` (JSON arguments → JSON result), the ``/api/sync``
WebSocket (``sync.py``), ``GET /files/{id}`` (``files.py``), ``POST /api/upload``
(``uploads.py``) and, optionally, a directory of static files at ``/`` (a built web page).
Creating the app registers its file and upload URL makers on ``db.storage``, so ``get_url``
and ``generate_upload_url`` work in the functions it serves.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import secrets
import weakref
from collections.abc import Awaitable, Callable, Iterable
from types import ModuleType
from typing import Any

from starlette.applications import Starlette
from starlette.requests import HTTPConnection, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket

from ..database import Database
from .calls import CallError, arguments, call, find, parse_json
from .fanout import Hub
from .files import FileUrls, serve_file
from .frames import EXTENSION
from .functions import Function, Registry
from .outbox import MAX_BACKLOG
from .sync import Connection
from .uploads import MAX_UPLOAD, UPLOAD_TTL, UploadUrls, receive_upload

log = logging.getLogger("fusiondb.serve")

MAX_MESSAGE = 1 << 20  # bytes: the largest request body or WebSocket message accepted

Authenticate = Callable[[HTTPConnection], Any | Awaitable[Any]]
"""``authenticate(request)`` → an identity, or ``None`` to refuse (401)."""


class _Unauthorized(Exception):
    pass


def app(
    db: Database,
    functions: Iterable[Function] | ModuleType,
    *,
    authenticate: Authenticate | None = None,
    base_url: str | None = None,
    public_files: bool = False,
    secret: bytes | None = None,
    static_dir: str | None = None,
    max_message: int = MAX_MESSAGE,
    max_backlog: int = MAX_BACKLOG,
    max_upload: int = MAX_UPLOAD,
    upload_ttl: float = UPLOAD_TTL,
) -> Starlette:
    """An ASGI app exposing ``functions`` (``@fdb.query`` / ``@fdb.mutation``, or a module:
    all it defines) of ``db`` by name, and its files.

    ``authenticate(request)``: called for every HTTP request and WebSocket connection (a
    Starlette ``Request`` / ``WebSocket``; may be async); ``None`` refuses it with 401, any
    other value is the identity given to functions declaring an ``identity`` parameter.
    ``base_url``: what file URLs start with (default: none, so they are paths, right for a
    page served by this app or behind a proxy that keeps paths). ``public_files``: file URLs
    without a token. ``secret``: the key of the file tokens (default: random per app, so
    URLs last as long as the process). ``static_dir``: a built web page served at ``/``.
    ``max_message``: the largest request body or WebSocket message accepted (bytes).
    ``max_backlog``: the bytes a WebSocket may have waiting unsent before it is closed with
    code 4008 (values waiting are only the newest per subscription; see docs/serving.md).
    ``max_upload``: the largest file ``POST /api/upload`` takes (bytes); ``upload_ttl``: the
    seconds a URL from ``generate_upload_url`` works.
    """
    if not isinstance(db, Database):
        raise TypeError(f"fusiondb.serve.app() takes an open fdb.Database, got {db!r}")
    registry = Registry(functions)
    key = secret or secrets.token_bytes(32)
    urls = FileUrls(key, base_url or "", public_files)
    uploads = UploadUrls(key, base_url or "", upload_ttl)
    db.storage.set_url_maker(urls.url)
    db.storage.set_upload_url_maker(uploads.url)
    hubs: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Hub] = weakref.WeakKeyDictionary()

    async def identify(conn: HTTPConnection) -> Any:
        if authenticate is None:
            return None
        identity = authenticate(conn)
        if inspect.isawaitable(identity):
            identity = await identity
        if identity is None:
            raise _Unauthorized
        return identity

    async def run(request: Request) -> Response:
        try:
            identity = await identify(request)
            exposed = find(registry, request.path_params["name"])
            body = await _read_body(request, max_message)
            args = arguments(exposed, parse_json(body, max_message), identity)
            result = await call(db, exposed, args)
        except _Unauthorized:
            return _error(CallError(401, "not authenticated"))
        except CallError as exc:
            return _error(exc)
        return Response(result, media_type="application/json")

    async def sync(ws: WebSocket, send: Send) -> None:
        try:
            identity = await identify(ws)
        except _Unauthorized:
            await _deny(ws)
            return
        except Exception:
            log.exception("fusiondb.serve: authenticate raised")
            await ws.close(code=1011)
            return
        await ws.accept()
        loop = asyncio.get_running_loop()
        hub = hubs.get(loop)
        if hub is None:  # one per event loop (uvicorn has one; test clients may have several)
            hub = hubs[loop] = Hub(db, loop)
        writer = ws.scope.get("extensions", {}).get(EXTENSION)  # frames.py; uvicorn_ws.py
        await Connection(ws, send, db, registry, identity, hub, max_message, max_backlog, writer).run()

    async def files(request: Request) -> Response:
        return await serve_file(request, db, urls)

    async def upload(request: Request) -> Response:
        try:
            file_id = await receive_upload(request, db, uploads, max_upload)
        except CallError as exc:
            return _error(exc)
        return JSONResponse({"storageId": file_id})

    routes: list[BaseRoute] = [
        Route("/api/run/{name}", run, methods=["POST"]),
        WebSocketRoute("/api/sync", _Sync(sync)),
        Route("/files/{file_id}", files, methods=["GET", "HEAD"]),
        Route("/api/upload", upload, methods=["POST"]),
    ]
    if static_dir is not None:
        routes.append(Mount("/", StaticFiles(directory=static_dir, html=True), name="static"))
    server = Starlette(routes=routes)
    server.state.fusiondb = db
    server.state.registry = registry
    server.state.file_urls = urls
    server.state.sync_hubs = hubs  # the live topics by event loop (tests look at the outboxes)
    return server


class _Sync:
    """The ``/api/sync`` endpoint as a plain ASGI app, so a connection sends its messages
    straight to the server's ``send`` (through Starlette's ``WebSocket`` each message would
    pass a state check and a route-level exception wrapper: per message, on the hot path)."""

    def __init__(self, session: Callable[[WebSocket, Send], Awaitable[None]]) -> None:
        self.session = session

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.session(WebSocket(scope, receive, send), send)


def _error(exc: CallError) -> Response:
    return JSONResponse({"error": exc.body()}, status_code=exc.status)


async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise CallError(413, f"request body too large: {declared} bytes (limit {limit})")
    body = b""
    async for piece in request.stream():
        body += piece
        if len(body) > limit:
            raise CallError(413, f"request body too large (limit {limit} bytes)")
    return body


async def _deny(ws: WebSocket) -> None:
    """Refuse a WebSocket handshake with 401 where the server can say so, else close 4401."""
    if "websocket.http.response" in ws.scope.get("extensions", {}):
        await ws.send_denial_response(
            JSONResponse({"error": {"status": 401, "message": "not authenticated"}}, status_code=401)
        )
    else:
        await ws.close(code=4401, reason="not authenticated")
