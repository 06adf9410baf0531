"""Checking every stored document of a table against a new model, a batch at a time."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pydantic

from ..core.ids import ID_CONTEXT_KEY, encode_id
from ..core.tableinfo import TableInfo
from ..engine.base import ReadTxn

VALIDATE_BATCH = 1_000
REPORTED_FAILURES = 10


@dataclass
class Validation:
    """The result of checking one table's stored documents against a new model."""

    table: str
    checked: int
    failed: int
    failures: list[tuple[str, str]]  # (id, pydantic's error text) for the first few


def validate_stored(
    txn: ReadTxn, info: TableInfo, names: dict[int, str], batch: int = VALIDATE_BATCH
) -> Validation:
    """Check every stored document of ``info``'s table against its model, a batch at a time."""
    result = Validation(info.name, 0, 0, [])
    context = {ID_CONTEXT_KEY: names}
    last = 0
    while True:
        rows: list[Any] = txn.rows_after(info.name, last, batch)
        if not rows:
            return result
        last = rows[-1][0]
        result.checked += len(rows)
        try:
            # by_name: documents are stored under field names, also for fields with an alias.
            info.list_adapter.validate_json(
                "[" + ",".join([r[2] for r in rows]) + "]", context=context, by_name=True
            )
        except pydantic.ValidationError as exc:
            _collect(result, info, rows, exc)


def _collect(result: Validation, info: TableInfo, rows: list[Any], exc: pydantic.ValidationError) -> None:
    by_doc: dict[int, list[str]] = {}
    for err in exc.errors(include_url=False):
        loc = err.get("loc", ())
        pos = loc[0] if loc and isinstance(loc[0], int) else -1
        where = ".".join(str(p) for p in loc[1:]) or "(document)"
        by_doc.setdefault(pos, []).append(f"{where}: {err.get('msg')}")
    for pos, messages in sorted(by_doc.items()):
        result.failed += 1
        if len(result.failures) < REPORTED_FAILURES and 0 <= pos < len(rows):
            doc_id = encode_id(info.number, rows[pos][0])
            result.failures.append((doc_id, "; ".join(messages)))

