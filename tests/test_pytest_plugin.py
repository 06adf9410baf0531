"""The pytest plugin: fusiondb_db, fusiondb_schema and fusiondb_factory, as users get them."""

from __future__ import annotations

from collections.abc import Callable

import pytest

import fusiondb as fdb
from tests.models import add_task, all_tasks, schema

pytest_plugins = ["pytester"]


def test_plugin_is_registered_through_the_entry_point(pytestconfig: pytest.Config) -> None:
    plugin = pytestconfig.pluginmanager.get_plugin("fusiondb")
    assert plugin is not None and plugin.__name__ == "fusiondb.pytest_plugin"


@pytest.mark.parametrize("run", [1, 2, 3])
def test_each_test_gets_a_fresh_empty_database(fusiondb_db: fdb.Database, run: int) -> None:
    # Every run starts empty, whichever ran before it and whatever it wrote.
    assert fusiondb_db.run(all_tasks) == []
    assert fusiondb_db.path is None and not fusiondb_db.closed
    for i in range(run):
        fusiondb_db.run(add_task, text=str(i), user_id="u")
    assert len(fusiondb_db.run(all_tasks)) == run


def test_factory_opens_memory_and_file_databases(fusiondb_factory: Callable[..., fdb.Database]) -> None:
    mem = fusiondb_factory(schema)
    disk = fusiondb_factory(schema, file=True)
    other = fusiondb_factory(schema, file=True, name="other.db")
    assert mem.path is None
    assert disk.path is not None and disk.path.endswith("test.db")
    assert other.path is not None and other.path.endswith("other.db")
    disk.run(add_task, text="a", user_id="u")
    assert mem.run(all_tasks) == [] and other.run(all_tasks) == []
    assert [t.text for t in disk.run(all_tasks)] == ["a"]


PLUGIN_CONFTEST = """
import pytest
import fusiondb as fdb

class Item(fdb.Document):
    name: str

SCHEMA = fdb.Schema(items=fdb.table(Item))

@pytest.fixture
def fusiondb_schema():
    return SCHEMA
"""

PLUGIN_TESTS = """
import fusiondb as fdb

opened = []

@fdb.mutation
def add(db, name):
    return db.insert("items", {"name": name})

@fdb.query
def names(db):
    return [i.name for i in db.query("items").collect()]

def test_first(fusiondb_db):
    assert fusiondb_db.run(names) == []
    fusiondb_db.run(add, name="x")
    opened.append(fusiondb_db)

def test_second(fusiondb_db, fusiondb_factory):
    assert fusiondb_db.run(names) == []
    assert fusiondb_db is not opened[0]
    opened.append(fusiondb_factory(fusiondb_db.schema, file=True))

def test_all_closed_after_their_test():
    assert len(opened) == 2 and all(db.closed for db in opened)
"""


def test_plugin_in_a_user_project(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(PLUGIN_CONFTEST)
    pytester.makepyfile(test_user=PLUGIN_TESTS)
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=3)


def test_missing_schema_fixture_says_what_to_do(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_user="def test_x(fusiondb_db):\n    pass\n")
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*define a fixture named fusiondb_schema*"])
