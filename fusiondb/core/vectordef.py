"""The declaration of a vector index (``schema.TableDef.vector_index``) and its checks.

Apart from ``core/vectors.py`` (what an index holds for a document) so that ``schema.py`` can
use it without importing ``keys.py``, which imports ``schema.py``.
"""

from __future__ import annotations

import types
import typing
from dataclasses import dataclass
from typing import Any, Union

from pydantic import BaseModel

from .errors import SchemaError
from .limits import MAX_INDEX_FIELDS, MAX_VECTOR_DIMENSIONS, MIN_VECTOR_DIMENSIONS


@dataclass(frozen=True)
class VectorIndexDef:
    """A declared vector index: the field holding the vector, its length, the filter fields."""

    name: str
    vector_field: str
    dimensions: int
    filter_fields: tuple[str, ...]


def check_vector_index(model: type[BaseModel], table: str, index: VectorIndexDef) -> None:
    """Refuse a vector index whose dimensions are out of range, or whose vector field is not
    declared as a list of floats (optionally ``None``)."""
    dims = index.dimensions
    if type(dims) is not int or not MIN_VECTOR_DIMENSIONS <= dims <= MAX_VECTOR_DIMENSIONS:
        raise SchemaError(
            f"vector index {index.name!r}: dimensions must be an integer from "
            f"{MIN_VECTOR_DIMENSIONS} to {MAX_VECTOR_DIMENSIONS}, got {dims!r}",
            table=table,
            name=index.name,
        )
    if len(index.filter_fields) > MAX_INDEX_FIELDS:
        raise SchemaError(
            f"vector index {index.name!r} has {len(index.filter_fields)} filter fields; a "
            f"vector index has at most {MAX_INDEX_FIELDS}",
            table=table,
            name=index.name,
        )
    if len(set(index.filter_fields)) != len(index.filter_fields):
        raise SchemaError(f"vector index {index.name!r} repeats a filter field", table=table, name=index.name)
    if index.vector_field in index.filter_fields:
        raise SchemaError(
            f"vector index {index.name!r}: {index.vector_field!r} is the vector field; it "
            "cannot be a filter field too",
            table=table,
            name=index.name,
        )
    kinds = [a for a in _leaf_annotations(model, index.vector_field) if a is not type(None)]
    if not kinds or not all(_is_float_list(a) for a in kinds):
        shown = " | ".join(getattr(a, "__name__", None) or repr(a) for a in kinds) or "None"
        raise SchemaError(
            f"vector index {index.name!r}: field {index.vector_field!r} is declared as {shown}; "
            "a vector field must be a list[float] (or list[float] | None)",
            table=table,
            name=index.vector_field,
        )


def _leaf_annotations(model: type[BaseModel], path: str) -> list[Any]:
    """The alternatives of the annotation at dotted ``path`` (which must exist)."""
    current: list[Any] = [model]
    for part in path.split("."):
        found = [
            m.model_fields[part].annotation
            for m in current
            if isinstance(m, type) and issubclass(m, BaseModel) and part in m.model_fields
        ]
        current = [alt for a in found for alt in _alternatives(a)]
    return current


def _alternatives(annotation: Any) -> list[Any]:
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _alternatives(typing.get_args(annotation)[0])
    if origin is Union or origin is types.UnionType:
        return [alt for arg in typing.get_args(annotation) for alt in _alternatives(arg)]
    return [annotation]


def _is_float_list(annotation: Any) -> bool:
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is list and len(args) == 1:
        return all(a is float for a in _alternatives(args[0]))
    return origin is tuple and len(args) == 2 and args[0] is float and args[1] is Ellipsis
