"""``db.export_jsonl`` and ``db.import_jsonl``: documents in and out as JSON lines, streamed.

Export writes one document per line, as stored, with its ``id`` and ``creation_time`` first:
``{"id": "...", "creation_time": 1700000000000.0, "text": "milk", ...}``. Exporting several
tables into one stream adds ``"$table": name`` to every line (``$`` names are reserved, so it
cannot clash with a field). Rows are read in batches from one snapshot and written as they
come: memory stays flat however large the table.

Import reads lines one at a time and stores each document through the normal write path: it
is validated against the table's model (with ``fdb.open_stored``, the model rebuilt from the
JSON Schema the file stores: see ``evolution/stored.py`` for what that checks), written, and
recorded in the write set, so live queries see the commit. Lines carrying another table's
``$table`` are skipped (so one export of several tables can be imported table by table).

- By default the import is one transaction: a bad line (not JSON, not an object, refused by
  the model) raises ``InvalidImport`` naming its line number, and nothing is imported.
- A document whose key of a unique index is taken (by a stored document or an earlier line)
  raises ``DuplicateKey``, its message naming the line.
- ``batch_size=N`` commits every N documents (others may write in between; live queries see
  each batch). Every line is checked first, without writing (JSON, the model, the ids), so bad
  input still imports nothing; the input must then be a path or a seekable file. A taken key
  of a unique index is found only when the line is stored: the batches before it stay.
- ``keep_ids=True`` stores each document under its exported ``id`` and ``creation_time``, so
  references to it stay valid: only into an empty table, and only ids of the same table (ids
  carry the table's number: import into a file whose schema numbers the tables alike, e.g.
  one made by the same application). Without it, new ids are assigned and ``id`` and
  ``creation_time`` in the input are ignored.
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, Any

import orjson
import pydantic

from .core.documents import to_input
from .core.errors import DuplicateKey, FusionError, InvalidImport, SchemaError
from .core.ids import ID_CONTEXT_KEY, decode_id, encode_ids
from .core.progress import Progress, ProgressCallback
from .core.tableinfo import TableInfo
from .engine.base import Engine
from .evolution.catalog import read_catalog
from .transaction.context import TxnContext
from .transaction.restore import insert_restored
from .transaction.runner import Runner
from .transaction.writer import Writer

EXPORT_BATCH = 2_000
TABLE_KEY = "$table"

Source = str | os.PathLike[str] | IO[bytes] | IO[str]
Target = str | os.PathLike[str] | IO[bytes] | IO[str]


@dataclass(frozen=True)
class ExportResult:
    """What ``db.export_jsonl`` wrote: documents per table, in the order exported."""

    documents: dict[str, int]

    @property
    def total(self) -> int:
        return sum(self.documents.values())


@dataclass(frozen=True)
class ImportResult:
    """What ``db.import_jsonl`` did."""

    table: str
    imported: int  # documents stored
    skipped: int  # lines of another table ("$table"), and blank lines
    commits: int  # transactions it took (1 unless batch_size)


# -- export ------------------------------------------------------------------------------


def export_tables(engine: Engine, target: Target, tables: list[str] | None) -> ExportResult:
    """Write the documents of ``tables`` (default: every table of the schema) to ``target``."""
    counts: dict[str, int] = {}
    with _writer(target) as write, engine.read() as txn:
        catalog = read_catalog(txn)
        if tables is None:
            names = [n for n, t in sorted(catalog.tables.items()) if not t.system and not t.removed]
        else:
            names = list(tables)
            for name in names:
                if name not in catalog.tables:
                    known = ", ".join(n for n in sorted(catalog.tables) if not n.startswith("_"))
                    raise SchemaError(
                        f"export: this file has no table {name!r} (tables: {known or 'none'})",
                        table=str(name),
                    )
        several = len(names) > 1
        for name in names:
            number = catalog.tables[name].number
            prefix = f'{{"{TABLE_KEY}":{orjson.dumps(name).decode()},"id":"' if several else '{"id":"'
            count = last = 0
            while True:
                rows = txn.rows_after(name, last, EXPORT_BATCH)
                if not rows:
                    break
                ids = encode_ids(number, [r[0] for r in rows])
                lines = []
                for doc_id, (_, ct, raw) in zip(ids, rows, strict=True):
                    body = "}" if raw == "{}" else "," + raw[1:]
                    lines.append(f'{prefix}{doc_id}","creation_time":{_number(ct)}{body}\n')
                write("".join(lines))
                count += len(rows)
                last = rows[-1][0]
            counts[name] = count
    return ExportResult(counts)


def _number(value: float) -> str:
    return orjson.dumps(value).decode()


class _writer:
    """``with _writer(target) as write``: ``write(text)`` to a path (created, UTF-8) or an
    open file, text or binary; a path is closed at the end, an open file only flushed."""

    def __init__(self, target: Target) -> None:
        self._own: IO[bytes] | None = None
        if isinstance(target, str | os.PathLike):
            self._own = open(os.fspath(target), "wb")  # noqa: SIM115 (closed in __exit__)
            self._file: Any = self._own
        else:
            self._file = target
        self._binary = not isinstance(self._file, io.TextIOBase) and "b" in getattr(
            self._file, "mode", "b"
        )

    def __enter__(self) -> Any:
        file, binary = self._file, self._binary
        if binary:
            return lambda text: file.write(text.encode())
        return file.write

    def __exit__(self, *exc: object) -> None:
        if self._own is not None:
            self._own.close()
        else:
            self._file.flush()


# -- import ------------------------------------------------------------------------------


class _Lines:
    """The numbered lines of a source; ``rewind()`` for a second pass when it can."""

    def __init__(self, source: Source) -> None:
        self._own: IO[bytes] | None = None
        if isinstance(source, str | os.PathLike):
            path = os.fspath(source)
            if not os.path.isfile(path):
                raise FileNotFoundError(f"import: no file {path}")
            self._own = open(path, "rb")  # noqa: SIM115 (closed by close())
            self.file: Any = self._own
        else:
            self.file = source

    def count(self) -> int:
        """How many lines (0 when the source cannot be read twice: then no total is known)."""
        if not self.seekable():
            return 0
        start = self.file.tell()
        n = last = 0
        empty: Any = self.file.read(0)
        newline = b"\n" if isinstance(empty, bytes) else "\n"
        while chunk := self.file.read(1 << 20):
            n += chunk.count(newline)
            last = chunk[-1:] != newline
        self.file.seek(start)
        return n + int(last)

    def seekable(self) -> bool:
        try:
            return bool(self.file.seekable())
        except (AttributeError, ValueError):
            return False

    def __iter__(self) -> Iterator[tuple[int, Any]]:
        return enumerate(self.file, start=1)

    def rewind(self, start: int) -> None:
        self.file.seek(start)

    def close(self) -> None:
        if self._own is not None:
            self._own.close()


@dataclass
class _Parsed:
    line: int
    doc: dict[str, Any]
    rowid: int
    creation_time: float


class _Importer:
    """Checks and stores the lines of one import (see the module docstring)."""

    def __init__(self, info: TableInfo, keep_ids: bool) -> None:
        self.info = info
        self.keep_ids = keep_ids
        self.skipped = 0
        self.rowids: set[int] = set()  # kept ids seen so far: a repeated one is refused

    def error(self, line: int, message: str) -> InvalidImport:
        return InvalidImport(
            f"line {line}: {message}; nothing was imported", table=self.info.name, line=line
        )

    def parse(self, line: int, text: Any) -> _Parsed | None:
        """The document of one line (``None``: skip it), or ``InvalidImport``."""
        if not text.strip():
            self.skipped += 1
            return None
        try:
            doc = orjson.loads(text)
        except orjson.JSONDecodeError as exc:
            raise self.error(line, f"not valid JSON ({exc})") from None
        if not isinstance(doc, dict):
            raise self.error(line, f"expected a JSON object, got {type(doc).__name__}")
        table = doc.pop(TABLE_KEY, None)
        if table is not None and table != self.info.name:
            self.skipped += 1
            return None
        doc_id = doc.pop("id", None)
        ct = doc.pop("creation_time", None)
        if not self.keep_ids:
            return _Parsed(line, doc, 0, 0.0)
        decoded = decode_id(doc_id)
        if decoded is None:
            raise self.error(line, f"keep_ids needs a document id in \"id\", got {doc_id!r}")
        number, rowid = decoded
        if number != self.info.number:
            raise self.error(
                line,
                f"id {doc_id} belongs to table number {number}, not to {self.info.name!r} "
                f"(number {self.info.number}): ids carry their table, so they can only be kept "
                "in a file whose schema numbers the tables alike; import without keep_ids to "
                "get new ids",
            )
        if rowid in self.rowids:
            raise self.error(line, f"id {doc_id} appears twice")
        self.rowids.add(rowid)
        if isinstance(ct, bool) or not isinstance(ct, int | float):
            raise self.error(line, f"keep_ids needs a number in \"creation_time\", got {ct!r}")
        return _Parsed(line, doc, rowid, float(ct))

    def check(self, parsed: _Parsed, names: dict[int, str]) -> None:
        """Validate without writing (the first pass of a batched import)."""
        try:
            data = to_input(self.info, parsed.doc)
            self.info.validate_python(data, context={ID_CONTEXT_KEY: names})
        except pydantic.ValidationError as exc:
            raise self.error(parsed.line, _first_error(exc)) from exc
        except (FusionError, ValueError, TypeError) as exc:
            raise self.error(parsed.line, str(exc)) from exc

    def store(self, ctx: TxnContext, writer: Writer, parsed: _Parsed) -> None:
        try:
            if self.keep_ids:
                insert_restored(ctx, self.info, parsed.doc, parsed.rowid, parsed.creation_time)
            else:
                writer.insert(self.info.name, parsed.doc)
        except DuplicateKey as exc:
            # Its own type (a program catches it to report the taken key), named by line.
            exc.args = (f"line {parsed.line}: {exc.args[0]}", *exc.args[1:])
            raise
        except (FusionError, ValueError, TypeError) as exc:
            raise self.error(parsed.line, str(exc)) from exc


def _first_error(exc: pydantic.ValidationError) -> str:
    errors = exc.errors(include_url=False)
    parts = [f"{'.'.join(map(str, e.get('loc', ()))) or '(document)'}: {e.get('msg')}" for e in errors[:3]]
    return "invalid document: " + "; ".join(parts)


def import_table(
    runner: Runner,
    table: str,
    source: Source,
    *,
    batch_size: int | None,
    keep_ids: bool,
    progress: ProgressCallback | None,
) -> ImportResult:
    """Import the JSON lines of ``source`` into ``table`` (see the module docstring)."""
    if batch_size is not None and (not isinstance(batch_size, int) or batch_size < 1):
        raise ValueError(f"import_jsonl(batch_size=...) must be a positive int, got {batch_size!r}")
    info = runner.tables.get(table)  # an unknown table fails here, before reading anything
    if info.system:
        raise InvalidImport(
            f"table {table!r} is maintained by fusiondb; files are stored with db.storage",
            table=table,
        )
    if keep_ids:
        present = runner.read_in(lambda ctx: ctx.txn.count(table))
        if present:
            raise InvalidImport(
                f"keep_ids imports only into an empty table; {table!r} holds {present} "
                "documents (import without keep_ids to get new ids, or into a new file)",
                table=table,
            )
    lines = _Lines(source)
    try:
        total = lines.count()
        importer = _Importer(info, keep_ids)
        report = Progress(f"importing {table}", total, progress)
        if batch_size is None:
            imported = runner.write_in(lambda ctx: _store_all(ctx, importer, lines, report, None))
            commits = 1
        else:
            if not lines.seekable():
                raise InvalidImport(
                    "import with batch_size reads its input twice (checks every line before "
                    "writing): give a path or a seekable file, or import without batch_size",
                    table=table,
                )
            start = lines.file.tell()
            _check_all(runner, importer, lines)
            lines.rewind(start)
            importer = _Importer(info, keep_ids)
            imported, commits = _store_batches(runner, importer, lines, report, batch_size)
        report.finish()
        return ImportResult(table, imported, importer.skipped, commits)
    finally:
        lines.close()


def _check_all(runner: Runner, importer: _Importer, lines: _Lines) -> None:
    names = runner.tables.names
    for n, text in lines:
        parsed = importer.parse(n, text)
        if parsed is not None:
            importer.check(parsed, names)


def _store_all(
    ctx: TxnContext, importer: _Importer, lines: Any, report: Progress, limit: int | None
) -> int:
    """Store lines until ``limit`` documents (``None``: all); returns how many."""
    writer = Writer(ctx)
    stored = 0
    for n, text in lines:
        parsed = importer.parse(n, text)
        if parsed is not None:
            importer.store(ctx, writer, parsed)
            stored += 1
        if n % 1000 == 0:
            report.update(n)
        if limit is not None and stored >= limit:
            break
    return stored


def _store_batches(
    runner: Runner, importer: _Importer, lines: _Lines, report: Progress, batch_size: int
) -> tuple[int, int]:
    rows = iter(lines)
    imported = commits = 0
    while True:
        stored = runner.write_in(lambda ctx: _store_all(ctx, importer, rows, report, batch_size))
        commits += 1
        imported += stored
        if stored < batch_size:
            return imported, commits

