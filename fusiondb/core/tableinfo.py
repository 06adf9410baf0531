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
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, TypeAdapter

from .keys import KeyLayout
from .schema import SYSTEM_FIELDS, Document, IndexDef, SearchIndexDef

# Per model class: building adapters costs milliseconds, and an ephemeral database per test
# opens the same schema over and over.
_MODEL_CACHE: weakref.WeakKeyDictionary[
    type[Document], tuple[TypeAdapter[Any], TypeAdapter[Any], bool, bool | None, bool]
] = weakref.WeakKeyDictionary()
_CONSTRAINED = ("type", "$ref", "anyOf", "oneOf", "allOf", "enum", "const")


def may_hold_floats(model: type[BaseModel]) -> bool:
    """Whether a document of ``model`` can hold a float anywhere (a float field, or an
    untyped one such as ``Any``), judged from its JSON schema; ``True`` when unsure. Writes
    check such documents for NaN and infinity, which JSON cannot hold."""
    return _schema_may(model, _is_number)


def may_hold_dynamic_names(model: type[BaseModel]) -> bool:
    """Whether a document of ``model`` can hold object keys its declaration does not name (a
    dict field, an untyped one, a model with ``extra="allow"``); ``True`` when unsure. Writes
    check the names of such documents (declared names were checked with the schema)."""
    return _schema_may(model, _has_open_keys)


def _is_number(node: dict[str, Any]) -> bool:
    kind = node.get("type")
    return kind == "number" or (isinstance(kind, list) and "number" in kind)


def _has_open_keys(node: dict[str, Any]) -> bool:
    return node.get("additionalProperties", False) is not False or "patternProperties" in node


def _schema_may(model: type[BaseModel], leaf: Callable[[dict[str, Any]], bool]) -> bool:
    """Whether some node of the model's stored (serialization) JSON schema satisfies ``leaf``,
    an unconstrained node (any value) counting as yes; ``True`` when unsure."""
    try:
        schema = model.model_json_schema(mode="serialization")  # what is stored
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


def _model_tools(
    model: type[Document],
) -> tuple[TypeAdapter[Any], TypeAdapter[Any], bool, bool | None, bool]:
    """(adapter, list adapter, may hold floats, by_name, may hold dynamic names) for
    ``model``, built once per class."""
    cached = _MODEL_CACHE.get(model)
    if cached is None:
        adapter: TypeAdapter[Any] = TypeAdapter(model)
        cached = (
            adapter,
            TypeAdapter(list[model]),  # type: ignore[valid-type]
            may_hold_floats(model),
            True if _has_alias(adapter.core_schema) else None,
            may_hold_dynamic_names(model),
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
    # Whether writes must check the document's object keys (core/limits.py name rules).
    may_hold_dynamic_names: bool = field(init=False, repr=False)
    # ``by_name`` for validating stored or written data: True when some field has an alias
    # (documents are stored under field names); None (pydantic's default) otherwise, because
    # asking to validate by name costs ~0.3 us per call even when there is no alias.
    validate_by_name: bool | None = field(init=False, repr=False)
    validate_python: Callable[..., Any] = field(init=False, repr=False, compare=False)
    validate_json: Callable[..., Any] = field(init=False, repr=False, compare=False)
    validate_json_list: Callable[..., Any] = field(init=False, repr=False, compare=False)
    # How write sets record this table's documents (keys.KeyLayout), built once.
    layout: KeyLayout = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        (
            self.adapter, self.list_adapter, self.may_hold_floats, self.validate_by_name,
            self.may_hold_dynamic_names,
        ) = _model_tools(self.model)
        # The pydantic-core calls of the hot paths, with by_name bound only when it is True:
        # even by_name=None costs ~0.1 us a call in keyword handling.
        one, many = self.adapter.validator, self.list_adapter.validator
        if self.validate_by_name:
            self.validate_python = functools.partial(one.validate_python, by_name=True)
            self.validate_json = functools.partial(one.validate_json, by_name=True)
            self.validate_json_list = functools.partial(many.validate_json, by_name=True)
        else:
            self.validate_python = one.validate_python
            self.validate_json = one.validate_json
            self.validate_json_list = many.validate_json
        fields = self.model.model_fields
        self.field_names = frozenset(fields)
        aliases = {
            a for f in fields.values() for a in (f.alias, f.validation_alias) if isinstance(a, str)
        }
        self.input_names = self.field_names | aliases
        self.writable_names = self.input_names - set(SYSTEM_FIELDS)
        self.allows_extra = self.model.model_config.get("extra") == "allow"
        self.ignores_extra = self.model.model_config.get("extra", "ignore") == "ignore"
        self.layout = KeyLayout.build(
            ((i.name, i.fields) for i in self.indexes.values()), self.search_indexes
        )
