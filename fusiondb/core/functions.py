"""``@fdb.query`` and ``@fdb.mutation``: mark a function as read-only or read-write.

The decorated object is still callable as the plain function (``fn(db, **args)``), so a query
can call another query, or a mutation a query or another mutation, inside the same
transaction. A mutation called so from a running mutation runs in a savepoint (``Nesting``):
if it raises, its writes are undone, even when the caller catches the exception.

Mistakes in how a function is declared are refused when it is decorated (an ``async def``, no
parameter for the ``db``), and mistakes in how it is called (positional, unknown or missing
arguments) when it is run, naming the function and its parameters.
"""

from __future__ import annotations

import functools
import inspect
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from typing import Any, Generic, ParamSpec, TypeVar

from .errors import FusionError

P = ParamSpec("P")
R = TypeVar("R")

_PARAM = inspect.Parameter
_BY_KEYWORD = (_PARAM.POSITIONAL_OR_KEYWORD, _PARAM.KEYWORD_ONLY)
_TAKES_DB = (_PARAM.POSITIONAL_ONLY, _PARAM.POSITIONAL_OR_KEYWORD, _PARAM.VAR_POSITIONAL)


class Nesting(ABC):
    """The ``db`` of a running mutation (``transaction.Writer``): a mutation called with it
    runs inside ``_nested()``, which undoes the writes made in it if it exits by an exception."""

    @abstractmethod
    def _nested(self) -> AbstractContextManager[None]: ...


class _Params:
    """A function's parameters after the ``db``, to check the arguments of ``db.run``."""

    __slots__ = ("db", "names", "order", "required", "shown", "var_keyword")

    def __init__(self, sig: inspect.Signature) -> None:
        params = list(sig.parameters.values())
        first = params[0]
        takes_db = first.kind is not _PARAM.VAR_POSITIONAL  # else *args takes it
        rest = params[1:] if takes_db else params
        self.db = first.name if takes_db else None
        self.order = tuple(p.name for p in rest if p.kind in _BY_KEYWORD)
        self.names = frozenset(self.order)
        self.required = frozenset(
            p.name for p in rest if p.kind in _BY_KEYWORD and p.default is _PARAM.empty
        )
        self.var_keyword = any(p.kind is _PARAM.VAR_KEYWORD for p in params)
        # The signature as a reader of an error wants it: no annotations.
        self.shown = str(sig.replace(
            parameters=[p.replace(annotation=_PARAM.empty) for p in params],
            return_annotation=inspect.Signature.empty,
        ))

    def fits(self, args: Mapping[str, Any]) -> bool:
        keys = args.keys()
        known = keys <= self.names or (self.var_keyword and self.db not in keys)
        return known and self.required <= keys


class _Function(Generic[P, R]):
    kind = ""

    def __init__(self, fn: Callable[P, R]) -> None:
        if not callable(fn):
            raise TypeError(f"@fdb.{self.kind} decorates a function, got {fn!r}")
        self.fn = fn
        functools.update_wrapper(self, fn)
        name = describe(fn)
        if inspect.iscoroutinefunction(fn) or inspect.isasyncgenfunction(fn):
            raise TypeError(
                f"@fdb.{self.kind} {name} is an async def: fusiondb functions are synchronous "
                f"(a transaction runs start to end on one thread). Declare it with def, and "
                f"from asyncio run it in a thread: await db.run_async({name}, ...)"
            )
        try:
            sig = inspect.signature(fn)
        except (TypeError, ValueError):  # no signature to check (some builtins)
            self._params: _Params | None = None
            return
        first = next(iter(sig.parameters.values()), None)
        if first is None or first.kind not in _TAKES_DB:
            raise TypeError(
                f"@fdb.{self.kind} {name}{sig}: the first parameter must be the db the "
                f"function is given, then its arguments: def {name}(db, ...)"
            )
        self._params = _Params(sig)

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
        return self.fn(*args, **kwargs)

    def __repr__(self) -> str:
        return f"<fdb.{self.kind} {getattr(self.fn, '__qualname__', self.fn)!r}>"

    def check_args(self, how: str, positional: tuple[Any, ...], args: Mapping[str, Any]) -> None:
        """Refuse arguments ``fn`` cannot take from ``how`` (``"db.run"``) with a TypeError
        naming the function and its parameters; the common case is one C-level set check."""
        params = self._params
        if params is None or (not positional and params.fits(args)):
            return
        name = describe(self.fn)
        if positional:
            given = zip(params.order, positional, strict=False)  # stops at the shorter
            example = ", ".join(f"{k}={v!r}" for k, v in given) or "name=value"
            problem = f"pass arguments by keyword: {how}({name}, {example})"
        elif params.db in args:
            problem = (
                f"its first parameter, {params.db!r}, is where the db goes; "
                f"declare the db first: def {name}(db, {params.db}, ...)"
            )
        else:
            unknown = set() if params.var_keyword else args.keys() - params.names
            missing = params.required - args.keys()
            parts = []
            if unknown:
                parts.append(f"unknown {_names(unknown)}")
            if missing:
                parts.append(f"missing {_names(missing)}")
            problem = ", ".join(parts)
        raise TypeError(f"{how}({name}): {problem}; the function is {name}{params.shown}")


class QueryFunction(_Function[P, R]):
    """A read-only function: runs on one snapshot; can be subscribed to."""

    kind = "query"


class MutationFunction(_Function[P, R]):
    """A read-write function: runs as one serializable transaction, all or nothing.

    Called from a running mutation (``other(db, **args)``), it runs in a savepoint: if it
    raises, its writes are undone and the exception goes on to the caller (as Convex's
    ``ctx.runMutation``).
    """

    kind = "mutation"

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
        db = args[0] if args else None
        if not isinstance(db, Nesting):
            return self.fn(*args, **kwargs)
        with db._nested():
            return self.fn(*args, **kwargs)


def query(fn: Callable[P, R]) -> QueryFunction[P, R]:
    """Declare a query: ``@fdb.query def f(db, **args)``; ``db`` can read but not write."""
    return QueryFunction(fn)


def mutation(fn: Callable[P, R]) -> MutationFunction[P, R]:
    """Declare a mutation: ``@fdb.mutation def f(db, **args)``; all its writes commit together."""
    return MutationFunction(fn)


def describe(fn: Any) -> str:
    return getattr(fn, "__qualname__", None) or repr(fn)


def nested_run_error(fn: Any = None) -> FusionError:
    """``db.run(fn)`` from inside a running function: say what to do instead."""
    name = "other_fn" if fn is None else describe(fn)
    return FusionError(
        f"db.run({'' if fn is None else name}) inside a running query or mutation: call the "
        f"other function directly with the db you were given, e.g. {name}(db, **args) (a "
        "mutation called so runs in a savepoint: if it raises, its writes are undone)"
    )


def _names(names: Any) -> str:
    listed = sorted(names)
    return f"argument{'s' if len(listed) > 1 else ''} {', '.join(map(repr, listed))}"
