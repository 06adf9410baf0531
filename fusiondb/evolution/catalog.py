"""The catalog: the schema a file was last opened with, and bringing the file up to date.

The stored catalog is key/value entries of JSON text, kept by the engine (SQLite: the
``_fdb_catalog`` table): per table its number, its model as JSON Schema, its indexes and search
indexes, and a catalog ``version`` that changes whenever any of those does. ``open_catalog``
runs inside the writer's transaction and evolves the file in three steps:

1. plan: compare each declared table with the stored one (``evolution.relaxes`` decides
   whether a changed model might reject stored documents);
2. check: validate the stored documents of every table whose change might narrow it
   (``validate.py``); if any fail, raise ``SchemaMismatch`` before anything has been written;
3. apply: create tables, generated columns and indexes, drop removed indexes, build search
   indexes, mark tables missing from the schema as removed (their rows stay), write the catalog.

The caller commits, so either the whole change applies or none of it. ``guard.CatalogGuard``
then makes every later transaction notice, cheaply, that another process changed the catalog.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass, field
from typing import Any

import orjson
from pydantic import TypeAdapter

from ..core.errors import SchemaError, SchemaMismatch
from ..core.ids import encode_id
from ..core.progress import ProgressCallback
from ..core.schema import (
    FIELD_RE,
    SYSTEM_FIELDS,
    IndexDef,
    Schema,
    SearchIndexDef,
    TableDef,
    check_case_collisions,
)
from ..core.tableinfo import TableInfo
from ..engine.base import KeyTaken, ReadTxn, WriteTxn
from .relax import normalize, relaxes, validator_fingerprint
from .validate import Validation, validate_stored
from .vectors import apply_vector_indexes, vector_form

# The file format. 1: index keys as SQLite ordered ``doc ->> '$.field'`` (booleans as 0/1,
# lists and dicts as JSON text), a by_creation_time index, creation_time in every index.
# 2: Convex's value order (a type-tag and a value column per field, core/keys.py), creation
# order from the rowid. Opening a format-1 file upgrades it (``_upgrade``).
CATALOG_FORMAT = 2
# A composite field (one whose type may hold arrays or objects) in an index's stored form.
_COMPOSITE_MARK = "*"
# Ends the stored form of a unique index (no field path starts with "!").
_UNIQUE_MARK = "!unique"
# Groups of duplicates a refused unique index lists.
REPORTED_DUPLICATES = 10
FIRST_USER_TABLE_NUMBER = 16


@dataclass
class StoredTable:
    number: int
    indexes: dict[str, list[str]]
    search_indexes: dict[str, dict[str, Any]] = field(default_factory=dict)
    json_schema: dict[str, Any] = field(default_factory=dict)
    system: bool = False
    removed: bool = False
    # Opened with schema_validation=False after a change that needed a check: the next
    # validating open checks every document.
    unverified: bool = False
    # Top-level fields earlier models had: stored documents may still carry them.
    retired_fields: list[str] = field(default_factory=list)
    validators: str = ""
    vector_indexes: dict[str, dict[str, Any]] = field(default_factory=dict)

    def shape(self) -> dict[str, Any]:
        """What a process that declares this table relies on; a change makes it stale."""
        shape = {
            "number": self.number,
            "indexes": self.indexes,
            "search_indexes": self.search_indexes,
            "json_schema": self.json_schema,
            "validators": self.validators,
            "removed": self.removed,
        }
        if self.vector_indexes:  # absent when none: files made before them stay the same
            shape["vector_indexes"] = self.vector_indexes
        return shape

    def to_json(self) -> dict[str, Any]:
        return {
            **self.shape(),
            "system": self.system,
            "unverified": self.unverified,
            "retired_fields": self.retired_fields,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> StoredTable:
        return cls(
            number=data["number"],
            indexes=data.get("indexes", {}),
            search_indexes=data.get("search_indexes", {}),
            json_schema=data.get("json_schema", {}),
            system=data.get("system", False),
            removed=data.get("removed", False),
            unverified=data.get("unverified", False),
            retired_fields=data.get("retired_fields", []),
            validators=data.get("validators", ""),
            vector_indexes=data.get("vector_indexes", {}),
        )


@dataclass
class StoredCatalog:
    version: int
    next_table_number: int
    tables: dict[str, StoredTable]
    format: int = CATALOG_FORMAT

    def shapes(self) -> dict[str, Any]:
        return {name: t.shape() for name, t in self.tables.items()}

    def names(self) -> dict[int, str]:
        """Table number -> name for every table in the file, removed ones included."""
        return {t.number: name for name, t in self.tables.items()}


@dataclass(frozen=True)
class SchemaChange:
    """One thing ``fdb.open`` changed in the file (``db.schema_changes`` lists them).

    ``kind`` is one of ``add_table``, ``restore_table``, ``remove_table``, ``change_fields``,
    ``add_index``, ``drop_index``, ``change_index`` (made unique, or no longer unique),
    ``add_search_index``, ``drop_search_index``, ``add_vector_index``, ``drop_vector_index``.
    ``checked`` is how many stored documents were validated for it (``None``: no check was
    needed, or ``schema_validation=False`` skipped it).
    """

    table: str
    kind: str
    detail: str = ""
    checked: int | None = None

    def __str__(self) -> str:
        out = f"{self.kind} {self.table}"
        if self.detail:
            out += f" ({self.detail})"
        if self.checked is not None:
            out += f", {self.checked} documents checked"
        return out


@dataclass
class OpenResult:
    catalog: StoredCatalog
    infos: dict[str, TableInfo]
    changes: list[SchemaChange]


def read_catalog(txn: ReadTxn) -> StoredCatalog:
    """The stored catalog (empty for a new file); works inside a read transaction."""
    rows = txn.read_catalog()
    if not rows:
        return StoredCatalog(0, FIRST_USER_TABLE_NUMBER, {})
    try:
        fmt = orjson.loads(rows["format"])
        if fmt > CATALOG_FORMAT:
            raise SchemaError(
                f"this file was written by a newer fusiondb (catalog format {fmt}); "
                "upgrade fusiondb to open it"
            )
        tables = {
            name: StoredTable.from_json(data)
            for name, data in orjson.loads(rows["tables"]).items()
        }
        catalog = StoredCatalog(
            orjson.loads(rows["version"]), orjson.loads(rows["next_table_number"]), tables, fmt
        )
        entries_ok = all(
            isinstance(t.number, int) and isinstance(t.indexes, dict) for t in tables.values()
        )
        if not (entries_ok and isinstance(catalog.version, int) and isinstance(fmt, int)
                and isinstance(catalog.next_table_number, int)):
            raise TypeError("a catalog entry has the wrong type")
    except (KeyError, TypeError, ValueError, AttributeError) as exc:  # JSONDecodeError too
        raise SchemaError(
            f"this file's fusiondb catalog (table _fdb_catalog) is damaged ({type(exc).__name__}: "
            f"{exc}); restore the file from a backup, or read its tables with another SQLite tool"
        ) from None
    return catalog


def write_catalog(txn: WriteTxn, catalog: StoredCatalog) -> None:
    values = {
        "format": CATALOG_FORMAT,
        "version": catalog.version,
        "next_table_number": catalog.next_table_number,
        "tables": {name: t.to_json() for name, t in sorted(catalog.tables.items())},
    }
    txn.write_catalog(
        {k: orjson.dumps(v, option=orjson.OPT_SORT_KEYS).decode() for k, v in values.items()},
        catalog.version,
    )


# Per model class: generating a JSON Schema costs milliseconds, and a test suite opens an
# ephemeral database with the same models for every test. A fresh dict is decoded each time.
_JSON_SCHEMAS: weakref.WeakKeyDictionary[type, bytes] = weakref.WeakKeyDictionary()


def json_schema_of(tdef: TableDef[Any]) -> dict[str, Any]:
    """The model's JSON Schema as the catalog stores it: no titles, JSON types only."""
    raw = _JSON_SCHEMAS.get(tdef.model)
    if raw is None:
        raw = orjson.dumps(normalize(tdef.model.model_json_schema(mode="validation")))
        _JSON_SCHEMAS[tdef.model] = raw
    schema: dict[str, Any] = orjson.loads(raw)
    return schema


