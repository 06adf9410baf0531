"""The ``fusiondb`` commands (click), one function each; ``output.py`` prints their results.

Every command opens the file with ``fdb.open_stored`` (the schema the file stores, nothing
written to it but what the command is for) and closes it before returning. Errors are
fusiondb's typed errors, printed as ``error: ...`` on stderr with exit code 1.
"""

from __future__ import annotations

import functools
import shutil
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

import click
from rich.live import Live
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

import fusiondb as fdb

from ..core.errors import FusionError
from ..dbcopy import copy_database
from ..evolution.catalog import CATALOG_FORMAT
from .browse import browse, parse_eq
from .output import Output
from .serving import codegen, serve

F = TypeVar("F", bound=Callable[..., Any])
FILE = click.argument("file", type=click.Path(dir_okay=False))


def failing_cleanly(fn: F) -> F:
    """Print fusiondb's and the file system's errors as one line and exit with 1."""

    @functools.wraps(fn)
    def run(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except (FusionError, OSError, TimeoutError) as exc:
            raise click.ClickException(str(exc)) from exc

    return run  # type: ignore[return-value]


@contextmanager
def opened(path: str) -> Iterator[fdb.Database]:
    db = fdb.open_stored(path)
    try:
        yield db
    finally:
        db.close()


def query_options(fn: F) -> F:
    for option in reversed((
        click.option("--index", help="Read in this index's order (see `fusiondb tables`)."),
        click.option("--eq", "eqs", multiple=True, metavar="FIELD=VALUE",
                     help="Fix the index's next field to VALUE (JSON, else text). Repeatable."),
        click.option("--order", type=click.Choice(["asc", "desc"]), default="asc", show_default=True),
        click.option("--limit", type=click.IntRange(min=0), default=20, show_default=True),
        click.option("--json", "as_json", is_flag=True, help="JSON lines, one document each."),
    )):
        fn = option(fn)
    return fn


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(fdb.__version__, prog_name="fusiondb")
def cli() -> None:
    """Look into a fusiondb database file, move data in and out, back it up.

    The commands read the schema stored in the file: they need none of your application's code.
    """


@cli.command()
@FILE
@click.option("--json", "as_json", is_flag=True, help="One JSON object.")
@failing_cleanly
def tables(file: str, as_json: bool) -> None:
    """Every table: documents, indexes, search indexes, whether removed from the schema."""
    with opened(file) as db:
        found = db.system.tables()
        version = db.system.catalog_version()
    out = Output(as_json)
    if as_json:
        out.json_line({
            "catalog_version": version,
            "catalog_format": CATALOG_FORMAT,
            "tables": [
                {"name": t.name, "number": t.number, "documents": t.documents,
                 "indexes": list(t.indexes), "search_indexes": list(t.search_indexes),
                 "removed": t.removed, "system": t.system}
                for t in found
            ],
        })
        return
    out.table(
        f"{file}: catalog version {version}, format {CATALOG_FORMAT}",
        ["table", "documents", "indexes", "search indexes", "status"],
        [
            [t.name, t.documents, ", ".join(t.indexes), ", ".join(t.search_indexes),
             "removed" if t.removed else "system" if t.system else "in schema"]
            for t in found
        ],
    )


def _read(db: fdb.Database, table: str, index: str | None, eqs: tuple[str, ...], order: str,
          limit: int) -> list[dict[str, Any]]:
    if table in db._tables.removed:  # no model, no index: what db.system reads, in row order
        if index or eqs or order == "desc":
            raise fdb.InvalidQuery(
                f"table {table!r} was removed from the schema; its indexes are gone, so "
                "only --limit applies", table=table,
            )
        return db.system.read(table, limit=limit)
    return db.run(browse, table=table, index=index, eqs=[parse_eq(e) for e in eqs], order=order,
                  limit=limit)


@cli.command()
@FILE
@click.argument("table")
@query_options
@failing_cleanly
def show(file: str, table: str, index: str | None, eqs: tuple[str, ...], order: str, limit: int,
         as_json: bool) -> None:
    """Documents of TABLE, in an index's order, as a table or JSON lines."""
    with opened(file) as db:
        docs = _read(db, table, index, eqs, order, limit)
    Output(as_json).documents(f"{table}: {len(docs)} documents", docs)


@cli.command()
@FILE
@click.argument("tables", nargs=-1)
@click.option("-o", "--output", "target", type=click.Path(dir_okay=False, writable=True),
              help="Write to this file instead of stdout.")
@failing_cleanly
def export(file: str, tables: tuple[str, ...], target: str | None) -> None:
    """Documents as JSON lines (all tables of the schema, or the TABLES named).

    Each line is a document with its id and creation_time; with several tables, "$table"
    too. Streamed: any size.
    """
    with opened(file) as db:
        result = db.export_jsonl(target or sys.stdout, list(tables) or None)
    if target:
        Output().message(f"exported {result.total} documents to {target}")


@cli.command(name="import")
@FILE
@click.argument("table")
@click.argument("data", type=click.Path(dir_okay=False, allow_dash=True))
@click.option("--batch-size", type=click.IntRange(min=1),
              help="Commit every N documents (every line is checked first). Default: one transaction.")
@click.option("--keep-ids", is_flag=True,
              help="Keep each document's id and creation_time (into an empty table only).")
@failing_cleanly
def import_(file: str, table: str, data: str, batch_size: int | None, keep_ids: bool) -> None:
    """Insert the JSON lines of DATA into TABLE, each validated by the stored schema.

    All or nothing: a bad line is reported with its number and nothing is imported.
    """
    out = Output()
    with opened(file) as db, _progress_bar() as progress:
        source: Any = sys.stdin.buffer if data == "-" else data
        result = db.import_jsonl(table, source, batch_size=batch_size, keep_ids=keep_ids,
                                 progress=progress)
    skipped = f", {result.skipped} lines skipped" if result.skipped else ""
    out.message(f"imported {result.imported} documents into {table}{skipped}")


@contextmanager
def _progress_bar() -> Iterator[Callable[[str, int, int], None] | None]:
    """A rich progress bar on stderr when it is a terminal; else no callback (quiet)."""
    if not sys.stderr.isatty():
        yield None
        return
    bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                   TimeElapsedColumn(), transient=False)
    tasks: dict[str, Any] = {}

    def report(task: str, done: int, total: int) -> None:
        if task not in tasks:
            tasks[task] = bar.add_task(task, total=total or None)
        bar.update(tasks[task], completed=done)

    with bar:
        yield report


