"""Pagination: every document once, in order; cursors that survive concurrent writes."""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import fusiondb as fdb
from tests.models import delete_all, insert_all, schema


@fdb.query
def page_of(
    db: fdb.Reader,
    table: str,
    index: str,
    cursor: str | None,
    n: int,
    order: str = "asc",
    eq: Any = "-",
) -> fdb.PaginationResult:
    q = db.query(table)
    if index != "by_creation_time" or eq != "-":
        field = {
            "by_user": "user_id",
            "by_user_priority": "user_id",
            "by_age": "age",
            "by_creation_time": "creation_time",
        }[index]
        q = q.with_index(index, (lambda r: r.eq(field, eq)) if eq != "-" else None)
    return q.order(order).paginate(cursor, n)  # type: ignore[arg-type]


def paginate_all(
    db: fdb.Database, n: int, between: Callable[[int], None] | None = None, **kw: Any
) -> list[Any]:
    """Every page's documents, calling ``between(page_number)`` before each page after the first."""
    out: list[Any] = []
    cursor = None
    pages = 0
    while True:
        if between is not None and pages:
            between(pages)
        result = db.run(page_of, cursor=cursor, n=n, **kw)
        assert isinstance(result, fdb.PaginationResult)
        assert len(result.page) <= n
        out.extend(result.page)
        pages += 1
        assert pages < 1000, "pagination does not terminate"
        if result.is_done:
            return out
        cursor = result.continue_cursor


@pytest.mark.parametrize("n", [1, 3, 7, 50])
@pytest.mark.parametrize("order", ["asc", "desc"])
def test_paginate_gives_every_doc_once_in_order(db: fdb.Database, n: int, order: str) -> None:
    ids = db.run(insert_all, table="tasks", docs=[{"text": str(i), "user_id": "u"} for i in range(20)])
    got = [t.id for t in paginate_all(db, n, table="tasks", index="by_creation_time", order=order)]
    assert got == (ids if order == "asc" else ids[::-1])
    # The same through an index with an eq prefix.
    by_user = paginate_all(db, n, table="tasks", index="by_user", order=order, eq="u")
    assert [t.id for t in by_user] == got


def test_pages_have_num_items_until_the_last(db: fdb.Database) -> None:
    db.run(insert_all, table="tasks", docs=[{"text": str(i), "user_id": "u"} for i in range(10)])
    first = db.run(page_of, table="tasks", index="by_creation_time", cursor=None, n=4)
    second = db.run(page_of, table="tasks", index="by_creation_time", cursor=first.continue_cursor, n=4)
    third = db.run(page_of, table="tasks", index="by_creation_time", cursor=second.continue_cursor, n=4)
    assert [len(p.page) for p in (first, second, third)] == [4, 4, 2]
    assert (first.is_done, second.is_done, third.is_done) == (False, False, True)
    # Asking again after the end gives an empty, done page.
    again = db.run(page_of, table="tasks", index="by_creation_time", cursor=third.continue_cursor, n=4)
    assert again.page == [] and again.is_done


def test_empty_table(db: fdb.Database) -> None:
    result = db.run(page_of, table="tasks", index="by_creation_time", cursor=None, n=5)
    assert result.page == [] and result.is_done is True
    assert isinstance(result.continue_cursor, str)
    # The cursor of an empty first page resumes from the start of the range.
    ids = db.run(insert_all, table="tasks", docs=[{"text": "a", "user_id": "u"}])
    later = db.run(page_of, table="tasks", index="by_creation_time", cursor=result.continue_cursor, n=5)
    assert [t.id for t in later.page] == ids


def test_cursor_stays_valid_across_inserts_and_deletes(db: fdb.Database) -> None:
    ids = db.run(insert_all, table="tasks", docs=[{"text": f"old{i}", "user_id": "u"} for i in range(12)])
    deleted: set[str] = set()
    added: list[str] = []

    def between(page: int) -> None:
        # Delete a doc already returned, a doc not yet returned, and add a doc at the end.
        returned_doc = ids[page * 3 - 1]
        pending = ids[-page]
        db.run(delete_all, ids=[i for i in (returned_doc, pending) if i not in deleted])
        deleted.update((returned_doc, pending))
        added.extend(db.run(insert_all, table="tasks", docs=[{"text": f"new{page}", "user_id": "u"}]))

    got = [t.id for t in paginate_all(db, 3, between, table="tasks", index="by_creation_time")]
    assert len(got) == len(set(got)), "a document came back twice"
    throughout = [i for i in ids if i not in deleted]
    assert [i for i in got if i in throughout] == throughout, "a document that existed throughout was skipped"
    # Documents are in creation order, and new ones (added after the cursor) are picked up.
    assert got == sorted(got, key=(ids + added).index)
    assert set(added) <= set(got)


