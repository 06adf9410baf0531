"""Opening a file with the schema it stores, for tools that do not have the application's code.

The catalog keeps each table's model as JSON Schema (``catalog.py``), its indexes and search
indexes. ``stored_schema`` rebuilds an ``fdb.Schema`` from them: one pydantic model per table,
made with ``create_model`` from the JSON Schema, so the command line and ``fdb.open_stored``
can query, watch and import into any fusiondb file.

What a rebuilt model checks is what JSON Schema says: field names, types (strings, numbers,
booleans, null, lists, dicts, nested models, ``Literal`` values, unions, ``fdb.Id`` references
to a table), required fields, defaults, and the usual constraints (lengths, bounds, patterns).
What it cannot know: custom validators (``@field_validator``, ``@model_validator``: code, not
data; the catalog keeps only a fingerprint of them), and aliases. A keyword it does not
understand makes that part accept any JSON value rather than refuse good data.

``adopt_catalog`` is ``open_catalog``'s read-only twin: it builds the open database's tables
from the stored catalog and changes nothing in the file.
"""

from __future__ import annotations

import keyword
from typing import Annotated, Any, Literal, Union, cast

from pydantic import BaseModel, ConfigDict, Field, create_model

from ..core.errors import SchemaError
from ..core.ids import Id
from ..core.schema import SYSTEM_FIELDS, Document, Schema, TableDef, table
from ..core.tableinfo import TableInfo
from ..engine.base import ReadTxn
from .catalog import (
    CATALOG_FORMAT,
    OpenResult,
    StoredCatalog,
    StoredTable,
    index_fields,
    index_unique,
    read_catalog,
)

JsonSchema = dict[str, Any]

_SIMPLE: dict[str, Any] = {
    "string": str, "integer": int, "number": float, "boolean": bool, "null": type(None),
}
# JSON Schema keyword -> pydantic Field constraint, per kind of value.
_CONSTRAINTS = {
    "string": {"minLength": "min_length", "maxLength": "max_length", "pattern": "pattern"},
    "number": {"minimum": "ge", "maximum": "le", "exclusiveMinimum": "gt",
               "exclusiveMaximum": "lt", "multipleOf": "multiple_of"},
    "array": {"minItems": "min_length", "maxItems": "max_length"},
}
_CONSTRAINTS["integer"] = _CONSTRAINTS["number"]
_RESERVED = frozenset(dir(BaseModel))


class _Builder:
    """Turns one table's JSON Schema into pydantic types, one model per ``$defs`` entry."""

    def __init__(self, table_name: str, schema: JsonSchema, live_tables: frozenset[str]) -> None:
        self.table = table_name
        self.defs: dict[str, JsonSchema] = schema.get("$defs", {})
        self.live = live_tables
        self.models: dict[str, Any] = {}

    def annotation(self, node: Any) -> Any:
        if not isinstance(node, dict) or not node:
            return Any
        if "$ref" in node:
            return self._ref(str(node["$ref"]))
        if "const" in node:
            return Literal[node["const"]]
        if isinstance(node.get("enum"), list) and node["enum"]:
            return Literal[tuple(node["enum"])]
        for key in ("anyOf", "oneOf"):
            if isinstance(node.get(key), list) and node[key]:
                return Union[tuple(self.annotation(n) for n in node[key])]  # noqa: UP007
        if isinstance(node.get("allOf"), list) and len(node["allOf"]) == 1:
            return self.annotation(node["allOf"][0])
        kind = node.get("type")
        if isinstance(kind, list):
            return Union[tuple(self.annotation({**node, "type": k}) for k in kind)]  # noqa: UP007
        return self._typed(kind, node)

    def _typed(self, kind: Any, node: JsonSchema) -> Any:
        out: Any
        if kind == "string" and isinstance(node.get("x-fusiondb-id"), str):
            target = node["x-fusiondb-id"]
            out = Id[target] if target.startswith("_") or target in self.live else str
        elif kind in _SIMPLE:
            out = _SIMPLE[kind]
        elif kind == "array":
            items = node.get("items")
            out = list[self.annotation(items) if isinstance(items, dict) else Any]  # type: ignore[misc]
        elif kind == "object":
            if "properties" in node:
                return self.model(f"{self.table}_object", node, top=False)
            extra = node.get("additionalProperties", True)
            out = dict[str, self.annotation(extra) if isinstance(extra, dict) else Any]  # type: ignore[misc]
        else:
            return Any
        limits = {
            name: node[key] for key, name in _CONSTRAINTS.get(str(kind), {}).items() if key in node
        }
        return Annotated[out, Field(**limits)] if limits else out

    def _ref(self, ref: str) -> Any:
        name = ref.rsplit("/", 1)[-1]
        if name in self.models:
            return self.models[name]
        target = self.defs.get(name)
        if not isinstance(target, dict):
            return Any
        if "properties" not in target:
            self.models[name] = Any  # a guard against a reference cycle through non-models
            built = self.annotation(target)
            self.models[name] = built
            return built
        return self.model(name, target, top=False)

    def model(self, name: str, node: JsonSchema, *, top: bool) -> Any:
        props: dict[str, Any] = node.get("properties", {})
        required = set(node.get("required", ()))
        # A nested model with id and creation_time defaulting to None was an fdb.Document:
        # keep it one, so both stay out of what is stored, as they did.
        document = top or all(
            f in props and props[f].get("default", ...) is None for f in SYSTEM_FIELDS
        )
        declared = {
            f: n for f, n in props.items() if not (document and f in SYSTEM_FIELDS)
        }
        odd = [f for f in declared if not _declarable(f)]
        extra = node.get("additionalProperties")
        # A name pydantic cannot declare as a field is let through as an extra, unchecked.
        mode: Literal["allow", "ignore", "forbid"] = (
            "forbid" if extra is False and not odd else "allow" if extra or odd else "ignore"
        )
        model_name = f"Stored_{self.table}" if top else f"Stored_{self.table}_{name}"
        base = cast("type[BaseModel]", type(f"{model_name}Base", (Document if document else BaseModel,), {
            "model_config": ConfigDict(extra=mode), "__module__": __name__,
        }))
        if not top:
            self.models[name] = Any  # a recursive model accepts any value where it recurs
        fields: dict[str, Any] = {}
        for fname, fnode in declared.items():
            if fname in odd:
                continue
            default = ... if fname in required else (fnode or {}).get("default")
            fields[fname] = (self.annotation(fnode), default)
        built: type[BaseModel] = create_model(model_name, __base__=base, __module__=__name__, **fields)
        if not top:
            self.models[name] = built
        return built