@dataclass
class _Plan:
    """What open will do to one declared table."""

    name: str
    tdef: TableDef[Any]
    info: TableInfo
    stored: StoredTable | None
    json_schema: dict[str, Any]
    validators: str
    fields_changed: bool
    needs_check: bool


def _plan(
    name: str, tdef: TableDef[Any], info: TableInfo, stored: StoredTable | None
) -> _Plan:
    new_schema = json_schema_of(tdef)
    fingerprint = validator_fingerprint(tdef.model)
    if stored is None:
        return _Plan(name, tdef, info, None, new_schema, fingerprint, True, False)
    same = stored.json_schema == new_schema and stored.validators == fingerprint
    proven = same or (
        stored.validators == fingerprint
        and relaxes(stored.json_schema, new_schema, frozenset(stored.retired_fields))
    )
    return _Plan(
        name, tdef, info, stored, new_schema, fingerprint,
        fields_changed=not same,
        needs_check=stored.unverified or not proven,
    )


def _mismatch(failed: list[Validation]) -> SchemaMismatch:
    first = failed[0]
    lines = [f"  {doc_id}: {message}" for doc_id, message in first.failures]
    more = first.failed - len(first.failures)
    if more > 0:
        lines.append(f"  ... and {more} more")
    others = "".join(
        f"\n(also table {v.table!r}: {v.failed} of {v.checked} documents fail)" for v in failed[1:]
    )
    return SchemaMismatch(
        f"schema change refused: {first.failed} of {first.checked} stored documents of table "
        f"{first.table!r} do not match the new model; nothing was changed.\n"
        + "\n".join(lines)
        + others
        + "\nTo go ahead: make the new field optional or give it a default; or open with the "
        "old model, fix the documents (a mutation or db.migrate), then open with the new one. "
        "See 'Changing your schema' in the docs.",
        table=first.table,
        count=first.failed,
        failures=first.failures,
    )


