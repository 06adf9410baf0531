"""How the commands print: rich tables on a terminal, aligned plain text otherwise, JSON with
``--json``. Every command prints through one ``Output``, so the three stay consistent."""

from __future__ import annotations

import sys
from collections.abc import Iterable, Sequence
from typing import Any

import orjson
from rich.console import Console, RenderableType
from rich.table import Table


def cell(value: Any) -> str:
    """A value as one table cell: text as is, anything else as compact JSON."""
    if isinstance(value, str):
        return value
    return orjson.dumps(value).decode()


def columns_of(rows: Sequence[dict[str, Any]]) -> list[str]:
    """``id`` first, then every other key in order of first appearance, ``creation_time`` last."""
    seen: dict[str, None] = {"id": None}
    for row in rows:
        seen.update(dict.fromkeys(row))
    names = [n for n in seen if n != "creation_time"]
    return [*names, "creation_time"] if any("creation_time" in r for r in rows) else names


class Output:
    """Where a command writes: stdout, as rich, plain text or JSON."""

    def __init__(self, as_json: bool = False) -> None:
        self.as_json = as_json
        self.console = Console(highlight=False, soft_wrap=False)
        self.rich = self.console.is_terminal and not as_json

    def json_line(self, value: Any) -> None:
        sys.stdout.write(orjson.dumps(value).decode() + "\n")
        sys.stdout.flush()

    def table(self, title: str | None, headers: list[str], rows: Iterable[Sequence[Any]]) -> None:
        if self.rich:
            self.console.print(self.rich_table(title, headers, rows))
            return
        cells = [[cell(v) for v in row] for row in rows]
        widths = [max([len(h), *(len(r[i]) for r in cells)]) for i, h in enumerate(headers)]
        lines = [headers, *cells]
        if title:
            sys.stdout.write(title + "\n")
        for line in lines:
            sys.stdout.write("  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip() + "\n")
        sys.stdout.flush()

    def rich_table(self, title: str | None, headers: list[str], rows: Iterable[Sequence[Any]]) -> Table:
        out = Table(title=title, title_justify="left")
        for h in headers:
            out.add_column(h, overflow="fold")
        for row in rows:
            out.add_row(*(cell(v) for v in row))
        return out

    def documents(self, title: str | None, docs: list[dict[str, Any]]) -> None:
        """Documents as JSON lines (``--json``) or a table."""
        if self.as_json:
            for doc in docs:
                self.json_line({"id": doc.get("id"), "creation_time": doc.get("creation_time"), **doc})
            return
        headers = columns_of(docs)
        self.table(title, headers, ([d.get(h, "") for h in headers] for d in docs))

    def documents_renderable(self, title: str, docs: list[dict[str, Any]]) -> RenderableType:
        headers = columns_of(docs)
        return self.rich_table(title, headers, ([d.get(h, "") for h in headers] for d in docs))

    def message(self, text: str) -> None:
        """A line for people (stderr, so stdout stays data)."""
        sys.stderr.write(text + "\n")
