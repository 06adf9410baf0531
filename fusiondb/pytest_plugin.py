"""fusiondb's pytest plugin (registered through the ``pytest11`` entry point).

Gives every test suite that installs fusiondb an ephemeral database per test::

    # conftest.py
    import pytest
    from myapp import schema

    @pytest.fixture
    def fusiondb_schema():
        return schema

    # test_tasks.py
    def test_add(fusiondb_db):
        fusiondb_db.run(add, text="milk", user_id="u1")

``fusiondb_db`` is in memory, fresh for each test and closed after it. A test that needs
another schema, or a file, calls the ``fusiondb_factory`` fixture instead.

With a PostgreSQL server URL (``--fusiondb-postgres-url``, the ``FUSIONDB_POSTGRES_URL``
environment variable or the ``fusiondb_postgres_url`` ini option, in that order), each test's
database is a fresh PostgreSQL schema of a unique name in that server's database (the URL with
``?schema=NAME``), dropped with everything in it (``DROP SCHEMA ... CASCADE``) after the test.
"""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import pytest

from .core.schema import Schema
from .database import Database, open

URL_ENV = "FUSIONDB_POSTGRES_URL"
URL_OPTION = "--fusiondb-postgres-url"
URL_INI = "fusiondb_postgres_url"
SCHEMES = ("postgresql://", "postgres://")
# Test schemas are named fusiondb_test_<random>_<name>: a plain PostgreSQL identifier.
SCHEMA_PREFIX = "fusiondb_test_"
_NOT_NAME = re.compile(r"[^a-z0-9_]+")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        URL_OPTION,
        default=None,
        metavar="URL",
        help=f"Give fusiondb_db a fresh PostgreSQL schema per test on this server "
        f"(postgresql://user@host:port/dbname); default: ${URL_ENV}, else in memory.",
    )
    parser.addini(URL_INI, default="", help="fusiondb_db on PostgreSQL: the server's URL.")


def configured_url(config: pytest.Config) -> str | None:
    """The PostgreSQL URL the run was given (option, then environment, then ini), or ``None``."""
    url = config.getoption(URL_OPTION) or os.environ.get(URL_ENV) or config.getini(URL_INI)
    if not url:
        return None
    if not str(url).startswith(SCHEMES):
        raise pytest.UsageError(
            f"fusiondb: the PostgreSQL URL {url!r} should start with postgresql:// "
            "(e.g. postgresql://user@127.0.0.1:5432/dbname)"
        )
    return str(url)


def with_schema(url: str, schema: str | None) -> str:
    """``url`` with its ``schema`` query parameter set to ``schema`` (``None``: taken out);
    every other parameter is kept."""
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != "schema"]
    if schema is not None:
        query.append(("schema", schema))
    return urlunsplit(parts._replace(query=urlencode(query)))


def new_schema_name(name: str) -> str:
    """A new schema name for one test database: unique, lower case, at most 63 characters."""
    tail = _NOT_NAME.sub("_", name.lower()).strip("_") or "db"
    return f"{SCHEMA_PREFIX}{secrets.token_hex(6)}_{tail}"[:63]


def drop_schemas(url: str, schemas: list[str]) -> None:
    """``DROP SCHEMA ... CASCADE`` each of ``schemas`` on the server of ``url``."""
    if not schemas:
        return
    try:
        import psycopg
        from psycopg import sql
    except ImportError:  # pragma: no cover (the postgres extra brings it)
        raise pytest.UsageError(
            "fusiondb on PostgreSQL needs the 'postgres' extra: pip install 'fusiondb[postgres]'"
        ) from None
    with psycopg.connect(with_schema(url, None), autocommit=True) as conn:
        for name in schemas:
            conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(name)))


@pytest.fixture
def fusiondb_schema() -> Schema:
    """Override in your conftest.py to return your application's ``fdb.Schema``."""
    raise pytest.UsageError(
        "the fusiondb_db fixture needs your schema: define a fixture named fusiondb_schema "
        "in conftest.py that returns your fdb.Schema"
    )


@pytest.fixture
def fusiondb_postgres_url(pytestconfig: pytest.Config) -> str | None:
    """The PostgreSQL server the databases of this test go to, or ``None`` (in memory).

    From ``--fusiondb-postgres-url``, ``$FUSIONDB_POSTGRES_URL`` or the ``fusiondb_postgres_url``
    ini option; override it (returning ``None`` or a URL) to choose per module or test.
    """
    return configured_url(pytestconfig)


@pytest.fixture
def fusiondb_factory(tmp_path: Path, fusiondb_postgres_url: str | None) -> Iterator[Callable[..., Database]]:
    """``fusiondb_factory(schema, file=False, name="test.db")``: open databases that are closed
    after the test: in memory (with a PostgreSQL URL: a fresh PostgreSQL schema), or with
    ``file=True`` a SQLite file in ``tmp_path``. On a file or PostgreSQL, the same ``name``
    opens the same database again (as a second app process would)."""
    opened: list[Database] = []
    schemas: dict[str, str] = {}  # name -> PostgreSQL schema made for it

    def make(schema: Schema, *, file: bool = False, name: str = "test.db") -> Database:
        if file:
            where: str | Path | None = tmp_path / name
        elif fusiondb_postgres_url is not None:
            pg_schema = schemas.setdefault(name, new_schema_name(name))
            where = with_schema(fusiondb_postgres_url, pg_schema)
        else:
            where = None
        db = open(where, schema)
        opened.append(db)
        return db

    try:
        yield make
    finally:
        for db in opened:
            db.close()
        if fusiondb_postgres_url is not None:
            drop_schemas(fusiondb_postgres_url, list(schemas.values()))


@pytest.fixture
def fusiondb_db(fusiondb_schema: Schema, fusiondb_factory: Callable[..., Database]) -> Database:
    """A fresh database with ``fusiondb_schema``, closed after the test: in memory, or a
    PostgreSQL schema of its own when a server URL is set (dropped after the test)."""
    return fusiondb_factory(fusiondb_schema)