def open_catalog(
    txn: WriteTxn,
    schema: Schema,
    system_tables: dict[str, tuple[int, TableDef[Any]]],
    *,
    validate: bool = True,
    progress: ProgressCallback | None = None,
) -> OpenResult:
    """Bring the file up to the declared schema (see the module docstring for the steps)."""
    txn.ensure_internal_tables()
    catalog = read_catalog(txn)
    changes: list[SchemaChange] = []
    upgraded = catalog.format < CATALOG_FORMAT
    if upgraded:
        _upgrade(txn, catalog, changes)
    shapes_before = _snapshot(catalog.shapes())
    json_before = _snapshot({n: t.to_json() for n, t in catalog.tables.items()})
    declared: dict[str, tuple[int | None, TableDef[Any]]] = dict(system_tables.items())
    declared.update({name: (None, tdef) for name, tdef in schema.tables.items()})
    check_case_collisions(declared, catalog.tables)

    plans: list[_Plan] = []
    infos: dict[str, TableInfo] = {}
    for name, (fixed_number, tdef) in declared.items():
        stored = catalog.tables.get(name)
        if stored is not None:
            number = stored.number
        elif fixed_number is not None:
            number = fixed_number
        else:
            number = catalog.next_table_number
            catalog.next_table_number += 1
        info = TableInfo(
            name=name,
            number=number,
            model=tdef.model,
            indexes=dict(tdef.indexes),
            search_indexes=dict(tdef.search_indexes),
            system=name.startswith("_"),
            vector_indexes=dict(tdef.vector_indexes),
        )
        infos[name] = info
        plans.append(_plan(name, tdef, info, stored))

    names = catalog.names() | {info.number: name for name, info in infos.items()}
    checked: dict[str, int] = {}
    if validate:
        failed: list[Validation] = []
        for p in plans:
            if p.needs_check:
                result = validate_stored(txn, p.info, names)
                checked[p.name] = result.checked
                if result.failed:
                    failed.append(result)
        if failed:
            raise _mismatch(failed)

    for p in plans:
        catalog.tables[p.name] = _apply(txn, p, validate, checked.get(p.name), changes, progress)
        # Kept up to date on every open, so files made before views existed get theirs too.
        txn.sync_view(p.name, p.info.number, view_fields(p.tdef))
    for name, stored in catalog.tables.items():
        if name not in declared and not stored.system and not stored.removed:
            stored.removed = True
            changes.append(SchemaChange(name, "remove_table", "documents kept"))

    if upgraded or _snapshot(catalog.shapes()) != shapes_before:
        catalog.version += 1  # an upgrade too: processes holding the old format must notice
    changed = _snapshot({n: t.to_json() for n, t in catalog.tables.items()}) != json_before
    if upgraded or changed or txn.catalog_version() != catalog.version:
        write_catalog(txn, catalog)
    return OpenResult(catalog, infos, changes)


