"""Write sets: every document a transaction wrote, with its old and new values of indexed fields.

Recorded by the writer as it goes, encoded into the change log in the same transaction (for
other processes), and handed to the subscription manager (through the change feed) only
after the commit has succeeded.

A written document is one flat tuple of atomic values, a ``DocWrite``; its positions are
named by the constants below::

    (TABLE, ROWID, CREATION_TIME, OLD, NEW, OLD_TEXTS, NEW_TEXTS)

``OLD``/``NEW`` are the document's values of its table's indexed fields before and after
(``None``: inserted / deleted), in the order of the table's ``keys.KeyLayout``;
``OLD_TEXTS``/``NEW_TEXTS`` hold, per search index (in layout order), the searched text and
filter values (``None`` when the table has no search index, or the side is absent). Per-index
keys are rebuilt only where they are consumed (``keys_by_index``, for matching). Plain tuples
rather than named tuples or dicts of keys per index: a bulk mutation records one per document
and keeps them all until commit, and exact tuples of atomic values build several times faster
and drop out of the cyclic GC's sight after one collection instead of being re-scanned by
every later one (a tuple subclass never does).

Vector indexes: ``vectors`` lists ``(table, index, old filter values, new filter values)``
for each written document whose entry in a vector index changed (its vector or a filter
field; ``None``: not in the index on that side), in the order written. It holds no vectors:
a live vector search re-runs on any change of its index within its filter values
(``reactive/vector_match.py``).

Huge commits: past ``SUMMARIZE_AT`` recorded documents, the write set folds what it holds into
a summary, per (table, index), of at most ``RANGES_PER_INDEX`` key ranges covering every key
written (``ranges``), and per search index only the fact that it was written (``searched``);
then it starts over. Memory and the change-log entry stay bounded however many documents one
mutation writes. Matching stays exact in the only direction that matters: a range may cover
keys nobody wrote (an extra re-run), never miss one. Ranges are chosen by sorting the keys in
index order and joining the closest neighbours first (the longest common prefix, then the
smallest numeric gap), so a bulk insert into one user's range becomes one range inside it and
re-runs no other user's queries.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import orjson

from ..core.keys import Key, KeyLayout, SearchEntry, normalize_key, search_entry
from ..core.schema import CREATION_INDEX, ID_INDEX
from ..core.tableinfo import TableInfo

SearchTexts = tuple[SearchEntry, ...]
# (table, rowid, creation_time, old values, new values, old search texts, new search texts)
DocWrite = tuple[
    str, int, float, tuple[Any, ...] | None, tuple[Any, ...] | None,
    SearchTexts | None, SearchTexts | None,
]
TABLE, ROWID, CREATION_TIME, OLD, NEW, OLD_TEXTS, NEW_TEXTS = range(7)

# The change log's payload format: a JSON object {"format", "layouts", "writes", "ranges",
# "searched"}. Format 1 had no "ranges"/"searched" (still read); entries written before the
# format was numbered carry no "format" and are format 1.
LOG_FORMAT = 2
READABLE_FORMATS = (1, 2)

SUMMARIZE_AT = 10_000  # documents held before folding them into key ranges
RANGES_PER_INDEX = 64  # key ranges a summary keeps per (table, index)

KeyRange = tuple[Key, Key]
# (table, vector index, old filter values, new filter values); see the module docstring.
VectorWrite = tuple[str, str, tuple[Any, ...] | None, tuple[Any, ...] | None]


def search_texts(info: TableInfo, doc: dict[str, Any]) -> SearchTexts | None:
    """The document's entry in every search index of its table (layout order), or None."""
    if not info.search_indexes:
        return None
    return tuple([search_entry(s, doc) for s in info.search_indexes.values()])


