"""``RangeIndex``: the read ranges of live queries in one (table, index), and which a key hits.

Keys are compared as bytes: ``core.keys.sort_bytes`` of each value, concatenated, sorts
bytewise in the value order of the indexes, and ``TOP`` is the byte 0xff (after every value
tag). One bytes object per bound is far smaller than a normalized key (a tuple of tuples), and
the cyclic GC never looks at it.

Most live queries read one of two shapes, each kept in a dict (one bytes key per range):

- a prefix, ``[p, p + (TOP,)]``: every key that starts with ``p`` (``eq`` on leading fields,
  then collect; ``p == ()``: the whole index). A written key hits it when one of its own
  prefixes is ``p``: one dict lookup per value of the key;
- a point, ``[p, p]`` (``db.get``: ``by_id``): stored as ``POINT + p``, looked up likewise.

Any other range (a page ending mid-index, a comparison) goes to an interval treap
(``intervals.IntervalIndex``) over the same bytes.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from operator import is_
from typing import Any

from ..core.keys import TOP, Key, sort_bytes
from .intervals import IntervalIndex

TOP_BYTE = b"\xff"
# Marks a point entry: a prefix entry starts with a value's type tag (0x02-0x08) or is empty.
POINT = b"\xfe"

Handle = Any
"""Where a range sits: its bytes key (a prefix or point) or the treap's handle."""


def key_bytes(key: tuple[Any, ...]) -> bytes:
    """A key (or key prefix) as bytes in the value order. ``TOP`` may only come last, as in
    every bound a query builds: followed by another value, its 0xff could tie with the 0xff
    that escapes a 0 byte ending the string before it."""
    if len(key) == 1:  # most live queries: one eq, or a point; no list to join
        value = key[0]
        return TOP_BYTE if value is TOP else sort_bytes(value)
    return b"".join([TOP_BYTE if v is TOP else sort_bytes(v) for v in key])


def _same_values(lo: tuple[Any, ...], hi: tuple[Any, ...]) -> bool:
    """Whether ``hi`` starts with the very objects of ``lo`` (``hi`` is one longer; ``map``
    stops at the end of ``lo``, and runs in C: no slice of ``hi``, no generator)."""
    return all(map(is_, lo, hi))


class RangeIndex:
    """Live queries' read ranges in one (table, index) (see the module docstring)."""

    __slots__ = ("_keys", "_sorted", "_tree", "name")

    def __init__(self, name: tuple[str, str] = ("", "")) -> None:
        self.name = name  # (table, index)
        # Prefix or point bytes -> the one item reading it, or a set of several.
        self._keys: dict[bytes, Any] = {}
        self._tree = IntervalIndex()
        self._sorted: list[bytes] | None = None  # sorted(self._keys), for overlap(); lazy

    def __len__(self) -> int:
        return len(self._keys) + len(self._tree)

    def add(self, lo: Key, hi: Key, item: Any) -> Handle:
        """Register ``item`` as reading ``[lo, hi]``; returns a handle for ``remove``."""
        low = key_bytes(lo)
        if len(hi) == len(lo) + 1 and hi[-1] is TOP:
            # A query builds both ends of a prefix from the same values: when they are the
            # same objects, hi need not be encoded to be compared.
            if _same_values(lo, hi):
                return self._put(low, item)
            high = key_bytes(hi[:-1])
            if high == low:
                return self._put(low, item)
            return self._tree.add(low, high + TOP_BYTE, item)
        high = key_bytes(hi)
        if high == low:
            return self._put(POINT + low, item)
        return self._tree.add(low, high, item)

    def _put(self, key: bytes, item: Any) -> bytes:
        keys = self._keys
        held = keys.get(key)
        if held is None:
            keys[key] = item
            self._sorted = None
        elif type(held) is set:
            held.add(item)
        else:
            keys[key] = {held, item}
        return key

    def remove(self, handle: Handle, item: Any) -> None:
        if type(handle) is not bytes:
            self._tree.remove(handle)
            return
        keys = self._keys
        held = keys.get(handle)
        if held is item:
            del keys[handle]
            self._sorted = None
        elif type(held) is set:
            held.discard(item)
            if len(held) == 1:
                keys[handle] = next(iter(held))

    def stab(self, key: Key, out: set[Any]) -> None:
        """Add to ``out`` every item whose range holds the written key ``key``."""
        keys = self._keys
        if keys:
            get = keys.get
            prefix = b""
            for value in key:
                _hit(get(prefix), out)
                prefix += sort_bytes(value)
            _hit(get(prefix), out)
            _hit(get(POINT + prefix), out)
            if len(self._tree):
                self._tree.stab(prefix, out)
        elif len(self._tree):
            self._tree.stab(key_bytes(key), out)

    def overlap(self, lo: Key, hi: Key, out: set[Any]) -> None:
        """Add to ``out`` every item whose range shares a key with ``[lo, hi]`` (a summary
        of a huge commit's written keys)."""
        low, high = key_bytes(lo), key_bytes(hi)
        if low > high:
            return
        self._tree.overlap(low, high, out)
        keys = self._keys
        if not keys:
            return
        for end in range(len(low) + 1):  # prefixes of lo: their ranges start before it
            prefix = low[:end]
            held = keys.get(prefix)
            # ... and hold it only if it is not past their end: a byte prefix of lo that is
            # not one of its values' (enc("a") of enc("a\0"), whose 0 byte is escaped by a
            # 0xff) ends before lo.
            if held is not None and low <= prefix + TOP_BYTE:
                _hit(held, out)
        ordered = self._sorted
        if ordered is None:
            ordered = self._sorted = sorted(keys)
        # Prefixes from lo to hi (those past lo hold no key before it), then points; every
        # point sorts after every prefix.
        points = bisect_left(ordered, POINT)
        for start, stop in (
            (bisect_left(ordered, low, 0, points), bisect_right(ordered, high, 0, points)),
            (bisect_left(ordered, POINT + low, points), bisect_right(ordered, POINT + high, points)),
        ):
            for at in range(start, stop):
                _hit(keys[ordered[at]], out)


def _hit(held: Any, out: set[Any]) -> None:
    if held is None:
        return
    if type(held) is set:
        out.update(held)
    else:
        out.add(held)