def _upgrade(txn: WriteTxn, catalog: StoredCatalog, changes: list[SchemaChange]) -> None:
    """Upgrade a format-1 file in place, in the open's transaction: drop every table's indexes
    (and the by_creation_time index, and their generated columns) and search indexes. The open
    then builds the declared ones again in format 2, with progress, as it adds any new index;
    a table no longer declared gets them back when it is declared again. Documents are not
    rewritten."""
    if catalog.format != 1:
        raise SchemaError(
            f"this file has catalog format {catalog.format}, which this fusiondb cannot upgrade"
        )
    for name, stored in catalog.tables.items():
        txn.drop_format1_indexes(name)
        # Search filter tokens changed too (a boolean is no longer the number 0/1).
        for index in stored.search_indexes:
            txn.drop_search_index(name, index)
        rebuilt = ", ".join([*stored.indexes, *stored.search_indexes]) or "none"
        stored.indexes = {}
        stored.search_indexes = {}
        changes.append(
            SchemaChange(name, "upgrade_format", f"file format 1 to 2; indexes rebuilt: {rebuilt}")
        )
    catalog.format = CATALOG_FORMAT


def index_form(info: TableInfo, idx: IndexDef) -> list[str]:
    """How the catalog records an index: its fields, a composite one (``TableInfo.composite``)
    marked, so that a field whose type starts (or stops) holding arrays and objects gets its
    indexes rebuilt with the other kind of value column; then ``"!unique"`` for a unique one."""
    form = [f + _COMPOSITE_MARK if f in info.composite else f for f in idx.fields]
    return [*form, _UNIQUE_MARK] if idx.unique else form


def index_fields(form: list[str]) -> tuple[str, ...]:
    """The field paths of an index as the catalog records it (``index_form``), marks removed."""
    return tuple(f.removesuffix(_COMPOSITE_MARK) for f in form if f != _UNIQUE_MARK)


def index_unique(form: list[str]) -> bool:
    """Whether the catalog records the index (``index_form``) as unique."""
    return _UNIQUE_MARK in form


def _key_form(form: list[str]) -> list[str]:
    """The part of an index's recorded form that decides its key columns (uniqueness aside)."""
    return [f for f in form if f != _UNIQUE_MARK]


def view_fields(tdef: TableDef[Any]) -> tuple[str, ...]:
    """The columns of a table's SQL view: its model's top-level fields as stored (by field
    name), less the system fields and any name SQL paths cannot spell (non-ASCII)."""
    return tuple(
        name for name in tdef.model.model_fields if name not in SYSTEM_FIELDS and FIELD_RE.match(name)
    )


def _snapshot(value: Any) -> bytes:
    # A deep, comparable copy: the stored tables are updated in place.
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)


def _apply(
    txn: WriteTxn,
    p: _Plan,
    validated: bool,
    checked: int | None,
    changes: list[SchemaChange],
    progress: ProgressCallback | None,
) -> StoredTable:
    stored = p.stored
    if stored is None:
        txn.create_table(p.name)
        stored = StoredTable(number=p.info.number, indexes={}, system=p.name.startswith("_"))
        changes.append(SchemaChange(p.name, "add_table"))
    elif stored.removed:
        stored.removed = False
        changes.append(SchemaChange(p.name, "restore_table", "documents kept while removed"))
    if p.fields_changed or p.needs_check:
        old_props = set(stored.json_schema.get("properties", {}))
        new_props = set(p.json_schema.get("properties", {}))
        retired = set(stored.retired_fields) | (old_props - new_props)
        if p.needs_check and validated:
            retired -= new_props  # every stored document now matches the new fields
        stored.retired_fields = sorted(retired)
        stored.unverified = p.needs_check and not validated
        if p.stored is not None:
            changes.append(
                SchemaChange(p.name, "change_fields", _describe_fields(stored.json_schema, p.json_schema),
                             checked)
            )
    stored.json_schema = p.json_schema
    stored.validators = p.validators
    _apply_indexes(txn, p, stored, changes, progress)
    before = dict(stored.search_indexes)
    for sidx in p.tdef.search_indexes.values():
        if before.get(sidx.name) != _search_form(sidx) and p.stored is not None:
            # As for indexes: documents stored before a field existed get its default first,
            # so eq(field, default) finds them in the index about to be built.
            fields = (sidx.search_field, *sidx.filter_fields)
            _backfill_defaults(txn, p.name, p.info, IndexDef(sidx.name, fields))
    _apply_search_indexes(txn, p.name, p.tdef.search_indexes, stored.search_indexes, progress)
    for name in before.keys() - stored.search_indexes.keys():
        changes.append(SchemaChange(p.name, "drop_search_index", name))
    for name in stored.search_indexes.keys() - before.keys():
        changes.append(SchemaChange(p.name, "add_search_index", name))
    for name in before.keys() & stored.search_indexes.keys():
        if before[name] != stored.search_indexes[name]:
            changes.append(SchemaChange(p.name, "add_search_index", f"{name}, rebuilt"))
    for vidx in p.tdef.vector_indexes.values():
        if stored.vector_indexes.get(vidx.name) != vector_form(vidx) and p.stored is not None:
            _backfill_defaults(txn, p.name, p.info, IndexDef(vidx.name, vidx.filter_fields))
    vector_changes = apply_vector_indexes(
        txn, p.name, p.info.number, p.tdef.vector_indexes, stored.vector_indexes, progress
    )
    if p.stored is not None:
        changes.extend(SchemaChange(p.name, kind, detail) for kind, detail in vector_changes)
    return stored


