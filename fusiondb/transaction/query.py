"""Queries: index ranges under Convex's rule, ordering, filters, limits and pagination.

``db.query("tasks").with_index("by_user", lambda q: q.eq("user_id", u)).order("desc").take(10)``
becomes one ``IndexScan`` that the engine runs as a single range scan over the table's index
(SQLite: ``engine/sqlite/scan.py``), and records in the read set exactly the key interval it
scanned.
"""

from __future__ import annotations

import base64
import binascii
import copy
import hashlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Generic, Literal, TypeVar

import orjson

from ..core.aggregates import Function
from ..core.documents import decode_rows, field_value, index_value, python_filtered
from ..core.errors import InvalidAggregate, InvalidCursor, InvalidQuery, UniqueError
from ..core.expr import Expr, ExprFilter, Field, FieldProxy, bind, compile_filter, in_python
from ..core.ids import decode_id
from ..core.keys import INT64_MAX, TOP, Key, extract, is_key_value, value_problem
from ..core.limits import MAX_SEARCH_RESULTS
from ..core.schema import CREATION_INDEX, ID_INDEX
from ..core.tableinfo import TableInfo, path_may_hold_numbers
from ..engine.base import Aggregate, IndexScan
from . import search as search_query
from .context import TxnContext
from .search import SearchFilter, SearchSpec

CREATION_FIELD = "creation_time"
ID_FIELD = "id"
BATCH = 256
_LOWER = ("gt", "gte")
_UPPER = ("lt", "lte")


class IndexRange:
    """The ``q`` of ``with_index(name, lambda q: ...)``: eq on a prefix, then one range."""

    def __init__(
        self, table: str, index: str, fields: tuple[str, ...], convert: Callable[[str, Any], Any]
    ) -> None:
        self._table = table
        self._index = index
        self._fields = fields  # index fields then "creation_time" (by_id: "id" alone)
        self._convert = convert  # (field, value) -> the value as the index holds it
        self.eqs: list[Any] = []
        self.lower: tuple[str, Any] | None = None
        self.upper: tuple[str, Any] | None = None

    def _err(self, msg: str, field: str) -> InvalidQuery:
        return InvalidQuery(
            f"index {self._index!r} of table {self._table!r}: {msg} "
            f"(index fields in order: {', '.join(self._fields)})",
            table=self._table,
            index=self._index,
            field=field,
        )

    def _check_value(self, field: str, value: Any) -> Any:
        try:
            value = self._convert(field, value)
        except ValueError as exc:
            raise self._err(str(exc), field) from None
        problem = value_problem(value)
        if problem is not None:
            raise self._err(f"cannot compare {field!r} with this value: {problem}", field)
        return value

    def eq(self, field: str, value: Any) -> IndexRange:
        if self.lower is not None or self.upper is not None:
            raise self._err(f"eq({field!r}) after a range bound; eq must come first", field)
        pos = len(self.eqs)
        if pos >= len(self._fields) or self._fields[pos] != field:
            expected = self._fields[pos] if pos < len(self._fields) else "nothing more"
            raise self._err(f"eq({field!r}) out of order: the next field is {expected!r}", field)
        self.eqs.append(self._check_value(field, value))
        return self

    def _bound(self, op: str, field: str, value: Any) -> IndexRange:
        pos = len(self.eqs)
        if pos >= len(self._fields) or self._fields[pos] != field:
            expected = self._fields[pos] if pos < len(self._fields) else "nothing more"
            raise self._err(
                f"{op}({field!r}): a range bound must be on the field after the eq prefix, "
                f"which is {expected!r}",
                field,
            )
        slot = "lower" if op in _LOWER else "upper"
        if getattr(self, slot) is not None:
            raise self._err(f"{op}({field!r}): the {slot} bound is already set", field)
        setattr(self, slot, (op, self._check_value(field, value)))
        return self

    def gt(self, field: str, value: Any) -> IndexRange:
        return self._bound("gt", field, value)

    def gte(self, field: str, value: Any) -> IndexRange:
        return self._bound("gte", field, value)

    def lt(self, field: str, value: Any) -> IndexRange:
        return self._bound("lt", field, value)

    def lte(self, field: str, value: Any) -> IndexRange:
        return self._bound("lte", field, value)

    def startswith(self, field: str, prefix: str) -> IndexRange:
        """The strings that begin with ``prefix``, as the range ``[prefix, end)`` where
        ``end`` is the first string after every one of them (``prefix_end``): both bounds."""
        if not isinstance(prefix, str):
            raise self._err(f"startswith({field!r}) takes a str prefix, got {prefix!r}", field)
        end = prefix_end(prefix)
        self._bound("gte", field, prefix)
        return self._bound("lt", field, end if end is not None else b"")

    def interval(self) -> tuple[Key, Key]:
        """The closed interval of full keys this range covers (see keys.TOP)."""
        prefix = tuple(self.eqs)
        lo: Key = prefix
        hi: Key = (*prefix, TOP)
        if self.lower is not None:
            op, v = self.lower
            lo = (*prefix, v) if op == "gte" else (*prefix, v, TOP)
        if self.upper is not None:
            op, v = self.upper
            hi = (*prefix, v, TOP) if op == "lte" else (*prefix, v)
        return lo, hi


