"""``fusiondb serve FILE --functions myapp.functions``: open the file, serve it with uvicorn.

The functions module gives what is exposed (every ``@fdb.query`` / ``@fdb.mutation`` it
defines) and, as ``schema``, the ``fdb.Schema`` to open the file with; without one the file is
opened with the schema it stores (``fdb.open_stored``).
"""

from __future__ import annotations

import logging
from types import ModuleType

from ..core.schema import Schema
from ..database import Database, open_stored
from ..database import open as open_db
from .app import app
from .functions import load_module


def open_for(path: str, module: ModuleType) -> Database:
    schema = getattr(module, "schema", None)
    if isinstance(schema, Schema):
        return open_db(path, schema)
    return open_stored(path)


def serve(
    path: str,
    functions: str,
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    static_dir: str | None = None,
    public_files: bool = False,
    base_url: str | None = None,
) -> None:
    """Serve until interrupted; the database is closed after."""
    import uvicorn

    from .uvicorn_ws import UVICORN_OPTIONS

    module = load_module(functions)
    db = open_for(path, module)
    try:
        asgi = app(db, module, static_dir=static_dir, public_files=public_files, base_url=base_url)
        logging.getLogger("fusiondb.serve").info("serving %s on http://%s:%s", path, host, port)
        # ws_max_size above the app's own limit, so an oversized message gets an answer;
        # UVICORN_OPTIONS: value messages as frames shared by every connection (frames.py).
        # The loop is uvicorn's choice ("auto"): uvloop, which the serve extra installs where
        # it exists, else asyncio's.
        uvicorn.run(asgi, host=host, port=port, log_level="warning", ws_max_size=64 << 20, **UVICORN_OPTIONS)
    finally:
        db.close()
