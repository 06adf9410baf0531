"""Filter expressions: ``.filter(lambda q: (q.completed == False) & (q.user_id == "u1"))``.

The predicate is called once with a ``FieldProxy``; field access and comparisons build an
``Expr`` tree, which the engine compiles to its own query language (SQL over the stored JSON,
for SQLite: ``engine/sqlite/scan.py``), so the database does the filtering. If the predicate
does something an expression cannot say (``len(...)``, ``and``/``or``, a method call), the
query falls back to calling it on each document in Python.
The Convex spelling works too: ``lambda q: q.eq(q.field("completed"), False)``.

Beyond comparisons, a field has ``in_(values)`` (equal to one of them), ``startswith(prefix)``
(a string beginning with it), ``contains(value)`` (an array with an element equal to it) and
``is_missing()``/``exists()`` (null or absent / not); ``q.in_(field, values)`` and the like are
the same in the Convex style. Equality is always the value order's (``1 == 1.0``,
``True != 1``).

Before a tree reaches the engine, ``bind`` checks it against the table: a field no document
of the table can hold is an ``InvalidQuery`` (not a comparison with NULL that silently
matches nothing), NaN is refused, and the system fields become ``SystemField`` nodes: ``id``
compares as the row number its id encodes (so ids order as ``by_id`` does: creation order),
``creation_time`` as the stored creation time.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pydantic
import pydantic_core

from .errors import InvalidQuery
from .ids import decode_id
from .keys import normalize_value, stored_json, value_problem
from .limits import MAX_IN_VALUES
from .schema import FIELD_RE, SYSTEM_FIELDS
from .tableinfo import TableInfo

# Values a compiled expression can compare a field with.
VALUE_TYPES = (str, int, float, bool, bytes, type(None))


class Expr:
    """A boolean or value expression over a document's fields."""

    def __bool__(self) -> bool:
        # `a and b` would silently drop `a`; refuse so the query falls back to Python.
        raise TypeError("use & and | (or q.and_/q.or_) to combine filter expressions")

    def _cmp(self, op: str, other: object) -> Expr:
        return Compare(op, self, _lift(other))

    def __eq__(self, other: object) -> Expr:  # type: ignore[override]
        return self._cmp("=", other)

    def __ne__(self, other: object) -> Expr:  # type: ignore[override]
        return self._cmp("!=", other)

    def __lt__(self, other: object) -> Expr:
        return self._cmp("<", other)

    def __le__(self, other: object) -> Expr:
        return self._cmp("<=", other)

    def __gt__(self, other: object) -> Expr:
        return self._cmp(">", other)

    def __ge__(self, other: object) -> Expr:
        return self._cmp(">=", other)

    def __and__(self, other: Expr) -> Expr:
        return Logical("AND", (self, _lift(other)))

    def __or__(self, other: Expr) -> Expr:
        return Logical("OR", (self, _lift(other)))

    def __invert__(self) -> Expr:
        return Not(self)

    def __hash__(self) -> int:
        return id(self)


@dataclass(eq=False)
class Field(Expr):
    """A document field (a dotted path). Its methods name conditions other than comparisons;
    a field named like one of them is reached with ``q.field("a.contains")``."""

    path: str

    def __getattr__(self, name: str) -> Field:
        if name.startswith("__") or not FIELD_RE.match(name):
            raise AttributeError(name)
        return Field(f"{self.path}.{name}")

    def in_(self, values: Any) -> Expr:
        """Equal (in the value order) to one of ``values`` (a list, tuple or set)."""
        return In(self, _values(values))

    def startswith(self, prefix: str) -> Expr:
        """A string that begins with ``prefix`` (code point by code point; case counts)."""
        if not isinstance(prefix, str):
            raise InvalidQuery(f"filter: startswith() takes a str prefix, got {prefix!r}")
        _lift(prefix)  # refuses a lone surrogate
        return StartsWith(self, prefix)

    def contains(self, value: Any) -> Expr:
        """An array holding an element equal (in the value order) to ``value``."""
        return Contains(self, _lift_value(value))

    def is_missing(self) -> Expr:
        """Null or absent: the two are one value in the value order (and to the model)."""
        return IsMissing(self)

    def exists(self) -> Expr:
        """Present and not null: ``not is_missing()``."""
        return Not(IsMissing(self))


@dataclass(eq=False)
class SystemField(Expr):
    """A value the database keeps outside the document: ``"rowid"`` or ``"creation_time"``."""

    name: str


@dataclass(eq=False)
class Literal(Expr):
    value: Any


@dataclass(eq=False)
class Compare(Expr):
    op: str
    left: Expr
    right: Expr