def prefix_end(prefix: str) -> str | None:
    """The least string above every string that starts with ``prefix`` (code point order),
    ``None`` if none (then the bytes values, which follow the strings, bound the range):
    the last code point below U+10FFFF raised by one, those after it dropped. Surrogates are
    skipped: no stored string holds one."""
    chars = list(prefix)
    while chars:
        last = ord(chars.pop())
        if last < 0x10FFFF:
            nxt = last + 1
            chars.append(chr(0xE000 if 0xD800 <= nxt <= 0xDFFF else nxt))
            return "".join(chars)
    return None


# Cursor formats: 1 was ``[name, key]``; 2 is ``[2, name, order, range digest, key]``, so that
# a cursor passed to a query in the other order or over another range is refused instead of
# silently giving wrong pages. Format 1 cursors (users may have stored them) are still read.
CURSOR_FORMAT = 2


@dataclass(frozen=True)
class CursorScope:
    """What a cursor is made for: a table's index, an order, and a digest of the range."""

    table: str
    index: str
    order: str
    digest: str

    @property
    def name(self) -> str:
        # Cursors name the table too: by_creation_time exists on every table.
        return f"{self.table}.{self.index}"

    def refuse(self, message: str) -> InvalidCursor:
        return InvalidCursor(message, table=self.table, index=self.index)


def _cursor_encode(scope: CursorScope, key: Key) -> str:
    raw = orjson.dumps([CURSOR_FORMAT, scope.name, scope.order, scope.digest, list(key)])
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _cursor_decode(cursor: str, scope: CursorScope, width: int) -> Key:
    malformed = scope.refuse(f"malformed pagination cursor {cursor!r}")
    try:
        data = orjson.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (binascii.Error, ValueError, TypeError, orjson.JSONDecodeError):
        raise malformed from None
    if type(data) is list and len(data) == 5 and data[0] == CURSOR_FORMAT:
        _, name, order, digest, key = data
    elif type(data) is list and len(data) == 2:  # format 1: order and range unrecorded
        (name, key), order, digest = data, scope.order, scope.digest
    else:
        raise malformed
    if name != scope.name:
        raise _other_query(scope, f"index {name!r}")
    if (type(key) is not list or len(key) not in (0, width)
            or not all(_cursor_value(v) for v in key) or not _cursor_tail(key)):
        raise malformed
    if order != scope.order:
        raise _other_query(scope, f"order {order!r}, this query's is {scope.order!r}")
    if digest != scope.digest:
        raise _other_query(scope, f"another range of index {scope.name!r}")
    return tuple(key)


def _other_query(scope: CursorScope, what: str) -> InvalidCursor:
    return scope.refuse(
        f"this cursor belongs to another query ({what}); pass the continue_cursor of the same query"
    )



def _cursor_value(value: Any) -> bool:
    """Whether a decoded cursor holds ``value`` where an index key value goes."""
    return is_key_value(value) and value_problem(value) is None


def _cursor_tail(key: list[Any]) -> bool:
    """Whether a decoded key ends as every key does: a creation time (a number), then a row
    number (an int); ``by_id``'s key is the row number alone."""
    if not key:
        return True
    rowid, ct = key[-1], key[-2] if len(key) > 1 else 0
    return type(rowid) is int and type(ct) in (int, float)

T = TypeVar("T")  # what a query returns: its table's model (Any by table name), or dicts


