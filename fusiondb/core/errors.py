"""Every error fusiondb raises, under one root.

Each error carries structured fields (``table``, ``id``, ``field``...) so callers can act on
them without parsing messages; when a database driver's error caused it, the original is kept
as ``.orig`` (the engine translates driver errors in one place: ``engine/sqlite/errors.py``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


class FusionError(Exception):
    """Root of every fusiondb error."""

    def __init__(self, message: str, *, orig: BaseException | None = None) -> None:
        super().__init__(message)
        self.orig = orig


class ValidationError(FusionError, ValueError):
    """A document failed its table's model (or a structural limit such as nesting depth).

    ``table`` is the table, ``field`` the dotted path of the first failing field (or ``None``),
    ``errors`` pydantic's error list when pydantic produced it.
    """

    def __init__(
        self,
        message: str,
        *,
        table: str | None = None,
        field: str | None = None,
        id: str | None = None,
        errors: Sequence[Any] = (),
    ) -> None:
        super().__init__(message)
        self.table = table
        self.field = field
        self.id = id
        self.errors = list(errors)


class DuplicateKey(ValidationError):
    """A write would give a second document the key of a unique index.

    ``table`` and ``index`` name the unique index, ``key`` is the tuple of values the written
    document holds for its fields, ``existing_id`` the document that holds that key already;
    ``id`` is the written document (``patch``/``replace``; ``None`` for an insert) and
    ``field`` the index's first field. The write did not happen.
    """

    def __init__(
        self,
        message: str,
        *,
        table: str,
        index: str,
        key: tuple[Any, ...],
        existing_id: str,
        field: str | None = None,
        id: str | None = None,
    ) -> None:
        super().__init__(message, table=table, field=field, id=id)
        self.index = index
        self.key = key
        self.existing_id = existing_id


class DocumentTooLarge(FusionError, ValueError):
    """A document encodes to more than the size limit (1 MiB)."""

    def __init__(self, message: str, *, table: str, size: int, limit: int) -> None:
        super().__init__(message)
        self.table = table
        self.size = size
        self.limit = limit


class InvalidId(FusionError, ValueError):
    """A string is not a document id, or is the id of a document in another table."""

    def __init__(self, message: str, *, id: object, table: str | None = None) -> None:
        super().__init__(message)
        self.id = id
        self.table = table


class DocumentNotFound(FusionError, LookupError):
    """A write named a document that does not exist (never existed or was deleted)."""

    def __init__(self, message: str, *, id: str, table: str) -> None:
        super().__init__(message)
        self.id = id
        self.table = table


class SchemaError(FusionError):
    """The declared schema is invalid, or a name does not exist in it."""

    def __init__(self, message: str, *, table: str | None = None, name: str | None = None) -> None:
        super().__init__(message)
        self.table = table
        self.name = name


class SchemaMismatch(SchemaError):
    """A schema change was refused because stored documents do not satisfy it.

    ``count`` is how many documents fail; ``failures`` lists ``(id, pydantic error text)``
    for the first few. For a unique index over stored duplicates, ``index`` names it and
    ``duplicates`` lists the first few groups of ids that share a key (``count`` is how many
    groups there are). Nothing was changed.
    """

    def __init__(
        self,
        message: str,
        *,
        table: str | None = None,
        count: int = 0,
        failures: Sequence[tuple[str, str]] = (),
        index: str | None = None,
        duplicates: Sequence[Sequence[str]] = (),
    ) -> None:
        super().__init__(message, table=table)
        self.count = count
        self.failures = list(failures)
        self.index = index
        self.duplicates = [list(group) for group in duplicates]

    @property
    def ids(self) -> list[str]:
        return [doc_id for doc_id, _ in self.failures]


class ReadOnlyError(FusionError):
    """A write was attempted inside a query (or on a read-only system table)."""


class InvalidQuery(FusionError, ValueError):
    """A query is malformed: an index range that breaks the rules, a bad cursor, an unknown field."""

    def __init__(
        self, message: str, *, table: str | None = None, index: str | None = None,
        field: str | None = None,
    ) -> None:
        super().__init__(message)
        self.table = table
        self.index = index
        self.field = field


class InvalidCursor(InvalidQuery):
    """A pagination cursor is malformed or was made by another query (another table, index,
    order or range), as Convex's ``InvalidCursor``. Using it would silently return wrong pages."""


