"""Field-name rules and the limits of schemas and searches (docs/limits.md has the table).

A name anywhere in a document must be non-empty, hold no control character (NUL included: it
would cut a JSON path or an SQL string short) and not start with ``$`` (kept for encoding
values JSON lacks, as Convex does); a top-level name must also not start with ``_`` (the
system's). Declared fields are checked once, when the schema is built (``core/schema.py``);
only the dynamic parts of a document (dict fields, untyped fields, ``extra="allow"``) are
checked per write (``core/documents.py``). Document size and nesting limits live with the
encoder in ``core/documents.py``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

# Per table: indexes (search indexes included) and fields per index or search filter fields.
# 32 indexes of 16 fields keep a table's generated columns (one per indexed path) far under
# SQLite's 2,000-column limit, and are Convex's numbers.
MAX_INDEXES = 32
MAX_INDEX_FIELDS = 16
# Per search: distinct words of the search text; documents one call returns.
MAX_SEARCH_TERMS = 16
MAX_SEARCH_RESULTS = 1024
# Values of one ``in_`` filter: Convex's array length limit (each value is two SQL parameters,
# well under SQLite's 32,766).
MAX_IN_VALUES = 8192

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def name_problem(name: object, *, top_level: bool) -> str | None:
    """Why ``name`` cannot be a key of a stored object, or ``None`` if it can."""
    if not isinstance(name, str):
        return f"names must be strings, not {type(name).__name__}"
    if not name:
        return "names must not be empty"
    if _CONTROL.search(name):
        return "names must not contain control characters (NUL, newline, tab...)"
    if name[0] == "$":
        return "names starting with '$' are reserved"
    if top_level and name[0] == "_":
        return "top-level names starting with '_' belong to fusiondb"
    return None


def bad_names(doc: dict[str, Any]) -> Iterator[tuple[list[str], str]]:
    """``(path, reason)`` for each refused key of a decoded JSON document, outermost first."""
    stack: list[tuple[Any, list[str]]] = [(doc, [])]
    while stack:
        value, path = stack.pop()
        if isinstance(value, dict):
            for key, item in value.items():
                reason = name_problem(key, top_level=not path)
                if reason is not None:
                    yield [*path, key], reason
                elif isinstance(item, dict | list):
                    stack.append((item, [*path, key]))
        elif isinstance(value, list):
            stack.extend((v, [*path, str(i)]) for i, v in enumerate(value) if isinstance(v, dict | list))


def may_hold_bad_names(raw: bytes) -> bool:
    """A cheap over-approximation on encoded JSON: can ``bad_names`` find anything?

    Every refused name shows in the text: as ``"":`` (empty), a ``\\`` escape or a raw DEL
    (control characters), ``"$`` or ``"_`` (reserved prefixes). Text values can match too;
    then the document is decoded and walked.
    """
    return (
        b"\\" in raw or b'"$' in raw or b'"_' in raw or b'"":' in raw or b"\x7f" in raw
    )
# Vector indexes (Convex's numbers): dimensions of a vector, results of one vector search,
# values a vector search's filter may name (``eq`` clauses, ``or_`` included).
MIN_VECTOR_DIMENSIONS = 2
MAX_VECTOR_DIMENSIONS = 4096
MAX_VECTOR_RESULTS = 256
MAX_VECTOR_FILTER_VALUES = 64
