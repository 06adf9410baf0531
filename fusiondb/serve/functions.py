"""The functions an app exposes: by name, with their arguments' validator and result encoder.

Each listed ``@fdb.query`` / ``@fdb.mutation`` is exposed under its function name. Arguments
arriving as JSON are validated against the function's annotations (a pydantic model built
from its signature, extra arguments refused); results are encoded with the models' own
serializers (``pydantic_core.to_json``: a document's ``id`` and ``creation_time`` included).
A parameter named ``identity`` is not an argument: it receives what the app's
``authenticate`` hook returned.
"""

from __future__ import annotations

import importlib
import inspect
import typing
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import pydantic
import pydantic_core

from ..core.errors import FusionError
from ..core.functions import MutationFunction, QueryFunction

IDENTITY = "identity"
Function = QueryFunction[..., Any] | MutationFunction[..., Any]


class BadArguments(Exception):
    """Arguments that do not fit the function; ``message`` names the fields."""

    def __init__(self, message: str, fields: list[str]) -> None:
        super().__init__(message)
        self.fields = fields


@dataclass(frozen=True)
class Exposed:
    """One exposed function."""

    name: str
    fn: Function
    kind: str  # "query" or "mutation"
    args_model: type[pydantic.BaseModel]
    result_type: Any  # the return annotation (Any when there is none)
    takes_identity: bool

    def validate(self, raw: object) -> dict[str, Any]:
        """Keyword arguments for ``db.run`` from decoded JSON; ``BadArguments`` otherwise."""
        if raw is None:
            raw = {}
        if not isinstance(raw, Mapping):
            raise BadArguments(
                f"{self.name}: arguments must be a JSON object, got {type(raw).__name__}", []
            )
        try:
            model = self.args_model.model_validate(dict(raw))
        except pydantic.ValidationError as exc:
            problems = []
            fields = []
            for err in exc.errors(include_url=False):
                where = ".".join(str(p) for p in err["loc"]) or "(arguments)"
                fields.append(where)
                problems.append(f"{where!r}: {err['msg']}")
            raise BadArguments(f"{self.name}: bad arguments: {'; '.join(problems)}", fields) from None
        # Validated values, field by field (models stay models), only those given or defaulted.
        return {name: getattr(model, name) for name in type(model).model_fields}


def encode(value: Any) -> bytes:
    """JSON of a function's result, with the models' own serializers."""
    return pydantic_core.to_json(value)


def expose(fn: Function) -> Exposed:
    """Describe one function for serving (``TypeError`` for what is not a fusiondb function)."""
    if isinstance(fn, QueryFunction):
        kind = "query"
    elif isinstance(fn, MutationFunction):
        kind = "mutation"
    else:
        raise TypeError(f"fusiondb.serve exposes @fdb.query and @fdb.mutation functions, got {fn!r}")
    inner = fn.fn
    name = getattr(inner, "__name__", None)
    if not isinstance(name, str) or not name.isidentifier():
        raise TypeError(f"fusiondb.serve: {fn!r} has no usable name")
    sig = inspect.signature(inner)
    try:
        hints = typing.get_type_hints(inner, include_extras=True)
    except Exception as exc:  # an annotation that does not resolve: say which function
        raise TypeError(f"fusiondb.serve: the annotations of {name} do not resolve: {exc}") from exc
    params = list(sig.parameters.values())[1:]  # the first is the db
    fields: dict[str, Any] = {}
    takes_identity = False
    for p in params:
        if p.name == IDENTITY:
            takes_identity = True
            continue
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD, p.POSITIONAL_ONLY):
            raise TypeError(
                f"fusiondb.serve: {name} takes *{p.name}; served functions take named arguments"
            )
        annotation = hints.get(p.name, Any)
        default = ... if p.default is p.empty else p.default
        fields[p.name] = (annotation, default)
    model = pydantic.create_model(  # type: ignore[call-overload]
        f"{name}_args",
        __config__=pydantic.ConfigDict(extra="forbid", arbitrary_types_allowed=True),
        **fields,
    )
    return Exposed(name, fn, kind, model, hints.get("return", Any), takes_identity)


class Registry:
    """The exposed functions by name."""

    def __init__(self, functions: Iterable[Function] | ModuleType) -> None:
        listed = collect(functions) if isinstance(functions, ModuleType) else list(functions)
        self.by_name: dict[str, Exposed] = {}
        for fn in listed:
            exposed = expose(fn)
            if exposed.name in self.by_name and self.by_name[exposed.name].fn is not fn:
                raise FusionError(f"fusiondb.serve: two functions are named {exposed.name!r}")
            self.by_name[exposed.name] = exposed

    def get(self, name: str) -> Exposed | None:
        return self.by_name.get(name)


def collect(module: ModuleType) -> list[Function]:
    """Every ``@fdb.query`` / ``@fdb.mutation`` a module defines (or imports), by name order."""
    found = [
        value
        for _, value in sorted(vars(module).items())
        if isinstance(value, QueryFunction | MutationFunction)
    ]
    return found


def load_module(path: str) -> ModuleType:
    """Import ``myapp.functions`` (the current directory is on the path, as ``python -m``)."""
    import sys

    if "" not in sys.path and "." not in sys.path:
        sys.path.insert(0, "")
    try:
        return importlib.import_module(path)
    except ImportError as exc:
        raise FusionError(f"--functions {path}: cannot import it: {exc}") from exc
