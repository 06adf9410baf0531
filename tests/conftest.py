"""Shared fixtures: one database factory, run over an in-memory and a file database, and a
PostgreSQL one when ``FUSIONDB_POSTGRES_URL`` is set.

``make_db(schema=..., **options)`` opens a database of the current kind ("memory", "file" or
"postgres", the fixture's params) with ``fdb.open`` options passed through; every database it
opened is closed after the test. ``db`` is ``make_db()`` with the shared schema of
``tests.models``, so every test that takes ``db`` (or ``make_db``) runs on each kind.
``make_file_db`` and ``file_db`` are the same on a SQLite file only, for behaviour that needs
one (the file itself, its backup). On PostgreSQL each database is a fresh schema of the
server's database (``?schema=fdbtest_<random>``), dropped with everything in it after the test.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import fusiondb as fdb
from tests.models import schema as models_schema

POSTGRES_URL = os.environ.get("FUSIONDB_POSTGRES_URL", "")
KINDS = ["memory", "file", *(["postgres"] if POSTGRES_URL else [])]


def postgres_url(schema: str) -> str:
    """``FUSIONDB_POSTGRES_URL`` with ``?schema=`` (or ``&schema=``) added."""
    return f"{POSTGRES_URL}{'&' if '?' in POSTGRES_URL else '?'}schema={schema}"


def drop_postgres_schema(schema: str) -> None:
    import psycopg

    base = POSTGRES_URL.split("?", 1)[0]
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


class DbFactory:
    """``factory(schema=..., **options)``: open a database of one kind; ``close_all()`` after.

    File databases go to fresh files in ``directory`` (``test.db``, ``test-2.db``, ...), so two
    calls never share a file.
    """

    def __init__(self, kind: str, directory: Path) -> None:
        assert kind in KINDS, kind
        self.kind = kind
        self.directory = directory
        self.opened: list[fdb.Database] = []
        self.schemas: list[str] = []

    def __call__(self, schema: fdb.Schema = models_schema, **options: Any) -> fdb.Database:
        database = fdb.open(self._new_path(), schema, **options)
        self.opened.append(database)
        return database

    def _new_path(self) -> Path | str | None:
        if self.kind == "memory":
            return None
        if self.kind == "postgres":
            name = f"fdbtest_{uuid.uuid4().hex[:16]}"
            self.schemas.append(name)
            return postgres_url(name)
        path, n = self.directory / "test.db", 1
        while path.exists():
            n += 1
            path = self.directory / f"test-{n}.db"
        return path

    def close_all(self) -> None:
        for database in self.opened:
            database.close()  # closing twice is fine, so tests may close their own
        for name in self.schemas:
            drop_postgres_schema(name)


@pytest.fixture(params=KINDS)
def db_kind(request: pytest.FixtureRequest) -> str:
    """The kind of database this run of the test uses: "memory", "file" or "postgres"."""
    return str(request.param)


@pytest.fixture
def make_db(db_kind: str, tmp_path: Path) -> Iterator[DbFactory]:
    factory = DbFactory(db_kind, tmp_path)
    yield factory
    factory.close_all()


@pytest.fixture
def make_file_db(tmp_path: Path) -> Iterator[DbFactory]:
    factory = DbFactory("file", tmp_path)
    yield factory
    factory.close_all()


@pytest.fixture
def db(make_db: DbFactory) -> fdb.Database:
    return make_db()


@pytest.fixture
def file_db(make_file_db: DbFactory) -> fdb.Database:
    return make_file_db()


@pytest.fixture
def fusiondb_schema() -> fdb.Schema:
    return models_schema


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Under ``make stress`` (FUSIONDB_STRESS=1): the figures the reliability suites recorded."""
    from tests.stress_workers import FIGURES, STRESS

    if not STRESS or not FIGURES:
        return
    terminalreporter.section("fusiondb stress figures")
    for suite, figures in FIGURES.items():
        terminalreporter.write_line(f"{suite}: " + ", ".join(f"{k}={v}" for k, v in figures.items()))
