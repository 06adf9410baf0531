"""The engine seam (``base.py``) and its implementations: ``sqlite/``, the embedded default,
and ``postgres/`` (the optional extra ``fusiondb[postgres]``), for ``postgresql://`` URLs.

Layers above import ``open_engine`` and the types of ``base``; only an engine package knows
its database driver. The PostgreSQL engine is imported only when a URL asks for it.
"""

from __future__ import annotations

import importlib
from typing import Any

from ..core.errors import FusionError
from .base import Engine
from .postgres.url import is_postgres_url
from .sqlite.backup import probe
from .sqlite.engine import FileEngine, MemoryEngine

MISSING_EXTRA = (
    "opening a PostgreSQL database needs psycopg 3 and psycopg_pool: "
    "pip install 'fusiondb[postgres]'"
)


def _postgres() -> Any:
    try:
        engine = importlib.import_module(f"{__name__}.postgres.engine")
    except ImportError as exc:
        raise FusionError(f"{MISSING_EXTRA} ({exc})", orig=exc) from exc
    return engine


def open_engine(path: str | None) -> Engine:
    """The engine for ``path``: a SQLite file, a ``postgresql://`` (or ``postgres://``) URL,
    or (``None``) a private in-memory database."""
    if path is None:
        return MemoryEngine()
    if is_postgres_url(path):
        engine: Engine = _postgres().PgEngine(path)
        return engine
    return FileEngine(path)


def probe_file(path: str) -> str:
    """What ``path`` holds, without opening it for writing: ``"fusiondb"``, ``"sqlite"``
    (another SQLite database), ``"other"`` or ``"missing"``; for a PostgreSQL URL, what its
    schema holds (``"fusiondb"``, ``"other"`` tables, or ``"missing"``)."""
    if is_postgres_url(path):
        return str(_postgres().probe(path))
    return probe(path)