@settings(max_examples=40, deadline=None)
@given(
    initial=st.lists(st.sampled_from(["a", "b"]), min_size=0, max_size=15),
    n=st.integers(1, 4),
    ops=st.lists(
        st.tuples(st.sampled_from(["insert", "delete"]), st.sampled_from(["a", "b"]), st.integers(0, 30)),
        max_size=12,
    ),
    desc=st.booleans(),
)
def test_pagination_under_concurrent_writes_matches_oracle(
    initial: list[str], n: int, ops: list[tuple[str, str, int]], desc: bool
) -> None:
    db = fdb.open(None, schema)
    try:
        ids = db.run(insert_all, table="tasks", docs=[{"text": "x", "user_id": u} for u in initial])
        live = [i for i, u in zip(ids, initial, strict=True) if u == "a"]
        ever = list(live)
        throughout = set(live)
        pending = list(ops)

        def between(_: int) -> None:
            # A few writes between pages: inserts anywhere in the index, deletes of any doc.
            for _ in range(2):
                if not pending:
                    return
                op, user, k = pending.pop(0)
                if op == "insert":
                    [new] = db.run(insert_all, table="tasks", docs=[{"text": "y", "user_id": user}])
                    if user == "a":
                        live.append(new)
                        ever.append(new)
                elif live:
                    victim = live.pop(k % len(live))
                    throughout.discard(victim)
                    db.run(delete_all, ids=[victim])

        got = [
            t.id
            for t in paginate_all(
                db, n, between, table="tasks", index="by_user", eq="a", order="desc" if desc else "asc"
            )
        ]
        assert len(got) == len(set(got))
        assert set(got) <= set(ever)
        assert throughout <= set(got)
        order = ever[::-1] if desc else ever
        assert got == sorted(got, key=order.index)
    finally:
        db.close()


@settings(max_examples=50, deadline=None)
@given(
    initial=st.lists(st.integers(0, 5), max_size=15),
    n=st.integers(1, 4),
    ops=st.lists(st.tuples(st.booleans(), st.integers(0, 5), st.integers(0, 30)), max_size=12),
    desc=st.booleans(),
)
def test_pagination_with_inserts_before_and_after_the_cursor(
    initial: list[int], n: int, ops: list[tuple[bool, int, int]], desc: bool
) -> None:
    # Over (user_id, priority), a new document can sort before or after the cursor's position.
    db = fdb.open(None, schema)
    try:
        docs = [{"text": "x", "user_id": "a", "priority": p} for p in initial]
        ids = db.run(insert_all, table="tasks", docs=docs)
        key = {i: (p, k) for k, (i, p) in enumerate(zip(ids, initial, strict=True))}
        live = list(ids)
        throughout = set(ids)
        pending = list(ops)
        returned: list[str] = []

        def between(_: int) -> None:
            for _ in range(2):
                if not pending:
                    return
                insert, priority, k = pending.pop(0)
                if insert:
                    [new] = db.run(
                        insert_all, table="tasks", docs=[{"text": "y", "user_id": "a", "priority": priority}]
                    )
                    key[new] = (priority, len(key))
                    live.append(new)
                elif live:
                    victim = live.pop(k % len(live))
                    throughout.discard(victim)
                    db.run(delete_all, ids=[victim])

        for t in paginate_all(
            db, n, between, table="tasks", index="by_user_priority", eq="a", order="desc" if desc else "asc"
        ):
            returned.append(t.id)
        assert len(returned) == len(set(returned)), "a document came back twice"
        assert throughout <= set(returned), "a document that existed throughout was skipped"
        assert returned == sorted(returned, key=lambda i: key[i], reverse=desc), "out of index order"
    finally:
        db.close()


AGES = st.lists(st.one_of(st.none(), st.integers(0, 3)), max_size=16)


@settings(max_examples=50, deadline=None)
@given(ages=AGES, n=st.integers(1, 4), desc=st.booleans())
def test_pagination_over_missing_index_values(ages: list[int | None], n: int, desc: bool) -> None:
    # Missing fields are NULL in the index; the continuation must neither drop nor repeat them.
    db = fdb.open(None, schema)
    try:
        docs = [{"name": str(i)} | ({} if a is None else {"age": a}) for i, a in enumerate(ages)]
        ids = db.run(insert_all, table="people", docs=docs)
        order = sorted(range(len(ages)), key=lambda i: (ages[i] is not None, ages[i] or 0, i), reverse=desc)
        got = paginate_all(db, n, table="people", index="by_age", order="desc" if desc else "asc")
        assert [p.id for p in got] == [ids[i] for i in order]
        nulls = paginate_all(db, n, table="people", index="by_age", eq=None, order="desc" if desc else "asc")
        expected_nulls = [ids[i] for i, a in enumerate(ages) if a is None]
        assert [p.id for p in nulls] == (expected_nulls[::-1] if desc else expected_nulls)
    finally:
        db.close()


