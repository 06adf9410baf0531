"""``TableInfo``: a table of an open database, as the layers above the schema use it.

A declared ``TableDef`` says what the user wants; a ``TableInfo`` adds what the open database
decided (the table's number, whether it is a system table) and what every read and write
needs at hand, built once: the model's pydantic-core validators, the field names a write may
use, and the ``KeyLayout`` write sets record documents with. It holds no SQL: the engine
keeps its own statements per table.
"""

from __future__ import annotations

import functools
import weakref
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from pydantic import TypeAdapter
from pydantic.json_schema import GenerateJsonSchema
from pydantic_core import CoreSchema

from .keys import KeyLayout
from .schema import SYSTEM_FIELDS, Document, IndexDef, SearchIndexDef
from .vectordef import VectorIndexDef

_CONSTRAINED = ("type", "$ref", "anyOf", "oneOf", "allOf", "enum", "const")


def may_hold_floats(stored: CoreSchema) -> bool:
    """Whether a stored document can hold a float anywhere (a float field, or an untyped one
    such as ``Any``), judged from the JSON schema of ``stored`` (the model's core schema less
    ``id`` and ``creation_time``, which are not stored in the body); ``True`` when unsure.
    Writes check such documents for NaN and infinity, which JSON cannot hold."""
    return _schema_may(stored, _is_number)


def may_hold_ints(stored: CoreSchema) -> bool:
    """Whether a stored document can hold an integer anywhere (an int field, or an untyped
    one); ``True`` when unsure. Writes check such documents for integers beyond 64 bits
    (pydantic stores a float field's value as a float, so ``list[float]`` holds none)."""
    return _schema_may(stored, _is_integer)


def may_hold_dynamic_names(stored: CoreSchema) -> bool:
    """Whether a stored document can hold object keys its declaration does not name (a dict
    field, an untyped one, a model with ``extra="allow"``); ``True`` when unsure. Writes
    check the names of such documents (declared names were checked with the schema)."""
    return _schema_may(stored, _has_open_keys)


def composite_paths(stored: CoreSchema | None, paths: Iterable[str]) -> frozenset[str]:
    """Which of the field ``paths`` may hold an array or an object (not counting bytes),
    judged from the stored JSON schema; unsure counts as yes. Their index columns encode
    arrays and objects with fusiondb's SQL function (``engine/sqlite/ddl.py``)."""
    paths = list(paths)
    if stored is None:
        return frozenset(paths)
    try:
        schema = GenerateJsonSchema().generate(stored, mode="serialization")
    except Exception:
        return frozenset(paths)
    return frozenset(p for p in paths if _path_may(schema, p.split("."), _is_composite))


def path_may_hold_numbers(model: type[Document], path: str) -> bool:
    """Whether field ``path`` of ``model``'s stored documents may hold a number (an int or
    float field, an untyped one, a union with one); ``True`` when unsure."""
    return _may_hold_numbers(model, path)


@functools.lru_cache(maxsize=256)
def _may_hold_numbers(model: type[Document], path: str) -> bool:
    stored = _model_tools(model).stored
    if stored is None:
        return True
    try:
        schema = GenerateJsonSchema().generate(stored, mode="serialization")
    except Exception:
        return True
    return _path_may(schema, path.split("."), _is_numeric)


def _is_composite(node: dict[str, Any]) -> bool:
    kind = node.get("type")
    kinds = kind if isinstance(kind, list) else [kind]
    return "array" in kinds or "object" in kinds or "prefixItems" in node


def _is_numeric(node: dict[str, Any]) -> bool:
    kind = node.get("type")
    kinds = kind if isinstance(kind, list) else [kind]
    if "number" in kinds or "integer" in kinds:
        return True
    choices = [*node.get("enum", ()), *([node["const"]] if "const" in node else [])]
    return any(type(v) in (int, float) for v in choices)


def _path_may(
    schema: dict[str, Any], parts: list[str], leaf: Callable[[dict[str, Any]], bool]
) -> bool:
    """Whether a value at ``parts`` may be one ``leaf`` accepts (a node with no constraint:
    any value, yes)."""
    defs: dict[str, Any] = schema.get("$defs", {})

    def resolve(node: Any, seen: frozenset[str]) -> list[Any]:
        """The alternatives a node stands for (references and unions unfolded)."""
        if not isinstance(node, dict):
            return [node]
        ref = node.get("$ref")
        if isinstance(ref, str):
            name = ref.rsplit("/", 1)[-1]
            return [True] if name in seen else resolve(defs.get(name, True), seen | {name})
        for key in ("anyOf", "oneOf", "allOf"):
            if key in node:
                return [a for n in node[key] for a in resolve(n, seen)]
        return [node]

    nodes = resolve(schema, frozenset())
    for part in parts:
        inner: list[Any] = []
        for node in nodes:
            if not isinstance(node, dict) or not any(k in node for k in _CONSTRAINED):
                return True  # any value
            if part in node.get("properties", {}):
                inner.extend(resolve(node["properties"][part], frozenset()))
            elif node.get("additionalProperties", False) is not False:
                inner.extend(resolve(node["additionalProperties"], frozenset()))
        nodes = inner
    for node in nodes:
        if not isinstance(node, dict) or not any(k in node for k in _CONSTRAINED):
            return True
        if leaf(node):
            return True
    return False


