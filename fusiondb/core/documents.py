"""Encoding documents for storage and decoding stored rows into models or dicts.

Writes validate with pydantic and serialize with pydantic-core; reads decode a whole result
set with one ``TypeAdapter(list[Model]).validate_json`` call, which is several times faster
than validating row by row.
"""

from __future__ import annotations

import functools
import json
import re
import typing
from collections.abc import Callable, Sequence
from typing import Any

import orjson
import pydantic
import pydantic_core

from .bytesvalues import untag_any
from .errors import DocumentTooLarge, InvalidQuery, ValidationError
from .ids import ID_CONTEXT_KEY, encode_id, encode_ids
from .keys import INT64_MAX, INT64_MIN, stored_json
from .limits import bad_names, may_hold_bad_names
from .schema import SYSTEM_FIELDS, Document, unwrap_annotation
from .tableinfo import TableInfo
from .vectors import check_document

MAX_DOCUMENT_BYTES = 1 << 20
MAX_DEPTH = 64

# pydantic-core's error types for input nested past its recursion guard: older releases
# (before pydantic 2.14.3) report a deep but acyclic input as a "recursion_loop".
_RECURSION_ERRORS = frozenset({"recursion_depth_exceeded", "recursion_loop"})

# id and creation_time have columns of their own and are never part of a stored body.
_SYSTEM_EXCLUDE: set[str] = set(SYSTEM_FIELDS)  # pydantic-core takes a set or a dict

# A stored row as read back: (rowid, creation_time, document JSON text).
Row = tuple[int, float, str]


def _loc(error: Any) -> str:
    return ".".join(str(p) for p in error.get("loc", ()))


def validation_error(
    table: str, exc: pydantic.ValidationError, *, doc_id: str | None = None
) -> ValidationError:
    errors = exc.errors(include_url=False)
    field = (_loc(errors[0]) or None) if errors else None
    where = f"document {doc_id} of table {table!r}" if doc_id else f"a document for table {table!r}"
    parts = [f"{_loc(e) or '(document)'}: {e.get('msg')}" for e in errors[:5]]
    more = f" (and {len(errors) - 5} more)" if len(errors) > 5 else ""
    return ValidationError(
        f"{where} is invalid: " + "; ".join(parts) + more,
        table=table,
        field=field,
        id=doc_id,
        errors=errors,
    )


def _too_deep(value: Any, limit: int) -> list[str] | None:
    """Path to the first object or array nested deeper than ``limit`` (the document is level 1)."""
    stack: list[tuple[Any, int, list[str]]] = [(value, 1, [])]
    while stack:
        item, depth, path = stack.pop()
        if depth > limit:
            return path
        if isinstance(item, dict):
            stack.extend(
                (v, depth + 1, [*path, str(k)]) for k, v in item.items() if isinstance(v, dict | list)
            )
        elif isinstance(item, list):
            stack.extend(
                (v, depth + 1, [*path, str(i)]) for i, v in enumerate(item) if isinstance(v, dict | list)
            )
    return None


def check_structure(table: str, data: Any) -> None:
    """Refuse a document whose objects and arrays nest deeper than MAX_DEPTH levels."""
    path = _too_deep(data, MAX_DEPTH)
    if path is not None:
        raise ValidationError(
            f"a document for table {table!r} is nested deeper than {MAX_DEPTH} levels"
            + (f" (in field {path[0]!r})" if path else ""),
            table=table,
            field=path[0] if path else None,
        )


def check_names(table: str, doc: dict[str, Any], *, doc_id: str | None = None) -> None:
    """Refuse a document holding a key the name rules refuse (``core/limits.py``)."""
    for path, reason in bad_names(doc):
        where = f"document {doc_id} of table {table!r}" if doc_id else f"a document for table {table!r}"
        inside = f" (in {'.'.join(path[:-1])})" if len(path) > 1 else ""
        raise ValidationError(
            f"{where} is invalid: field name {path[-1]!r}{inside} is refused: {reason}",
            table=table,
            field=".".join(path),
            id=doc_id,
        )


def unknown_fields(info: TableInfo, names: Any, *, doc_id: str | None = None) -> ValidationError:
    """A write named fields the model does not have (most often a typo; for a write to an
    existing document ``doc_id``, maybe an id of another table than the one meant)."""
    unknown = sorted(str(n) for n in names)
    where = f"table {info.name!r}"
    if doc_id is not None:
        where = f"{doc_id} is a document of {where} (is it the id you meant?)"
    return ValidationError(
        f"{where}: unknown field{'s' if len(unknown) > 1 else ''} "
        f"{', '.join(map(repr, unknown))}; {info.model.__name__} has "
        f"{', '.join(sorted(info.field_names - set(SYSTEM_FIELDS)))}",
        table=info.name,
        field=unknown[0],
        id=doc_id,
    )


