"""The declared schema: document models, tables, indexes and search indexes.

Everything here is pure Python and validated on construction, so a bad name or an index over a
field the model does not have fails when the schema is written, not when it is first used.
"""

from __future__ import annotations

import functools
import re
import types
import typing
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Union

import pydantic
from pydantic import BaseModel, ConfigDict, TypeAdapter

from .errors import SchemaError
from .ids import id_table_of
from .keys import KeyLayout

NAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,62}$")
FIELD_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
SYSTEM_FIELDS = ("id", "creation_time")
CREATION_INDEX = "by_creation_time"
ID_INDEX = "by_id"


class Document(BaseModel):
    """Base class of every table's model: a pydantic model that gains ``id`` and ``creation_time``.

    Both are ``None`` on a document you build yourself and are filled in by the database on
    every document it returns. They are never stored inside the document body.
    """

    model_config = ConfigDict(extra="ignore")

    id: str | None = pydantic.Field(default=None, exclude=True)
    creation_time: float | None = pydantic.Field(default=None, exclude=True)


def check_name(kind: str, name: str, *, system_ok: bool = False) -> str:
    """Validate a table or index name; SQL identifiers are only ever built from these."""
    if not isinstance(name, str):
        raise SchemaError(f"{kind} name must be a string, got {type(name).__name__}", name=str(name))
    if system_ok and name.startswith("_") and NAME_RE.match(name[1:]):
        return name
    if name.startswith("_"):
        raise SchemaError(
            f"{kind} name {name!r} is reserved: names starting with '_' belong to fusiondb",
            name=name,
        )
    if not NAME_RE.match(name):
        raise SchemaError(
            f"invalid {kind} name {name!r}: use a letter followed by letters, digits or '_' "
            "(at most 63 characters)",
            name=name,
        )
    # SQLite reserves sqlite_* object names; refuse the whole prefix, in any case, here
    # rather than let CREATE TABLE fail with a driver error on open.
    if name.lower().startswith("sqlite"):
        raise SchemaError(
            f"{kind} name {name!r} is reserved: names starting with 'sqlite' belong to SQLite",
            name=name,
        )
    return name


def _unwrap(annotation: Any) -> list[Any]:
    """The alternatives of an annotation: ``A | None`` -> [A, None]; Annotated stripped."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _unwrap(typing.get_args(annotation)[0])
    if origin is Union or origin is types.UnionType:
        out: list[Any] = []
        for arg in typing.get_args(annotation):
            out.extend(_unwrap(arg))
        return out
    return [annotation]


def resolve_field_path(model: type[BaseModel], path: str, *, table: str) -> None:
    """Check that a dotted path names a field of the model (through nested models)."""
    parts = path.split(".")
    current: list[Any] = [model]
    for i, part in enumerate(parts):
        if not FIELD_RE.match(part):
            raise SchemaError(f"invalid field name {part!r} in {path!r}", table=table, name=path)
        models = [
            m for m in current if isinstance(m, type) and issubclass(m, BaseModel)
        ]
        found = [m.model_fields[part] for m in models if part in m.model_fields]
        if not found:
            where = ".".join(parts[:i]) or "the model"
            raise SchemaError(
                f"table {table!r}: index field {path!r} does not exist ({part!r} not in {where})",
                table=table,
                name=path,
            )
        current = []
        for f in found:
            current.extend(_unwrap(f.annotation))
    if parts[0] in SYSTEM_FIELDS:
        raise SchemaError(
            f"table {table!r}: {path!r} is a system field; every index already ends with "
            "creation_time",
            table=table,
            name=path,
        )


def _id_targets(annotation: Any, seen: set[type]) -> list[str]:
    """Tables named by ``Id[...]`` anywhere in an annotation: unions, containers, nested models."""
    target = id_table_of(annotation)
    if target is not None:
        return [target]
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        if annotation in seen:  # self-referencing models
            return []
        seen.add(annotation)
        return [
            t for f in annotation.model_fields.values() for t in _id_targets(f.annotation, seen)
        ]
    return [t for arg in typing.get_args(annotation) for t in _id_targets(arg, seen)]


@dataclass(frozen=True)
class IndexDef:
    name: str
    fields: tuple[str, ...]


@dataclass(frozen=True)
class SearchIndexDef:
    name: str
    search_field: str
    filter_fields: tuple[str, ...]


@dataclass
class TableDef:
    """A table's declaration: its model and its indexes. Build with ``fdb.table(Model)``."""

    model: type[Document]
    indexes: dict[str, IndexDef] = field(default_factory=dict)
    search_indexes: dict[str, SearchIndexDef] = field(default_factory=dict)

    RESERVED_INDEXES: ClassVar[tuple[str, ...]] = (CREATION_INDEX, ID_INDEX)

    def index(self, name: str, fields: Sequence[str]) -> TableDef:
        """Add an index over ``fields`` (compound and dotted paths allowed), then creation time."""
        check_name("index", name)
        if name in self.RESERVED_INDEXES or name in self.indexes or name in self.search_indexes:
            raise SchemaError(f"index {name!r} is already defined or reserved", name=name)
        if isinstance(fields, str):
            raise SchemaError(
                f"index {name!r}: fields must be a list, e.g. [{fields!r}]", name=name
            )
        if not fields:
            raise SchemaError(f"index {name!r} needs at least one field", name=name)
        if len(set(fields)) != len(fields):
            raise SchemaError(f"index {name!r} repeats a field", name=name)
        for path in fields:
            resolve_field_path(self.model, path, table=self.model.__name__)
        self.indexes[name] = IndexDef(name, tuple(fields))
        return self

    def search_index(
        self, name: str, *, search_field: str, filter_fields: Sequence[str] = ()
    ) -> TableDef:
        """Add a full-text search index over ``search_field`` with equality ``filter_fields``."""
        check_name("search index", name)
        if name in self.RESERVED_INDEXES or name in self.indexes or name in self.search_indexes:
            raise SchemaError(f"index {name!r} is already defined or reserved", name=name)
        for path in (search_field, *filter_fields):
            resolve_field_path(self.model, path, table=self.model.__name__)
        self.search_indexes[name] = SearchIndexDef(name, search_field, tuple(filter_fields))
        return self


