"""The interval index agrees with brute force; normalized keys sort the way SQLite does."""

from __future__ import annotations

import apsw
from hypothesis import given, settings
from hypothesis import strategies as st

from fusiondb.core.keys import TOP, normalize_key, normalize_value
from fusiondb.reactive.intervals import IntervalIndex

points = st.integers(min_value=0, max_value=60)
ops = st.lists(
    st.tuples(st.sampled_from(["add", "remove", "stab"]), points, points), max_size=120
)


@settings(max_examples=200, deadline=None)
@given(ops)
def test_stab_matches_brute_force(operations: list[tuple[str, int, int]]) -> None:
    index = IntervalIndex()
    live: dict[int, tuple[int, int, tuple[object, int]]] = {}
    next_item = 0
    for op, a, b in operations:
        if op == "add":
            lo, hi = min(a, b), max(a, b)
            live[next_item] = (lo, hi, index.add(lo, hi, next_item))
            next_item += 1
        elif op == "remove" and live:
            item = sorted(live)[a % len(live)]
            index.remove(live.pop(item)[2])
        else:
            found: set[object] = set()
            index.stab(a, found)
            assert found == {i for i, (lo, hi, _) in live.items() if lo <= a <= hi}
        assert len(index) == len(live)


sql_values = st.one_of(
    st.none(),
    st.integers(min_value=-(2**53), max_value=2**53),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=4),
    st.binary(max_size=3),
)


@settings(max_examples=100, deadline=None)
@given(st.lists(sql_values, min_size=1, max_size=12))
def test_normalized_order_is_sqlite_order(values: list[object]) -> None:
    conn = apsw.Connection(":memory:")
    conn.execute("CREATE TABLE t(i INTEGER, v)")
    conn.executemany("INSERT INTO t VALUES (?, ?)", list(enumerate(values)))
    sqlite_order = [v for (v,) in conn.execute("SELECT v FROM t ORDER BY v, i")]
    ours = sorted(values, key=normalize_value)
    assert [normalize_value(v) for v in ours] == [normalize_value(v) for v in sqlite_order]


def test_top_extends_a_prefix_past_every_longer_key() -> None:
    prefix = normalize_key(("u1",))
    top = normalize_key(("u1", TOP))
    for key in [("u1", 0.0, 1), ("u1", 1e18, 2**40)]:
        assert prefix < normalize_key(key) < top
    assert top < normalize_key(("u2",))
