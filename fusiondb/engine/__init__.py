"""The engine seam (``base.py``) and its implementations: ``sqlite/``, the embedded default.

Layers above import ``open_engine`` and the types of ``base``; only an engine package knows
its database driver.
"""

from __future__ import annotations

from .base import Engine
from .sqlite.backup import probe
from .sqlite.engine import FileEngine, MemoryEngine


def open_engine(path: str | None) -> Engine:
    """The engine for ``path``: a SQLite file, or (``None``) a private in-memory database."""
    return MemoryEngine() if path is None else FileEngine(path)


def probe_file(path: str) -> str:
    """What ``path`` holds, without opening it for writing: ``"fusiondb"``, ``"sqlite"``
    (another SQLite database), ``"other"`` or ``"missing"``."""
    return probe(path)
