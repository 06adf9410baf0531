"""An interval index: which stored intervals contain a point, in O(log n + k).

A treap ordered by each interval's low end, every node carrying the highest high end in its
subtree, so a stabbing query prunes every subtree that ends before the point. Insert and
remove are O(log n) expected. Points and ends are anything ordered: the key bytes of
``ranges.RangeIndex``, which keeps here the read ranges that are neither a key prefix nor a
point.
"""

from __future__ import annotations

import random
from collections.abc import Hashable
from typing import Any

_rand = random.Random(0x5EED).random


class _Node:
    __slots__ = ("hi", "item", "left", "lo", "max_hi", "prio", "right", "sort")

    def __init__(self, lo: Any, hi: Any, item: Hashable, seq: int) -> None:
        self.lo = lo
        self.hi = hi
        self.item = item
        self.sort = (lo, seq)
        self.prio = _rand()
        self.left: _Node | None = None
        self.right: _Node | None = None
        self.max_hi = hi


def _fix(node: _Node) -> None:
    m = node.hi
    if node.left is not None and node.left.max_hi > m:
        m = node.left.max_hi
    if node.right is not None and node.right.max_hi > m:
        m = node.right.max_hi
    node.max_hi = m


def _merge(a: _Node | None, b: _Node | None) -> _Node | None:
    if a is None:
        return b
    if b is None:
        return a
    if a.prio > b.prio:
        a.right = _merge(a.right, b)
        _fix(a)
        return a
    b.left = _merge(a, b.left)
    _fix(b)
    return b


class IntervalIndex:
    """Closed intervals ``[lo, hi]`` tagged with items; ``stab(p)`` finds those holding ``p``."""

    def __init__(self) -> None:
        self._root: _Node | None = None
        self._seq = 0
        self._size = 0

    def __len__(self) -> int:
        return self._size

    def add(self, lo: Any, hi: Any, item: Hashable) -> tuple[Any, int]:
        """Insert; returns a handle for ``remove``.

        Iterative (a live query is registered on every subscribe and re-run): down to a leaf,
        raising ``max_hi`` on the way, then rotated up while its priority is higher.
        """
        self._seq += 1
        node = _Node(lo, hi, item, self._seq)
        sort = node.sort
        path: list[_Node] = []
        cur = self._root
        while cur is not None:
            if hi > cur.max_hi:
                cur.max_hi = hi
            path.append(cur)
            cur = cur.left if sort < cur.sort else cur.right
        self._replace(path, None, node, sort)
        while path and path[-1].prio < node.prio:
            parent = path.pop()
            if parent.left is node:
                parent.left, node.right = node.right, parent
            else:
                parent.right, node.left = node.left, parent
            _fix(parent)
            _fix(node)
            self._replace(path, parent, node, sort)
        self._size += 1
        return sort

    def remove(self, handle: tuple[Any, int]) -> None:
        path: list[_Node] = []
        cur = self._root
        while cur is not None and cur.sort != handle:
            path.append(cur)
            cur = cur.left if handle < cur.sort else cur.right
        if cur is None:
            return
        self._replace(path, cur, _merge(cur.left, cur.right), handle)
        for node in reversed(path):
            _fix(node)
        self._size -= 1

    def _replace(
        self, path: list[_Node], old: _Node | None, new: _Node | None, sort: tuple[Any, int]
    ) -> None:
        """Put ``new`` where ``old`` hangs below ``path[-1]`` (``old`` None: the side ``sort``
        goes to), or at the root."""
        if not path:
            self._root = new
            return
        parent = path[-1]
        left = sort < parent.sort if old is None else parent.left is old
        if left:
            parent.left = new
        else:
            parent.right = new

    def stab(self, point: Any, out: set[Hashable]) -> None:
        """Add to ``out`` the item of every interval with ``lo <= point <= hi``."""
        self.overlap(point, point, out)

    def overlap(self, lo: Any, hi: Any, out: set[Hashable]) -> None:
        """Add to ``out`` the item of every interval that shares a point with ``[lo, hi]``."""
        stack = [self._root]
        while stack:
            node = stack.pop()
            if node is None or node.max_hi < lo:
                continue
            stack.append(node.left)
            if node.lo <= hi:
                if node.hi >= lo:
                    out.add(node.item)
                stack.append(node.right)
