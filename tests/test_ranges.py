"""The range index of live queries finds exactly what a brute-force scan of normalized keys finds.

``RangeIndex`` keeps prefix and point ranges in a dict of key bytes and the rest in a treap;
``stab`` (a written key) and ``overlap`` (a huge commit's summary range) must agree with
comparing ``normalize_key`` tuples, the reference order, for every shape of range.
"""

from __future__ import annotations

import pickle
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from fusiondb.core.keys import TOP, normalize_key
from fusiondb.reactive.live import args_key, args_of
from fusiondb.reactive.ranges import RangeIndex, key_bytes

# Few distinct values, so that ranges share prefixes and keys land on their ends; 1, 1.0 and
# True tell the value order's types apart (1 == 1.0, True is not a number).
values = st.sampled_from(
    [None, 0, 1, 1.0, 2.5, -3, True, False, "", "a", "a\x00", "ab", "b", b"\x00", [1], {"k": 1}]
)
full_keys = st.tuples(values, st.sampled_from([1.0, 2.0, 3.0]), st.integers(1, 4))


@st.composite
def ranges(draw: st.DrawFn) -> tuple[tuple[Any, ...], tuple[Any, ...]]:
    shape = draw(st.sampled_from(
        ["prefix", "all", "point", "page", "between", "prefix2", "prefix_copy", "prefix_span"]
    ))
    a, b = draw(full_keys), draw(full_keys)
    if shape == "prefix":
        return (a[0],), (a[0], TOP)
    if shape == "prefix_copy":  # equal values, other objects: compared by their bytes
        return a[:2], (*pickle.loads(pickle.dumps(a[:2])), TOP)
    if shape == "prefix_span":  # from one prefix to the end of another
        x, y = sorted([a[:1], b[:1]], key=normalize_key)
        return x, (*y, TOP)
    if shape == "prefix2":
        return a[:2], (*a[:2], TOP)
    if shape == "all":
        return (), (TOP,)
    if shape == "point":
        return a, a
    lo, hi = sorted([a, b], key=normalize_key)
    if shape == "page":
        return (lo[0],), hi  # a page: from a prefix to its last key
    return lo, hi


def holds(lo: tuple[Any, ...], hi: tuple[Any, ...], key: tuple[Any, ...]) -> bool:
    return normalize_key(lo) <= normalize_key(key) <= normalize_key(hi)


ops = st.lists(
    st.one_of(
        st.tuples(st.just("add"), ranges()),
        st.tuples(st.just("remove"), st.integers(0, 1_000)),
        st.tuples(st.just("stab"), full_keys),
        st.tuples(st.just("stab_end"), st.integers(0, 1_000)),  # a key on a range's end
        st.tuples(st.just("overlap"), st.tuples(full_keys, full_keys)),
    ),
    max_size=80,
)


@settings(max_examples=300, deadline=None)
@given(ops)
def test_stab_and_overlap_match_brute_force(operations: list[tuple[str, Any]]) -> None:
    index = RangeIndex()
    live: dict[int, tuple[tuple[Any, ...], tuple[Any, ...], Any]] = {}
    next_item = 0
    for op, arg in operations:
        if op == "add":
            lo, hi = arg
            live[next_item] = (lo, hi, index.add(lo, hi, next_item))
            next_item += 1
        elif op == "remove" and live:
            item = sorted(live)[arg % len(live)]
            index.remove(live.pop(item)[2], item)
        elif op == "stab" or (op == "stab_end" and live):
            if op == "stab_end":
                lo, hi, _ = live[sorted(live)[arg % len(live)]]
                if len(lo) == 3:
                    arg = lo
                elif len(hi) == 3 and hi[-1] is not TOP:
                    arg = hi
                else:
                    continue
            found: set[Any] = set()
            index.stab(arg, found)
            assert found == {i for i, (lo, hi, _) in live.items() if holds(lo, hi, arg)}
        elif op == "overlap":
            a, b = sorted(arg, key=normalize_key)
            found = set()
            index.overlap(a, b, found)
            na, nb = normalize_key(a), normalize_key(b)
            expected = {
                i for i, (lo, hi, _) in live.items() if normalize_key(lo) <= nb and na <= normalize_key(hi)
            }
            assert found == expected
        assert len(index) <= len(live)  # ranges of several items share an entry


def test_overlap_of_a_key_whose_string_only_starts_with_a_prefix_misses_it() -> None:
    """Found by the test above: enc("a") is a byte prefix of enc("a\\0") (its 0 byte escaped
    by 0xff), so a summary range of keys under "a\\0" hit the live query on "a" by bytes
    alone: a re-run no write called for. Only prefixes whose range reaches the summary's
    lower end hold it."""
    index = RangeIndex()
    index.add(("a",), ("a", TOP), "on a")
    index.add(("a\x00",), ("a\x00", TOP), "on a-nul")
    found: set[Any] = set()
    index.overlap(("a\x00", 1.0, 1), ("a\x00", 1.0, 1), found)
    assert found == {"on a-nul"}
    found = set()
    index.overlap(("a", 1.0, 1), ("a", 2.0, 1), found)
    assert found == {"on a"}
    found = set()
    index.overlap(("a", TOP), ("a\x00", 0), found)  # from a's end into a-nul's: both
    assert found == {"on a", "on a-nul"}


# A key as read ranges hold them: values, then possibly TOP, only ever last (the upper end of a
# prefix or an lte bound, the lower end of a gt bound). A TOP before another value is not a key
# a query builds, and its bytes would not compare right: TOP's 0xff can equal the 0xff that
# escapes a 0 byte inside the string before it ("a", TOP) vs "a\x00".
keys = st.tuples(
    st.lists(values, max_size=4), st.booleans()
).map(lambda vt: [*vt[0], TOP] if vt[1] else vt[0])


@settings(max_examples=300, deadline=None)
@given(keys, keys)
def test_key_bytes_order_is_the_normalized_order(a: list[Any], b: list[Any]) -> None:
    na, nb = normalize_key(tuple(a)), normalize_key(tuple(b))
    ba, bb = key_bytes(a), key_bytes(b)
    assert (na < nb) == (ba < bb) and (na == nb) == (ba == bb)


@given(st.dictionaries(st.sampled_from(["a", "b", "user_id"]), values, max_size=3))
def test_atomic_arguments_are_rebuilt_from_the_live_query_key(args: dict[str, Any]) -> None:
    key = args_key(test_key_bytes_order_is_the_normalized_order, args)
    rebuilt = args_of(key)
    if all(type(v) in (str, int, float, bool, type(None), bytes) for v in args.values()):
        assert rebuilt == args and rebuilt is not None
        assert [type(v) for v in rebuilt.values()] == [type(args[k]) for k in rebuilt]
    else:
        assert rebuilt is None


def test_one_true_and_one_point_zero_are_three_live_queries() -> None:
    keys = {args_key(len, {"x": v}) for v in (1, True, 1.0)}
    assert len(keys) == 3
    assert args_key(len, {"x": (1, 2)}) == args_key(len, {"x": (1, 2)})
    assert args_key(len, {"x": (1, 2)}) != args_key(len, {"x": (True, 2)})
    unhashable = {"x": [1]}
    assert args_key(len, unhashable) != args_key(len, {"x": [1]})  # shares with nobody