def _describe_fields(old: dict[str, Any], new: dict[str, Any]) -> str:
    oprops, nprops = old.get("properties", {}), new.get("properties", {})
    parts = []
    added = [n for n in nprops if n not in oprops]
    removed = [n for n in oprops if n not in nprops]
    changed = [n for n in nprops if n in oprops and oprops[n] != nprops[n]]
    for label, names in (("added", added), ("removed", removed), ("changed", changed)):
        if names:
            parts.append(f"{label}: {', '.join(names)}")
    return "; ".join(parts) or "model changed"


def _apply_indexes(
    txn: WriteTxn,
    p: _Plan,
    stored: StoredTable,
    changes: list[SchemaChange],
    progress: ProgressCallback | None,
) -> None:
    for idx_name in list(stored.indexes):
        declared = p.tdef.indexes.get(idx_name)
        recorded = stored.indexes[idx_name]
        if declared is not None and _key_form(index_form(p.info, declared)) == _key_form(recorded):
            if index_unique(recorded) and not declared.unique:
                # A relaxation: every stored document satisfies it; the index stays.
                txn.drop_unique(p.name, idx_name)
                stored.indexes[idx_name] = index_form(p.info, declared)
                changes.append(SchemaChange(p.name, "change_index", f"{idx_name}, no longer unique"))
            continue  # made unique below, if it is to be
        txn.drop_index(p.name, idx_name)
        del stored.indexes[idx_name]
        if declared is None:
            changes.append(SchemaChange(p.name, "drop_index", idx_name))
    rows: int | None = 0 if p.stored is None else None  # counted once, when first needed
    for idx in p.tdef.indexes.values():
        kept = stored.indexes.get(idx.name)
        if kept is not None and (index_unique(kept) or not idx.unique):
            continue
        if kept is not None:  # the same index, made unique: the range index stays
            _make_unique(txn, p, idx)
            stored.indexes[idx.name] = index_form(p.info, idx)
            changes.append(SchemaChange(p.name, "change_index", f"{idx.name}, made unique"))
            continue
        if rows is None:
            rows = txn.count(p.name)
        if rows:
            _backfill_defaults(txn, p.name, p.info, idx)
        txn.create_index(p.name, idx.name, idx.fields, p.info.composite, rows, progress)
        if idx.unique:
            _make_unique(txn, p, idx)
        stored.indexes[idx.name] = index_form(p.info, idx)
        if p.stored is not None:
            unique = " (unique)" if idx.unique else ""
            changes.append(SchemaChange(p.name, "add_index", f"{idx.name}{unique}, {rows} documents"))


def _make_unique(txn: WriteTxn, p: _Plan, idx: IndexDef) -> None:
    """Enforce uniqueness of ``idx`` (whose range index exists), or raise ``SchemaMismatch``
    listing the stored documents that share a key (the open's transaction then rolls back:
    nothing changes)."""
    count, groups = txn.duplicate_keys(
        p.name, idx.name, idx.fields, p.info.composite, REPORTED_DUPLICATES
    )
    if count:
        raise _duplicates(p, idx, count, groups)
    txn.create_index(p.name, idx.name, idx.fields, p.info.composite, 0, None, unique=True)


