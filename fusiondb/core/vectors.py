"""Vector indexes: what one holds for a document, and the checks of vectors.

A vector index is declared with ``fdb.table(Doc).vector_index(...)`` (``schema.py``,
``vectordef.py``). This module holds the pure parts every layer shares: the entry an index
holds for a document (its vector and filter values, or nothing when the vector is missing),
why a vector cannot be indexed (wrong length, a value that is no finite number, all zeros:
cosine similarity needs a direction), and the result type of a search.
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Sequence
from typing import Any, NamedTuple

from .keys import extract, search_value
from .vectordef import VectorIndexDef

# What a vector index holds for one document: its vector and its filter fields' values.
VectorEntry = tuple[tuple[float, ...], tuple[Any, ...]]


class VectorResult(NamedTuple):
    """One result of ``db.vector_search``: the document's id and its cosine similarity to the
    query vector (from -1 to 1, higher is closer), as Convex's ``_id`` and ``_score``."""

    id: str
    score: float


def vector_problem(value: Any, dimensions: int) -> str | None:
    """Why ``value`` cannot be indexed (or searched for) as a vector of ``dimensions``
    numbers, or ``None`` if it can."""
    if not isinstance(value, list | tuple):
        return f"a vector must be a list of {dimensions} floats, got {type(value).__name__}"
    if len(value) != dimensions:
        return f"the vector has {len(value)} values; this vector index takes {dimensions}"
    norm = 0.0
    for x in value:
        if type(x) is bool or not isinstance(x, int | float):
            return f"a vector holds numbers only, got {type(x).__name__}"
        if not math.isfinite(x):
            return f"a vector holds finite numbers only, got {x!r}"
        norm += float(x) * float(x)
    if norm == 0.0 or not math.isfinite(norm):
        return "an all-zero vector has no direction, so no cosine similarity: leave it out (None)"
    return None


def vector_entry(index: VectorIndexDef, doc: dict[str, Any]) -> VectorEntry | None:
    """What ``index`` holds for the stored document ``doc``: its vector and filter values, or
    ``None`` when its vector field is missing or ``None`` (the document is not indexed).
    Written documents were checked (``check_document``); a stored one may not have been (an
    index added to old documents), so callers that build an index check ``vector_problem``."""
    vector = extract(doc, index.vector_field)
    if vector is None:
        return None
    return tuple(vector), tuple(search_value(doc, f) for f in index.filter_fields)


def check_document(indexes: Sequence[VectorIndexDef], doc: dict[str, Any]) -> tuple[str, str] | None:
    """``(field, reason)`` for the first vector of the stored document ``doc`` (decoded JSON of
    a validated model, so no NaN or infinity) that ``indexes`` cannot hold."""
    for index in indexes:
        vector = extract(doc, index.vector_field)
        if vector is None or _fits(vector, index.dimensions):
            continue
        problem = vector_problem(vector, index.dimensions)
        if problem is not None:
            return index.vector_field, problem
    return None


def _fits(vector: Any, dimensions: int) -> bool:
    """The write path's check in C loops: a list of ``dimensions`` numbers, not all zero
    (``False``: let ``vector_problem`` look, and say why)."""
    if type(vector) is not list or len(vector) != dimensions or not any(vector):
        return False
    try:
        array("d", vector)  # numbers only (JSON of a list[float] field holds no booleans)
    except TypeError:
        return False
    return True


def eq_key(value: Any) -> tuple[bool, Any]:
    """A filter value as equality compares it: ``1 == 1.0``, but a boolean is not a number
    (as in the value order of indexes)."""
    return type(value) is bool, value