@cli.command()
@click.argument("source")
@click.argument("dest")
@click.option("--replace", is_flag=True,
              help="Drop every table and file DEST holds first, instead of refusing it.")
@failing_cleanly
def copy(source: str, dest: str, replace: bool) -> None:
    """Copy every table, document and stored file of SOURCE into DEST.

    Each is a database file or a postgresql:// URL. Ids, creation times and files are kept.
    DEST must be new or empty (or --replace). Streamed: any size.
    """
    with _progress_bar() as progress:
        result = copy_database(source, dest, replace=replace, progress=progress)
    out = Output()
    tables = ", ".join(f"{name} {n}" for name, n in result.documents.items()) or "no tables"
    out.message(
        f"copied {result.total} documents ({tables}) and {result.files} files "
        f"({result.file_bytes} bytes) from {_redacted(source)} to {_redacted(dest)}"
    )
    if result.skipped:
        out.message(f"not copied (removed from the schema): {', '.join(result.skipped)}")


def _redacted(where: str) -> str:
    """A database URL without its password (for messages)."""
    parts = urlsplit(where)
    if not parts.scheme.startswith("postgres") or parts.password is None:
        return where
    return urlunsplit(parts._replace(netloc=parts.netloc.replace(f":{parts.password}@", ":***@", 1)))


@cli.command()
@FILE
@click.argument("dest", type=click.Path(dir_okay=False))
@failing_cleanly
def backup(file: str, dest: str) -> None:
    """Copy FILE to DEST while others keep writing (SQLite's online backup)."""
    with opened(file) as db:
        db.backup(dest)
    Output().message(f"backed up {file} to {dest}")


@cli.command()
@FILE
@click.argument("table")
@query_options
@click.option("--once", is_flag=True, help="Print the current documents and stop.")
@click.option("--count", type=click.IntRange(min=1), help="Stop after N views.")
@failing_cleanly
def watch(file: str, table: str, index: str | None, eqs: tuple[str, ...], order: str, limit: int,
          as_json: bool, once: bool, count: int | None) -> None:
    """A live view of TABLE: redrawn whenever any process commits a change to it.

    Without a terminal (or with --json) each view is printed in turn, JSON views as one
    line each. Stop with Ctrl-C, or with --once / --count N.
    """
    stop = 1 if once else count
    out = Output(as_json)
    with opened(file) as db:
        sub = db.subscribe(browse, table=table, index=index, eqs=[parse_eq(e) for e in eqs],
                           order=order, limit=limit)
        shown = 0
        live = Live(console=out.console, auto_refresh=False) if out.rich else None
        try:
            if live is not None:
                live.start()
            for docs in sub:
                shown += 1
                title = f"{table}: {len(docs)} documents (view {shown}, Ctrl-C to stop)"
                if live is not None:
                    live.update(out.documents_renderable(title, docs), refresh=True)
                elif as_json:
                    out.json_line(docs)
                else:
                    out.documents(title, docs)
                    sys.stdout.write("\n")
                if stop is not None and shown >= stop:
                    break
        except KeyboardInterrupt:
            pass
        finally:
            if live is not None:
                live.stop()
            sub.close()


@cli.command()
@FILE
@click.option("--json", "as_json", is_flag=True, help="JSON lines, one file each.")
@failing_cleanly
def files(file: str, as_json: bool) -> None:
    """Files stored in the database (db.storage): id, size, content type, sha256."""
    with opened(file) as db:
        stored = db.system.read("_storage")
    out = Output(as_json)
    if as_json:
        for f in stored:
            out.json_line({k: f.get(k) for k in ("id", "size", "content_type", "sha256", "creation_time")})
        return
    out.table(f"{len(stored)} files", ["id", "size", "content type", "sha256"],
              [[f["id"], f["size"], f.get("content_type") or "", f["sha256"]] for f in stored])


@cli.command(name="get-file")
@FILE
@click.argument("file_id")
@click.option("-o", "--output", "target", required=True, type=click.Path(dir_okay=False, allow_dash=True),
              help="Where to write the bytes ('-': stdout).")
@failing_cleanly
def get_file(file: str, file_id: str, target: str) -> None:
    """Write the bytes of stored file FILE_ID to a file."""
    with opened(file) as db, db.storage.open(file_id) as stream:
        if target == "-":
            shutil.copyfileobj(stream, sys.stdout.buffer)
            sys.stdout.buffer.flush()
        else:
            with open(target, "wb") as f:
                shutil.copyfileobj(stream, f)


# Serving to web pages (fusiondb.serve): in serving.py, added here so `fusiondb` lists them.
cli.add_command(serve)
cli.add_command(codegen)
