"""Online backup and file probing: SQLite's backup API, and telling a fusiondb file apart.

``backup`` copies a database page by page into a new file with ``sqlite3_backup_step(-1)``:
one step, so the copy is one consistent snapshot taken when the step starts. In WAL mode
that step holds only a read transaction, so other connections and processes keep writing
while it runs (a copy made in several small steps would restart whenever another connection
writes, and could never finish under a steady writer). The copy goes to a temporary file
next to ``dest`` and is renamed into place once complete, so ``dest`` is never half written.
"""

from __future__ import annotations

import contextlib
import os

import apsw

from ...core.errors import FusionError
from .errors import TRANSLATE

CATALOG_TABLE = "_fdb_catalog"
SQLITE_HEADER = b"SQLite format 3\x00"


def backup(source: apsw.Connection, dest: str) -> None:
    """Copy the database of ``source`` to a new file ``dest`` (refused if it exists)."""
    if os.path.exists(dest):
        raise FusionError(f"backup: {dest} already exists; choose a new file name or remove it first")
    tmp = f"{dest}.partial"
    for leftover in (tmp, f"{tmp}-wal", f"{tmp}-shm"):
        with contextlib.suppress(FileNotFoundError):
            os.remove(leftover)
    try:
        with TRANSLATE:
            target = apsw.Connection(tmp)
            try:
                with target.backup("main", source, "main") as step:
                    step.step(-1)
            finally:
                target.close()
        os.replace(tmp, dest)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.remove(tmp)
        raise


def probe(path: str) -> str:
    """What ``path`` is, without changing it: ``"fusiondb"``, ``"sqlite"`` (another SQLite
    database), ``"other"`` (not a database) or ``"missing"``."""
    if not os.path.isfile(path):
        return "missing"
    with open(path, "rb") as f:
        head = f.read(len(SQLITE_HEADER))
    if head != SQLITE_HEADER:
        return "other"
    try:
        conn = apsw.Connection(path, flags=apsw.SQLITE_OPEN_READONLY)
    except apsw.Error:
        return "other"
    try:
        found = conn.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (CATALOG_TABLE,)
        ).fetchall()
    except apsw.Error:
        return "other"
    finally:
        conn.close()
    return "fusiondb" if found else "sqlite"