_MODEL_DUMP = pydantic.BaseModel.model_dump


def to_input(info: TableInfo, doc: object, doc_id: str | None = None) -> dict[str, Any]:
    """The plain data of a document given as a model instance or a dict (``doc_id``: the
    document it is to replace, named in errors)."""
    if isinstance(doc, dict):
        if doc.keys() <= info.writable_names:  # the usual case, in one C-level check
            return doc
        for name in SYSTEM_FIELDS:
            if name in doc:
                raise ValidationError(
                    f"table {info.name!r}: {name!r} is set by the database and cannot be written "
                    "(a model_dump() of a stored document holds it: pass the document itself, "
                    "or model_dump(exclude={'id', 'creation_time'}))",
                    table=info.name,
                    field=name,
                )
        if not info.allows_extra and not doc.keys() <= info.input_names:
            raise unknown_fields(info, doc.keys() - info.input_names, doc_id=doc_id)
        return doc
    if isinstance(doc, Document):
        if not isinstance(doc, info.model):
            raise ValidationError(
                f"table {info.name!r} stores {info.model.__name__} documents, "
                f"got a {type(doc).__name__}",
                table=info.name,
            )
        cls = type(doc)
        if cls.model_dump is _MODEL_DUMP:
            # What model_dump() runs, minus its keyword forwarding (~0.6 us per document),
            # and without id and creation_time (named: cheaper than their exclude_if).
            dumped: dict[str, Any] = cls.__pydantic_serializer__.to_python(doc, exclude=_SYSTEM_EXCLUDE)
            return dumped
        return doc.model_dump()
    raise ValidationError(
        f"table {info.name!r}: a document must be a {info.model.__name__} or a dict, "
        f"got {type(doc).__name__}",
        table=info.name,
    )


def encode(
    info: TableInfo, data: dict[str, Any], names: dict[int, str], *, doc_id: str | None = None
) -> tuple[str, Document]:
    """Validate ``data`` against the table's model; return the stored JSON text and the model."""
    # Here and in the decoders, the adapters' pydantic-core validator and serializer are
    # called directly: the TypeAdapter methods only forward their defaults, and that costs
    # a third of a microsecond per call on every document written or read.
    # Documents are stored under field names (what dump_json writes, what indexes and filters
    # read), so fields with an alias must validate by name too: on write (a model's dump, a
    # patch merged into a stored document) and on read (decode_models).
    try:
        model: Document = info.validate_python(data, context={ID_CONTEXT_KEY: names})
    except pydantic.ValidationError as exc:
        if any(e["type"] in _RECURSION_ERRORS for e in exc.errors()):
            check_structure(info.name, data)
        raise validation_error(info.name, exc, doc_id=doc_id) from None
    except RecursionError:
        check_structure(info.name, data)
        raise ValidationError(
            f"a document for table {info.name!r} is nested too deeply", table=info.name
        ) from None
    return _stored(info, model, data, doc_id), model


def encode_many(info: TableInfo, datas: list[dict[str, Any]], names: dict[int, str]) -> list[str]:
    """``[encode(info, d, names)[0] for d in datas]``, validating the list in one pydantic-core
    call (the same model validation, item by item). When some document is invalid, raises
    what ``encode`` raises for the first one; ``ValidationError.args`` then names it, and the
    caller learns its position from ``encode`` itself (see ``Writer.insert_many``)."""
    try:
        models: list[Document] = info.validate_python_list(datas, context={ID_CONTEXT_KEY: names})
    except (pydantic.ValidationError, RecursionError):
        for data in datas:
            encode(info, data, names)  # raises for the first invalid document, as encode does
        raise AssertionError("a list that fails validation has an invalid item") from None
    return [_stored(info, model, data, None) for model, data in zip(models, datas, strict=True)]


