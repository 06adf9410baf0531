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

__all__ = ["MAX_MESSAGE", "app", "collect", "load_module"]
