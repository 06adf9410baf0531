"""The URL contract: ``postgresql://user@host:port/dbname?schema=NAME``.

The optional ``schema`` query parameter names the PostgreSQL schema (namespace) that holds
every fusiondb table of the database (created if missing; default ``public``). It is taken
out of the URL before connecting; every other parameter goes to libpq as it is.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from ...core.errors import InvalidArgument

SCHEMES = ("postgresql://", "postgres://")
DEFAULT_SCHEMA = "public"
# A plain identifier: no quoting needed anywhere, and within PostgreSQL's 63-byte names.
SCHEMA_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")


def is_postgres_url(path: str) -> bool:
    return path.startswith(SCHEMES)


def split_url(url: str) -> tuple[str, str]:
    """``(libpq connection URL without schema=, schema name)``."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    schemas = [v for k, v in query if k == "schema"]
    rest = [(k, v) for k, v in query if k != "schema"]
    schema = schemas[-1] if schemas else DEFAULT_SCHEMA
    if not SCHEMA_RE.match(schema):
        raise InvalidArgument(
            f"the URL's schema parameter {schema!r} is not a plain PostgreSQL name: use letters, "
            "digits and underscores (at most 63, not starting with a digit), e.g. ?schema=app"
        )
    return urlunsplit(parts._replace(query=urlencode(rest))), schema


def redacted(url: str) -> str:
    """The URL without its password (for messages and ``repr``)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))