def _stored(info: TableInfo, model: Document, data: Any, doc_id: str | None) -> str:
    """The stored JSON text of a validated model, after the checks every write makes."""
    try:
        # id and creation_time never go in the body. Excluding them by name is also faster
        # than letting their exclude_if (a Python callback per field) decide.
        raw = info.adapter.serializer.to_json(model, exclude=_SYSTEM_EXCLUDE)
    except pydantic_core.PydanticSerializationError as exc:
        # Values pydantic accepted as-is (e.g. an `object` field) fail here when too deep.
        check_structure(info.name, data)
        raise ValidationError(
            f"a document for table {info.name!r} cannot be stored as JSON: {exc}", table=info.name
        ) from None
    size = len(raw)
    if size > MAX_DOCUMENT_BYTES:
        raise DocumentTooLarge(
            f"a document for table {info.name!r} is {size} bytes encoded; the limit is "
            f"{MAX_DOCUMENT_BYTES} bytes (1 MiB). Store large data with db.storage instead.",
            table=info.name,
            size=size,
            limit=MAX_DOCUMENT_BYTES,
        )
    # Cheap pre-check: only a document with many brackets can be too deep.
    if raw.count(b"{") + raw.count(b"[") > MAX_DEPTH:
        check_structure(info.name, orjson.loads(raw))
    # Declared names were checked with the schema; only keys no declaration names can break
    # the name rules, and only a document whose text shows a suspect name is walked.
    if info.may_hold_dynamic_names and may_hold_bad_names(raw):
        # Bytes are stored as {"$bytes": ...} objects: check the names of the data with its
        # bytes as bytes, where a user's own "$bytes" key still shows (and is refused).
        data_out = orjson.loads(raw) if b'"$bytes"' not in raw else model_data(info, model)
        check_names(info.name, data_out, doc_id=doc_id)
    # JSON holds integers of any size, but SQLite (indexes, filters) and the JSON reader of
    # as_dicts() stop at 64 bits: refuse larger ones rather than read them back changed.
    # Only a model that can hold an integer needs the scan (a float field stores ints as
    # floats): a 384-float vector is ~8 KB of digits to scan on every write otherwise.
    if info.may_hold_ints and _LONG_DIGITS.search(raw) is not None:
        path = _big_int(json.loads(raw), [])
        if path is not None:
            where = ".".join(path)
            raise ValidationError(
                f"a document for table {info.name!r} is invalid: {where}: integers must fit "
                f"in 64 bits ({INT64_MIN} to {INT64_MAX}); store larger ones as strings",
                table=info.name,
                field=where,
                id=doc_id,
            )
    # pydantic accepts NaN and infinity for floats but writes them to JSON as null, which
    # the model would then refuse on every read; refuse them here instead.
    if info.may_hold_floats:
        path = _non_finite(model, [])
        if path is not None:
            where = ".".join(path)
            raise ValidationError(
                f"a document for table {info.name!r} is invalid: {where}: NaN and infinity "
                "cannot be stored (JSON has no such numbers)",
                table=info.name,
                field=where,
                id=doc_id,
            )
    if info.vector_indexes:
        _check_vectors(info, raw, doc_id)
    # Stored as TEXT: a BLOB would be read by SQLite's JSON functions as JSONB.
    return raw.decode()


def _check_vectors(info: TableInfo, raw: bytes, doc_id: str | None) -> None:
    """Refuse a document whose vector its table's vector indexes cannot hold (wrong length,
    all zeros); a missing or ``None`` vector is fine (the document is not indexed)."""
    found = check_document(tuple(info.vector_indexes.values()), orjson.loads(raw))
    if found is not None:
        where, problem = found
        raise ValidationError(
            f"a document for table {info.name!r} is invalid: {where}: {problem}",
            table=info.name,
            field=where,
            id=doc_id,
        )


def model_data(info: TableInfo, model: Document) -> Any:
    """The stored data of a validated model in Python form (bytes as bytes)."""
    return info.adapter.serializer.to_python(model, exclude=_SYSTEM_EXCLUDE)


_LONG_DIGITS = re.compile(rb"[0-9]{19}")


def _big_int(value: Any, path: list[str]) -> list[str] | None:
    """Path to the first integer outside 64 bits in decoded JSON."""
    if type(value) is int:
        return None if INT64_MIN <= value <= INT64_MAX else path
    items: Any = value.items() if isinstance(value, dict) else (
        enumerate(value) if isinstance(value, list) else ())
    for key, item in items:
        found = _big_int(item, [*path, str(key)])
        if found is not None:
            return found
    return None


def _finite_sum(values: list[Any]) -> bool:
    """Whether ``values`` holds only finite numbers, judged by their sum: any NaN or infinity
    makes it non-finite. ``False`` when unsure (not numbers, or a sum that overflowed): the
    caller then walks the items."""
    try:
        total = sum(values)
    except TypeError:
        return False
    return type(total) in (float, int) and total - total == 0