def table(model: type[Document]) -> TableDef:
    """Declare a table whose documents are instances of ``model`` (a ``fdb.Document``)."""
    if not (isinstance(model, type) and issubclass(model, Document)) or model is Document:
        raise SchemaError(
            f"fdb.table() takes a subclass of fdb.Document, got {model!r}",
        )
    return TableDef(model)


_MODEL_CACHE: weakref.WeakKeyDictionary[type[Document], tuple[TypeAdapter[Any], TypeAdapter[Any], bool]] = (
    weakref.WeakKeyDictionary()
)
_CONSTRAINED = ("type", "$ref", "anyOf", "oneOf", "allOf", "enum", "const")


def may_hold_floats(model: type[BaseModel]) -> bool:
    """Whether a document of ``model`` can hold a float anywhere (a float field, or an
    untyped one such as ``Any``), judged from its JSON schema; ``True`` when unsure. Writes
    check such documents for NaN and infinity, which JSON cannot hold."""
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
        kind = node.get("type")
        if kind == "number" or (isinstance(kind, list) and "number" in kind):
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


_BY_NAME: weakref.WeakKeyDictionary[type[Document], bool | None] = weakref.WeakKeyDictionary()


def _validate_by_name(model: type[Document], adapter: TypeAdapter[Any]) -> bool | None:
    """True when some field has an alias, else None; worked out once per model class."""
    try:
        return _BY_NAME[model]
    except KeyError:
        found = _BY_NAME[model] = True if _has_alias(adapter.core_schema) else None
        return found


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


@dataclass
class TableInfo:
    """A table of an open database: declaration plus what SQL needs (number, column names)."""

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
    # ``by_name`` for validating stored or written data: True when some field has an alias
    # (documents are stored under field names); None (pydantic's default) otherwise, because
    # asking to validate by name costs ~0.3 us per call even when there is no alias.
    validate_by_name: bool | None = field(init=False, repr=False)
    validate_python: Callable[..., Any] = field(init=False, repr=False, compare=False)
    validate_json: Callable[..., Any] = field(init=False, repr=False, compare=False)
    validate_json_list: Callable[..., Any] = field(init=False, repr=False, compare=False)
    # How write sets record this table's documents (keys.KeyLayout), built once.
    layout: KeyLayout = field(init=False, repr=False, compare=False)
    # The per-document statements' SQL text (transaction.py), built once.
    sql_get: str = field(init=False, repr=False, compare=False)
    sql_insert: str = field(init=False, repr=False, compare=False)
    sql_update: str = field(init=False, repr=False, compare=False)
    sql_delete: str = field(init=False, repr=False, compare=False)
    sql_max_ct: str = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # Built once per model class, not per open: building them costs milliseconds, and
        # an ephemeral database per test opens the same schema over and over.
        cached = _MODEL_CACHE.get(self.model)
        if cached is None:
            cached = (
                TypeAdapter(self.model),
                TypeAdapter(list[self.model]),  # type: ignore[name-defined]
                may_hold_floats(self.model),
            )
            _MODEL_CACHE[self.model] = cached
        self.adapter, self.list_adapter, self.may_hold_floats = cached
        self.validate_by_name = _validate_by_name(self.model, self.adapter)
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
        if '"' in self.name or "\x00" in self.name:  # as ddl.quote (which imports this module)
            raise ValueError(f"unsafe identifier {self.name!r}")
        q = f'"{self.name}"'
        self.sql_get = f"SELECT creation_time, doc FROM {q} WHERE _id = ?"
        self.sql_insert = f"INSERT INTO {q}(creation_time, doc) VALUES (?, ?)"
        self.sql_update = f"UPDATE {q} SET doc = ? WHERE _id = ?"
        self.sql_delete = f"DELETE FROM {q} WHERE _id = ?"
        self.sql_max_ct = f"SELECT max(creation_time) FROM {q}"

    @property
    def index_fields(self) -> list[str]:
        """Every field path any index of this table covers, in a stable order."""
        seen: dict[str, None] = {}
        for idx in self.indexes.values():
            for f in idx.fields:
                seen[f] = None
        return list(seen)


class Schema:
    """The whole declared schema: ``fdb.Schema(tasks=fdb.table(Task), ...)``."""

    def __init__(self, **tables: TableDef) -> None:
        for name, tdef in tables.items():
            check_name("table", name)
            if not isinstance(tdef, TableDef):
                raise SchemaError(
                    f"table {name!r}: expected fdb.table(Model), got {tdef!r}", table=name
                )
        self.tables: dict[str, TableDef] = dict(tables)
        self._check_references()

    def _check_references(self) -> None:
        for name, tdef in self.tables.items():
            for fname, finfo in tdef.model.model_fields.items():
                for target in _id_targets(finfo.annotation, set()):
                    if not target.startswith("_") and target not in self.tables:
                        raise SchemaError(
                            f"table {name!r}: field {fname!r} references table {target!r}, "
                            "which the schema does not declare",
                            table=name,
                            name=fname,
                        )

    def __repr__(self) -> str:
        return f"Schema({', '.join(self.tables)})"