def test_pagination_over_missing_values_with_inserts_between_pages(db: fdb.Database) -> None:
    ids = db.run(insert_all, table="people", docs=[{"name": "n0"}, {"name": "a1", "age": 1}, {"name": "n1"}])

    def between(page: int) -> None:
        # A NULL-keyed doc sorts after every existing NULL (by creation time): it must show up.
        if page <= 2:
            db.run(insert_all, table="people", docs=[{"name": f"late{page}"}])

    got = [p.name for p in paginate_all(db, 1, between, table="people", index="by_age")]
    assert got[:2] == ["n0", "n1"] and "a1" in got
    assert got.index("late1") < got.index("late2") < got.index("a1")
    assert len(got) == len(set(got))
    assert ids


def _cursor(payload: object) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(payload)).decode().rstrip("=")


@pytest.mark.parametrize(
    "cursor",
    [
        "not a cursor!",
        "%%%",
        "abc",
        _cursor({"a": 1}),
        _cursor(["by_creation_time", [1.0]]),
        _cursor(["by_creation_time", "x"]),
        _cursor("by_creation_time"),
    ],
)
def test_malformed_cursor_is_invalid_query(db: fdb.Database, cursor: str) -> None:
    db.run(insert_all, table="tasks", docs=[{"text": "a", "user_id": "u"}])
    with pytest.raises(fdb.InvalidQuery):
        db.run(page_of, table="tasks", index="by_creation_time", cursor=cursor, n=1)


def test_cursor_from_another_index_or_table_is_invalid_query(db: fdb.Database) -> None:
    db.run(insert_all, table="tasks", docs=[{"text": str(i), "user_id": "u"} for i in range(3)])
    db.run(insert_all, table="people", docs=[{"name": str(i)} for i in range(3)])
    by_user = db.run(page_of, table="tasks", index="by_user", cursor=None, n=1, eq="u")
    with pytest.raises(fdb.InvalidQuery, match="another query"):
        db.run(page_of, table="tasks", index="by_creation_time", cursor=by_user.continue_cursor, n=1)
    tasks_page = db.run(page_of, table="tasks", index="by_creation_time", cursor=None, n=1)
    with pytest.raises(fdb.InvalidQuery, match="another query"):
        db.run(page_of, table="people", index="by_creation_time", cursor=tasks_page.continue_cursor, n=1)


def test_cursor_from_other_eq_values_is_invalid_query(db: fdb.Database) -> None:
    db.run(insert_all, table="tasks", docs=[{"text": str(i), "user_id": u} for i in range(3) for u in "ab"])
    page_a = db.run(page_of, table="tasks", index="by_user", cursor=None, n=1, eq="a")
    with pytest.raises(fdb.InvalidQuery, match="another query"):
        db.run(page_of, table="tasks", index="by_user", cursor=page_a.continue_cursor, n=1, eq="b")
    # The same eq values (the same query) go on fine.
    page_a2 = db.run(page_of, table="tasks", index="by_user", cursor=page_a.continue_cursor, n=1, eq="a")
    assert [t.user_id for t in page_a2.page] == ["a"]


@pytest.mark.parametrize("n", [0, -1, 1.5, True, None])
def test_bad_num_items(db: fdb.Database, n: object) -> None:
    with pytest.raises(fdb.InvalidQuery):
        db.run(page_of, table="tasks", index="by_creation_time", cursor=None, n=n)


def test_paginate_with_python_filter(db: fdb.Database) -> None:
    ids = db.run(insert_all, table="tasks", docs=[{"text": "x" * (i % 4), "user_id": "u"} for i in range(20)])

    @fdb.query
    def page(r: fdb.Reader, cursor: str | None) -> fdb.PaginationResult:
        return r.query("tasks").filter(lambda t: len(t.text) >= 2).paginate(cursor, 3)

    out: list[str] = []
    cursor = None
    while True:
        result = db.run(page, cursor=cursor)
        out += [t.id for t in result.page]
        if result.is_done:
            break
        cursor = result.continue_cursor
    assert out == [i for k, i in enumerate(ids) if k % 4 >= 2]
