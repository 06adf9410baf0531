"""Shared fixtures: every test that takes ``db`` runs on an in-memory and a file database."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

import fusiondb as fdb
from tests.models import schema


@pytest.fixture(params=["memory", "file"])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[fdb.Database]:
    path = None if request.param == "memory" else tmp_path / "test.db"
    database = fdb.open(path, schema)
    yield database
    database.close()


@pytest.fixture
def file_db(tmp_path: Path) -> Iterator[fdb.Database]:
    database = fdb.open(tmp_path / "test.db", schema)
    yield database
    database.close()


@pytest.fixture
def fusiondb_schema() -> fdb.Schema:
    return schema