def _non_finite(value: Any, path: list[str]) -> list[str] | None:
    """Path to the first NaN or infinite float in a validated document (at most MAX_DEPTH deep)."""
    if type(value) is float:
        return None if value - value == 0.0 else path
    if isinstance(value, pydantic.BaseModel):
        items: Any = ((k, v) for k, v in value.__dict__.items() if k not in SYSTEM_FIELDS)
    elif isinstance(value, dict):
        items = value.items()
    elif isinstance(value, list | tuple | set | frozenset):
        if type(value) is list and value and type(value[0]) is float and _finite_sum(value):
            return None  # a vector: checked in one C loop
        items = enumerate(value)
    else:
        return None
    for key, item in items:
        found = _non_finite(item, [*path, str(key)])
        if found is not None:
            return found
    return None


def decode_models(info: TableInfo, rows: Sequence[Row]) -> list[Document]:
    if not rows:
        return []
    number = info.number
    try:
        models: list[Document] = info.validate_json_list("[" + ",".join([r[2] for r in rows]) + "]")
    except TypeError:  # a BLOB row, which another program wrote
        for row in rows:
            stored_dict(info.name, number, row)
        raise
    except pydantic.ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        pos = first["loc"][0] if first.get("loc") else 0
        bad = rows[pos] if isinstance(pos, int) and pos < len(rows) else rows[0]
        decode_model(info, bad)  # raises with the document's own field paths (no list index)
        raise stored_invalid(info, bad, exc) from None
    ids = encode_ids(number, [r[0] for r in rows])
    for model, doc_id, row in zip(models, ids, rows, strict=True):
        # As decode_model does for one: this loop runs once per document read. (The ignore: pyright
        # takes a model's __dict__ for a read-only mapping, microsoft/pyright#11548.)
        d: dict[str, Any] = model.__dict__  # pyright: ignore[reportAssignmentType]
        d["id"] = doc_id
        d["creation_time"] = row[1]
    return models


def decode_model(info: TableInfo, row: Row, doc_id: str | None = None) -> Document:
    """One stored row as a model; ``doc_id``, when the caller has it, saves re-encoding it."""
    if not isinstance(row[2], str):
        stored_dict(info.name, info.number, row)
    try:
        model: Document = info.validate_json(row[2])
    except pydantic.ValidationError as exc:
        raise stored_invalid(info, row, exc) from None
    # Set without validate_assignment overhead: these come from the database itself.
    d: dict[str, Any] = model.__dict__  # pyright: ignore[reportAssignmentType] (microsoft/pyright#11548)
    d["id"] = doc_id or encode_id(info.number, row[0])
    d["creation_time"] = row[1]
    return model


def stored_invalid(info: TableInfo, row: Row, exc: pydantic.ValidationError) -> ValidationError:
    doc_id = encode_id(info.number, row[0])
    err = validation_error(info.name, exc, doc_id=doc_id)
    err.args = (
        f"stored {err.args[0]} (the file holds data the current model does not accept; "
        "see 'Changing your schema' in the docs)",
    )
    return err


def python_filtered(
    info: TableInfo, row: Row, predicates: Sequence[Callable[[Any], Any]]
) -> tuple[int, float, str, Document] | None:
    """The row with its model attached if every predicate holds on it, else ``None``.

    The model is validated once: ``decode_rows`` returns the attached one instead of
    validating the document again for the result.
    """
    model = decode_model(info, row)
    try:
        if all(p(model) for p in predicates):
            return (row[0], row[1], row[2], model)
    except AttributeError as exc:
        # What a misspelt field does to a predicate that runs in Python.
        raise InvalidQuery(
            f"a filter on table {info.name!r} failed on a {info.model.__name__}: {exc}; "
            f"its fields are {', '.join(sorted(info.field_names))}",
            table=info.name,
        ) from exc
    return None


def decode_rows(info: TableInfo, rows: Sequence[Any], dicts: bool) -> list[Any]:
    """A result set as dicts or models, reusing models ``python_filtered`` attached."""
    if dicts:
        return decode_dicts(info, rows)
    # Scanned rows carry index key values after the document; never a model.
    if rows and isinstance(rows[0][-1], Document):
        return [r[-1] for r in rows]
    return decode_models(info, rows)


def decode_dicts(info: TableInfo, rows: Sequence[Row]) -> list[dict[str, Any]]:
    return stored_dicts(info.name, info.number, rows)