@dataclass(eq=False)
class Logical(Expr):
    op: str
    parts: tuple[Expr, ...]


@dataclass(eq=False)
class Not(Expr):
    inner: Expr


@dataclass(eq=False)
class FieldCondition(Expr):
    """A condition on one field other than a comparison (``item``: the field)."""

    item: Expr


@dataclass(eq=False)
class In(FieldCondition):
    """``item`` equals one of ``values`` (bound: each as a document stores it)."""

    values: tuple[Any, ...]


@dataclass(eq=False)
class StartsWith(FieldCondition):
    """``item`` is a string beginning with ``prefix``."""

    prefix: str


@dataclass(eq=False)
class Contains(FieldCondition):
    """``item`` is an array with an element equal to ``value`` (bound: as stored)."""

    value: Any


@dataclass(eq=False)
class IsMissing(FieldCondition):
    """``item`` is null or absent (one value in the value order)."""


def _values(values: Any) -> tuple[Any, ...]:
    if isinstance(values, str | bytes | dict) or not isinstance(values, list | tuple | set | frozenset):
        raise InvalidQuery(
            f"filter: in_() takes a list, tuple or set of values, got {type(values).__name__}"
        )
    if len(values) > MAX_IN_VALUES:
        raise InvalidQuery(
            f"filter: in_() of {len(values)} values; at most {MAX_IN_VALUES} (split the query, "
            "or put the values in an index range)"
        )
    return tuple(_lift_value(v) for v in values)


def _lift_value(value: Any) -> Any:
    """A value to compare with, checked as ``_lift`` checks it."""
    lifted = _lift(value)
    if not isinstance(lifted, Literal):
        raise InvalidQuery("filter: compare a field with a value here, not with another field")
    return lifted.value


def _lift(value: object) -> Expr:
    if isinstance(value, Expr):
        return value
    if isinstance(value, list | tuple | dict):
        return Literal(list(value) if isinstance(value, tuple) else value)  # see in_python
    if not isinstance(value, VALUE_TYPES):
        raise TypeError(f"cannot compare a field with {type(value).__name__} in an expression")
    problem = value_problem(value)
    if problem is not None:
        raise InvalidQuery(f"filter: cannot compare a field with this value: {problem}")
    return Literal(value)


class FieldProxy:
    """What a filter predicate receives: ``q.user_id``, ``q.field("a.b")``, ``q.eq(a, b)``..."""

    def __getattr__(self, name: str) -> Field:
        if name.startswith("__") or not FIELD_RE.match(name):
            raise AttributeError(name)
        return Field(name)

    def field(self, path: str) -> Field:
        if not isinstance(path, str) or not all(FIELD_RE.match(p) for p in path.split(".")):
            raise InvalidQuery(
                f"filter: invalid field path {path!r}: use field names (a letter or '_', then "
                "letters, digits or '_') joined by dots, e.g. q.field('address.city')",
                field=str(path),
            )
        return Field(path)

    def eq(self, a: object, b: object) -> Expr:
        return _lift(a) == b

    def neq(self, a: object, b: object) -> Expr:
        return _lift(a) != b

    def lt(self, a: object, b: object) -> Expr:
        return _lift(a) < b

    def lte(self, a: object, b: object) -> Expr:
        return _lift(a) <= b

    def gt(self, a: object, b: object) -> Expr:
        return _lift(a) > b

    def gte(self, a: object, b: object) -> Expr:
        return _lift(a) >= b

    def in_(self, field: object, values: Any) -> Expr:
        return self._field(field).in_(values)

    def startswith(self, field: object, prefix: str) -> Expr:
        return self._field(field).startswith(prefix)

    def contains(self, field: object, value: Any) -> Expr:
        return self._field(field).contains(value)

    def is_missing(self, field: object) -> Expr:
        return self._field(field).is_missing()

    def exists(self, field: object) -> Expr:
        return self._field(field).exists()

    def _field(self, field: object) -> Field:
        """A field given as ``q.field("a")`` / ``q.a`` or by its path ``"a"``."""
        if isinstance(field, Field):
            return field
        if isinstance(field, str):
            return self.field(field)
        raise InvalidQuery(f"filter: expected a field (q.field('name') or 'name'), got {field!r}")

    def and_(self, *parts: Expr) -> Expr:
        return Logical("AND", tuple(_lift(p) for p in parts))

    def or_(self, *parts: Expr) -> Expr:
        return Logical("OR", tuple(_lift(p) for p in parts))

    def not_(self, part: Expr) -> Expr:
        return Not(_lift(part))