class InvalidAggregate(InvalidQuery):
    """A ``count()``, ``sum()``, ``min()`` or ``max()`` the database cannot compute as asked:
    over a search, with a filter that runs in Python, of a field that is not a document
    field, or a ``sum`` of a field whose type holds no numbers. ``aggregate`` names the call;
    ``table``, ``index`` and ``field`` as in ``InvalidQuery``."""

    def __init__(
        self, message: str, *, aggregate: str, table: str, index: str | None = None,
        field: str | None = None,
    ) -> None:
        super().__init__(message, table=table, index=index, field=field)
        self.aggregate = aggregate


class InvalidArgument(FusionError, ValueError):
    """An argument of a fusiondb call has a value it cannot take (``db.migrate(batch_size=0)``)."""


class UniqueError(FusionError):
    """``unique()`` found more than one document."""

    def __init__(self, message: str, *, table: str) -> None:
        super().__init__(message)
        self.table = table


class DatabaseClosed(FusionError):
    """The database (or subscription) was used after ``close()``."""


class DatabaseError(FusionError):
    """The database engine (SQLite, PostgreSQL) reported an error fusiondb has no more
    specific type for (I/O, corruption, full disk, an unreachable server)."""


class TransactionConflict(FusionError):
    """A mutation kept conflicting with concurrent ones (PostgreSQL aborted it for a
    serialization failure or deadlock ``attempts`` times in a row, and fusiondb ran it again
    each time): nothing of it was written. Retry later, or make fewer writers update the same
    documents at once."""

    def __init__(self, message: str, *, attempts: int, orig: BaseException | None = None) -> None:
        super().__init__(message, orig=orig)
        self.attempts = attempts


class InvalidImport(FusionError, ValueError):
    """A line of a JSONL import cannot be imported (bad JSON, a document the table's model
    refuses, an id that cannot be kept); ``line`` is its 1-based line number (``None``: the
    import as a whole is refused). Nothing was imported."""

    def __init__(self, message: str, *, table: str, line: int | None = None) -> None:
        super().__init__(message)
        self.table = table
        self.line = line


class NotADatabase(FusionError):
    """A tool was pointed at a path that is missing or holds no fusiondb database."""

    def __init__(self, message: str, *, path: str) -> None:
        super().__init__(message)
        self.path = path


class NotSupported(FusionError):
    """This database's engine cannot do ``feature`` (e.g. ``"vector search"``, ``"backup"``):
    an optional package is missing (``extra`` names the fusiondb extra that brings it, as in
    ``pip install 'fusiondb[vector]'``), or the engine has no such feature (``extra`` is
    ``None``; ``engine`` then names it: ``"sqlite"`` or ``"postgres"``). The message says what
    to use instead. Nothing was changed."""

    def __init__(
        self, message: str, *, feature: str, extra: str | None = None, engine: str | None = None
    ) -> None:
        super().__init__(message)
        self.feature = feature
        self.extra = extra
        self.engine = engine


class DestinationNotEmpty(FusionError):
    """``fusiondb copy`` was pointed at a destination that already holds tables or stored
    files: nothing was written. ``dest`` is the destination, ``table`` the first table found
    (``"_storage"`` for stored files), ``documents`` how many documents (or files) it holds."""

    def __init__(self, message: str, *, dest: str, table: str, documents: int) -> None:
        super().__init__(message)
        self.dest = dest
        self.table = table
        self.documents = documents


# Tracebacks and reprs name the errors as users import them (``fusiondb.SchemaError``), not by
# the module that happens to define them.
for _error in (
    FusionError, ValidationError, DuplicateKey, DocumentTooLarge, InvalidId, DocumentNotFound,
    SchemaError, SchemaMismatch, ReadOnlyError, InvalidQuery, InvalidCursor, InvalidAggregate,
    InvalidArgument, UniqueError, DatabaseClosed, DatabaseError, InvalidImport, NotADatabase,
    NotSupported, DestinationNotEmpty, TransactionConflict,
):
    _error.__module__ = "fusiondb"
del _error
