"""Filter expressions: ``.filter(lambda q: (q.completed == False) & (q.user_id == "u1"))``.

The predicate is called once with a ``FieldProxy``; field access and comparisons build an
``Expr`` tree, which the engine compiles to its own query language (SQL over the stored JSON,
for SQLite: ``engine/sqlite/scan.py``), so the database does the filtering. If the predicate
does something an expression cannot say (``len(...)``, ``and``/``or``, a method call), the
query falls back to calling it on each document in Python.
The Convex spelling works too: ``lambda q: q.eq(q.field("completed"), False)``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .errors import InvalidQuery
from .keys import value_problem
from .schema import FIELD_RE

# Values a compiled expression can compare a field with.
VALUE_TYPES = (str, int, float, bool, type(None))


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
    path: str

    def __getattr__(self, name: str) -> Field:
        if name.startswith("__") or not FIELD_RE.match(name):
            raise AttributeError(name)
        return Field(f"{self.path}.{name}")


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


def _lift(value: object) -> Expr:
    if isinstance(value, Expr):
        return value
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
    if isinstance(expr, Compare):
        return True
    if isinstance(expr, Logical):
        return all(_is_condition(p) for p in expr.parts)
    if isinstance(expr, Not):
        return _is_condition(expr.inner)
    return False
