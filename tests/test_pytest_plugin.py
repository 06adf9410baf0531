"""The pytest plugin: fusiondb_db, fusiondb_schema and fusiondb_factory, as users get them."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

import fusiondb as fdb
from fusiondb.pytest_plugin import URL_ENV, drop_schemas, new_schema_name, with_schema
from tests.models import add_task, all_tasks, schema
from tests.pg_server import postgres_url, schemas_named

pytest_plugins = ["pytester"]
__all__ = ["postgres_url"]  # a fixture, imported for the tests below


@pytest.fixture
def fusiondb_postgres_url() -> None:
    # The tests of this module that take fusiondb_db or fusiondb_factory are about the
    # in-memory and file databases (the PostgreSQL ones run in a pytester project below),
    # whether or not the run has a server URL: the fixture users override to choose.
    return None


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


def test_plugin_in_a_user_project(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(URL_ENV, raising=False)
    pytester.makeconftest(PLUGIN_CONFTEST)
    pytester.makepyfile(test_user=PLUGIN_TESTS)
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=3)


def test_missing_schema_fixture_says_what_to_do(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_user="def test_x(fusiondb_db):\n    pass\n")
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*define a fixture named fusiondb_schema*"])


URL_TESTS = """
def test_url(fusiondb_postgres_url):
    print("URL=" + repr(fusiondb_postgres_url))
"""


@pytest.mark.parametrize(
    ("option", "env", "ini", "expected"),
    [
        (None, None, None, None),
        (None, None, "postgresql://ini@h/db", "postgresql://ini@h/db"),
        (None, "postgresql://env@h/db", "postgresql://ini@h/db", "postgresql://env@h/db"),
        ("postgres://opt@h/db", "postgresql://env@h/db", "postgresql://ini@h/db", "postgres://opt@h/db"),
    ],
)
def test_the_url_comes_from_the_option_then_the_environment_then_the_ini(
    pytester: pytest.Pytester,
    monkeypatch: pytest.MonkeyPatch,
    option: str | None,
    env: str | None,
    ini: str | None,
    expected: str | None,
) -> None:
    monkeypatch.delenv(URL_ENV, raising=False)
    if env is not None:
        monkeypatch.setenv(URL_ENV, env)
    if ini is not None:
        pytester.makeini(f"[pytest]\nfusiondb_postgres_url = {ini}\n")
    pytester.makepyfile(test_user=URL_TESTS)
    args = ["-p", "no:cacheprovider", "-s"]
    if option is not None:
        args.append(f"--fusiondb-postgres-url={option}")
    result = pytester.runpytest_inprocess(*args)
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines([f"*URL={expected!r}*"])


def test_a_url_that_is_not_postgresql_is_refused(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(URL_ENV, "mysql://u@h/db")
    pytester.makepyfile(test_user=URL_TESTS)
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*should start with postgresql://*"])


def test_with_schema_sets_only_the_schema_parameter() -> None:
    url = "postgresql://u:pw@h:5433/db?sslmode=disable&schema=old"
    assert with_schema(url, "new") == "postgresql://u:pw@h:5433/db?sslmode=disable&schema=new"
    assert with_schema(url, None) == "postgresql://u:pw@h:5433/db?sslmode=disable"
    assert with_schema("postgresql://h/db", "s") == "postgresql://h/db?schema=s"


def test_new_schema_names_are_unique_plain_identifiers() -> None:
    names = {new_schema_name("Test DB.db") for _ in range(200)}
    assert len(names) == 200
    for name in names:
        assert name.startswith("fusiondb_test_") and name.endswith("_test_db_db")
        assert name.isidentifier() and name == name.lower() and len(name) <= 63
    assert len(new_schema_name("x" * 200)) == 63


def test_drop_schemas_drops_each_schema_with_everything_in_it(postgres_url: str) -> None:
    import psycopg

    names = [new_schema_name("drop"), new_schema_name("drop")]
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        for name in names:
            conn.execute(f'CREATE SCHEMA "{name}"')
            conn.execute(f'CREATE TABLE "{name}".docs (x int)')
            conn.execute(f'INSERT INTO "{name}".docs VALUES (1)')
    assert schemas_named(postgres_url, "fusiondb_test_") >= set(names)
    drop_schemas(with_schema(postgres_url, "ignored"), names)
    assert not schemas_named(postgres_url, "fusiondb_test_") & set(names)
    drop_schemas(postgres_url, names)  # gone already: nothing to do, no error


PG_TESTS = """
import fusiondb as fdb

paths = []

@fdb.mutation
def add(db, name):
    return db.insert("items", {"name": name})

@fdb.query
def names(db):
    return [i.name for i in db.query("items").collect()]

def test_first(fusiondb_db):
    assert fusiondb_db.run(names) == []
    fusiondb_db.run(add, name="x")
    paths.append(fusiondb_db.path)

def test_second(fusiondb_db, fusiondb_factory):
    assert fusiondb_db.run(names) == []
    fusiondb_db.run(add, name="y")
    again = fusiondb_factory(fusiondb_db.schema)  # the same name: the same database
    assert again.run(names) == ["y"]
    other = fusiondb_factory(fusiondb_db.schema, name="other")
    assert other.run(names) == []
    paths.extend([fusiondb_db.path, other.path])

def test_report():
    print("PATHS=" + " ".join(paths))
"""


def test_on_postgresql_each_test_gets_a_schema_of_its_own_dropped_after(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, postgres_url: str
) -> None:
    monkeypatch.delenv(URL_ENV, raising=False)
    before = schemas_named(postgres_url, "fusiondb_test_")
    pytester.makeconftest(PLUGIN_CONFTEST)
    pytester.makepyfile(test_user=PG_TESTS)
    result = pytester.runpytest_inprocess(
        "-p", "no:cacheprovider", "-s", f"--fusiondb-postgres-url={postgres_url}"
    )
    result.assert_outcomes(passed=3)
    line = next(x for x in result.outlines if "PATHS=" in x)  # after pytest's progress dots
    paths = line.split("PATHS=", 1)[1].split()
    schemas = [p.rsplit("schema=", 1)[1] for p in paths]
    assert len(paths) == 3 and len(set(schemas)) == 3
    assert all(p.startswith(postgres_url) for p in paths)
    assert all(s.startswith("fusiondb_test_") for s in schemas)
    # Every schema the run made is gone, with its tables.
    assert schemas_named(postgres_url, "fusiondb_test_") == before


def test_the_docs_page_names_the_three_ways_to_give_the_url() -> None:
    page = (Path(__file__).resolve().parent.parent / "docs" / "testing.md").read_text()
    for way in (URL_ENV, "--fusiondb-postgres-url", "fusiondb_postgres_url"):
        assert way in page
