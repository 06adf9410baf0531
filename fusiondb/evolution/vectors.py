"""Vector indexes in schema evolution: add, drop or rebuild them to match the declared schema.

The catalog records each vector index by its form (``vector_form``); on open, one that is no
longer declared, or whose vector field, dimensions or filter fields changed, is dropped, and
a new or changed one is built from the stored documents (with progress). A stored document
whose vector the index cannot hold (another length, all zeros) makes the build fail: the
change is refused with ``SchemaMismatch`` naming the documents, and nothing changes.
"""

from __future__ import annotations

from typing import Any

from ..core.errors import SchemaMismatch
from ..core.ids import encode_id
from ..core.progress import ProgressCallback
from ..core.vectordef import VectorIndexDef
from ..engine.base import WriteTxn


def vector_form(index: VectorIndexDef) -> dict[str, Any]:
    """How the catalog records a vector index (compared on open to spot changes)."""
    return {
        "vector_field": index.vector_field,
        "dimensions": index.dimensions,
        "filter_fields": list(index.filter_fields),
    }


def apply_vector_indexes(
    txn: WriteTxn,
    table: str,
    number: int,
    declared: dict[str, VectorIndexDef],
    stored: dict[str, dict[str, Any]],
    progress: ProgressCallback | None,
) -> list[tuple[str, str]]:
    """Make the file's vector indexes of ``table`` match ``declared``; updates ``stored``.
    Returns the changes as ``(kind, detail)``, for ``SchemaChange``."""
    if not declared and not stored:
        return []
    txn.require_vectors()  # on every open that needs them: a missing extra fails here
    changes: list[tuple[str, str]] = []
    for name in list(stored):
        want = declared.get(name)
        if want is None or vector_form(want) != stored[name]:
            txn.drop_vector_index(table, name)
            del stored[name]
            if want is None:
                changes.append(("drop_vector_index", name))
    for name, index in declared.items():
        if name in stored:
            continue
        refused, failures = txn.create_vector_index(table, index, progress)
        if refused:
            shown = "; ".join(f"{encode_id(number, r)}: {why}" for r, why in failures)
            raise SchemaMismatch(
                f"table {table!r}: vector index {name!r} cannot hold {refused} stored "
                f"document(s) ({shown}); fix their {index.vector_field!r} (a list of "
                f"{index.dimensions} numbers, not all zero, or None), or change the index. "
                "Nothing was changed.",
                table=table,
                count=refused,
                failures=[(encode_id(number, r), why) for r, why in failures],
            )
        stored[name] = vector_form(index)
        changes.append(("add_vector_index", name))
    return changes