def _duplicates(p: _Plan, idx: IndexDef, count: int, groups: list[list[int]]) -> SchemaMismatch:
    number = p.info.number
    ids = [[encode_id(number, rowid) for rowid in group] for group in groups]
    lines = [f"  {', '.join(group)}" for group in ids]
    if count > len(groups):
        lines.append(f"  ... and {count - len(groups)} more keys")
    fields = ", ".join(idx.fields)
    return SchemaMismatch(
        f"schema change refused: unique index {idx.name!r} ({fields}) of table {p.name!r}: "
        f"{count} keys are each held by several stored documents; nothing was changed. "
        "Documents sharing a key:\n" + "\n".join(lines) + "\nTo go ahead: open with the old "
        "schema, give those documents distinct values (or delete the extra ones) with a "
        "mutation or db.migrate, then open with the unique index. Documents whose key holds "
        "null (or a missing field) never conflict.",
        table=p.name,
        count=count,
        failures=[(doc_id, f"shares its key of unique index {idx.name!r} with "
                   f"{', '.join(o for o in group if o != doc_id)}")
                  for group in ids for doc_id in group],
        index=idx.name,
        duplicates=ids,
    )


def _backfill_defaults(txn: WriteTxn, table: str, info: TableInfo, idx: IndexDef) -> None:
    """Write a field's default into stored documents that lack it, before indexing the field.

    A document stored before the field existed reads back with the default, so its index key
    must hold the default too, or ``eq(field, default)`` would miss it. Only top-level fields
    with a non-null default need this (a missing key and null both index as NULL).
    """
    for path in idx.fields:
        finfo = info.model.model_fields.get(path)
        if "." in path or finfo is None or finfo.is_required() or finfo.annotation is None:
            continue
        default = finfo.get_default(call_default_factory=True, validated_data={})
        if default is None:
            continue
        try:
            txn.backfill_default(table, path, TypeAdapter(finfo.annotation).dump_json(default).decode())
        except KeyTaken:
            raise SchemaMismatch(
                f"schema change refused: table {table!r}: filling in the default {default!r} of "
                f"field {path!r} in documents stored before the field existed would give "
                "several documents the same key of a unique index over it; nothing was changed. "
                "To go ahead: open with the old schema and give those documents distinct "
                f"values of {path!r} (a mutation or db.migrate), or drop the default.",
                table=table,
            ) from None


def _search_form(index: SearchIndexDef) -> dict[str, Any]:
    """How the catalog records a search index (compared on open to spot changes)."""
    return {"search_field": index.search_field, "filter_fields": list(index.filter_fields)}


def _apply_search_indexes(
    txn: WriteTxn,
    table: str,
    declared: dict[str, SearchIndexDef],
    stored: dict[str, dict[str, Any]],
    progress: ProgressCallback | None = None,
) -> None:
    """Make the file's search indexes of ``table`` match ``declared``; updates ``stored``.

    A removed or changed index is dropped, a new or changed one is built from the documents.
    """
    for name in list(stored):
        want = declared.get(name)
        if want is None or _search_form(want) != stored[name]:
            txn.drop_search_index(table, name)
            del stored[name]
    for name, index in declared.items():
        if name not in stored:
            txn.create_search_index(table, index, progress)
            stored[name] = _search_form(index)


def drop_table(txn: WriteTxn, name: str, declared: set[str]) -> StoredCatalog:
    """Delete a table that is no longer in the schema, its documents and its indexes."""
    catalog = read_catalog(txn)
    stored = catalog.tables.get(name)
    if stored is None:
        raise SchemaError(f"drop_table({name!r}): this file has no table {name!r}", table=name)
    if name in declared:
        raise SchemaError(
            f"drop_table({name!r}): the table is in the current schema; remove it from the "
            "schema, reopen, then drop it",
            table=name,
        )
    if stored.system:
        raise SchemaError(f"drop_table({name!r}): {name!r} belongs to fusiondb", table=name)
    txn.drop_table(name, tuple(stored.search_indexes), tuple(stored.vector_indexes))
    del catalog.tables[name]
    catalog.version += 1
    write_catalog(txn, catalog)
    return catalog
