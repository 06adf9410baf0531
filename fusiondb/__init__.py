"""fusiondb: an embedded, reactive document database on a single SQLite file.

    import fusiondb as fdb

    class Task(fdb.Document):
        text: str
        completed: bool = False
        user_id: str

    schema = fdb.Schema(tasks=fdb.table(Task).index("by_user", ["user_id"]))
    db = fdb.open("app.db", schema)          # fdb.open(None, schema): ephemeral

    @fdb.mutation
    def add(db, text: str, user_id: str):
        return db.insert("tasks", Task(text=text, user_id=user_id))

    @fdb.query
    def list_by_user(db, user_id: str) -> list[Task]:
        return (db.query("tasks")
                  .with_index("by_user", lambda q: q.eq("user_id", user_id))
                  .order("desc").collect())

    db.run(add, text="milk", user_id="u1")
    sub = db.subscribe(list_by_user, user_id="u1")   # re-runs when a commit touches it
"""

from .check import CheckReport
from .core.errors import (
    DatabaseClosed,
    DatabaseError,
    DestinationNotEmpty,
    DocumentNotFound,
    DocumentTooLarge,
    DuplicateKey,
    FusionError,
    InvalidAggregate,
    InvalidArgument,
    InvalidCursor,
    InvalidId,
    InvalidImport,
    InvalidQuery,
    NotADatabase,
    NotSupported,
    ReadOnlyError,
    SchemaError,
    SchemaMismatch,
    TransactionConflict,
    UniqueError,
    ValidationError,
)
from .core.functions import MutationFunction, QueryFunction, mutation, query
from .core.ids import Id, IdOf
from .core.schema import Document, Schema, TableDef, table
from .core.vectors import VectorResult
from .database import Database, open, open_async, open_stored
from .evolution.catalog import SchemaChange
from .jsonl import ExportResult, ImportResult
from .migrate import MigrationResult
from .reactive.subscription import Subscription
from .system import TableStatus
from .transaction.files import FileMetadata, FileStream
from .transaction.query import PaginationResult
from .transaction.reader import Reader
from .transaction.writer import Writer

__version__ = "0.1.0"

__all__ = [
    "CheckReport",
    "Database",
    "DatabaseClosed",
    "DatabaseError",
    "DestinationNotEmpty",
    "Document",
    "DocumentNotFound",
    "DocumentTooLarge",
    "DuplicateKey",
    "ExportResult",
    "FileMetadata",
    "FileStream",
    "FusionError",
    "Id",
    "IdOf",
    "ImportResult",
    "InvalidAggregate",
    "InvalidArgument",
    "InvalidCursor",
    "InvalidId",
    "InvalidImport",
    "InvalidQuery",
    "MigrationResult",
    "MutationFunction",
    "NotADatabase",
    "NotSupported",
    "PaginationResult",
    "QueryFunction",
    "ReadOnlyError",
    "Reader",
    "Schema",
    "SchemaChange",
    "SchemaError",
    "SchemaMismatch",
    "Subscription",
    "TableDef",
    "TableStatus",
    "TransactionConflict",
    "UniqueError",
    "ValidationError",
    "VectorResult",
    "Writer",
    "mutation",
    "open",
    "open_async",
    "open_stored",
    "query",
    "table",
]