def stored_dicts(table: str, number: int, rows: Sequence[Row]) -> list[dict[str, Any]]:
    """Stored rows of table ``table`` (number ``number``) as dicts with ``id`` and
    ``creation_time``, whatever the model says."""
    if not rows:
        return []
    try:
        docs: list[dict[str, Any]] = orjson.loads("[" + ",".join([r[2] for r in rows]) + "]")
        ids = encode_ids(number, [r[0] for r in rows])
        for doc, doc_id, row in zip(docs, ids, rows, strict=True):
            doc["id"] = doc_id
            doc["creation_time"] = row[1]
    except (TypeError, orjson.JSONDecodeError):
        # A row another program wrote: a BLOB, or JSON that is not an object. Find it.
        for row in rows:
            stored_dict(table, number, row)
        raise
    return docs


def index_value(info: TableInfo, path: str, value: Any) -> Any:
    """``value`` as a stored document holds it at field ``path``, to compare in a range or filter
    by the value order (``core/keys.py``).

    JSON values stay as they are (a ``bool`` stays a ``bool``, lists and dicts are compared
    element by element); ``bytes`` become the stored ``{"$bytes": "<hex>"}``. Any other value
    (a datetime, an Enum member, a UUID...) is validated as the field's type and serialized as
    a document stores it (pydantic's JSON mode: a datetime becomes its ISO text, an Enum its
    value). Raises ``ValueError`` naming the problem for NaN (stored as nothing, equal to
    nothing) and for a value the field does not accept.
    """
    kind = type(value)
    if kind is float and value != value:
        raise ValueError(f"cannot compare {path!r} with NaN (it equals nothing, and is never stored)")
    if value is None or kind is str or kind is int or kind is float or kind is bool:
        return value
    if kind is bytes or kind is list or kind is dict:
        try:
            return stored_json(value)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"cannot compare {path!r} with {value!r}: {exc}") from None
    adapter = _field_adapter(info.model, path)
    what = f"cannot compare {path!r} with a {kind.__name__}"
    if adapter is None:
        raise ValueError(
            f"{what}: compare with None, bool, int, float, str, bytes, a list or a dict"
        )
    try:
        stored = adapter.dump_python(adapter.validate_python(value), mode="json", warnings=False)
    except pydantic.ValidationError as exc:
        reason = exc.errors(include_url=False)[0]["msg"]
        raise ValueError(f"{what}: the field does not accept it ({reason})") from None
    except pydantic_core.PydanticSerializationError as exc:
        raise ValueError(f"{what}: it cannot be stored as the field's JSON ({exc})") from None
    return index_value(info, path, stored)


def field_value(info: TableInfo, path: str, stored: Any) -> Any:
    """A value of field ``path`` as a stored document holds it, as the model reads it (a
    datetime field's text as a datetime, a nested model's object as the model); bytes as
    bytes at any depth. Where the path names no declared field, or its type does not take the value (a
    field whose type changed), the stored value itself."""
    value = untag_any(stored)
    adapter = _field_adapter(info.model, path) if value is not None else None
    if adapter is None:
        return value
    try:
        return adapter.validate_python(value)
    except (pydantic.ValidationError, ValueError, TypeError):
        return value


@functools.lru_cache(maxsize=256)
def _field_adapter(model: type[pydantic.BaseModel], path: str) -> pydantic.TypeAdapter[Any] | None:
    """A TypeAdapter for the declared type of field ``path`` of ``model`` (through nested
    models), with its annotated metadata (serializers, constraints); ``None`` if the path names
    no declared field."""
    current: list[Any] = [model]
    found: pydantic.fields.FieldInfo | None = None
    for part in path.split("."):
        fields = [
            m.model_fields[part] for m in current
            if isinstance(m, type) and issubclass(m, pydantic.BaseModel) and part in m.model_fields
        ]
        if not fields:
            return None
        found = fields[0]
        current = [a for f in fields for a in unwrap_annotation(f.annotation)]
    if found is None:
        return None
    annotation: Any = found.annotation
    metadata = found.metadata
    if metadata:
        annotation = typing.Annotated[(annotation, *metadata)]
    return pydantic.TypeAdapter(annotation)


def stored_dict(table: str, number: int, row: Row) -> dict[str, Any]:
    """One stored document as a dict; ``ValidationError`` if the row holds no JSON object
    (written by another program than fusiondb)."""
    raw: Any = row[2]
    if isinstance(raw, str):
        try:
            doc = orjson.loads(raw)
        except orjson.JSONDecodeError:
            doc = None
        if type(doc) is dict:
            return doc
    what = "a BLOB" if isinstance(raw, bytes) else f"{type(raw).__name__} {str(raw)[:40]!r}"
    doc_id = encode_id(number, row[0])
    raise ValidationError(
        f"stored document {doc_id} of table {table!r} is not a JSON object but {what} "
        "(written by another program than fusiondb?): delete it, or rewrite it with "
        "db.replace",
        table=table,
        id=doc_id,
    )
