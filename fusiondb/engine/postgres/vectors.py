"""Vector indexes on PostgreSQL: not supported (yet); every seam call says so.

Opening a PostgreSQL database whose schema (or stored catalog) declares a vector index raises
``fdb.NotSupported(feature="vector search", extra=None)`` from ``require_vectors``, in the
open's transaction, so nothing is created. The other calls cannot be reached after that refusal
but raise the same error rather than do something else. (pgvector would be the way: an exact
``ORDER BY embedding <=> q`` scan keeps results equal to the SQLite engine's brute force.)
"""

from __future__ import annotations

from typing import NoReturn

from ...core.errors import NotSupported


def unsupported() -> NoReturn:
    raise NotSupported(
        "vector indexes are not supported on PostgreSQL: keep vector search on a SQLite "
        "database (pip install 'fusiondb[vector]'), or drop the vector index from the schema",
        feature="vector search",
        engine="postgres",
    )