class WriteSet:
    """The documents one transaction wrote (``writes``), the layout of each table written, and
    the summary of what was folded away (``ranges``, ``searched``; see the module docstring)."""

    __slots__ = (
        "folded", "layouts", "ranges", "searched", "summarize_at", "vectored", "vectors", "writes"
    )

    def __init__(
        self,
        writes: list[DocWrite] | None = None,
        layouts: dict[str, KeyLayout] | None = None,
        *,
        summarize_at: float | None = None,
    ) -> None:
        self.writes: list[DocWrite] = [] if writes is None else writes
        self.layouts: dict[str, KeyLayout] = {} if layouts is None else layouts
        self.ranges: dict[tuple[str, str], list[KeyRange]] = {}
        self.searched: set[tuple[str, str]] = set()
        self.vectors: list[VectorWrite] = []
        self.vectored: set[tuple[str, str]] = set()  # vector indexes folded into the summary
        self.folded = 0  # documents folded into the summary
        self.summarize_at = SUMMARIZE_AT if summarize_at is None else summarize_at

    def __bool__(self) -> bool:
        return bool(self.writes) or self.folded > 0

    def __len__(self) -> int:
        return len(self.writes) + self.folded

    def __repr__(self) -> str:
        return f"WriteSet({self.writes!r}, tables={sorted(self.layouts)!r}, folded={self.folded})"

    def record(
        self,
        info: TableInfo,
        rowid: int,
        creation_time: float,
        old: dict[str, Any] | None,
        new: dict[str, Any] | None,
        old_texts: SearchTexts | None = None,
        new_texts: SearchTexts | None = None,
    ) -> None:
        """Add one written document (``old``/``new``: the document before and after, or None)."""
        layout = info.layout
        if info.name not in self.layouts:
            self.layouts[info.name] = layout
        values = layout.values
        self.writes.append(
            (
                info.name,
                rowid,
                creation_time,
                None if old is None else values(old),
                None if new is None else values(new),
                old_texts,
                new_texts,
            )
        )
        if len(self.writes) >= self.summarize_at:
            self.fold()

    def fold(self) -> None:
        """Fold the recorded documents into the summary and let them go."""
        for name, keys in self.keys_by_index().items():
            spans = _spans(keys)
            self.ranges[name] = cover(self.ranges.get(name, []) + spans, RANGES_PER_INDEX)
        self.searched.update((table, index) for table, index, _ in self.search_entries())
        self.vectored.update((table, index) for table, index, _, _ in self.vectors)
        self.folded += len(self.writes)
        self.writes = []
        self.vectors = []

    def record_vector(
        self, table: str, index: str, old: tuple[Any, ...] | None, new: tuple[Any, ...] | None
    ) -> None:
        """Add a change of one document's entry in vector index ``index`` (its filter values
        before and after; ``None``: not indexed)."""
        self.vectors.append((table, index, old, new))

    def mark(self) -> tuple[int, int, int, int]:
        """Where the write set is now, for ``undo``."""
        return len(self), len(self.layouts), len(self.vectors), self.folded

    def undo(self, mark: tuple[int, int, int, int]) -> None:
        """Forget every write recorded since ``mark`` (a savepoint rolled back). Writes
        already folded stay in the summary: at worst an extra re-run."""
        n_writes, n_layouts, n_vectors, folded = mark
        if self.folded == folded:
            del self.vectors[n_vectors:]
        del self.writes[max(0, n_writes - self.folded):]
        if self.folded:
            return  # the summary may name these tables: keep their layouts
        for table in list(self.layouts)[n_layouts:]:  # insertion order: the newest last
            del self.layouts[table]

    def keys_by_index(self) -> dict[tuple[str, str], list[Key]]:
        """Every written key per (table, index); a key that did not change appears once.

        ``by_id`` is ``(rowid,)``, ``by_creation_time`` ``(creation_time, rowid)``, every
        other index ``(field values..., creation_time, rowid)``.
        """
        out: dict[tuple[str, str], list[Key]] = {}
        layouts = self.layouts
        for table, rowid, ct, old, new, _, _ in self.writes:
            # A write never changes a document's rowid or creation time: one key each.
            _bucket(out, table, ID_INDEX).append((rowid,))
            _bucket(out, table, CREATION_INDEX).append((ct, rowid))
            for name, positions in layouts[table].indexes:
                bucket = _bucket(out, table, name)
                a = None if old is None else (*[old[p] for p in positions], ct, rowid)
                b = None if new is None else (*[new[p] for p in positions], ct, rowid)
                if a is not None:
                    bucket.append(a)
                # Python's == takes True for 1 and [True] for [1]; in the value order they
                # are different keys, so an "equal" pair is compared as normalized keys too.
                if b is not None and (b != a or normalize_key(b) != normalize_key(a)):  # type: ignore[arg-type]
                    bucket.append(b)
        return out

    def search_entries(self) -> Iterator[tuple[str, str, SearchEntry]]:
        """(table, search index, entry) for every written search entry, before and after."""
        layouts = self.layouts
        for table, _, _, _, _, old_texts, new_texts in self.writes:
            for texts in (old_texts, new_texts):
                if texts:
                    yield from zip((table,) * len(texts), layouts[table].search, texts, strict=True)


def cover(intervals: list[KeyRange], limit: int) -> list[KeyRange]:
    """At most ``limit`` ranges covering every one of ``intervals``: in index order, those that
    overlap or that nothing can lie between (consecutive row ids) merged, then the closest
    neighbours joined until ``limit`` remain."""
    items = sorted([_normalized(lo, hi) for lo, hi in intervals], key=lambda item: item[0])
    merged: list[list[Any]] = []
    for item in items:
        if merged and (item[0] <= merged[-1][1] or _consecutive(merged[-1][1], item[0])):
            if item[1] > merged[-1][1]:
                merged[-1][1], merged[-1][3] = item[1], item[3]
        else:
            merged.append(list(item))
    if len(merged) > limit:
        by_closeness = sorted(
            range(1, len(merged)), key=lambda i: _distance(merged[i - 1][1], merged[i][0])
        )
        joins = set(by_closeness[: len(merged) - limit])
        joined: list[list[Any]] = []
        for i, span in enumerate(merged):
            if i in joins:
                joined[-1][1], joined[-1][3] = span[1], span[3]
            else:
                joined.append(span)
        merged = joined
    return [(span[2], span[3]) for span in merged]