def _declarable(name: str) -> bool:
    return (
        name.isidentifier() and not keyword.iskeyword(name) and name not in _RESERVED
        and not name.startswith("_")
    )


def model_of(name: str, stored: StoredTable, live_tables: frozenset[str]) -> type[Document]:
    """A ``Document`` model rebuilt from the JSON Schema ``stored`` records for table ``name``."""
    builder = _Builder(name, stored.json_schema, live_tables)
    model: type[Document] = builder.model(name, stored.json_schema, top=True)
    return model


def table_def(name: str, stored: StoredTable, live_tables: frozenset[str]) -> TableDef[Document]:
    """The declaration of stored table ``name``: its rebuilt model, indexes, search indexes."""
    tdef = table(model_of(name, stored, live_tables))
    for index, recorded in stored.indexes.items():
        tdef = tdef.index(index, list(index_fields(recorded)), unique=index_unique(recorded))
    for index, form in stored.search_indexes.items():
        tdef = tdef.search_index(
            index, search_field=form["search_field"], filter_fields=form.get("filter_fields", [])
        )
    for index, form in stored.vector_indexes.items():
        tdef = tdef.vector_index(
            index,
            vector_field=form["vector_field"],
            dimensions=form["dimensions"],
            filter_fields=form.get("filter_fields", []),
        )
    return tdef


def stored_schema(catalog: StoredCatalog) -> Schema:
    """The schema the file was last opened with, rebuilt (tables removed from it left out)."""
    live = frozenset(n for n, t in catalog.tables.items() if not t.removed and not t.system)
    return Schema(**{name: table_def(name, catalog.tables[name], live) for name in sorted(live)})


def adopt_catalog(
    txn: ReadTxn, system_tables: dict[str, tuple[int, TableDef[Any]]]
) -> tuple[Schema, OpenResult]:
    """The open database's tables as the file stores them; writes nothing. ``SchemaError``
    for a file that has no catalog (not a fusiondb file, or never opened)."""
    catalog = read_catalog(txn)
    if not catalog.tables:
        raise SchemaError("this file holds no fusiondb catalog: it is not a fusiondb database")
    if catalog.format != CATALOG_FORMAT:
        # Its indexes hold keys in another order: reading them as this format's would give
        # wrong answers, and opening without the application's schema cannot rebuild them.
        raise SchemaError(
            f"this file is in fusiondb file format {catalog.format}; this fusiondb reads format "
            f"{CATALOG_FORMAT}: open it once with fdb.open(path, schema) and your application's "
            "schema, which upgrades it in place"
        )
    schema = stored_schema(catalog)
    declared = {**{n: (None, t) for n, t in schema.tables.items()}, **system_tables}
    infos: dict[str, TableInfo] = {}
    for name, (_, tdef) in declared.items():
        stored = catalog.tables.get(name)
        if stored is None:
            raise SchemaError(f"this file has no table {name!r}: open it with fdb.open first")
        infos[name] = TableInfo(
            name=name,
            number=stored.number,
            model=tdef.model,
            indexes=dict(tdef.indexes),
            search_indexes=dict(tdef.search_indexes),
            system=name.startswith("_"),
            vector_indexes=dict(tdef.vector_indexes),
        )
    return schema, OpenResult(catalog, infos, [])
