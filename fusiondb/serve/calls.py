"""Running one exposed function for a request, and turning what went wrong into a status.

Every outcome is ``(status, body)``: 200 and the result's JSON, or an error status and a
message a client can show. Nothing raised by a function reaches the server as a traceback:
a ``FusionError`` is the caller's problem (400, its message), anything else is ours (500, a
generic message, the traceback logged server-side).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import orjson

from ..core.errors import FusionError
from ..database import Database
from .functions import IDENTITY, BadArguments, Exposed, Registry, encode

log = logging.getLogger("fusiondb.serve")

INTERNAL = "internal server error (logged on the server)"


class CallError(Exception):
    """A request that gets an error status and a message."""

    def __init__(self, status: int, message: str, fields: list[str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.fields = fields or []

    def body(self) -> dict[str, Any]:
        out: dict[str, Any] = {"status": self.status, "message": self.message}
        if self.fields:
            out["fields"] = self.fields
        return out


def find(registry: Registry, name: object, kind: str | None = None) -> Exposed:
    """The exposed function ``name`` (of ``kind`` if given); 404 otherwise."""
    exposed = registry.get(name) if isinstance(name, str) else None
    if exposed is None:
        raise CallError(404, f"no function {name!r} is exposed")
    if kind is not None and exposed.kind != kind:
        raise CallError(400, f"{name!r} is a {exposed.kind}, not a {kind}")
    return exposed


def arguments(exposed: Exposed, raw: object, identity: Any) -> dict[str, Any]:
    """Validated keyword arguments, with ``identity`` added where the function takes it."""
    try:
        args = exposed.validate(raw)
    except BadArguments as exc:
        raise CallError(422, str(exc), exc.fields) from None
    if exposed.takes_identity:
        args[IDENTITY] = identity
    return args


def failure(exc: BaseException, what: str) -> CallError:
    """The status and message for an exception a function (or fusiondb) raised."""
    if isinstance(exc, CallError):
        return exc
    if isinstance(exc, FusionError):
        return CallError(400, str(exc))
    log.error("fusiondb.serve: %s raised", what, exc_info=exc)
    return CallError(500, INTERNAL)


async def call(db: Database, exposed: Exposed, args: dict[str, Any]) -> bytes:
    """Run the function on a worker thread; its result as JSON, or a ``CallError``."""
    try:
        return await asyncio.to_thread(run_encoded, db, exposed, args)
    except Exception as exc:
        raise failure(exc, exposed.name) from None


def run_encoded(db: Database, exposed: Exposed, args: dict[str, Any]) -> bytes:
    """Run the function here (a worker thread); its result as JSON."""
    return encode(db.run(exposed.fn, **args))


def parse_json(data: bytes | str, limit: int) -> Any:
    """Decoded JSON of a request body or message; 413 above ``limit`` bytes, 400 if malformed."""
    if len(data) > limit:
        raise CallError(413, f"message too large: {len(data)} bytes (limit {limit})")
    if not data:
        return None
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise CallError(400, f"malformed JSON: {exc}") from None
