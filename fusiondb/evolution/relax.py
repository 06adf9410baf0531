"""Deciding whether a changed model needs the stored documents checked.

A table's model is stored as its JSON Schema. When the declared model's schema differs,
``relaxes(old, new)`` asks whether every document valid under the old schema is provably valid
under the new one (a new optional field, a field that gained ``| None``, ``int`` to ``float``,
a wider ``Literal``...). The proof is conservative: anything it does not recognise counts as
"might narrow", and then ``validate_stored`` checks every stored document against the new model
in batches, before anything is changed (``validate.py``). Custom validators are not visible in JSON Schema, so
a fingerprint of their code is stored too, and a change to it also triggers the check.
"""

from __future__ import annotations

import hashlib
import types
import typing
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

JsonSchema = dict[str, Any]

# Keywords that describe but never constrain a value.
ANNOTATIONS = frozenset(
    {"title", "description", "default", "examples", "deprecated", "readOnly", "writeOnly", "$comment"}
)
MAX_DEPTH = 32


# Keywords whose value is a subschema, a list of them, or a map of names to them.
_SUBSCHEMA = frozenset({"items", "additionalProperties", "not", "contains", "propertyNames",
                        "if", "then", "else", "unevaluatedItems", "unevaluatedProperties"})
_SUBSCHEMA_LISTS = frozenset({"anyOf", "allOf", "oneOf", "prefixItems"})
_SUBSCHEMA_MAPS = frozenset({"properties", "$defs", "patternProperties", "dependentSchemas"})
_LABELS = frozenset({"title", "description"})


def normalize(schema: Any) -> Any:
    """``schema`` without titles and descriptions (renaming a model class is no change)."""
    if not isinstance(schema, dict):
        return schema
    out: JsonSchema = {}
    for key, value in schema.items():
        if key in _LABELS:
            continue
        if key in _SUBSCHEMA:
            out[key] = normalize(value)
        elif key in _SUBSCHEMA_LISTS and isinstance(value, list):
            out[key] = [normalize(v) for v in value]
        elif key in _SUBSCHEMA_MAPS and isinstance(value, dict):
            out[key] = {name: normalize(v) for name, v in value.items()}
        else:
            out[key] = value
    return out


def _strip(schema: JsonSchema) -> JsonSchema:
    return {k: v for k, v in schema.items() if k not in ANNOTATIONS}


def _deref(schema: JsonSchema, defs: dict[str, JsonSchema]) -> JsonSchema:
    """Inline ``$ref`` (and pydantic's single-element ``allOf`` wrapper), keeping siblings."""
    for _ in range(MAX_DEPTH):
        if "$ref" in schema:
            target = defs.get(str(schema["$ref"]).rsplit("/", 1)[-1])
            if target is None:
                return schema
            schema = {**target, **{k: v for k, v in schema.items() if k != "$ref"}}
        elif isinstance(schema.get("allOf"), list) and len(schema["allOf"]) == 1:
            rest = {k: v for k, v in schema.items() if k != "allOf"}
            schema = {**schema["allOf"][0], **rest}
        else:
            return _strip(schema)
    return _strip(schema)


@dataclass
class _Ctx:
    old_defs: dict[str, JsonSchema]
    new_defs: dict[str, JsonSchema]
    retired: frozenset[str]


def relaxes(old: JsonSchema, new: JsonSchema, retired: frozenset[str] = frozenset()) -> bool:
    """True when every document valid under ``old`` is certainly valid under ``new``.

    ``retired`` names top-level fields that earlier versions had and later removed: stored
    documents may still carry them, so adding a field of that name again is not provably safe.
    """
    ctx = _Ctx(old.get("$defs", {}), new.get("$defs", {}), retired)
    return _relaxes(old, new, ctx, 0, top=True)


def _relaxes(old: JsonSchema, new: JsonSchema, ctx: _Ctx, depth: int, *, top: bool = False) -> bool:
    if depth > MAX_DEPTH:
        return False
    o = _deref(old, ctx.old_defs)
    n = _deref(new, ctx.new_defs)
    o.pop("$defs", None)
    n.pop("$defs", None)
    if not n:
        return True  # the new schema accepts anything
    if "anyOf" in o:
        branches = o.pop("anyOf")
        if o or not isinstance(branches, list):
            return False
        return all(_relaxes(b, new, ctx, depth + 1) for b in branches)
    if "anyOf" in n:
        branches = n.pop("anyOf")
        if n or not isinstance(branches, list):
            return False
        return any(_relaxes(old, b, ctx, depth + 1) for b in branches)
    if o == n and not _has_ref(o):
        return True
    otype, ntype = o.get("type"), n.get("type")
    if otype == "integer" and ntype == "number":
        o["type"] = "number"
        otype = "number"
    if otype != ntype or not isinstance(otype, str):
        return False
    if otype == "object":
        return _object_relaxes(o, n, ctx, depth, top=top)
    if otype == "array":
        if "items" in n and not _relaxes(o.get("items", {}), n["items"], ctx, depth + 1):
            return False
        o.pop("items", None)
        n.pop("items", None)
    return _constraints_relax(o, n)