def _spans(keys: list[Key]) -> list[KeyRange]:
    """Written keys as fewer ranges, before ``cover`` sorts them (which costs a normalization
    per item): keys that share their field values (all but the creation time and row id at
    the end) become one range over their creation times, and keys of an index without fields
    (``by_id``, ``by_creation_time``) one range per run of consecutive row ids. Creation
    times and row ids are plain numbers, so their order here is the index order."""
    groups: dict[Key, list[Key]] = {}
    for key in keys:
        prefix = key[:-2]
        group = groups.get(prefix)
        if group is None:
            groups[prefix] = [key]
        else:
            group.append(key)
    spans: list[KeyRange] = []
    for prefix, group in groups.items():
        if prefix:
            spans.append((min(group, key=_tail), max(group, key=_tail)))
            continue
        group.sort()
        start = prev = group[0]
        for key in group[1:]:
            if key[-1] != prev[-1] + 1:
                spans.append((start, prev))
                start = key
            prev = key
        spans.append((start, prev))
    return spans


def _tail(key: Key) -> Key:
    return key[-2:]


def _normalized(lo: Key, hi: Key) -> tuple[Any, Any, Key, Key]:
    nlo = normalize_key(lo)
    return nlo, nlo if hi is lo else normalize_key(hi), lo, hi  # a point: normalized once


def _consecutive(a: tuple[Any, ...], b: tuple[Any, ...]) -> bool:
    """Whether no key can lie between normalized keys ``a`` < ``b``: equal but for a last
    integer one greater (row ids)."""
    if len(a) != len(b) or a[:-1] != b[:-1]:
        return False
    x, y = a[-1][1], b[-1][1]
    return type(x) is int and type(y) is int and y == x + 1


def _distance(a: tuple[Any, ...], b: tuple[Any, ...]) -> tuple[int, float]:
    """How far apart two normalized keys are, for ``cover``: a longer common prefix is closer;
    then, if they differ in a number, the smaller gap."""
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    gap = math.inf
    if n < len(a) and n < len(b):
        va, vb = a[n][1], b[n][1]
        if type(va) in (int, float) and type(vb) in (int, float):
            gap = abs(vb - va)
    return -n, gap


def _bucket(out: dict[tuple[str, str], list[Key]], table: str, index: str) -> list[Key]:
    bucket = out.get((table, index))
    if bucket is None:
        bucket = out[(table, index)] = []
    return bucket


def encode(writes: WriteSet) -> bytes:
    """The write set as the change log stores it: each written table's layout, and the writes.

    The writes are flat tuples of atomic values, which orjson writes as arrays in one C call,
    with no Python loop over the documents.
    """
    return orjson.dumps(
        {
            "format": LOG_FORMAT,
            "layouts": {table: layout.wire for table, layout in writes.layouts.items()},
            "writes": writes.writes,
            "ranges": [[table, index, rs] for (table, index), rs in writes.ranges.items()],
            "searched": sorted(writes.searched),
            "folded": writes.folded,
            "vectors": writes.vectors,
            "vectored": sorted(writes.vectored),
        }
    )


def _values(values: list[Any] | None) -> tuple[Any, ...] | None:
    return None if values is None else tuple(values)


def _texts(texts: list[Any] | None) -> SearchTexts | None:
    return None if texts is None else tuple([(t[0], tuple(t[1])) for t in texts])


def decode(payload: bytes) -> WriteSet | None:
    """The write set ``encode`` wrote; ``None`` for a payload this version cannot read (a
    newer format, or damage): the caller must then assume anything may have changed."""
    try:
        data = orjson.loads(payload)
        if type(data) is not dict or data.get("format", 1) not in READABLE_FORMATS:
            return None
        writes = WriteSet(
            [
                (table, rowid, ct, _values(old), _values(new), _texts(ot), _texts(nt))
                for table, rowid, ct, old, new, ot, nt in data["writes"]
            ],
            {table: KeyLayout.from_wire(wire) for table, wire in data["layouts"].items()},
            summarize_at=math.inf,  # decoded: never folded again
        )
        for table, index, rs in data.get("ranges", ()):
            writes.ranges[(table, index)] = [(tuple(lo), tuple(hi)) for lo, hi in rs]
        writes.searched = {(table, index) for table, index in data.get("searched", ())}
        writes.folded = int(data.get("folded", 0))
        writes.vectors = [
            (table, index, _values(old), _values(new))
            for table, index, old, new in data.get("vectors", ())
        ]
        writes.vectored = {(table, index) for table, index in data.get("vectored", ())}
        return writes
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
        return None
