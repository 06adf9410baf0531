"""Creation order is row order: ``by_creation_time`` and the creation-time tail of every index
come from the row number, and creation-time bounds on a large table seek by binary search
over row numbers (engine/sqlite/txn.py), checked here against filtering every document."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

import fusiondb as fdb
from fusiondb.engine.sqlite import txn as sqlite_txn
from tests.models import read, schema


@pytest.fixture(scope="module")
def big() -> Any:
    db = fdb.open(None, schema)
    docs = [{"text": f"t{i}", "user_id": f"u{i % 3}", "priority": i % 5} for i in range(5000)]
    ids = db.run(fdb.mutation(lambda w: w.insert_many("tasks", docs)))
    db.run(fdb.mutation(lambda w: [w.delete(i) for i in ids[::7]]))  # gaps in the row numbers
    yield db
    db.close()


def test_creation_time_bounds_seek_exactly(big: fdb.Database) -> None:
    everything = read(big, lambda r: r.query("tasks").collect())
    times = [t.creation_time for t in everything]
    assert times == sorted(times) and len(set(times)) == len(times)
    probes = [times[0], times[1234], (times[2000] + times[2001]) / 2, times[-1] + 1, None, "later"]
    lowers = [None, *itertools.product(["gt", "gte"], probes)]
    uppers = [None, *itertools.product(["lt", "lte"], probes)]
    ops = {"gt": lambda a, b: a > b, "gte": lambda a, b: a >= b, "lt": lambda a, b: a < b,
           "lte": lambda a, b: a <= b}

    def keeps(ct: float, bound: Any) -> bool:
        if bound is None:
            return True
        op, t = bound
        if t is None:
            return op in ("gt", "gte")  # null sorts before every number
        if isinstance(t, str):
            return op in ("lt", "lte")  # strings sort after every number
        return bool(ops[op](ct, t))

    for lower, upper in itertools.product(lowers, uppers):
        def rng(q: Any, lower: Any = lower, upper: Any = upper) -> Any:
            for b in (lower, upper):
                if b is not None:
                    q = getattr(q, b[0])("creation_time", b[1])
            return q

        want = [t.id for t in everything if keeps(t.creation_time, lower) and keeps(t.creation_time, upper)]
        assert ids(big, lambda r, g=rng: r.query("tasks").with_index("by_creation_time", g)) == want
        desc = ids(big, lambda r, g=rng: r.query("tasks").with_index("by_creation_time", g).order("desc"), 3)
        assert desc == want[::-1][:3], (lower, upper)
        mine = ids(big, lambda r, g=rng: r.query("tasks").with_index(
            "by_user_priority", lambda q: g(q.eq("user_id", "u1").eq("priority", 2))))
        assert mine == [t.id for t in everything if t.id in want and t.user_id == "u1" and t.priority == 2]


def ids(db: fdb.Database, query: Any, n: int | None = None) -> list[str]:
    def run(r: fdb.Reader) -> list[str]:
        q = query(r).as_dicts()
        return [d["id"] for d in (q.collect() if n is None else q.take(n))]

    return read(db, run)


def test_a_bound_seeks_with_few_lookups(big: fdb.Database, monkeypatch: pytest.MonkeyPatch) -> None:
    lookups: list[int] = []
    original = sqlite_txn.SqliteTxn._first_rowid

    def counting(self: Any, *args: Any) -> int:
        lookups.append(1)
        return original(self, *args)

    monkeypatch.setattr(sqlite_txn.SqliteTxn, "_first_rowid", counting)
    t = read(big, lambda r: r.query("tasks").collect())[4000].creation_time
    got = read(big, lambda r: r.query("tasks").with_index(
        "by_creation_time", lambda q: q.gt("creation_time", t)).collect())
    assert len(lookups) == 1 and got and all(d.creation_time > t for d in got)


def test_check_reports_rows_out_of_creation_order(tmp_path: Any) -> None:
    import apsw

    path = tmp_path / "x.db"
    with fdb.open(path, schema) as db:
        db.run(fdb.mutation(lambda w: w.insert_many("tasks", [{"text": "a", "user_id": "u"}] * 3)))
        assert db.check().ok
        conn = apsw.Connection(str(path))  # another tool, backdating a row
        body = '{"text": "b", "user_id": "u"}'
        conn.execute("INSERT INTO tasks(creation_time, doc) VALUES (1.0, ?)", (body,))
        conn.close()
        report = db.check()
        assert not report.ok
        assert any("'tasks': 1 row(s) have a creation time below" in p for p in report.integrity)
