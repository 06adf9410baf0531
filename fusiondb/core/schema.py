"""The declared schema: document models, tables, indexes and search indexes.

Everything here is pure Python and validated on construction, so a bad name or an index over a
field the model does not have fails when the schema is written, not when it is first used.
"""

from __future__ import annotations

import re
import types
import typing
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Generic, TypeVar, Union

import pydantic
from pydantic import BaseModel, ConfigDict

from .bytesvalues import tag_bytes
from .errors import SchemaError
from .ids import bind_id_table, id_target_of
from .limits import MAX_INDEX_FIELDS, MAX_INDEXES, name_problem
from .vectordef import VectorIndexDef, check_vector_index

NAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,62}$")
FIELD_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
SYSTEM_FIELDS = ("id", "creation_time")
CREATION_INDEX = "by_creation_time"
ID_INDEX = "by_id"


def _is_none(value: object) -> bool:
    return value is None


class Document(BaseModel):
    """Base class of every table's model: a pydantic model that gains ``id`` and ``creation_time``.

    Both are ``None`` on a document you build yourself and are filled in by the database on
    every document it returns. ``model_dump()`` and ``model_dump_json()`` include them when
    they are set (so an API returning documents returns their ids), and leave them out when
    they are ``None``. They are never stored inside the document body: the database writes
    documents with a serializer that leaves them out (``core/tableinfo.py``).
    """

    model_config = ConfigDict(extra="ignore")

    @classmethod
    def __get_pydantic_core_schema__(
        cls, source: type[BaseModel], handler: pydantic.GetCoreSchemaHandler
    ) -> Any:
        # bytes are stored as {"$bytes": "<hex>"} (core/bytesvalues.py).
        return tag_bytes(handler(source))

    id: str | None = pydantic.Field(default=None, exclude_if=_is_none)
    creation_time: float | None = pydantic.Field(default=None, exclude_if=_is_none)


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


def check_case_collisions(names: typing.Iterable[str], existing: typing.Iterable[str] = ()) -> None:
    """Refuse table names that differ only in case (from each other or from ``existing``, the
    tables a file already holds): SQLite does not tell them apart, so they would share one
    table."""
    seen = {n.lower(): n for n in existing}
    for name in names:
        other = seen.get(name.lower())
        if other is not None and other != name:
            raise SchemaError(
                f"table {name!r} differs from table {other!r} only in case; SQLite does not "
                "tell such names apart: choose another name",
                table=name,
                name=name,
            )
        seen.setdefault(name.lower(), name)


