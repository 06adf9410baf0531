"""Bytes in documents (Convex's ``v.bytes()``): stored as the tagged object ``{"$bytes": "<hex>"}``.

JSON has no bytes, so a ``bytes`` value is stored as an object with the one key ``$bytes``
and its hex digits (lowercase; hex keeps the order of the bytes as the order of the text,
which the index value of bytes is: ``core/keys.py``). Names starting with ``$`` are refused
in documents (``core/limits.py``), so no object of the user's can take this shape.

``Document`` models apply ``tag_bytes`` to their core schema: every ``bytes`` field (nested
ones too) is written in that form and read back from it, and so is a bytes value inside an
untyped (``Any``) field, read back as ``bytes``.
"""

from __future__ import annotations

from typing import Any

from pydantic_core import core_schema

BYTES_TAG = "$bytes"


def bytes_of(value: Any) -> bytes | None:
    """The bytes a stored ``{"$bytes": "<hex>"}`` object holds; ``None`` for any other value.
    (Names starting with ``$`` are refused in documents, so no user object has this shape.)"""
    if type(value) is dict and len(value) == 1:
        hexed = value.get(BYTES_TAG)
        if type(hexed) is str:
            return bytes.fromhex(hexed)
    return None


def _untag(value: Any, info: core_schema.ValidationInfo) -> Any:
    # Only stored JSON holds tags: from Python, a dict is a dict (and "$bytes" a refused name).
    if info.mode != "json":
        return value
    raw = bytes_of(value)
    return value if raw is None else raw


def _untag_json(value: Any, info: core_schema.ValidationInfo) -> Any:
    return untag_any(value) if info.mode == "json" else value


def _tag(value: bytes) -> dict[str, str]:
    return {BYTES_TAG: value.hex()}


def untag_any(value: Any) -> Any:
    """Stored JSON data back to Python values: tagged objects become bytes, at any depth."""
    t = type(value)
    if t is dict:
        raw = bytes_of(value)
        if raw is not None:
            return raw
        return {k: untag_any(v) for k, v in value.items()}
    if t is list:
        return [untag_any(v) for v in value]
    return value


def _tag_any(value: Any) -> Any:
    """Bytes at any depth of an untyped value in their stored form (the rest as it is)."""
    t = type(value)
    if t is bytes or t is bytearray:
        return _tag(bytes(value))
    if t is dict:
        return {k: _tag_any(v) for k, v in value.items()}
    if t is list or t is tuple:
        return [_tag_any(v) for v in value]
    return value


def _bytes_schema(node: Any) -> Any:
    return core_schema.with_info_before_validator_function(
        _untag,
        node,
        serialization=core_schema.plain_serializer_function_ser_schema(_tag, when_used="json"),
    )


def _any_schema(node: Any) -> Any:
    return core_schema.with_info_before_validator_function(
        _untag_json,
        node,
        serialization=core_schema.plain_serializer_function_ser_schema(
            _tag_any, when_used="json"
        ),
    )


def tag_bytes(schema: Any) -> Any:
    """A copy of the core schema ``schema`` whose ``bytes`` and ``any`` nodes read and write
    bytes in the stored form (nodes already wrapped are left as they are)."""
    if isinstance(schema, list):
        return [tag_bytes(v) for v in schema]
    if not isinstance(schema, dict):
        return schema
    kind = schema.get("type")
    if kind == "bytes" and "serialization" not in schema:
        return _bytes_schema(schema)
    if kind == "any" and "serialization" not in schema:
        return _any_schema(schema)
    if kind == "function-before" and schema.get("function", {}).get("function") in (
        _untag, _untag_json
    ):
        return schema
    return {k: tag_bytes(v) if k != "cls" else v for k, v in schema.items()}