def compile_filter(predicate: Callable[[Any], Any]) -> Expr | None:
    """The predicate as an expression the engine can run, or ``None`` if it needs Python."""
    try:
        result = predicate(FieldProxy())
    except InvalidQuery:
        raise
    except (TypeError, AttributeError, ValueError, KeyError, IndexError):
        return None
    return result if _is_condition(result) else None


def _is_condition(expr: object) -> bool:
    """Whether ``expr`` is a true/false condition. A bare field (``lambda t: t.text``) is not:
    a database's truth of a value differs from Python's (the text "abc" is false in SQL), so
    such a predicate runs in Python."""
    if isinstance(expr, Compare | FieldCondition):
        return True
    if isinstance(expr, Logical):
        return all(_is_condition(p) for p in expr.parts)
    if isinstance(expr, Not):
        return _is_condition(expr.inner)
    return False


# ``a op b`` is ``b MIRROR[op] a``.
_MIRROR = {"=": "=", "!=": "!=", "<": ">", "<=": ">=", ">": "<", ">=": "<="}


class _NeedsPython(Exception):
    """The condition is right but cannot be said in the engine's terms: run it in Python."""


def bind(expr: Expr, info: TableInfo) -> Expr | None:
    """``expr`` checked against table ``info`` and ready for the engine, or ``None`` when it must
    run in Python (it reads a model attribute that is not stored, such as a property, or
    compares ``id`` with another field). Raises ``InvalidQuery`` for a field no document of
    the table can hold and for NaN."""
    try:
        return _bind(expr, info)
    except _NeedsPython:
        return None


def _bind(expr: Expr, info: TableInfo) -> Expr:
    if isinstance(expr, Compare):
        left, right, op = expr.left, expr.right, expr.op
        if _is_id(right) and not _is_id(left):
            left, right, op = right, left, _MIRROR[op]
        if _is_id(left):
            return _bind_id(op, right, info)
        return Compare(op, _bind(left, info), _bind(right, info))
    if isinstance(expr, Logical):
        return Logical(expr.op, tuple(_bind(p, info) for p in expr.parts))
    if isinstance(expr, Not):
        return Not(_bind(expr.inner, info))
    if isinstance(expr, FieldCondition):
        return _bind_condition(expr, info)
    if isinstance(expr, Literal):
        if isinstance(expr.value, float) and expr.value != expr.value:
            raise InvalidQuery(
                f"table {info.name!r}: a filter compares with NaN, which equals nothing and "
                "cannot be stored", table=info.name,
            )
        try:
            return Literal(stored_json(expr.value))  # as a document stores it (bytes tagged)
        except (TypeError, ValueError) as exc:
            raise InvalidQuery(
                f"table {info.name!r}: a filter compares with {expr.value!r}: {exc}", table=info.name
            ) from None
    if isinstance(expr, Field):
        return _bind_field(expr, info)
    raise TypeError(f"not a filter expression: {expr!r}")


def _bind_condition(expr: FieldCondition, info: TableInfo) -> Expr:
    """A field condition: on a document field (``id`` and ``creation_time`` are never
    missing, arrays or strings, and are compared with the comparison operators)."""
    item = expr.item
    if not isinstance(item, Field) or item.path == "id" or item.path == "creation_time":
        raise InvalidQuery(
            f"table {info.name!r}: {type(expr).__name__.lower()} applies to a document field, "
            f"not {_describe(item)}; compare id and creation_time with ==, <, >",
            table=info.name,
        )
    field = _bind_field(item, info)
    if isinstance(expr, In):
        return In(field, tuple(_stored(v, info) for v in expr.values))
    if isinstance(expr, Contains):
        return Contains(field, _stored(expr.value, info))
    if isinstance(expr, StartsWith):
        return StartsWith(field, expr.prefix)
    return IsMissing(field)


def _describe(item: Expr) -> str:
    return repr(item.path) if isinstance(item, Field) else "a value"


def _stored(value: Any, info: TableInfo) -> Any:
    bound = _bind(Literal(value), info)
    assert isinstance(bound, Literal)
    return bound.value


def _is_id(expr: Expr) -> bool:
    return isinstance(expr, Field) and expr.path == "id"


def _bind_id(op: str, other: Expr, info: TableInfo) -> Expr:
    """``id op other``: an id of this table compares by its row number; any other value is
    never equal to an id, and ordering against it has no sensible meaning."""
    if not isinstance(other, Literal):
        raise _NeedsPython  # id against a field holding an id string: compare the strings
    decoded = decode_id(other.value)
    if decoded is not None and decoded[0] == info.number:
        return Compare(op, SystemField("rowid"), Literal(decoded[1]))
    if op in ("=", "!="):
        return Literal(op == "!=")
    raise InvalidQuery(
        f"table {info.name!r}: a filter orders id against {other.value!r}, which is not an id "
        "of this table (ids of a table order by creation, as index by_id)",
        table=info.name, field="id",
    )


