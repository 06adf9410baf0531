"""Statement strings sent straight through libpq (psycopg's ``pgconn``), for the two strings
every write transaction sends: its ``BEGIN`` with the first statement (when that statement
has no parameters) and its logged commit.

A psycopg cursor's execute costs ~130 µs of client CPU per string here (its query
conversion, result bookkeeping, client-side binding for a ``ClientCursor``); these strings
have no parameters to adapt, or values that are quoted here (``Literals``) or are hex
digits, so ``simple`` sends them and reads the answers with libpq's own calls: the same SQL,
the same round trip, a third of the client CPU (``bench_postgres_mutation.py``). Errors are
psycopg's (the class for the SQLSTATE, from the same result psycopg would build it from), so
``errors.translated`` maps them as before. The connection is the transaction's own (checked
out of the pool), as for ``PgTxn.end_later``.
"""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg import errors, generators, pq

FATAL_ERROR = pq.ExecStatus.FATAL_ERROR
Result = pq.abc.PGresult


def simple(conn: psycopg.Connection[Any], query: bytes) -> list[Result]:
    """The results of ``query`` (statements without parameters, the simple protocol: one
    round trip); the first statement that failed raised as psycopg raises it (the
    statements after it did not run)."""
    pgconn = conn.pgconn
    pgconn.send_query(query)
    results: list[Result] = conn.wait(generators.execute(pgconn))
    for result in results:
        if result.status == FATAL_ERROR:
            raise errors.error_from_result(result, encoding=conn.info.encoding)
    return results


class Literals:
    """SQL string literals for one connection, quoted by libpq (its encoding read once:
    fusiondb never changes a connection's ``client_encoding``)."""

    __slots__ = ("_encoding", "_escape")

    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self._escape = pq.Escaping(conn.pgconn).escape_literal
        self._encoding = conn.info.encoding

    def __call__(self, value: str) -> bytes:
        return self._escape(value.encode(self._encoding))


def bytea(value: bytes) -> bytes:
    """``value`` as an SQL ``bytea`` expression (hex digits: no quoting to get wrong,
    whatever ``standard_conforming_strings`` says)."""
    return b"decode('" + value.hex().encode() + b"', 'hex')"


def value(result: Result, row: int, column: int) -> bytes | None:
    """One value of a result in text form (``None`` for NULL or no such row)."""
    if row >= result.ntuples:
        return None
    return result.get_value(row, column)
