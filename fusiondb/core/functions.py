"""``@fdb.query`` and ``@fdb.mutation``: mark a function as read-only or read-write.

The decorated object is still callable as the plain function (``fn(db, **args)``), so a query
can call another query, or a mutation a query, inside the same transaction.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, Generic, ParamSpec, TypeVar

P = ParamSpec("P")
R = TypeVar("R")


class _Function(Generic[P, R]):
    kind = ""

    def __init__(self, fn: Callable[P, R]) -> None:
        if not callable(fn):
            raise TypeError(f"@fdb.{self.kind} decorates a function, got {fn!r}")
        self.fn = fn
        functools.update_wrapper(self, fn)

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
        return self.fn(*args, **kwargs)

    def __repr__(self) -> str:
        return f"<fdb.{self.kind} {getattr(self.fn, '__qualname__', self.fn)!r}>"


class QueryFunction(_Function[P, R]):
    """A read-only function: runs on one snapshot; can be subscribed to."""

    kind = "query"


class MutationFunction(_Function[P, R]):
    """A read-write function: runs as one serializable transaction, all or nothing."""

    kind = "mutation"


def query(fn: Callable[P, R]) -> QueryFunction[P, R]:
    """Declare a query: ``@fdb.query def f(db, **args)``; ``db`` can read but not write."""
    return QueryFunction(fn)


def mutation(fn: Callable[P, R]) -> MutationFunction[P, R]:
    """Declare a mutation: ``@fdb.mutation def f(db, **args)``; all its writes commit together."""
    return MutationFunction(fn)


def describe(fn: Any) -> str:
    return getattr(fn, "__qualname__", None) or repr(fn)