def _constraints_relax(o: JsonSchema, n: JsonSchema) -> bool:
    """Same type: ``new`` may drop constraints or widen an enum, never add or change one."""
    if "const" in o and "enum" in n and o["const"] in n["enum"]:
        o = {k: v for k, v in o.items() if k != "const"}
        n = {k: v for k, v in n.items() if k != "enum"}
    if "enum" in o and "enum" in n:
        if not all(v in n["enum"] for v in o["enum"]):
            return False
        o = {k: v for k, v in o.items() if k != "enum"}
        n = {k: v for k, v in n.items() if k != "enum"}
    return all(k in o and o[k] == v and not _has_ref(v) for k, v in n.items())


def _has_ref(value: Any) -> bool:
    """Whether a subschema refers to ``$defs``: equal text may then mean different schemas."""
    if isinstance(value, dict):
        return "$ref" in value or any(_has_ref(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_ref(v) for v in value)
    return False


def _object_relaxes(o: JsonSchema, n: JsonSchema, ctx: _Ctx, depth: int, *, top: bool) -> bool:
    oprops: dict[str, JsonSchema] = o.pop("properties", {})
    nprops: dict[str, JsonSchema] = n.pop("properties", {})
    orequired, nrequired = set(o.pop("required", ())), set(n.pop("required", ()))
    oextra, nextra = o.pop("additionalProperties", None), n.pop("additionalProperties", None)
    if o != n or _has_ref(o) or not nrequired <= orequired:
        return False
    # Extras: forbidding them now may reject keys stored documents still carry.
    if nextra is False and (oextra is not False or set(oprops) - set(nprops)):
        return False
    if isinstance(nextra, dict) and nextra != oextra:
        return False
    for name, nprop in nprops.items():
        if name in oprops:
            if not _relaxes(oprops[name], nprop, ctx, depth + 1):
                return False
            continue
        # A new field: stored documents lack it (fine when optional), unless they may hold a
        # key of that name: extras were allowed, the field existed once, or this is a nested
        # model whose removed fields we do not track.
        if name in nrequired or oextra not in (None, False) or not top or name in ctx.retired:
            return False
    return True


def validator_fingerprint(model: type[BaseModel]) -> str:
    """A digest of the custom validators' code of ``model`` and the models nested in it."""
    parts: list[str] = []
    for m in _models_within(model):
        decorators = m.__pydantic_decorators__
        for group in (
            decorators.validators,
            decorators.field_validators,
            decorators.root_validators,
            decorators.model_validators,
        ):
            for name, dec in sorted(group.items()):
                info: Any = getattr(dec, "info", None)
                parts.append(f"{m.__qualname__}.{name}:{_code_digest(getattr(dec, 'func', None))}:{info!r}")
        for fname, finfo in m.model_fields.items():
            for meta in finfo.metadata:
                func = getattr(meta, "func", None)
                if func is not None:
                    parts.append(f"{m.__qualname__}.{fname}:{type(meta).__name__}:{_code_digest(func)}")
    if not parts:
        return ""
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]


def _code_digest(func: Any) -> str:
    """A digest of a function's code that is the same in every process running the same source."""
    func = getattr(func, "__func__", func)
    code = getattr(func, "__code__", None)
    if code is None:  # a builtin or a callable object: its name is all we can compare
        return str(getattr(func, "__qualname__", type(func).__qualname__))
    return hashlib.sha256(_code_bytes(code)).hexdigest()[:16]


def _code_bytes(code: types.CodeType) -> bytes:
    # Not repr(co_consts): nested code objects (lambdas, comprehensions) show their address,
    # and frozensets (``x in {"a", "b"}``) their hash order, which differ between processes.
    parts = [code.co_code, " ".join(code.co_names).encode()]
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            parts.append(_code_bytes(const))
        elif isinstance(const, frozenset):
            parts.append(repr(sorted(const, key=repr)).encode())
        else:
            parts.append(repr(const).encode())
    return b"\x00".join(parts)


def _models_within(model: type[BaseModel]) -> Iterator[type[BaseModel]]:
    seen: set[type[BaseModel]] = set()
    stack: list[Any] = [model]
    while stack:
        item = stack.pop()
        if isinstance(item, type) and issubclass(item, BaseModel):
            if item in seen:
                continue
            seen.add(item)
            yield item
            stack.extend(f.annotation for f in item.model_fields.values())
        else:
            stack.extend(typing.get_args(item))