def _is_number(node: dict[str, Any]) -> bool:
    kind = node.get("type")
    return kind == "number" or (isinstance(kind, list) and "number" in kind)


def _is_integer(node: dict[str, Any]) -> bool:
    kind = node.get("type")
    return kind == "integer" or (isinstance(kind, list) and "integer" in kind)


def _has_open_keys(node: dict[str, Any]) -> bool:
    return node.get("additionalProperties", False) is not False or "patternProperties" in node


def _schema_may(stored: CoreSchema, leaf: Callable[[dict[str, Any]], bool]) -> bool:
    """Whether some node of the stored (serialization) JSON schema of ``stored`` satisfies
    ``leaf``, an unconstrained node (any value) counting as yes; ``True`` when unsure."""
    try:
        schema = GenerateJsonSchema().generate(stored, mode="serialization")
    except Exception:
        return True
    defs: dict[str, Any] = schema.get("$defs", {})
    seen: set[str] = set()

    def holds(node: Any) -> bool:
        if node is True:
            return True
        if not isinstance(node, dict):
            return False
        if leaf(node):
            return True
        ref = node.get("$ref")
        if isinstance(ref, str):
            name = ref.rsplit("/", 1)[-1]
            if name not in seen:
                seen.add(name)
                if holds(defs.get(name, True)):
                    return True
        for key in ("anyOf", "oneOf", "allOf", "prefixItems"):
            if any(holds(n) for n in node.get(key, ())):
                return True
        for key in ("items", "additionalProperties"):
            if key in node and holds(node[key]):
                return True
        if any(holds(n) for n in node.get("properties", {}).values()):
            return True
        return not any(k in node for k in _CONSTRAINED)  # unconstrained: any value

    return holds(schema)


def _has_alias(core_schema: Any) -> bool:
    """Whether any field in a pydantic core schema (nested models included) has an alias."""
    stack = [core_schema]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            if node.get("validation_alias") is not None and node.get("type") in (
                "model-field", "typed-dict-field", "dataclass-field"
            ):
                return True
            stack.extend(node.values())
        elif isinstance(node, list | tuple):
            stack.extend(node)
    return False


def _fields_excluded(node: Any) -> Any:
    """A copy of a model's inner schema whose fields leave out ``id`` and ``creation_time``."""
    if node["type"] == "model-fields":
        fields = dict(node["fields"])
        for name in SYSTEM_FIELDS:
            field_schema = {k: v for k, v in fields[name].items() if k != "serialization_exclude_if"}
            fields[name] = {**field_schema, "serialization_exclude": True}
        return {**node, "fields": fields}
    wrapped = node.get("schema")  # e.g. a model validator around the fields
    if isinstance(wrapped, dict):
        new = _fields_excluded(wrapped)
        return None if new is None else {**node, "schema": new}
    return None


def _without_system_fields(node: Any, model: type[Document]) -> Any:
    """A copy of the core schema ``node`` whose schema of ``model`` leaves ``id`` and
    ``creation_time`` out of what it serializes (what is stored; they have columns of their
    own); ``None`` if its shape is not understood.

    Only for working out JSON schemas: pydantic-core serializes a model with the class's own
    prebuilt serializer whatever schema it is given.
    """
    if node["type"] == "model" and node["cls"] is model:
        inner = _fields_excluded(node["schema"])
        return None if inner is None else {**node, "schema": inner}
    if node["type"] == "definitions":
        # A recursive model: the top is a reference into the definitions.
        top = node["schema"]
        ref = top.get("schema_ref") if top["type"] == "definition-ref" else None
        if ref is None:
            new_top = _without_system_fields(top, model)
            return None if new_top is None else {**node, "schema": new_top}
        defs = list(node["definitions"])
        for i, definition in enumerate(defs):
            if definition.get("ref") == ref:
                new_def = _without_system_fields(definition, model)
                if new_def is None:
                    return None
                defs[i] = new_def
                return {**node, "definitions": defs}
        return None
    wrapped = node.get("schema")  # e.g. a wrap validator around the model
    if isinstance(wrapped, dict):
        new_wrapped = _without_system_fields(wrapped, model)
        return None if new_wrapped is None else {**node, "schema": new_wrapped}
    return None


@dataclass(frozen=True)
class _ModelTools:
    """What every ``TableInfo`` of one model class shares, built once per class."""

    adapter: TypeAdapter[Any]
    list_adapter: TypeAdapter[Any]
    may_hold_floats: bool
    may_hold_ints: bool
    by_name: bool | None
    may_hold_dynamic_names: bool
    stored: CoreSchema | None


# Per model class: building adapters costs milliseconds, and an ephemeral database per test
# opens the same schema over and over.
_MODEL_CACHE: weakref.WeakKeyDictionary[type[Document], _ModelTools] = weakref.WeakKeyDictionary()


