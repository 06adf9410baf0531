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
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from .core.schema import Schema
from .database import Database, open


@pytest.fixture
def fusiondb_schema() -> Schema:
    """Override in your conftest.py to return your application's ``fdb.Schema``."""
    raise pytest.UsageError(
        "the fusiondb_db fixture needs your schema: define a fixture named fusiondb_schema "
        "in conftest.py that returns your fdb.Schema"
    )


@pytest.fixture
def fusiondb_factory(tmp_path: Path) -> Iterator[Callable[..., Database]]:
    """``fusiondb_factory(schema, file=False)``: open databases that are closed after the test."""
    opened: list[Database] = []

    def make(schema: Schema, *, file: bool = False, name: str = "test.db") -> Database:
        db = open(tmp_path / name if file else None, schema)
        opened.append(db)
        return db

    yield make
    for db in opened:
        db.close()


@pytest.fixture
def fusiondb_db(
    fusiondb_schema: Schema, fusiondb_factory: Callable[..., Database]
) -> Database:
    """A fresh in-memory database with ``fusiondb_schema``, closed after the test."""
    return fusiondb_factory(fusiondb_schema)