def unwrap_annotation(annotation: Any) -> list[Any]:
    """The alternatives of an annotation: ``A | None`` -> [A, None]; Annotated stripped."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return unwrap_annotation(typing.get_args(annotation)[0])
    if origin is Union or origin is types.UnionType:
        out: list[Any] = []
        for arg in typing.get_args(annotation):
            out.extend(unwrap_annotation(arg))
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
            current.extend(unwrap_annotation(f.annotation))
    if parts[0] in SYSTEM_FIELDS:
        raise SchemaError(
            f"table {table!r}: {path!r} is a system field; every index already ends with "
            "creation_time",
            table=table,
            name=path,
        )


def _id_targets(annotation: Any, seen: set[type]) -> list[str | type]:
    """Tables (``Id["tasks"]``) or models (``IdOf[Task]``) referenced anywhere in an
    annotation: unions, containers, nested models."""
    target = id_target_of(annotation)
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
    """An index over ``fields`` (then creation time). ``unique``: no two documents may hold
    the same key, a key holding null (or a missing field) in any position excepted."""

    name: str
    fields: tuple[str, ...]
    unique: bool = False


@dataclass(frozen=True)
class SearchIndexDef:
    name: str
    search_field: str
    filter_fields: tuple[str, ...]


M = TypeVar("M", bound=Document)


@dataclass
class TableDef(Generic[M]):
    """A table's declaration: its model and its indexes. Build with ``fdb.table(Model)``.

    It is also a typed handle on the table, generic in the model: ``db.query(tasks)`` is a
    query of ``Task``s, ``db.insert(tasks, ...)`` returns an ``fdb.IdOf[Task]``.
    """

    model: type[M]
    indexes: dict[str, IndexDef] = field(default_factory=dict)
    search_indexes: dict[str, SearchIndexDef] = field(default_factory=dict)
    vector_indexes: dict[str, VectorIndexDef] = field(default_factory=dict)

    RESERVED_INDEXES: ClassVar[tuple[str, ...]] = (CREATION_INDEX, ID_INDEX)

    def index(self, name: str, fields: Sequence[str], *, unique: bool = False) -> TableDef[M]:
        """Add an index over ``fields`` (compound and dotted paths allowed), then creation time.

        ``unique=True``: a write that would give a second document the same key (the tuple of
        its values of ``fields``, in the index's value order: ``1`` and ``1.0`` are one key)
        raises ``fdb.DuplicateKey``; documents whose key holds null or a missing field are
        exempt, as with SQL's ``UNIQUE``.
        """
        check_name("index", name)
        if not isinstance(unique, bool):
            raise SchemaError(
                f"index {name!r}: unique must be True or False, got {unique!r}", name=name
            )
        self._check_new_index(name)
        self._check_room(name)
        if isinstance(fields, str):
            raise SchemaError(
                f"index {name!r}: fields must be a list, e.g. [{fields!r}]", name=name
            )
        if not fields:
            raise SchemaError(f"index {name!r} needs at least one field", name=name)
        if len(fields) > MAX_INDEX_FIELDS:
            raise SchemaError(
                f"index {name!r} has {len(fields)} fields; an index has at most "
                f"{MAX_INDEX_FIELDS}",
                table=self.model.__name__,
                name=name,
            )
        if len(set(fields)) != len(fields):
            raise SchemaError(f"index {name!r} repeats a field", name=name)
        for path in fields:
            resolve_field_path(self.model, path, table=self.model.__name__)
        indexed = {p for idx in self.indexes.values() for p in idx.fields}
        for path in fields:
            twin = next((p for p in indexed if p.lower() == path.lower() and p != path), None)
            if twin is not None:
                # Index columns are named after their field path, and SQLite ignores case.
                raise SchemaError(
                    f"index {name!r}: field {path!r} differs from the indexed field {twin!r} "
                    "only in case; index one of them, or rename a field",
                    name=name,
                )
        self.indexes[name] = IndexDef(name, tuple(fields), unique)
        return self

    def _check_new_index(self, name: str) -> None:
        others = (*self.RESERVED_INDEXES, *self.indexes, *self.search_indexes, *self.vector_indexes)
        if name in others:
            raise SchemaError(f"index {name!r} is already defined or reserved", name=name)
        # SQLite names are case-insensitive: by_user and By_User would be one SQL index.
        for other in others:
            if other.lower() == name.lower():
                raise SchemaError(
                    f"index {name!r} differs from index {other!r} only in case; SQLite does not "
                    "tell such names apart: choose another name",
                    name=name,
                )

    def _check_room(self, name: str) -> None:
        if len(self.indexes) + len(self.search_indexes) + len(self.vector_indexes) >= MAX_INDEXES:
            raise SchemaError(
                f"index {name!r}: table model {self.model.__name__} already has {MAX_INDEXES} "
                "indexes (search and vector indexes included), the most a table can have",
                table=self.model.__name__,
                name=name,
            )

    def search_index(
        self, name: str, *, search_field: str, filter_fields: Sequence[str] = ()
    ) -> TableDef[M]:
        """Add a full-text search index over ``search_field`` with equality ``filter_fields``."""
        check_name("search index", name)
        self._check_new_index(name)
        self._check_room(name)
        if isinstance(filter_fields, str):
            raise SchemaError(
                f"search index {name!r}: filter_fields must be a list, e.g. [{filter_fields!r}]",
                name=name,
            )
        if len(filter_fields) > MAX_INDEX_FIELDS:
            raise SchemaError(
                f"search index {name!r} has {len(filter_fields)} filter fields; a search index "
                f"has at most {MAX_INDEX_FIELDS}",
                table=self.model.__name__,
                name=name,
            )
        for path in (search_field, *filter_fields):
            resolve_field_path(self.model, path, table=self.model.__name__)
        self.search_indexes[name] = SearchIndexDef(name, search_field, tuple(filter_fields))
        return self

    def vector_index(
        self, name: str, *, vector_field: str, dimensions: int, filter_fields: Sequence[str] = ()
    ) -> TableDef[M]:
        """Add a vector index over ``vector_field`` (a ``list[float]`` of ``dimensions``
        values) with equality ``filter_fields``, for ``db.vector_search`` (docs/vector-search.md)."""
        check_name("vector index", name)
        self._check_new_index(name)
        self._check_room(name)
        if isinstance(filter_fields, str):
            raise SchemaError(
                f"vector index {name!r}: filter_fields must be a list, e.g. [{filter_fields!r}]",
                name=name,
            )
        for path in (vector_field, *filter_fields):
            resolve_field_path(self.model, path, table=self.model.__name__)
        index = VectorIndexDef(name, vector_field, dimensions, tuple(filter_fields))
        check_vector_index(self.model, self.model.__name__, index)
        self.vector_indexes[name] = index
        return self


def table(model: type[M]) -> TableDef[M]:
    """Declare a table whose documents are instances of ``model`` (a ``fdb.Document``)."""
    if not (isinstance(model, type) and issubclass(model, Document)) or model is Document:
        raise SchemaError(
            f"fdb.table() takes a subclass of fdb.Document, got {model!r}",
        )
    _check_declared_names(model)
    return TableDef(model)


def _check_declared_names(model: type[Document]) -> None:
    """Refuse a model that redeclares a system field (the database would overwrite its value
    on every read) or declares a name the name rules refuse, in it or in a nested model."""
    for cls in model.__mro__:
        if cls is Document or not (isinstance(cls, type) and issubclass(cls, Document)):
            continue
        for name in SYSTEM_FIELDS:
            if name in vars(cls).get("__annotations__", {}):
                raise SchemaError(
                    f"model {model.__name__}: field {name!r} is reserved: "
                    f"{' and '.join(map(repr, SYSTEM_FIELDS))} are set by the database on every "
                    "document it returns; rename the field",
                    table=model.__name__,
                    name=name,
                )
    seen: set[type] = set()
    stack: list[tuple[type[BaseModel], str]] = [(model, "")]
    while stack:
        current, prefix = stack.pop()
        if current in seen:
            continue
        seen.add(current)
        for fname, finfo in current.model_fields.items():
            reason = name_problem(fname, top_level=current is model)
            if reason is not None and not (current is model and fname in SYSTEM_FIELDS):
                raise SchemaError(
                    f"model {model.__name__}: field {prefix + fname!r} is refused: {reason}",
                    table=model.__name__,
                    name=prefix + fname,
                )
            stack.extend(
                (m, f"{prefix}{fname}.")
                for m in _unwrap_all(finfo.annotation)
                if isinstance(m, type) and issubclass(m, BaseModel)
            )


def _unwrap_all(annotation: Any) -> list[Any]:
    """Every type an annotation mentions: unions, containers (``list[Address]``), Annotated."""
    if id_target_of(annotation) is not None:
        return [annotation]
    out = [annotation]
    for arg in typing.get_args(annotation):
        out.extend(_unwrap_all(arg))
    return out


class Schema:
    """The whole declared schema: ``fdb.Schema(tasks=fdb.table(Task), ...)``."""

    def __init__(self, **tables: TableDef[Any]) -> None:
        for name, tdef in tables.items():
            check_name("table", name)
            if not isinstance(tdef, TableDef):
                raise SchemaError(
                    f"table {name!r}: expected fdb.table(Model), got {tdef!r}", table=name
                )
        self.tables: dict[str, TableDef[Any]] = dict(tables)
        check_case_collisions(self.tables)
        self._check_references()

    def _check_references(self) -> None:
        for name, tdef in self.tables.items():
            for fname, finfo in tdef.model.model_fields.items():
                for found in _id_targets(finfo.annotation, set()):
                    target = found if isinstance(found, str) else self._table_of(found, name, fname)
                    if not target.startswith("_") and target not in self.tables:
                        raise SchemaError(
                            f"table {name!r}: field {fname!r} references table {target!r}, "
                            "which the schema does not declare",
                            table=name,
                            name=fname,
                        )

    def _table_of(self, model: type, table: str, fname: str) -> str:
        """The table an ``IdOf[model]`` field names: the one table of this schema whose model
        is ``model`` (remembered for validating ids)."""
        names = [n for n, t in self.tables.items() if t.model is model]
        if len(names) != 1:
            which = "no table" if not names else f"tables {names}"
            raise SchemaError(
                f"table {table!r}: field {fname!r} is an IdOf[{model.__name__}], but {which} of "
                f"the schema has model {model.__name__}: declare it once, or use "
                f"Annotated[str, fdb.Id['table']]",
                table=table,
                name=fname,
            )
        other = bind_id_table(model, names[0])
        if other is not None:
            raise SchemaError(
                f"table {table!r}: field {fname!r}: IdOf[{model.__name__}] already names table "
                f"{other!r} of another schema; ids of a model name one table",
                table=table,
                name=fname,
            )
        return names[0]

    def __repr__(self) -> str:
        return f"Schema({', '.join(self.tables)})"
