"""First contact with functions (issue 15): a mutation called from a mutation runs in a
savepoint; mistakes in declaring or calling a function get a typed error saying what to do;
``db.migrate`` with ``{**doc, ...}`` works after a field was removed."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pytest

import fusiondb as fdb
from tests.conftest import DbFactory
from tests.models import Task, add_task, all_tasks, list_by_user


class Post(fdb.Document):
    text: str
    user_id: str


class Note(fdb.Document):
    title: str = ""


schema = fdb.Schema(
    tasks=fdb.table(Task).index("by_user", ["user_id"]),
    notes=fdb.table(Note),
    posts=fdb.table(Post).search_index("by_text", search_field="text"),
)


@pytest.fixture
def db(make_db: DbFactory) -> fdb.Database:
    """This file's schema on each kind of database (conftest's ``make_db``)."""
    return make_db(schema)


class Oops(Exception):
    pass


@fdb.mutation
def add_then_fail(db: fdb.Writer, text: str, user_id: str) -> None:
    db.insert("tasks", {"text": text, "user_id": user_id})
    db.insert("posts", {"text": text, "user_id": user_id})
    raise Oops(text)


@fdb.query
def search(db: fdb.Reader, text: str) -> list[str]:
    q = db.query("posts").with_search_index("by_text", lambda q: q.search("text", text))
    return [p.text for p in q.collect()]


def counted(runs: Counter[str], fn: Any) -> Any:
    """``fn`` as a query that counts its runs under its name."""

    @fdb.query
    def query(db: fdb.Reader, **args: Any) -> Any:
        runs[fn.__name__] += 1
        return fn(db, **args)

    return query


# -- a mutation called from a mutation -----------------------------------------------------


def test_nested_mutation_that_raises_is_rolled_back_and_subscribers_are_not_told(
    db: fdb.Database,
) -> None:
    runs: Counter[str] = Counter()
    ghost_tasks = db.subscribe(counted(runs, list_by_user), user_id="ghost")
    ghost_posts = db.subscribe(counted(runs, search), text="boo")
    kept_tasks = db.subscribe(counted(runs, all_tasks))
    assert runs == {"list_by_user": 1, "search": 1, "all_tasks": 1}

    @fdb.mutation
    def outer(db: fdb.Writer) -> str:
        kept = db.insert("tasks", {"text": "kept", "user_id": "u1"})
        with pytest.raises(Oops):
            add_then_fail(db, text="boo", user_id="ghost")
        # Inside the transaction, the nested writes are already gone.
        assert list_by_user(db, user_id="ghost") == []
        return kept

    kept = db.run(outer)
    assert db.wait_idle()
    assert [t.id for t in db.run(all_tasks)] == [kept]
    assert db.run(list_by_user, user_id="ghost") == []
    assert db.run(search, text="boo") == []
    # Only the outer insert reached the subscriptions: the ghost queries were not re-run.
    assert runs == {"list_by_user": 1, "search": 1, "all_tasks": 2}
    assert ghost_tasks.value == [] and ghost_posts.value == []
    assert [t.text for t in kept_tasks.value] == ["kept"]


def test_rolled_back_search_entry_does_not_match_a_later_document(db: fdb.Database) -> None:
    @fdb.mutation
    def outer(db: fdb.Writer) -> None:
        with pytest.raises(Oops):
            add_then_fail(db, text="boo", user_id="u1")
        db.insert("posts", {"text": "hello", "user_id": "u1"})

    db.run(outer)
    assert db.run(search, text="boo") == []
    assert db.run(search, text="hello") == ["hello"]


def test_nested_mutation_that_returns_keeps_its_writes_and_is_seen(db: fdb.Database) -> None:
    runs: Counter[str] = Counter()
    live = db.subscribe(counted(runs, list_by_user), user_id="u2")

    @fdb.mutation
    def outer(db: fdb.Writer) -> str:
        task_id: str = add_task(db, text="inner", user_id="u2")
        return task_id

    task_id = db.run(outer)
    assert db.wait_idle()
    assert [t.id for t in live.value] == [task_id]
    assert runs["list_by_user"] == 2


def test_only_the_failing_level_of_nested_mutations_is_undone(db: fdb.Database) -> None:
    @fdb.mutation
    def middle(db: fdb.Writer) -> None:
        db.insert("tasks", {"text": "middle", "user_id": "u"})
        with pytest.raises(Oops):
            add_then_fail(db, text="inner", user_id="u")
        db.insert("tasks", {"text": "middle again", "user_id": "u"})

    @fdb.mutation
    def outer(db: fdb.Writer) -> None:
        middle(db)
        with pytest.raises(Oops):
            add_then_fail(db, text="inner 2", user_id="u")

    db.run(outer)
    assert sorted(t.text for t in db.run(all_tasks)) == ["middle", "middle again"]


def test_nested_mutation_raising_through_the_outer_one_rolls_back_everything(
    db: fdb.Database,
) -> None:
    @fdb.mutation
    def outer(db: fdb.Writer) -> None:
        db.insert("tasks", {"text": "outer", "user_id": "u"})
        add_then_fail(db, text="inner", user_id="u")

    with pytest.raises(Oops):
        db.run(outer)
    assert db.run(all_tasks) == []
    db.run(add_task, text="after", user_id="u")  # still usable
    assert [t.text for t in db.run(all_tasks)] == ["after"]


def test_nested_mutation_that_raises_loses_the_files_it_stored(db: fdb.Database) -> None:
    @fdb.mutation
    def store_then_fail(db: fdb.Writer) -> None:
        db.storage.store(b"lost")
        raise Oops()

    @fdb.mutation
    def outer(db: fdb.Writer) -> str:
        with pytest.raises(Oops):
            store_then_fail(db)
        file_id: str = db.storage.store(b"kept")
        return file_id

    kept = db.run(outer)
    stored = db.run(fdb.query(lambda db: [f.id for f in db.query("_storage").collect()]))
    assert stored == [kept]


def test_query_called_from_a_mutation_sees_its_writes(db: fdb.Database) -> None:
    @fdb.mutation
    def outer(db: fdb.Writer) -> list[str]:
        db.insert("tasks", {"text": "a", "user_id": "u"})
        return [t.text for t in list_by_user(db, user_id="u")]

    assert db.run(outer) == ["a"]


def test_mutation_called_from_a_query_still_cannot_write(db: fdb.Database) -> None:
    @fdb.query
    def outer(db: fdb.Reader) -> None:
        add_task(db, text="x", user_id="u")

    with pytest.raises(fdb.ReadOnlyError):
        db.run(outer)


# -- declaring a function ------------------------------------------------------------------


def test_async_function_is_refused_at_decoration() -> None:
    async def fetch(db: fdb.Reader) -> None: ...

    async def stream(db: fdb.Reader) -> Any:
        yield 1

    for decorate in (fdb.query, fdb.mutation):
        for fn in (fetch, stream):
            with pytest.raises(TypeError, match=r"synchronous.*await db\.run_async\("):
                decorate(fn)


@pytest.mark.parametrize("source", ["def f(): ...", "def f(*, user_id): ...", "def f(**kw): ..."])
def test_function_without_a_db_parameter_is_refused_at_decoration(source: str) -> None:
    namespace: dict[str, Any] = {}
    exec(source, namespace)
    with pytest.raises(TypeError, match=r"first parameter must be the db.*def f\(db, \.\.\.\)"):
        fdb.query(namespace["f"])


def test_functions_taking_the_db_are_accepted() -> None:
    def star(*args: Any, **kwargs: Any) -> None: ...

    def positional_only(db: fdb.Reader, /) -> None: ...

    for fn in (star, positional_only, lambda db: None, print):
        fdb.query(fn)


# -- calling a function with db.run --------------------------------------------------------


def test_positional_arguments_to_run_say_to_pass_keywords(db: fdb.Database) -> None:
    with pytest.raises(TypeError) as err:
        db.run(add_task, "milk", "u1")
    message = str(err.value)
    assert "by keyword: db.run(add_task, text='milk', user_id='u1')" in message
    assert "add_task(db, text, user_id, priority=0)" in message
    with pytest.raises(TypeError, match=r"by keyword: db\.subscribe\(list_by_user, user_id='u1'\)"):
        db.subscribe(list_by_user, "u1")
    assert db.run(all_tasks) == []


def test_unknown_and_missing_arguments_name_the_function_and_its_parameters(
    db: fdb.Database,
) -> None:
    with pytest.raises(TypeError) as err:
        db.run(add_task, txt="milk", user_id="u1")
    assert str(err.value) == (
        "db.run(add_task): unknown argument 'txt', missing argument 'text'; "
        "the function is add_task(db, text, user_id, priority=0)"
    )
    with pytest.raises(TypeError, match=r"db\.run\(list_by_user\): missing argument 'user_id'"):
        db.run(list_by_user)
    with pytest.raises(TypeError, match=r"db\.subscribe\(list_by_user\): unknown argument 'x'"):
        db.subscribe(list_by_user, user_id="u", x=1)
    assert db.run(all_tasks) == []
    db.run(add_task, text="milk", user_id="u1")
    assert len(db.run(all_tasks)) == 1


def test_function_whose_first_parameter_is_an_argument_is_explained(db: fdb.Database) -> None:
    @fdb.query
    def tasks_of(user_id: str) -> Any: ...

    with pytest.raises(TypeError, match=r"'user_id', is where the db goes.*def .*tasks_of\(db, user_id"):
        db.run(tasks_of, user_id="u1")


def test_extra_keywords_go_to_a_function_taking_kwargs(db: fdb.Database) -> None:
    @fdb.query
    def echo(db: fdb.Reader, **args: Any) -> Any:
        return args

    assert db.run(echo, a=1) == {"a": 1}


@pytest.mark.parametrize("kind", [fdb.query, fdb.mutation])
def test_run_on_the_db_inside_a_function_says_to_call_the_function(
    db: fdb.Database, kind: Any
) -> None:
    @kind
    def outer(db: Any) -> None:
        db.run(add_task, text="x", user_id="u")

    with pytest.raises(fdb.FusionError, match=r"call the other function directly.*add_task\(db, \*\*args\)"):
        db.run(outer)
    assert db.run(all_tasks) == []


# -- writing with another table's id -------------------------------------------------------


def test_patch_or_replace_with_another_tables_id_names_that_table(db: fdb.Database) -> None:
    note_id = db.run(fdb.mutation(lambda db: db.insert("notes", {})))
    writes = [
        lambda db: db.patch(note_id, {"completed": True}),
        lambda db: db.replace(note_id, {"text": "milk", "user_id": "u1"}),
    ]
    for write in writes:
        with pytest.raises(fdb.ValidationError) as err:
            db.run(fdb.mutation(write))
        assert f"{note_id} is a document of table 'notes'" in str(err.value)
        assert (err.value.table, err.value.id) == ("notes", note_id)
    assert db.run(fdb.query(lambda db: db.get(note_id))) is not None


# -- db.migrate after a field was removed --------------------------------------------------


class Old(fdb.Document):
    text: str
    legacy: str


class New(fdb.Document):
    text: str
    x: int = 0


def reopened_without_legacy(path: Path) -> fdb.Database:
    with fdb.open(path, fdb.Schema(items=fdb.table(Old))) as old:
        old.run(fdb.mutation(lambda db: db.insert("items", {"text": "a", "legacy": "l"})))
    return fdb.open(path, fdb.Schema(items=fdb.table(New)))


def test_migrate_spreading_a_doc_with_a_removed_field_drops_it(tmp_path: Path) -> None:
    with reopened_without_legacy(tmp_path / "m.db") as db:
        result = db.migrate("items", lambda doc: {**doc, "x": 1}, name="set-x")
        assert (result.processed, result.changed) == (1, 1)
        [doc] = db.system.read("items")
        assert (doc["text"], doc["x"], "legacy" in doc) == ("a", 1, False)


def test_migrate_returning_the_doc_unchanged_keeps_the_removed_field(tmp_path: Path) -> None:
    with reopened_without_legacy(tmp_path / "m.db") as db:
        assert db.migrate("items", lambda doc: dict(doc), name="same").changed == 0
        [doc] = db.system.read("items")
        assert doc["legacy"] == "l"


@pytest.mark.parametrize(
    "fn",
    [lambda doc: {**doc, "extra": 1}, lambda doc: {**doc, "legacy": "changed"}],
    ids=["adds an unknown field", "changes a removed field"],
)
def test_migrate_setting_a_field_the_model_lacks_is_refused(tmp_path: Path, fn: Any) -> None:
    with reopened_without_legacy(tmp_path / "m.db") as db:
        with pytest.raises(fdb.ValidationError, match="unknown field"):
            db.migrate("items", fn, name="bad")
        [doc] = db.system.read("items")
        assert (doc["legacy"], "x" in doc) == ("l", False)
        assert db.migrate("items", lambda doc: {**doc, "x": 2}, name="good").changed == 1