def _evolve(query: Query[T], **changes: Any) -> Query[T]:
    """``dataclasses.replace`` without its per-field checks (it sits on every query built)."""
    new = object.__new__(Query)
    new.__dict__.update(query.__dict__)
    new.__dict__.update(changes)
    return new


@dataclass(frozen=True)
class PaginationResult(Generic[T]):
    """One page: ``page``, ``is_done`` and the ``continue_cursor`` for the next call."""

    page: list[T]
    is_done: bool
    continue_cursor: str


@dataclass(frozen=True)
class Query(Generic[T]):
    """An immutable query description; each method returns a new one. Generic in what it
    returns: ``db.query(tasks)`` of a typed handle is a ``Query[Task]``."""

    _ctx: TxnContext
    _info: TableInfo
    _index: str = CREATION_INDEX
    _fields: tuple[str, ...] = ()
    _range: IndexRange | None = None
    _order: Literal["asc", "desc"] = "asc"
    _sql_filters: tuple[Expr, ...] = ()
    _py_filters: tuple[Callable[[Any], Any], ...] = ()
    _dicts: bool = False
    _indexed: bool = False
    _ordered: bool = False
    _search: SearchSpec | None = None

    def with_index(
        self, name: str, range: Callable[[IndexRange], IndexRange] | None = None
    ) -> Query[T]:
        """Scan index ``name`` over the range the callback builds (all of it if none)."""
        if self._indexed:
            raise InvalidQuery("with_index() can be called once per query", table=self._info.name)
        fields: tuple[str, ...] = ()
        if name == ID_INDEX:
            key_fields: tuple[str, ...] = (ID_FIELD,)
        elif name == CREATION_INDEX:
            key_fields = (CREATION_FIELD,)
        else:
            idx = self._info.indexes.get(name)
            if idx is None:
                known = ", ".join([CREATION_INDEX, *self._info.indexes]) or "none"
                raise InvalidQuery(
                    f"table {self._info.name!r} has no index {name!r} (indexes: {known})",
                    table=self._info.name,
                    index=name,
                )
            fields = idx.fields
            key_fields = (*fields, CREATION_FIELD)
        rng = IndexRange(self._info.name, name, key_fields, self._range_value)
        if range is not None:
            out = range(rng)
            if out is not rng:
                raise InvalidQuery(
                    f"index {name!r}: the range callback must return the q it was given "
                    "(e.g. lambda q: q.eq('user_id', u))",
                    table=self._info.name,
                    index=name,
                )
        return _evolve(self, _index=name, _fields=fields, _range=rng, _indexed=True)

    def _range_value(self, field: str, value: Any) -> Any:
        """A range value as the index holds it: an id as its rowid (only ``by_id`` has the
        field ``id``), anything else as a document stores it (``documents.index_value``)."""
        if field != ID_FIELD:
            return index_value(self._info, field, value)
        decoded = decode_id(value)
        if decoded is None or decoded[0] != self._info.number:
            raise ValueError(f"by_id ranges compare ids of table {self._info.name!r}, got {value!r}")
        return decoded[1]

    def with_search_index(self, name: str, search: Callable[[SearchFilter], SearchFilter]) -> Query[T]:
        """Full-text search: ``lambda q: q.search("text", "buy milk").eq("user_id", u)``.

        Results come in relevance order (bm25), the last word matching as a prefix; the
        ``eq`` filters apply inside the search index. See search.py.
        """
        table = self._info.name
        if self._indexed or self._ordered:
            raise InvalidQuery(
                "with_search_index() cannot be combined with with_index() or order(): search "
                "results come in relevance order",
                table=table,
            )
        sdef = self._info.search_indexes.get(name)
        if sdef is None:
            known = ", ".join(self._info.search_indexes) or "none"
            raise InvalidQuery(
                f"table {table!r} has no search index {name!r} (search indexes: {known})",
                table=table,
                index=name,
            )
        q = SearchFilter(table, sdef)
        if search(q) is not q:
            raise InvalidQuery(
                f"search index {name!r}: the callback must return the q it was given "
                "(e.g. lambda q: q.search('text', 'milk'))",
                table=table,
                index=name,
            )
        spec = search_query.finish(q, self._ctx.txn.tokenize)
        return _evolve(self, _index=name, _indexed=True, _search=spec)

    def order(self, order: Literal["asc", "desc"]) -> Query[T]:
        if self._search is not None:
            raise InvalidQuery(
                "order() on a search query: search results come in relevance order",
                table=self._info.name,
            )
        if order not in ("asc", "desc"):
            raise InvalidQuery(f"order must be 'asc' or 'desc', got {order!r}")
        if self._ordered:
            # As Convex: a second order() would silently override the first.
            raise InvalidQuery("order() can be called once per query", table=self._info.name)
        return _evolve(self, _order=order, _ordered=True)

    def filter(self, predicate: Callable[[Any], Any]) -> Query[T]:
        """Keep documents for which ``predicate`` holds; compiled to SQL when it can be."""
        expr = compile_filter(predicate)
        if expr is not None:
            expr = bind(expr, self._info)
        if expr is not None and in_python(expr):
            predicate = ExprFilter(expr)  # compares with a list or dict: evaluated in Python
        elif expr is not None:
            return _evolve(self, _sql_filters=(*self._sql_filters, expr))
        return _evolve(self, _py_filters=(*self._py_filters, predicate))

    def as_dicts(self) -> Query[dict[str, Any]]:
        """Return plain dicts (with ``id`` and ``creation_time``) instead of models."""
        return _evolve(self, _dicts=True)  # type: ignore[arg-type]  # the same query, as dicts

    def _scan(self, limit: int | None, after: Key | None = None, until: Key | None = None) -> tuple[
        list[Any], Key | None, bool
    ]:
        """Run the scan; returns rows, the last scanned key and whether the range ran out."""
        ctx = self._ctx
        if self._search is not None:
            return search_query.scan(
                ctx, self._info, self._search, self._sql_filters, self._py_filters, limit, after,
                until,
            )
        if not ctx.active:
            ctx.check()
        spec = self._spec(after, until, None if self._py_filters else limit)
        eqs = spec.eqs
        rows: list[Any]  # Row, or Row plus its model after a Python filter
        last: Key | None = None
        exhausted = True
        if not self._py_filters:
            rows = ctx.txn.scan(spec)
            if rows:
                # Only the last row's key is needed, so nothing is rebuilt per row.
                last = self._key(rows[-1], eqs)
            exhausted = limit is None or len(rows) < limit
        else:
            rows = []
            for r in ctx.txn.iter_scan(spec):
                last = self._key(r, eqs)
                kept = python_filtered(self._info, (r[0], r[1], r[2]), self._py_filters)
                if kept is not None:
                    rows.append(kept)
                    if limit is not None and len(rows) >= limit:
                        exhausted = False
                        break
        self._record(after, last if not exhausted else until, spec.desc)
        return rows, last, exhausted

    def _spec(self, after: Key | None, until: Key | None, limit: int | None) -> IndexScan:
        rng = self._range
        return IndexScan(
            self._info.name, self._index, self._fields, tuple(rng.eqs) if rng is not None else (),
            rng.lower if rng is not None else None, rng.upper if rng is not None else None,
            self._order == "desc", self._sql_filters, after, until, limit, self._info.composite,
        )

    def _key(self, row: Any, eqs: tuple[Any, ...]) -> Key:
        """The index key of a scanned row: its field values (the eq prefix's, then the
        document's own), creation time, rowid."""
        if self._index == ID_INDEX:
            return (row[0],)
        n = len(self._fields)
        fixed = eqs[:n]
        if len(fixed) == n:
            return (*fixed, row[1], row[0])
        doc = orjson.loads(row[2])
        return (*fixed, *[extract(doc, f) for f in self._fields[len(fixed):]], row[1], row[0])

    def _record(self, after: Key | None, stop: Key | None, desc: bool) -> None:
        readset = self._ctx.readset
        if readset is None:
            return
        if self._range is not None:
            lo, hi = self._range.interval()
        else:
            lo, hi = (), (TOP,)
        if desc:
            lo, hi = hi, lo
        if after is not None:
            lo = (*after, TOP) if not desc else after
        if stop is not None:
            hi = stop
        if desc:
            lo, hi = hi, lo
        readset.add_range(self._info.name, self._index, lo, hi)

    def _decode(self, rows: list[Any]) -> list[T]:
        return decode_rows(self._info, rows, self._dicts)

    def collect(self) -> list[T]:
        """Every matching document, in index order (a search: at most MAX_SEARCH_RESULTS)."""
        search = self._search
        rows, _, _ = self._scan(None if search is None else MAX_SEARCH_RESULTS + 1)
        if search is not None:
            more = f"collect() matched more than {MAX_SEARCH_RESULTS} documents"
            search_query.check_results(self._info.name, search, len(rows), more)
        return self._decode(rows)

    def take(self, n: int) -> list[T]:
        """The first ``n`` matching documents."""
        if not isinstance(n, int) or isinstance(n, bool) or not 0 <= n <= INT64_MAX:
            raise InvalidQuery(f"take(n) needs an int from 0 to 2**63-1, got {n!r}")
        if n == 0:
            return []
        if self._search is not None:
            search_query.check_results(self._info.name, self._search, n, f"take({n})")
        rows, _, _ = self._scan(n)
        return self._decode(rows)

    def first(self) -> T | None:
        """The first matching document, or ``None``."""
        docs = self.take(1)
        return docs[0] if docs else None

    def unique(self) -> T | None:
        """The only matching document, ``None`` if there is none; raises if there are several."""
        docs = self.take(2)
        if len(docs) > 1:
            raise UniqueError(
                f"unique() found more than one document in table {self._info.name!r}",
                table=self._info.name,
            )
        return docs[0] if docs else None

    def count(self) -> int:
        """How many documents match, counted by the engine over the index range (never
        loading a document unless a filter reads it). Live: re-runs only for writes in the
        range (docs/reactivity.md)."""
        return int(self._aggregate("count", None))

    def sum(self, field: str) -> int | float:
        """The sum of ``field`` over the matching documents, numbers only (booleans, null,
        strings... are left out; ``0`` if none): an int when every summed value is one."""
        total: int | float = self._aggregate("sum", field)
        return total

    def min(self, field: str) -> Any:
        """The least value of ``field`` (value order) among the matching documents that have
        it non-null, as the model reads it; ``None`` if none."""
        return self._aggregate("min", field)

    def max(self, field: str) -> Any:
        """The greatest value of ``field`` (value order) among the matching documents that
        have it non-null, as the model reads it; ``None`` if none."""
        return self._aggregate("max", field)

    def _aggregate(self, function: Function, field: str | None) -> Any:
        """Run an aggregate in the engine; record what it read (see docs/reactivity.md)."""
        info = self._info
        path = None if field is None else self._aggregated_field(function, field)
        if self._search is not None or self._py_filters:
            why = "a search" if self._search is not None else (
                "a filter that runs in Python (a predicate no expression says, or a "
                "comparison with a list or dict: see docs/queries.md, Filters)"
            )
            raise InvalidAggregate(
                f"{function}() on table {info.name!r} is computed by the database, which "
                f"cannot with {why}; use collect() and compute it in Python",
                aggregate=function, table=info.name, index=self._index, field=path,
            )
        ctx = self._ctx
        if not ctx.active:
            ctx.check()
        rng = self._range
        at = len(rng.eqs) if rng is not None else 0
        if (
            function in ("min", "max") and path is not None
            and at < len(self._fields) and self._fields[at] == path
        ):
            return self._edge(function == "max", path)
        value = ctx.txn.aggregate(Aggregate(self._spec(None, None, None), function, path))
        self._record(None, None, False)
        if function in ("min", "max") and path is not None:
            return field_value(info, path, value)
        return value

    def _aggregated_field(self, function: str, field: str) -> str:
        """``field`` checked: a field of the table's documents (for ``sum``, one whose type
        may hold numbers)."""
        info = self._info
        system = field in (ID_FIELD, CREATION_FIELD)
        try:
            bound = None if system else bind(FieldProxy().field(field), info)
        except InvalidQuery as exc:
            raise InvalidAggregate(
                f"{function}({field!r}): {exc}", aggregate=function, table=info.name,
                index=self._index, field=str(field),
            ) from None
        if not isinstance(bound, Field):
            raise InvalidAggregate(
                f"{function}({field!r}) on table {info.name!r}: aggregates read document "
                "fields; id and creation_time order as by_id/by_creation_time (take the "
                "first() of that order) and a model property is not stored",
                aggregate=function, table=info.name, index=self._index, field=field,
            )
        if function == "sum" and not path_may_hold_numbers(info.model, field):
            raise InvalidAggregate(
                f"sum({field!r}) on table {info.name!r}: the field's type holds no numbers "
                f"({info.model.__name__}); sum a number field, or count() the documents",
                aggregate=function, table=info.name, index=self._index, field=field,
            )
        return field

    def _edge(self, last: bool, field: str) -> Any:
        """``min``/``max`` of the field the range is on: the first key past the nulls from
        the chosen end, read as one document; the read set covers the range up to it."""
        rng = copy.copy(self._range)
        assert rng is not None
        if rng.lower is None or rng.lower == ("gte", None):
            rng.lower = ("gt", None)  # null sorts first: skip it
        edge = _evolve(self, _range=rng, _order="desc" if last else "asc")
        rows, _, _ = edge._scan(1)
        if not rows:
            return None
        return field_value(self._info, field, extract(orjson.loads(rows[0][2]), field))

    def _cursor_scope(self) -> CursorScope:
        rng, search = self._range, self._search
        if search is not None:
            scanned: Any = [search.terms, search.prefix, search.filters]
        else:
            scanned = [rng.eqs, rng.lower, rng.upper] if rng is not None else []
        digest = hashlib.blake2b(orjson.dumps(scanned), digest_size=6).hexdigest()
        return CursorScope(self._info.name, self._index, self._order, digest)

    def paginate(
        self, cursor: str | None = None, num_items: int = 100, *, end_cursor: str | None = None
    ) -> PaginationResult[T]:
        """One page of up to ``num_items`` after ``cursor``.

        The cursor names a key, not an offset, so it stays valid across inserts and deletes.
        With ``end_cursor`` the page instead runs exactly up to that key (as Convex's
        ``endCursor``), which is how a live page keeps its boundaries.
        """
        if not isinstance(num_items, int) or isinstance(num_items, bool) or not (
            1 <= num_items <= INT64_MAX
        ):
            raise InvalidQuery(f"num_items must be an int from 1 to 2**63-1, got {num_items!r}")
        if self._search is not None:
            search_query.check_results(
                self._info.name, self._search, num_items, f"paginate(num_items={num_items})"
            )
        width = 1 if self._index == ID_INDEX else len(self._fields) + 2
        scope = self._cursor_scope()
        after = _cursor_decode(cursor, scope, width) or None if cursor else None
        until = _cursor_decode(end_cursor, scope, width) or None if end_cursor else None
        eqs = self._range.eqs if self._range is not None else []
        for key in (after, until):
            # Format 1 cursors carry no range digest; their eq prefix still tells.
            if key is not None and list(key[: len(eqs)]) != eqs:
                raise scope.refuse(
                    "this cursor belongs to another query (other eq values on index "
                    f"{self._index!r}); pass the continue_cursor of the same query"
                )
        last: Key | None
        pin = self._ctx.pin_slot(self.pin_key(cursor)) if end_cursor is None else None
        pinned = self._ctx.pinned_end(pin) if pin is not None else None
        if pinned is not None and pinned[1]:
            # A live last page stays open-ended: it takes in documents added after it.
            rows, last, _ = self._scan(None, after)
            is_done = True
        else:
            if pinned is not None:
                until = _cursor_decode(pinned[0], scope, width) or None
            if until is not None:
                rows, _, _ = self._scan(None, after, until)
                last, is_done = until, False
            else:
                rows, last, is_done = self._scan(num_items, after)
        if last is None:
            last = after
        # An empty first page still gets a cursor; it resumes from the start of the range.
        next_cursor = _cursor_encode(scope, last if last is not None else ())
        if pin is not None:
            self._ctx.pin_end(pin, next_cursor, is_done)
        return PaginationResult(self._decode(rows), is_done, next_cursor)

    def __iter__(self) -> Iterator[T]:
        """Iterate in batches, so a large table is never wholly in memory."""
        after: Key | None = None
        while True:
            rows, last, exhausted = self._scan(BATCH, after)
            yield from self._decode(rows)
            if exhausted or last is None:
                return
            after = last

    def pin_key(self, cursor: str | None) -> tuple[Any, ...]:
        """Identity of a paginate call within one query function, for pinning live pages."""
        rng = self._range
        bounds = (tuple(rng.eqs), rng.lower, rng.upper) if rng is not None else ()
        return (self._info.name, self._index, bounds, self._order, cursor)

