"""An interval index: which stored intervals contain a point, in O(log n + k).

A treap ordered by each interval's low end, every node carrying the highest high end in its
subtree, so a stabbing query prunes every subtree that ends before the point. Insert and
remove are O(log n) expected. Points and ends are normalized keys (see
``core.keys.normalize_key``), which compare in the value order of the indexes (Convex's).
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


def _insert(root: _Node | None, node: _Node) -> _Node:
    if root is None:
        return node
    if node.sort < root.sort:
        root.left = _insert(root.left, node)
        if root.left.prio > root.prio:
            pivot = root.left
            root.left = pivot.right
            _fix(root)
            pivot.right = root
            root = pivot
    else:
        root.right = _insert(root.right, node)
        if root.right.prio > root.prio:
            pivot = root.right
            root.right = pivot.left
            _fix(root)
            pivot.left = root
            root = pivot
    _fix(root)
    return root


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


def _remove(root: _Node | None, sort: tuple[Any, int]) -> _Node | None:
    if root is None:
        return None
    if sort == root.sort:
        return _merge(root.left, root.right)
    if sort < root.sort:
        root.left = _remove(root.left, sort)
    else:
        root.right = _remove(root.right, sort)
    _fix(root)
    return root


class IntervalIndex:
    """Closed intervals ``[lo, hi]`` tagged with items; ``stab(p)`` finds those holding ``p``."""

    def __init__(self) -> None:
        self._root: _Node | None = None
        self._seq = 0
        self._size = 0

    def __len__(self) -> int:
        return self._size

    def add(self, lo: Any, hi: Any, item: Hashable) -> tuple[Any, int]:
        """Insert; returns a handle for ``remove``."""
        self._seq += 1
        node = _Node(lo, hi, item, self._seq)
        self._root = _insert(self._root, node)
        self._size += 1
        return node.sort

    def remove(self, handle: tuple[Any, int]) -> None:
        self._root = _remove(self._root, handle)
        self._size -= 1

    def stab(self, point: Any, out: set[Hashable]) -> None:
        """Add to ``out`` the item of every interval with ``lo <= point <= hi``."""
        stack = [self._root]
        while stack:
            node = stack.pop()
            if node is None or node.max_hi < point:
                continue
            stack.append(node.left)
            if node.lo <= point:
                if node.hi >= point:
                    out.add(node.item)
                stack.append(node.right)
