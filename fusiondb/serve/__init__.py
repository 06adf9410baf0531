"""Serve a database's functions and files to web pages: ``fusiondb.serve.app(db, functions)``.

Needs the ``serve`` extra (Starlette and uvicorn): ``pip install 'fusiondb[serve]'``.
docs/serving.md describes the server, the protocol and the JavaScript client.
"""

from __future__ import annotations

try:
    import starlette  # noqa: F401
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        "fusiondb.serve needs the 'serve' extra (Starlette and uvicorn): "
        "pip install 'fusiondb[serve]'"
    ) from exc

from .app import MAX_MESSAGE, app
from .functions import collect, load_module
from .outbox import CLOSE_BACKLOG, MAX_BACKLOG
from .uploads import MAX_UPLOAD, UPLOAD_TTL

__all__ = [
    "CLOSE_BACKLOG",
    "MAX_BACKLOG",
    "MAX_MESSAGE",
    "MAX_UPLOAD",
    "UPLOAD_TTL",
    "app",
    "collect",
    "load_module",
]