def _model_tools(model: type[Document]) -> _ModelTools:
    cached = _MODEL_CACHE.get(model)
    if cached is None:
        adapter: TypeAdapter[Any] = TypeAdapter(model)
        stored = _without_system_fields(adapter.core_schema, model)
        cached = _ModelTools(
            adapter,
            TypeAdapter(list[model]),  # type: ignore[valid-type]
            may_hold_floats(stored) if stored is not None else True,
            may_hold_ints(stored) if stored is not None else True,
            True if _has_alias(adapter.core_schema) else None,
            may_hold_dynamic_names(stored) if stored is not None else True,
            stored,
        )
        _MODEL_CACHE[model] = cached
    return cached


@dataclass
class TableInfo:
    """A table of an open database: its declaration plus its number and validators."""

    name: str
    number: int
    model: type[Document]
    indexes: dict[str, IndexDef]
    search_indexes: dict[str, SearchIndexDef]
    system: bool = False
    vector_indexes: dict[str, VectorIndexDef] = field(default_factory=dict)
    adapter: TypeAdapter[Any] = field(init=False, repr=False)
    list_adapter: TypeAdapter[Any] = field(init=False, repr=False)
    # Keys a stored document may hold that are no field of the model (fields removed from
    # it) are kept by patch() when the model ignores extras; see Writer.patch.
    field_names: frozenset[str] = field(init=False, repr=False)
    # Keys a write may use (names and aliases): an unknown key is a typo to report, not to
    # drop silently, unless the model allows extras.
    input_names: frozenset[str] = field(init=False, repr=False)
    # input_names less the system fields: a dict whose keys are all in it needs no more checks.
    writable_names: frozenset[str] = field(init=False, repr=False)
    allows_extra: bool = field(init=False, repr=False)
    ignores_extra: bool = field(init=False, repr=False)
    may_hold_floats: bool = field(init=False, repr=False)
    may_hold_ints: bool = field(init=False, repr=False)
    # Whether writes must check the document's object keys (core/limits.py name rules).
    may_hold_dynamic_names: bool = field(init=False, repr=False)
    # ``by_name`` for validating stored or written data: True when some field has an alias
    # (documents are stored under field names); None (pydantic's default) otherwise, because
    # asking to validate by name costs ~0.3 us per call even when there is no alias.
    validate_by_name: bool | None = field(init=False, repr=False)
    validate_python: Callable[..., Any] = field(init=False, repr=False, compare=False)
    validate_json: Callable[..., Any] = field(init=False, repr=False, compare=False)
    validate_json_list: Callable[..., Any] = field(init=False, repr=False, compare=False)
    validate_python_list: Callable[..., Any] = field(init=False, repr=False, compare=False)
    # Indexed fields whose type may hold an array or object (their index columns encode them).
    composite: frozenset[str] = field(init=False, repr=False, compare=False)
    # How write sets record this table's documents (keys.KeyLayout), built once.
    layout: KeyLayout = field(init=False, repr=False, compare=False)
    # The unique indexes, in declaration order (a write that takes a key of one is refused).
    unique_indexes: tuple[IndexDef, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        tools = _model_tools(self.model)
        self.adapter, self.list_adapter = tools.adapter, tools.list_adapter
        self.may_hold_floats = tools.may_hold_floats
        self.may_hold_ints = tools.may_hold_ints
        self.validate_by_name = tools.by_name
        self.may_hold_dynamic_names = tools.may_hold_dynamic_names
        # The pydantic-core calls of the hot paths, with by_name bound only when it is True:
        # even by_name=None costs ~0.1 us a call in keyword handling.
        one, many = self.adapter.validator, self.list_adapter.validator
        if self.validate_by_name:
            self.validate_python = functools.partial(one.validate_python, by_name=True)
            self.validate_json = functools.partial(one.validate_json, by_name=True)
            self.validate_json_list = functools.partial(many.validate_json, by_name=True)
            self.validate_python_list = functools.partial(many.validate_python, by_name=True)
        else:
            self.validate_python = one.validate_python
            self.validate_json = one.validate_json
            self.validate_json_list = many.validate_json
            self.validate_python_list = many.validate_python
        fields = self.model.model_fields
        self.field_names = frozenset(fields)
        aliases = {
            a for f in fields.values() for a in (f.alias, f.validation_alias) if isinstance(a, str)
        }
        self.input_names = self.field_names | aliases
        self.writable_names = self.input_names - set(SYSTEM_FIELDS)
        self.allows_extra = self.model.model_config.get("extra") == "allow"
        self.ignores_extra = self.model.model_config.get("extra", "ignore") == "ignore"
        self.composite = composite_paths(
            tools.stored, sorted({f for i in self.indexes.values() for f in i.fields})
        )
        self.unique_indexes = tuple(i for i in self.indexes.values() if i.unique)
        self.layout = KeyLayout.build(
            ((i.name, i.fields) for i in self.indexes.values()), self.search_indexes
        )