def _bind_field(field: Field, info: TableInfo) -> Expr:
    top = field.path.split(".")[0]
    if field.path == "creation_time":
        return SystemField("creation_time")
    computed = info.model.model_computed_fields  # stored too: the serializer writes them
    if top not in SYSTEM_FIELDS:
        if top in info.field_names or top in computed or info.allows_extra:
            return field
        if hasattr(info.model, top):
            raise _NeedsPython  # a property or method of the model: only Python knows it
    fields = ", ".join(sorted(info.field_names | set(computed)))
    raise InvalidQuery(
        f"table {info.name!r}: a filter reads field {field.path!r}, which no document of the "
        f"table can hold ({info.model.__name__} has {fields})",
        table=info.name, field=field.path,
    )


# -- expressions the engine does not compile: comparisons with a list or a dict ------------


def in_python(expr: Expr) -> bool:
    """Whether ``expr`` compares with a list or dict value: the engine compiles comparisons
    with scalars only, so the query evaluates such an expression with ``ExprFilter``."""
    if isinstance(expr, Literal):
        return isinstance(expr.value, list | dict)
    if isinstance(expr, Compare):
        return in_python(expr.left) or in_python(expr.right)
    if isinstance(expr, Logical):
        return any(in_python(p) for p in expr.parts)
    if isinstance(expr, Not):
        return in_python(expr.inner)
    if isinstance(expr, In):
        return any(isinstance(v, list | dict) for v in expr.values)
    if isinstance(expr, Contains):
        return isinstance(expr.value, list | dict)
    return False


_MISSING = object()


class ExprFilter:
    """A filter expression evaluated in Python on a document model, with the meaning the
    compiled SQL has (``engine/sqlite/scan.py``): values as stored (JSON: a nested model is a
    dict, a date its text, bytes ``{"$bytes": hex}``), a missing field equal to ``None``, and
    every comparison in the value order of the indexes (``core/keys.py``: null < numbers <
    booleans < strings < bytes < lists < dicts; ``[1.0] == [1]``, ``[True] != [1]``, the
    order of a dict's keys does not count)."""

    def __init__(self, expr: Expr) -> None:
        self.expr = expr

    def __call__(self, doc: Any) -> bool:
        return bool(self._eval(self.expr, doc))

    def _eval(self, expr: Expr, doc: Any) -> Any:
        if isinstance(expr, Field):
            return _resolve(doc, expr.path)
        if isinstance(expr, Literal):
            return expr.value
        if isinstance(expr, SystemField):
            if expr.name == "rowid":
                decoded = decode_id(doc.id)
                return None if decoded is None else decoded[1]
            return doc.creation_time
        if isinstance(expr, Compare):
            a, b = self._eval(expr.left, doc), self._eval(expr.right, doc)
            return _ORDER[expr.op](normalize_value(a), normalize_value(b))
        if isinstance(expr, Logical):
            parts = (self._eval(p, doc) for p in expr.parts)
            return all(parts) if expr.op == "AND" else any(parts)
        if isinstance(expr, Not):
            return not self._eval(expr.inner, doc)
        if isinstance(expr, In):
            value = normalize_value(self._eval(expr.item, doc))
            return any(value == normalize_value(v) for v in expr.values)
        if isinstance(expr, StartsWith):
            value = self._eval(expr.item, doc)
            return type(value) is str and value.startswith(expr.prefix)
        if isinstance(expr, Contains):
            value = self._eval(expr.item, doc)
            wanted = normalize_value(expr.value)
            return type(value) is list and any(normalize_value(v) == wanted for v in value)
        if isinstance(expr, IsMissing):
            return self._eval(expr.item, doc) is None
        raise TypeError(f"not a filter expression: {expr!r}")


def _resolve(doc: Any, path: str) -> Any:
    value = doc
    for part in path.split("."):
        if isinstance(value, dict):
            value = value.get(part)
        elif isinstance(value, pydantic.BaseModel):
            value = getattr(value, part, None)
        else:
            return None
    return stored_json(_jsonable(value))


def _jsonable(value: Any) -> Any:
    """JSON data with bytes kept as bytes (``stored_json`` tags them)."""
    if type(value) is bytes:
        return value
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    return pydantic_core.to_jsonable_python(value, by_alias=False)


_ORDER: dict[str, Callable[[Any, Any], bool]] = {
    "=": operator.eq, "!=": operator.ne,
    "<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge,
}
